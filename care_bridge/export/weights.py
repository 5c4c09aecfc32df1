"""Weight files of a bundle, written from one trained Keras network.

All three formats hold the *bare* network: float32 in, axes ``b, (z), y, x, c`` (channels last), no
normalization. A probabilistic network is exposed with two outputs, Laplace ``mean`` then ``scale``; an
ensemble with three, ``mean``, ``member_mean``, ``member_scale`` (:mod:`care_bridge.models.ensemble`).

- ``onnx``: tf2onnx, opset :data:`ONNX_OPSET`, dynamic batch and spatial dims, explicit tensor names.
- ``tensorflow_saved_model_bundle``: ``keras.export.ExportArchive`` with a ``serve`` endpoint returning
  ``{output_id: tensor}`` (NOTES pitfall 3: bioimageio.core's TF adapter asserts a dict), zipped.
- ``keras_v3``: a ``.keras`` file of a fresh, never-compiled copy of the architecture (pitfall 4: a model
  compiled with a custom loss does not load elsewhere), with no Lambda layers so it loads in safe mode.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..framework_env import configure_tensorflow  # noqa: E402

configure_tensorflow()

import numpy as np  # noqa: E402

from ..models.config import CareConfig  # noqa: E402

ONNX_OPSET = 17
ONNX_FILE = "weights.onnx"
SAVED_MODEL_ZIP = "tf_saved_model.zip"
KERAS_FILE = "weights.keras"


def output_ids(config: CareConfig, *, ensemble: bool = False) -> tuple[str, ...]:
    """Declared output tensor ids: ``("output",)``, ``("mean", "scale")`` for probabilistic networks, or
    ``("mean", "member_mean", "member_scale")`` for an ensemble of probabilistic members
    (:func:`care_bridge.models.ensemble.ensemble_network`)."""
    if ensemble:
        from ..models.ensemble import ENSEMBLE_OUTPUTS

        return ENSEMBLE_OUTPUTS
    return ("mean", "scale") if config.probabilistic else ("output",)


def bundle_network(config: CareConfig, trained, *, name: str | None = None):
    """A fresh, never-compiled network with the weights of ``trained`` and one output per declared tensor.

    Same layers as :func:`care_bridge.models.unet.build_unet`; for a probabilistic network the outputs are
    taken before the final concatenation (``mean`` head after residual/activation, ``scale`` head), which is
    exactly what :func:`care_bridge.models.unet.split_outputs` slices, but without Lambda layers, so the
    ``.keras`` file loads in Keras' safe mode. Built by :func:`care_bridge.models.factory.output_network`
    (model folders of ensembles build their members with it too).
    """
    from ..models.factory import output_network

    return output_network(config, trained, name=name)


def _named_onnx(model_proto, input_name: str, out_names: tuple[str, ...]):
    """Rename the graph input to ``input_name`` and expose the outputs under ``out_names`` (Identity nodes)."""
    import onnx
    from onnx import helper

    g = model_proto.graph
    old_in = g.input[0].name
    if old_in != input_name:
        for node in g.node:
            for i, name in enumerate(node.input):
                if name == old_in:
                    node.input[i] = input_name
        g.input[0].name = input_name
    old_outs = list(g.output)
    if len(old_outs) != len(out_names):
        raise RuntimeError(f"ONNX graph has {len(old_outs)} outputs, expected {len(out_names)}")
    new_outs = []
    for o, name in zip(old_outs, out_names):
        g.node.append(helper.make_node("Identity", [o.name], [name], name=f"{name}_identity"))
        vi = onnx.ValueInfoProto()
        vi.CopyFrom(o)
        vi.name = name
        new_outs.append(vi)
    del g.output[:]
    g.output.extend(new_outs)
    for vi in [g.input[0], *g.output]:  # readable symbolic dims instead of tf2onnx's unk__N
        dims = vi.type.tensor_type.shape.dim
        for d, label in zip(dims, ["batch", *spatial_names(len(dims) - 2)]):
            d.dim_param = label
    onnx.checker.check_model(model_proto)
    return model_proto


def spatial_names(n: int) -> list[str]:
    return ["y", "x"] if n == 2 else ["z", "y", "x"]


# tf2onnx's transpose optimizer depends on Python's hash order: under some PYTHONHASHSEED values it drops the
# Squeeze after a Reshape, and an output comes out with an extra axis (measured with tf2onnx 1.17: seed 3 of
# 1..8 gave a 5-D "mean" for a 2D probabilistic U-Net). A conversion whose outputs have the wrong rank is
# therefore redone in a child process under other fixed hash seeds.
RETRY_HASH_SEEDS = tuple(range(8))


def net_output_ids(config: CareConfig, net) -> tuple[str, ...]:
    """Output ids of ``net``: those of an ensemble network (whose Keras outputs carry these names, also in its
    ``.keras`` file), else :func:`output_ids` of ``config``."""
    from ..models.ensemble import ENSEMBLE_OUTPUTS

    names = tuple(getattr(net, "output_names", None) or ())
    return ENSEMBLE_OUTPUTS if names == ENSEMBLE_OUTPUTS else output_ids(config)


def convert_onnx(config: CareConfig, net):
    """The tf2onnx conversion of ``net`` with input ``input`` and outputs named as :func:`net_output_ids`."""
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None,) * (config.ndim + 1) + (config.n_channel_in,), tf.float32, name="input"),)

    @tf.function(input_signature=spec)
    def fn(x):
        return tf.nest.flatten(net(x, training=False))

    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=ONNX_OPSET)
    proto = _named_onnx(proto, "input", net_output_ids(config, net))
    proto.producer_name = "care_bridge (tf2onnx)"
    return proto


def onnx_output_ranks_ok(config: CareConfig, proto, net) -> bool:
    """Whether every ONNX output has the rank of the matching Keras output."""
    want = [len(t.shape) for t in (net.outputs if isinstance(net.outputs, list) else [net.outputs])]
    got = [len(o.type.tensor_type.shape.dim) for o in proto.graph.output]
    return got == want


def write_onnx(config: CareConfig, net, path: Path) -> Path:
    """ONNX with input ``input`` (shape ``[?, (?,) ?, ?, C]``) and outputs named as :func:`net_output_ids`;
    converted again under fixed hash seeds (:data:`RETRY_HASH_SEEDS`) if tf2onnx got an output's rank wrong."""
    import onnx

    proto = convert_onnx(config, net)
    if not onnx_output_ranks_ok(config, proto, net):
        proto = _convert_in_child(config, net, path)
    onnx.save(proto, str(path))
    return path


