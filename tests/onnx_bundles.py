"""Tiny real bundles without TensorFlow: small ONNX convolution networks built with ``onnx.helper`` (fixed
random weights, a receptive field known by construction), packed as care_bridge bundles (rdf.yaml with a
``config.care_bridge`` block, sha256 of every file, test tensors) that ``open_bundle`` and ONNX Runtime execute
like any exported bundle. One per mode of the front-end equivalence matrix.

Receptive fields: two 3×3(×3) convolutions → radius 2 input pixels per axis; the upsampling net (nearest ×2
along Z, then one 3×3×3 conv) → 1 input plane along Z; the projection net reduces Z as a whole (halo 0).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


@dataclass(frozen=True)
class Kind:
    axes: str  # network spatial axes
    n_in: int
    n_out: int
    mode: str = "denoise"
    procedure: dict | None = None
    probabilistic: bool = False
    step: tuple[int, ...] = ()
    halo: tuple[int, ...] = ()
    ensemble: int = 1  # >= 2: that many probabilistic members in one graph (mean, member_mean, member_scale)


KINDS = {
    "2d": Kind("YX", 1, 1, step=(4, 4), halo=(4, 4)),
    "3d": Kind("ZYX", 1, 1, step=(2, 4, 4), halo=(2, 4, 4)),
    "2d_multichannel": Kind("YX", 2, 2, step=(4, 4), halo=(4, 4)),
    "2d_probabilistic": Kind("YX", 1, 1, probabilistic=True, step=(4, 4), halo=(4, 4)),
    "isotropic": Kind("YX", 1, 1, mode="isotropic", procedure={"factor": 4.0, "combine": "geometric"},
                      step=(4, 4), halo=(4, 4)),
    "upsampling": Kind("ZYX", 1, 1, mode="upsampling", procedure={"factor": 2}, step=(2, 4, 4), halo=(2, 4, 4)),
    "2d_ensemble": Kind("YX", 1, 1, probabilistic=True, step=(4, 4), halo=(4, 4), ensemble=3),
    "3d_ensemble": Kind("ZYX", 1, 1, probabilistic=True, step=(2, 4, 4), halo=(2, 4, 4), ensemble=2),
    "projection": Kind("ZYX", 1, 1, mode="projection", procedure={"proj_depth": 1}, step=(1, 4, 4),
                       halo=(0, 4, 4)),
}


def _conv(name: str, x: str, c_in: int, c_out: int, nd: int, rng, nodes, inits) -> str:
    w = (rng.normal(0, 0.4, (c_out, c_in) + (3,) * nd)).astype(np.float32)
    b = rng.normal(0, 0.05, c_out).astype(np.float32)
    inits += [numpy_helper.from_array(w, f"{name}_w"), numpy_helper.from_array(b, f"{name}_b")]
    nodes.append(helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [f"{name}_y"], pads=[1] * (2 * nd)))
    return f"{name}_y"


def _member(prefix: str, kind: Kind, rng, nodes, inits) -> tuple[str, str]:
    """One probabilistic member on ``x_cf``: (mean, scale) channels-first names; members differ by their random
    weights and by a different offset of the scale, so they disagree more in some pixels than in others."""
    nd = len(kind.axes)
    h = _conv(f"{prefix}c1", "x_cf", kind.n_in, 4, nd, rng, nodes, inits)
    nodes.append(helper.make_node("Relu", [h], [f"{prefix}h_relu"]))
    y = _conv(f"{prefix}c2", f"{prefix}h_relu", 4, 2 * kind.n_out, nd, rng, nodes, inits)
    inits.append(numpy_helper.from_array(np.array([kind.n_out, kind.n_out], np.int64), f"{prefix}split"))
    nodes.append(helper.make_node("Split", [y, f"{prefix}split"], [f"{prefix}m_cf", f"{prefix}s_raw"], axis=1))
    _squareplus(f"{prefix}s_raw", f"{prefix}s_cf", nodes, inits)
    return f"{prefix}m_cf", f"{prefix}s_cf"


def _squareplus(x: str, y: str, nodes, inits) -> None:
    """``y = (x + sqrt(x^2 + 4)) / 2`` from exactly rounded ops, as the exported networks' scale head (ONNX
    Runtime's Softplus rounds differently depending on where a value falls in its vector loop, so it would make
    tiled and untiled results differ in the last bit)."""
    if not any(i.name == "sqp_four" for i in inits):
        inits += [numpy_helper.from_array(np.array(4.0, np.float32), "sqp_four"),
                  numpy_helper.from_array(np.array(0.5, np.float32), "sqp_half")]
    nodes += [helper.make_node("Mul", [x, x], [f"{y}_sq"]), helper.make_node("Add", [f"{y}_sq", "sqp_four"], [f"{y}_p4"]),
              helper.make_node("Sqrt", [f"{y}_p4"], [f"{y}_rt"]), helper.make_node("Add", [x, f"{y}_rt"], [f"{y}_sum"]),
              helper.make_node("Mul", [f"{y}_sum", "sqp_half"], [y])]


def build_onnx(kind: Kind, seed: int = 0) -> onnx.ModelProto:
    """The network of ``kind`` on channels-last tensors ``b<axes>c`` (transposed to channels-first inside)."""
    rng = np.random.default_rng(seed)
    nd = len(kind.axes)
    nodes, inits = [], []
    to_cf = [0, nd + 1] + list(range(1, nd + 1))
    nodes.append(helper.make_node("Transpose", ["input"], ["x_cf"], perm=to_cf))
    x = "x_cf"
    if kind.ensemble > 1:
        members = [_member(f"m{k}_", kind, rng, nodes, inits) for k in range(kind.ensemble)]
        to_cl = [0] + list(range(2, nd + 2)) + [1]
        nodes.append(helper.make_node("Mean", [m for m, _ in members], ["avg_cf"]))
        nodes.append(helper.make_node("Concat", [m for m, _ in members], ["mm_cf"], axis=1))
        nodes.append(helper.make_node("Concat", [s for _, s in members], ["ms_cf"], axis=1))
        for src, dst in (("avg_cf", "mean"), ("mm_cf", "member_mean"), ("ms_cf", "member_scale")):
            nodes.append(helper.make_node("Transpose", [src], [dst], perm=to_cl))
        sp = [f"o{i}" for i in range(nd)]
        outputs = [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["b", *sp, kind.n_out])]
        outputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["b", *sp, kind.n_out * kind.ensemble])
                    for n in ("member_mean", "member_scale")]
        in_shape = ["b"] + [f"s{i}" for i in range(nd)] + [kind.n_in]
        graph = helper.make_graph(nodes, "tiny_ensemble",
                                  [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)], outputs, inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model
    if kind.mode == "upsampling":
        f = float(kind.procedure["factor"])
        inits.append(numpy_helper.from_array(np.array([1, 1, f, 1, 1], np.float32), "up_scales"))
        nodes.append(helper.make_node("Resize", ["x_cf", "", "up_scales"], ["x_up"], mode="nearest",
                                      coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
        y = _conv("c1", "x_up", kind.n_in, kind.n_out, nd, rng, nodes, inits)
        out_nd = nd
    elif kind.mode == "projection":
        h = _conv("c1", x, kind.n_in, 4, nd, rng, nodes, inits)
        nodes.append(helper.make_node("Relu", [h], ["h_relu"]))
        nodes.append(helper.make_node("ReduceMax", ["h_relu"], ["proj"], axes=[2], keepdims=0))
        y = _conv("c2", "proj", 4, kind.n_out, nd - 1, rng, nodes, inits)
        out_nd = nd - 1
    else:
        h = _conv("c1", x, kind.n_in, 4, nd, rng, nodes, inits)
        nodes.append(helper.make_node("Relu", [h], ["h_relu"]))
        y = _conv("c2", "h_relu", 4, kind.n_out * (2 if kind.probabilistic else 1), nd, rng, nodes, inits)
        if kind.n_in == kind.n_out and not kind.probabilistic:
            nodes.append(helper.make_node("Add", [y, "x_cf"], ["res"]))
            y = "res"
        out_nd = nd
    to_cl = [0] + list(range(2, out_nd + 2)) + [1]
    in_shape = ["b"] + [f"s{i}" for i in range(nd)] + [kind.n_in]
    out_shape = ["b"] + [f"o{i}" for i in range(out_nd)] + [kind.n_out]
    if kind.probabilistic:
        inits.append(numpy_helper.from_array(np.array([kind.n_out, kind.n_out], np.int64), "split"))
        nodes.append(helper.make_node("Split", [y, "split"], ["m_cf", "s_raw"], axis=1))
        _squareplus("s_raw", "s_cf", nodes, inits)
        nodes.append(helper.make_node("Transpose", ["m_cf"], ["mean"], perm=to_cl))
        nodes.append(helper.make_node("Transpose", ["s_cf"], ["scale"], perm=to_cl))
        outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, out_shape) for n in ("mean", "scale")]
    else:
        nodes.append(helper.make_node("Transpose", [y], ["output"], perm=to_cl))
        outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_bundle(kind_name: str, folder: Path, *, pixel_size: dict | None = None, corrupt_weights: bool = False,
                 name: str | None = None) -> Path:
    """Write the bundle of ``kind_name`` as ``folder/<name or kind>.zip`` (and return its path);
    ``corrupt_weights`` replaces the ONNX file by garbage after the test tensors are made (its sha256 in the rdf
    matches the garbage, so only loading the weights fails)."""
    import onnxruntime as ort

    kind = KINDS[kind_name]
    stage = folder / f"{name or kind_name}_stage"
    stage.mkdir(parents=True, exist_ok=True)
    onnx.save(build_onnx(kind), stage / "model.onnx")
    axes = kind.axes.lower()
    out_axes = axes.replace("z", "") if kind.mode == "projection" else axes
    factor = {a: 1.0 for a in axes}
    if kind.mode == "upsampling":
        factor["z"] = float(kind.procedure["factor"])
    # test tensors: a smooth blob, normalized like scale_range with percentiles 2 / 99.8
    shape = tuple(2 * h + s if h else max(s, 6) for h, s in zip(kind.halo, kind.step))
    rng = np.random.default_rng(1)
    x = rng.random((1, *shape, kind.n_in)).astype(np.float32)
    sess = ort.InferenceSession(str(stage / "model.onnx"), providers=["CPUExecutionProvider"])
    ys = sess.run(None, {"input": x})
    np.save(stage / "test_input.npy", x)
    names = (["mean", "member_mean", "member_scale"] if kind.ensemble > 1
             else ["mean", "scale"] if kind.probabilistic else ["output"])
    for n, y in zip(names, ys):
        np.save(stage / f"test_{n}.npy", y)
    if corrupt_weights:
        (stage / "model.onnx").write_bytes(b"this is not an ONNX model" * 10)
    minimum = {a: (2 * h + s if h else s) for a, h, s in zip(axes, kind.halo, kind.step)}
    in_axes = [{"type": "batch"}] + [{"type": "space", "id": a, "size": {"min": minimum[a], "step": s}}
                                     for a, s in zip(axes, kind.step)]
    in_axes.append({"type": "channel", "channel_names": [f"c{i}" for i in range(kind.n_in)]})

    def out_axis(a: str, h: int) -> dict:
        d = {"type": "space", "id": a, "size": {"tensor_id": "input", "axis_id": a}}
        if factor[a] != 1.0:
            d["scale"] = 1.0 / factor[a]
        if h:
            d["halo"] = int(h * factor[a])
        return d

    halo = dict(zip(axes, kind.halo))
    outputs = [{"id": n, "axes": [{"type": "batch"}] + [out_axis(a, halo[a]) for a in out_axes]
                + [{"type": "channel", "channel_names": [f"{n}{i}" for i in range(
                    kind.n_out * (kind.ensemble if n.startswith("member_") else 1))]}],
                "test_tensor": {"source": f"test_{n}.npy", "sha256": _sha(stage / f"test_{n}.npy")}}
               for n in names]
    procedure = dict(kind.procedure or {})
    care = {
        "schema_version": 1, "mode": kind.mode, "procedure": procedure, "axes": kind.axes,
        "n_channel_in": kind.n_in, "n_channel_out": kind.n_out, "probabilistic": kind.probabilistic,
        "percentiles": [2.0, 99.8], "eps": 1e-6, "halo": halo, "step": dict(zip(axes, kind.step)),
        "output_denormalization": {"kind": "input_percentiles_affine"}, "network": {"name": f"tiny {kind_name}"},
        "pixel_size": pixel_size,
    }
    if kind.ensemble > 1:
        care["ensemble"] = {"members": kind.ensemble, "channel_order": "member-major: channel m*C + c"}
    rdf = {
        "format_version": "0.5.4", "type": "model", "name": f"tiny {kind_name}", "description": "test network",
        "authors": [{"name": "care_bridge tests"}], "license": "CC0-1.0",
        "inputs": [{"id": "input", "axes": in_axes,
                    "test_tensor": {"source": "test_input.npy", "sha256": _sha(stage / "test_input.npy")},
                    "preprocessing": [{"id": "scale_range", "kwargs": {"axes": list(axes), "min_percentile": 2.0,
                                                                       "max_percentile": 99.8, "eps": 1e-6}}]}],
        "outputs": outputs,
        "weights": {"onnx": {"source": "model.onnx", "sha256": _sha(stage / "model.onnx"), "opset_version": OPSET}},
        "config": {"care_bridge": care},
    }
    (stage / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
    out = folder / f"{name or kind_name}.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(stage.iterdir()):
            zf.write(p, p.name)
    return out
