"""Tiny third-party bundles as other tools write them (channels first, ``b, c, y, x``; ONNX or TorchScript), in
bioimage.io spec 0.5 and 0.4, made without TensorFlow.

Networks (random fixed weights, built with ``onnx.helper``; :mod:`torch_nets` builds the same ones in PyTorch, and
a CAREamics-style U-Net saved as ``pytorch_state_dict``):

- ``conv2``: two 3x3 convolutions with a ReLU between them; receptive-field radius 2.
- ``unet``: a one-level U-Net: 3x3 conv + ReLU (skip), 2x2 max-pool, 3x3 conv + ReLU, nearest 2x upsampling,
  concatenation with the skip, 3x3 conv. Pooling makes its receptive field depend on the position in the 2x2
  grid (radius at most 1 + 2 * 1 + 1 + 1 + 1 = 6 input pixels), and its input sizes multiples of 2.

The test output tensor is what the bundle produces: the declared preprocessing (care_bridge's ops), the network
(ONNX Runtime on the ONNX twin, or the ``network`` callable given) and the declared postprocessing, so
``care-bridge validate`` passes these bundles.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
UNET_RADIUS = 6  # by construction (see the module): an upper bound of the true radius


def weights(kind: str, c_in: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The networks' parameters (PyTorch layout: out, in, ky, kx), shared by the ONNX and the PyTorch builders."""
    rng = np.random.default_rng(seed)

    def conv(c_o: int, c_i: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.normal(0, 0.4, (c_o, c_i, 3, 3)).astype(np.float32), rng.normal(0, 0.05, c_o).astype(np.float32)

    if kind == "conv2":
        (w1, b1), (w2, b2) = conv(4, c_in), conv(1, 4)
        return {"c1.weight": w1, "c1.bias": b1, "c2.weight": w2, "c2.bias": b2}
    (w1, b1), (w2, b2), (w3, b3) = conv(4, c_in), conv(4, 4), conv(1, 8)
    return {"c1.weight": w1, "c1.bias": b1, "c2.weight": w2, "c2.bias": b2, "c3.weight": w3, "c3.bias": b3}


def build_onnx(kind: str, c_in: int = 1, seed: int = 0) -> onnx.ModelProto:
    p = weights(kind, c_in, seed)
    inits = [numpy_helper.from_array(v, k.replace(".", "_")) for k, v in p.items()]

    def conv(name: str, x: str, y: str) -> onnx.NodeProto:
        return helper.make_node("Conv", [x, f"{name}_weight", f"{name}_bias"], [y], pads=[1, 1, 1, 1])

    if kind == "conv2":
        nodes = [conv("c1", "raw", "h"), helper.make_node("Relu", ["h"], ["hr"]), conv("c2", "hr", "restored")]
    else:
        inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up"))
        nodes = [conv("c1", "raw", "h1"), helper.make_node("Relu", ["h1"], ["s1"]),
                 helper.make_node("MaxPool", ["s1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
                 conv("c2", "p1", "h2"), helper.make_node("Relu", ["h2"], ["s2"]),
                 helper.make_node("Resize", ["s2", "", "up"], ["u2"], mode="nearest",
                                  coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
                 helper.make_node("Concat", ["s1", "u2"], ["cat"], axis=1), conv("c3", "cat", "restored")]
    graph = helper.make_graph(
        nodes, kind, [helper.make_tensor_value_info("raw", TensorProto.FLOAT, ["n", c_in, "h", "w"])],
        [helper.make_tensor_value_info("restored", TensorProto.FLOAT, ["n", 1, "h", "w"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _stage(folder: Path, kind: str, c_in: int, weights_file: Path | None,
           architecture: dict | None = None) -> tuple[Path, dict]:
    folder.mkdir(parents=True)
    if weights_file is None:
        onnx.save(build_onnx(kind, c_in), folder / "model.onnx")
        entry = {"onnx": {"source": "model.onnx", "sha256": sha(folder / "model.onnx"), "opset_version": OPSET}}
    elif architecture is not None:
        shutil.copy2(weights_file, folder / "weights.pt")
        entry = {"pytorch_state_dict": {"source": "weights.pt", "sha256": sha(folder / "weights.pt"),
                                        "pytorch_version": "2.13", "architecture": architecture}}
    else:
        shutil.copy2(weights_file, folder / "model.pt")
        entry = {"torchscript": {"source": "model.pt", "sha256": sha(folder / "model.pt"), "pytorch_version": "2.13"}}
    x = np.random.default_rng(3).random((1, c_in, 32, 32)).astype(np.float32)
    np.save(folder / "in.npy", x)
    np.save(folder / "out.npy", x[:, :1])  # a placeholder: _write_test_output writes the real one
    (folder / "README.md").write_text("# a third-party model\n")
    return folder, entry


def write_v05(folder: Path, *, kind: str = "conv2", c_in: int = 1, size=(16, 8), halo: int = 4,
              pre: list | None = None, post: list | None = None, weights_file: Path | None = None,
              omit_defaults: bool = False, architecture: dict | None = None, network=None) -> Path:
    """A spec-0.5 bundle folder. ``size``: ``(min, step)`` or an int (a fixed size) per spatial axis;
    ``omit_defaults`` leaves out what the spec defaults (the x axis id, the batch/channel ids, scale 1, halo 0),
    as ``bioimageio update-format`` writes it. With ``architecture`` (the rdf's mapping), ``weights_file`` is a
    ``pytorch_state_dict``; ``network`` (numpy ``bcyx`` → numpy) then computes the test output."""
    folder, entry = _stage(folder, kind, c_in, weights_file, architecture)
    in_size = size if isinstance(size, int) else {"min": size[0], "step": size[1]}

    def space(a: str, extra: dict) -> dict:
        d = {"type": "space", **extra}
        if not (omit_defaults and a == "x"):
            d["id"] = a
        return d

    def named(t: str) -> dict:
        return {"type": t} if omit_defaults else {"type": t, "id": t}

    out_extra = {"halo": halo} if halo or not omit_defaults else {}
    rdf = {
        "format_version": "0.5.4", "type": "model", "name": "third-party model", "description": "a test network",
        "authors": [{"name": "Someone Else"}], "cite": [{"text": "a paper", "doi": "10.1038/s41592-018-0216-7"}],
        "license": "MIT", "documentation": "README.md", "timestamp": "2024-01-01T00:00:00",
        "inputs": [{"id": "raw", "axes": [named("batch"), {**named("channel"),
                                                          "channel_names": [f"c{i}" for i in range(c_in)]},
                                          space("y", {"size": in_size}), space("x", {"size": in_size})],
                    "test_tensor": {"source": "in.npy", "sha256": sha(folder / "in.npy")},
                    "preprocessing": pre if pre is not None else
                    [{"id": "scale_range", "kwargs": {"axes": ["y", "x"], "min_percentile": 1.0,
                                                      "max_percentile": 99.8}}]}],
        "outputs": [{"id": "restored", "axes": [named("batch"), {**named("channel"), "channel_names": ["r"]},
                                                space("y", {"size": {"tensor_id": "raw", "axis_id": "y"}, **out_extra}),
                                                space("x", {"size": {"tensor_id": "raw", "axis_id": "x"}, **out_extra})],
                     "test_tensor": {"source": "out.npy", "sha256": sha(folder / "out.npy")},
                     "postprocessing": post or []}],
        "weights": entry,
    }
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
    if _write_test_output(folder, network or _onnx_runner(kind, c_in)):
        rdf["outputs"][0]["test_tensor"]["sha256"] = sha(folder / "out.npy")
        (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
    return folder


def _onnx_runner(kind: str, c_in: int):
    def run(x: np.ndarray) -> np.ndarray:
        import onnxruntime as ort

        sess = ort.InferenceSession(build_onnx(kind, c_in).SerializeToString(), providers=["CPUExecutionProvider"])
        return sess.run(None, {"raw": x})[0]
    return run


def _write_test_output(folder: Path, network) -> bool:
    """Replace the placeholder out.npy by what the bundle produces on in.npy (see the module docstring); False
    when the bundle does not open (a fixture for an error test keeps its placeholder)."""
    from care_bridge.bundle.open import open_bundle
    from care_bridge.errors import CareBridgeError
    from care_bridge.runtime import ops
    from care_bridge.runtime.pipeline import postprocess, prepare_input

    try:
        bundle = open_bundle(folder, verify=False)
    except CareBridgeError:
        return False
    with bundle:
        x = bundle.runtime_tensor(bundle.test_inputs[0])[0]  # "YXC"
        prepared, _ = prepare_input(tuple(bundle.info.preprocessing), x)
        xn = np.ascontiguousarray(ops.apply_all(prepared, x).transpose(2, 0, 1)[None], dtype=np.float32)
        y = np.asarray(network(xn), dtype=np.float32)[0].transpose(1, 2, 0)  # "YXC"
        y = postprocess(bundle.info, y)
    np.save(folder / "out.npy", np.ascontiguousarray(y.transpose(2, 0, 1)[None], dtype=np.float32))
    return True


def write_v04(folder: Path, *, kind: str = "conv2", c_in: int = 1, size=(16, 8), halo: int = 4,
              pre: list | None = None, post: list | None = None, weights_file: Path | None = None,
              architecture: str | None = None, kwargs: dict | None = None, network=None) -> Path:
    """The same bundle in spec 0.4: ``axes: bcyx`` strings, ``shape`` min/step (or fixed sizes), an implicit
    output shape, a ``halo`` list, ``name``-keyed processing with ``mode``, top-level ``test_inputs``. With
    ``architecture`` (0.4's ``"module.Name"`` string) and ``kwargs``, ``weights_file`` is a ``pytorch_state_dict``."""
    folder, entry = _stage(folder, kind, c_in, weights_file, {} if architecture else None)
    if architecture:
        entry["pytorch_state_dict"] = {k: v for k, v in entry["pytorch_state_dict"].items() if k != "architecture"}
        entry["pytorch_state_dict"].update(architecture=architecture, kwargs=kwargs or {})
    entry = {k: {kk: vv for kk, vv in v.items() if kk != "opset_version"} | (
        {"opset_version": OPSET} if k == "onnx" else {}) for k, v in entry.items()}
    shape = [1, c_in, size, size] if isinstance(size, int) else {"min": [1, c_in, size[0], size[0]],
                                                                 "step": [0, 0, size[1], size[1]]}
    rdf = {
        "format_version": "0.4.10", "type": "model", "name": "third-party model", "description": "a test network",
        "authors": [{"name": "Someone Else"}], "cite": [{"text": "a paper", "doi": "10.1038/s41592-018-0216-7"}],
        "license": "MIT", "documentation": "README.md", "timestamp": "2024-01-01T00:00:00", "tags": ["denoising"],
        "inputs": [{"name": "raw", "axes": "bcyx", "data_type": "float32", "data_range": [-1e9, 1e9], "shape": shape,
                    "preprocessing": pre if pre is not None else
                    [{"name": "scale_range", "kwargs": {"mode": "per_sample", "axes": "xy", "min_percentile": 1.0,
                                                        "max_percentile": 99.8}}]}],
        "outputs": [{"name": "restored", "axes": "bcyx", "data_type": "float32", "data_range": [-1e9, 1e9],
                     "shape": {"reference_tensor": "raw", "scale": [1, 0, 1, 1], "offset": [0, 0.5, 0, 0]},
                     "halo": [0, 0, halo, halo], "postprocessing": post or []}],
        "test_inputs": ["in.npy"], "test_outputs": ["out.npy"],
        "weights": entry,
    }
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
    _write_test_output(folder, network or _onnx_runner(kind, c_in))  # 0.4 test tensors carry no sha256
    return folder


def update_format(src: Path, dst: Path) -> Path:
    """``bioimageio update-format`` on a bundle folder: bioimageio.spec's own converter writes the 0.5 rdf.yaml
    (defaults excluded, as the command does) into a copy of the folder. Offline: no IO checks."""
    import pytest

    pytest.importorskip("bioimageio.spec")  # the `bundle` extra (in `all`)
    from bioimageio.spec import update_format as spec_update_format

    shutil.copytree(src, dst)
    (dst / "rdf.yaml").unlink()
    descr = spec_update_format(src / "rdf.yaml", output=dst / "rdf.yaml", exclude_defaults=True,
                               perform_io_checks=False)
    from bioimageio.spec import InvalidDescr

    assert not isinstance(descr, InvalidDescr), descr.validation_summary.format()
    return dst


# ---- torch.save archives made by hand (no PyTorch): benign ones as controls, forged ones for the reader ----------

def _pstr(s: str) -> bytes:
    b = s.encode()
    return b"X" + len(b).to_bytes(4, "little") + b


def _pint(v: int) -> bytes:
    if -(1 << 31) <= v < 1 << 31:
        return b"J" + int(v).to_bytes(4, "little", signed=True)
    n = (int(v).bit_length() + 8) // 8
    return b"\x8a" + bytes([n]) + int(v).to_bytes(n, "little", signed=True)  # LONG1, as pickle writes big ints


def _ptuple(vals) -> bytes:
    return b"(" + b"".join(_pint(v) for v in vals) + b"t"


def state_dict_pickle(tensors: dict, *, ordered: bytes = b"collections\nOrderedDict",
                      rebuild: bytes = b"torch._utils\n_rebuild_tensor_v2") -> bytes:
    """A protocol-2 pickle of a state dict as ``torch.save`` writes it (the opcodes torch 2.13 uses): ``tensors``
    maps a name to ``(storage type, storage key, numel, offset, size, stride)``. ``ordered``/``rebuild`` are the
    two globals (``module\\nname``), to forge."""
    out = bytearray(b"\x80\x02c" + ordered + b"\n)R(")
    for name, (stype, key, numel, offset, size, stride) in tensors.items():
        out += _pstr(name) + b"c" + rebuild + b"\n("
        out += b"(" + _pstr("storage") + b"ctorch\n" + stype.encode() + b"\n" + _pstr(key) + _pstr("cpu")
        out += _pint(numel) + b"tQ" + _pint(offset) + _ptuple(size) + _ptuple(stride)
        out += b"\x89c" + ordered + b"\n)Rt" + b"R"
    return bytes(out + b"u.")


def torch_save_archive(path: Path, pickle_bytes: bytes, storages: dict[str, bytes], *,
                       byteorder: bytes = b"little") -> Path:
    """A ``torch.save`` zip: ``archive/data.pkl``, ``archive/data/<key>``, ``byteorder``, ``version``."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/byteorder", byteorder)
        for key, data in storages.items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", b"3\n")
    return path


def float_state_dict_archive(path: Path, arrays: dict[str, np.ndarray], **forge) -> Path:
    """``arrays`` (float32) as a hand-made ``torch.save`` archive, one storage per array; ``forge`` overrides:
    ``numel`` / ``offset`` / ``size`` of the first tensor, ``data`` (the first storage's bytes), ``byteorder``,
    ``ordered`` / ``rebuild`` (the globals), ``stype``."""
    tensors, storages = {}, {}
    for i, (name, a) in enumerate(arrays.items()):
        a = np.ascontiguousarray(a, dtype="<f4")
        stride = tuple(s // 4 for s in a.strides)
        spec = [forge.get("stype", "FloatStorage"), str(i), a.size, 0, a.shape, stride]
        if i == 0:
            for j, k in ((2, "numel"), (3, "offset"), (4, "size")):
                spec[j] = forge.get(k, spec[j])
        tensors[name] = tuple(spec)
        storages[str(i)] = forge["data"] if i == 0 and "data" in forge else a.tobytes()
    kw = {k: forge[k] for k in ("ordered", "rebuild") if k in forge}
    return torch_save_archive(path, state_dict_pickle(tensors, **kw), storages,
                              byteorder=forge.get("byteorder", b"little"))