def _convert_in_child(config: CareConfig, net, path: Path):
    import os
    import subprocess
    import sys
    import tempfile

    import onnx

    from .. import tempdirs
    from ..errors import BundleError

    with tempfile.TemporaryDirectory(prefix="care_bridge_onnx_", dir=tempdirs.process_temp_root()) as tmp:
        keras_file, out = Path(tmp) / "net.keras", Path(tmp) / "net.onnx"
        net.save(str(keras_file))
        (Path(tmp) / "config.json").write_text(config.model_dump_json())
        for seed in RETRY_HASH_SEEDS:
            r = subprocess.run([sys.executable, "-m", "care_bridge.export.onnx_child", tmp],
                               env=dict(os.environ, PYTHONHASHSEED=str(seed)), capture_output=True, text=True,
                               timeout=600)
            if r.returncode == 0 and out.is_file():
                return onnx.load(str(out))
    raise BundleError(f"tf2onnx gave {path.name} outputs of the wrong rank under every hash seed tried "
                      f"({', '.join(map(str, RETRY_HASH_SEEDS))}); the ONNX export is broken")


def write_saved_model_zip(config: CareConfig, net, path: Path, work: Path) -> Path:
    """TF SavedModel with a ``serve`` endpoint ``x -> {output_id: y}``, zipped deterministically."""
    import keras
    import tensorflow as tf

    ids = output_ids(config)
    spec = tf.TensorSpec((None,) * (config.ndim + 1) + (config.n_channel_in,), tf.float32, name="input")
    archive = keras.export.ExportArchive()
    archive.track(net)

    def serve(x):
        y = tf.nest.flatten(net(x, training=False))
        return {k: v for k, v in zip(ids, y, strict=True)}

    archive.add_endpoint("serve", serve, input_signature=[spec])
    folder = work / "tf_saved_model"
    archive.write_out(str(folder), verbose=False)
    deterministic_zip(folder, path)
    return path


def write_keras(net, path: Path) -> Path:
    """``.keras`` (Keras v3) file of the never-compiled network."""
    net.save(str(path))
    return path


def fixed_zip_info(name: str, compression: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    """A zip entry header with a fixed timestamp and permissions, so equal content gives equal bytes."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    return info


def deterministic_zip(folder: Path, out: Path, *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """Zip ``folder``'s files (relative paths, sorted, fixed timestamps), so equal content gives equal bytes."""
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    with zipfile.ZipFile(out, "w", compression=compression) as zf:
        for p in files:
            zf.writestr(fixed_zip_info(p.relative_to(folder).as_posix(), compression), p.read_bytes())
    return out


def run_keras(net, x: np.ndarray) -> list[np.ndarray]:
    """Outputs of ``net`` on ``x`` (``"S<axes>C"`` float32) as a list of float32 arrays."""
    import tensorflow as tf

    return [np.asarray(t, dtype=np.float32) for t in tf.nest.flatten(net(x, training=False))]
