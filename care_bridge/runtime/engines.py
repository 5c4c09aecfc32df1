"""Engines: the only code that touches an inference framework.

An engine runs the bare network on a float32 batch with axes ``"S" + info.axes + "C"`` and returns one float32
array per declared output in the same layout (``"S" + output spatial axes + "C"``). It transposes to and from
the tensor layout the weights declare (``info.input_layout`` / ``info.output_layout``, bioimage.io axis ids).
ONNX Runtime is always available; a TensorFlow SavedModel needs the ``train`` extra. Frameworks are imported
when an engine is made, never when this module is. (The in-memory Keras engine of model folders lives on the
training side: :mod:`care_bridge.models.keras_engine`.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import BundleError, CareBridgeError
from ..describe import ModelInfo
from ..framework_env import configure_onnxruntime, configure_tensorflow

ENGINE_NAMES = ("onnxruntime", "tensorflow")
# Measured on the 2-core CPU machines of this project (benchmarks/predict_throughput.py, CARE default 2D net,
# 2048x2048, automatic tiles): onnxruntime 0.50 MVox/s, TF SavedModel 0.31 MVox/s (TF runs without oneDNN for
# reproducibility, see _import_tf; untiled it reaches 0.39). onnxruntime also starts in a fraction of TF's import
# time and is always installed. The default engine is the first of this order the bundle and installation allow.
PREFERENCE_CPU = ("onnxruntime", "tensorflow")


class Engine(Protocol):
    name: str

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Run the network on ``x`` (float32, ``"S<axes>C"``); one array per output, same layout."""
        ...


def _perm(src: str, dst: str) -> list[int]:
    return [src.index(a) for a in dst]


def _runtime_layout(layout: str) -> str:
    """Where each tensor axis goes in the runtime's layout: batch first, channel last, space in between."""
    return "b" + "".join(a for a in layout if a not in "bc") + "c"


class _LayoutMixin:
    info: ModelInfo

    def _to_net(self, x: np.ndarray) -> np.ndarray:
        lay = self.info.input_layout
        rt = _runtime_layout(lay)
        return x if lay == rt else np.ascontiguousarray(np.transpose(x, _perm(rt, lay)))

    def _from_net(self, y: np.ndarray) -> np.ndarray:
        lay = self.info.output_layout
        rt = _runtime_layout(lay)
        y = np.asarray(y, dtype=np.float32)
        return y if lay == rt else np.ascontiguousarray(np.transpose(y, _perm(lay, rt)))


class OnnxEngine(_LayoutMixin):
    """ONNX Runtime; CUDA/TensorRT execution providers are used when this onnxruntime build has them."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, info: ModelInfo, *, threads: int | None = None):
        configure_onnxruntime()
        import onnxruntime as ort

        self.info = info
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        avail = ort.get_available_providers()
        providers = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in avail]
        providers.append("CPUExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as e:
            raise BundleError(f"onnx weights {Path(path).name} cannot be loaded ({e}); the bundle is corrupt") from e
        self.providers = self.session.get_providers()
        # samples per call (pipeline.batch_size): batching helps a GPU, not the CPU (measured there)
        self.max_batch = 32 if self.providers[0] != "CPUExecutionProvider" else 1
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        xin = self._to_net(x)
        try:
            outs = self.session.run(self.output_names, {self.input_name: xin})
        except Exception as e:  # onnxruntime raises its own exception types (InvalidArgument, Fail, ...)
            want = self.session.get_inputs()[0].shape
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise CareBridgeError(f"the ONNX weights refused an input of shape {list(xin.shape)} (they declare "
                                  f"{want}): {first}; check the image's axes and channels against the bundle "
                                  "(care-bridge inspect)") from e
        return [self._from_net(o) for o in outs]


class TFSavedModelEngine(_LayoutMixin):
    """TensorFlow SavedModel (``serve`` endpoint returning a dict of named outputs, or a tensor/list)."""

    name = "tensorflow"

    def __init__(self, path: str | Path, info: ModelInfo):
        tf = _import_tf()
        from .tf_guard import check_saved_model

        check_saved_model(path)  # a SavedModel is a program: only pure numeric ops may run (before loading)
        self.info = info
        try:
            self.loaded = tf.saved_model.load(str(path))
        except Exception as e:
            raise BundleError(f"TF SavedModel {Path(path).name} cannot be loaded ({e}); the bundle is corrupt") from e
        sigs = getattr(self.loaded, "signatures", {})
        self.fn = getattr(self.loaded, "serve", None) or sigs.get("serving_default")
        if self.fn is None:
            raise BundleError("TF SavedModel has neither a 'serve' endpoint nor a 'serving_default' signature")
        self._tf = tf

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        out = self.fn(self._tf.constant(self._to_net(x)))
        if isinstance(out, dict):
            names = list(self.info.output_names)
            vals = [out[n] for n in names] if all(n in out for n in names) else [out[k] for k in sorted(out)]
        elif isinstance(out, (list, tuple)):
            vals = list(out)
        else:
            vals = [out]
        return [self._from_net(v.numpy()) for v in vals]


def _import_tf():
    configure_tensorflow(bit_reproducible=True)  # only effective if TF is not imported yet
    try:
        import tensorflow as tf
    except ImportError as e:
        raise CareBridgeError(
            "the tensorflow engine needs TensorFlow; install care_bridge[train] or use --engine onnxruntime"
        ) from e
    return tf


def tensorflow_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


def choose_engine(requested: str | None, available_formats: dict[str, Path]) -> str:
    """Pick an engine name: the requested one (checked), or the fastest that the weights allow here."""
    can = {
        "onnxruntime": "onnx" in available_formats,
        "tensorflow": "tensorflow_saved_model_bundle" in available_formats and tensorflow_available(),
    }
    if requested in (None, "auto"):
        for name in PREFERENCE_CPU:
            if can.get(name):
                return name
        raise BundleError(
            "the bundle has no weights this runtime can execute (supported: onnx, tensorflow_saved_model_bundle); "
            f"it has {', '.join(available_formats) or 'none'}"
        )
    if requested not in can:
        raise CareBridgeError(f"unknown engine {requested!r}; choose one of auto, onnxruntime, tensorflow")
    if not can[requested]:
        why = (
            "TensorFlow is not installed (pip install care_bridge[train])"
            if requested == "tensorflow" and "tensorflow_saved_model_bundle" in available_formats
            else "the bundle has no weights for it"
        )
        raise CareBridgeError(f"engine {requested!r} cannot run here: {why}; choose another --engine")
    return requested


def make_engine(name: str, formats: dict[str, Path], info: ModelInfo) -> Engine:
    """Instantiate engine ``name`` on the weights in ``formats`` (bioimage.io weight format → path)."""
    if name == "onnxruntime":
        return OnnxEngine(formats["onnx"], info)
    if name == "tensorflow":
        return TFSavedModelEngine(formats["tensorflow_saved_model_bundle"], info)
    raise CareBridgeError(f"engine {name!r} needs an in-memory Keras model; use a model folder")
