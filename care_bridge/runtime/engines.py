"""Engines: the only code that touches an inference framework.

An engine runs the bare network on a float32 batch with axes ``"S" + info.axes + "C"`` and returns one float32
array per declared output in the same layout (``"S" + output spatial axes + "C"``). It transposes to and from
the tensor layout the weights declare (``info.input_layout`` / ``info.output_layout``, bioimage.io axis ids).
ONNX Runtime is always available; a TensorFlow SavedModel needs the ``train`` extra; OpenVINO (on the ONNX
weights) the ``openvino`` extra; TorchScript and ``pytorch_state_dict`` weights PyTorch (the ``torch`` extra).
``pytorch_state_dict`` weights run only when their architecture is one care_bridge builds from its own code
(:mod:`.torch_architectures`; the module or file the bundle names is never imported) and their archive is read as
data, never unpickled (:mod:`.state_dict_reader`). Frameworks are imported when an engine is made, never when this
module is. (The
in-memory Keras engine of model folders lives on the training side: :mod:`care_bridge.models.keras_engine`.)

Precision (``fp32`` always by default): ``bf16`` runs OpenVINO on a CPU with bf16 instructions, ``fp16`` a GPU
(OpenVINO's GPU device, or ONNX Runtime's TensorRT provider); :func:`choose_engine` refuses every other pairing.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import BundleError, CareBridgeError
from ..describe import ModelInfo
from ..framework_env import configure_onnxruntime, configure_openvino, configure_tensorflow

ENGINE_NAMES = ("onnxruntime", "tensorflow", "openvino", "torch")
PRECISIONS = ("fp32", "bf16", "fp16")
# Measured on the 2-core CPU machines of this project (benchmarks/predict_throughput.py, CARE default 2D net,
# 2048x2048, automatic tiles): onnxruntime 0.50 MVox/s, TF SavedModel 0.31 MVox/s (TF runs without oneDNN for
# reproducibility, see _import_tf; untiled it reaches 0.39). onnxruntime also starts in a fraction of TF's import
# time and is always installed. The default engine is the first of this order the bundle and installation allow.
# OpenVINO (an optional extra), when installed, comes first on a CPU: on the CARE default 3D network (64x512x512,
# benchmarks/csbdeep_side_by_side.py --3d) it ran 44.6 s against onnxruntime's 86.4 s (131 vs 68 GFLOP/s; csbdeep
# tiled 53.3 s), in 2D it is on par (6.90 vs 6.65 s at 2048^2) with less memory per tile; bit-identical tiled or
# not and across processes (tests/runtime/test_openvino.py). With a GPU provider in onnxruntime, onnxruntime first.
# PyTorch (an optional extra) runs TorchScript weights, or pytorch_state_dict weights of a known architecture, chosen
# automatically only when a bundle has nothing else.
PREFERENCE_CPU = ("openvino", "onnxruntime", "tensorflow", "torch")
PREFERENCE_GPU = ("onnxruntime", "openvino", "tensorflow", "torch")


def _preference() -> tuple[str, ...]:
    """The automatic engine order here: :data:`PREFERENCE_GPU` when onnxruntime has a CUDA/TensorRT provider."""
    configure_onnxruntime()
    try:
        import onnxruntime as ort

        gpu = bool({"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(ort.get_available_providers()))
    except ImportError:
        gpu = False
    return PREFERENCE_GPU if gpu else PREFERENCE_CPU


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

    def __init__(self, path: str | Path, info: ModelInfo, *, threads: int | None = None, precision: str = "fp32"):
        from .onnx_guard import check_onnx_model

        check_onnx_model(path)  # an ONNX model is a program too: standard operators, self-contained weights
        configure_onnxruntime()
        import onnxruntime as ort

        self.info = info
        self.precision = precision
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or engine_threads()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        avail = ort.get_available_providers()
        if precision == "fp16":  # only TensorRT runs fp32 ONNX weights in fp16 (choose_engine checked it is here)
            providers: list = [("TensorrtExecutionProvider", {"trt_fp16_enable": True})]
        elif precision == "fp32":
            providers = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in avail]
        else:
            raise CareBridgeError(f"engine onnxruntime cannot run precision {precision}; use --engine openvino")
        providers.append("CPUExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as e:
            raise BundleError(f"onnx weights {Path(path).name} cannot be loaded ({e}); the bundle is corrupt") from e
        self.providers = self.session.get_providers()
        if precision == "fp16" and self.providers[0] != "TensorrtExecutionProvider":
            raise CareBridgeError("onnxruntime's TensorRT provider did not start, so fp16 cannot run; use --engine "
                                  "openvino on a GPU, or --precision fp32")
        # samples per call (pipeline.batch_size): batching helps a GPU, not the CPU (measured there)
        self.max_batch = 32 if self.providers[0] != "CPUExecutionProvider" else 1
        # one tile's working memory per input voxel on the CPU, by number of spatial axes (pipeline.bytes_per_voxel):
        # the generic estimate. A first tile alone measured 1056-1243 B in 2D and 684-808 B in 3D
        # (benchmarks/tile_memory.py), but the arena grows over a restoration's tiles of several shapes: whole 3D
        # restorations peaked at 1245-1376 B per tile voxel beyond the image (benchmarks/csbdeep_side_by_side.py --3d)
        self.bytes_per_voxel = {2: 1304.0, 3: 1304.0} if self.providers[0] == "CPUExecutionProvider" else {}
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


class OpenVinoEngine(_LayoutMixin):
    """OpenVINO on the bundle's ONNX weights (the ``openvino`` extra): ``fp32`` on the CPU by default, ``bf16`` on
    a CPU that OpenVINO reports bf16-capable, ``fp16`` on OpenVINO's GPU device.

    fp32 is asked for explicitly: on a CPU with bf16 instructions OpenVINO's own default is bf16.

    The network is compiled for the **static shape** of the block it runs on (recompiled when the shape changes;
    one compiled shape alive at a time, so memory holds one tile's plan). Measured on the CARE default 3D network
    (2 idle vCPUs of a Xeon, fp32): a 32x280x280 block in 2.85 s and 1.37 GB peak against 3.21 s and 1.92 GB with
    the dynamic-shape model, 32x512x512 in 9.5 s / 4.3 GB against 11.3 s / 6.1 GB; bit-identical outputs
    (tests/runtime/test_openvino.py). A compile costs 0.05-0.17 s, and the pipeline runs a plan's tiles grouped by
    shape (``pipeline.tiles_by_shape``)."""

    name = "openvino"
    HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}

    def __init__(self, path: str | Path, info: ModelInfo, *, precision: str = "fp32", threads: int | None = None):
        from .onnx_guard import check_onnx_model

        check_onnx_model(path)  # OpenVINO's ONNX reader follows external-data paths too: onnxruntime's check
        ov = _import_openvino()
        self.info = info
        self.precision = precision
        self._core = ov.Core()
        self.device = openvino_device(self._core, precision)
        try:
            self._model = self._core.read_model(str(path))
        except Exception as e:
            raise BundleError(f"onnx weights {Path(path).name} cannot be read by OpenVINO ({_first_line(e)}); the "
                              "bundle is corrupt or uses an operator OpenVINO lacks (try --engine onnxruntime)") from e
        self._config = {"INFERENCE_PRECISION_HINT": self.HINTS[precision], "PERFORMANCE_HINT": "LATENCY"}
        if self.device == "CPU":
            self._config["INFERENCE_NUM_THREADS"] = int(threads or engine_threads())
        self.input_shape = str(self._model.inputs[0].get_partial_shape())
        self._shape: tuple[int, ...] | None = None
        self.compiled = self._compile(self._model)  # the model as declared: errors show here, at load
        self.request = None
        self.max_batch = 32 if self.device != "CPU" else 1  # as ONNX Runtime: batching helps a GPU, not the CPU
        # one tile's working memory per input voxel on the CPU (pipeline.bytes_per_voxel), measured with static
        # shapes by benchmarks/tile_memory.py; a GPU keeps the generic estimate
        per_voxel = {"fp32": self.FP32_BYTES, "bf16": self.BF16_BYTES}.get(precision) if self.device == "CPU" else None
        self.bytes_per_voxel = {2: per_voxel, 3: per_voxel} if per_voxel else {}

    FP32_BYTES, BF16_BYTES = 580.0, 310.0  # measured 515-524 and 269-282 B per voxel in 2D and 3D (+~10 %)

    def _compile(self, model):
        try:
            return self._core.compile_model(model, self.device, self._config)
        except Exception as e:
            raise CareBridgeError(f"OpenVINO cannot compile the ONNX weights for {self.device} at {self.precision} "
                                  f"({_first_line(e)}); try --precision fp32 or --engine onnxruntime") from e

    def _refused(self, shape: tuple[int, ...], e: Exception) -> CareBridgeError:
        return CareBridgeError(f"the ONNX weights (OpenVINO) refused an input of shape {list(shape)} (they declare "
                               f"{self.input_shape}): {_first_line(e)}; check the image's axes and channels against "
                               "the bundle (care-bridge inspect)")

    def _prepare(self, shape: tuple[int, ...]) -> None:
        """Compile the network for ``shape`` unless it is the current one (the previous plan is freed first)."""
        if shape == self._shape:  # set only once its request exists
            return
        self.request = self.compiled = None
        self._shape = None
        model = self._model.clone()
        try:
            model.reshape({model.inputs[0].get_any_name(): list(shape)})
        except Exception as e:
            raise self._refused(shape, e) from e
        self.compiled = self._compile(model)
        self.request = self.compiled.create_infer_request()
        self._shape = shape

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        xin = np.ascontiguousarray(self._to_net(x), dtype=np.float32)
        self._prepare(tuple(xin.shape))
        try:  # the input is read in place; the outputs are copies (share_outputs=False) that outlive the next call
            outs = self.request.infer({0: xin}, share_inputs=True)
        except Exception as e:
            raise self._refused(tuple(xin.shape), e) from e
        return [self._from_net(outs[i]) for i in range(len(self.compiled.outputs))]


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def _import_openvino():
    configure_openvino()
    return _import_framework("openvino", "openvino", "openvino", "--engine onnxruntime")


def openvino_available() -> bool:
    return available("openvino")


def openvino_device(core, precision: str) -> str:
    """The OpenVINO device for ``precision``: the CPU for fp32 and bf16 (bf16 only if the CPU reports the
    capability: AVX512_BF16 or AMX), the GPU for fp16; a one-line error naming the fix otherwise."""
    if precision == "fp16":
        gpus = [d for d in core.available_devices if d.startswith("GPU")]
        if not gpus:
            raise CareBridgeError("precision fp16 needs a GPU and OpenVINO finds none here; use --precision bf16 on "
                                  "a CPU with bf16 support, or --precision fp32")
        return gpus[0]
    if precision == "bf16":
        caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        if "BF16" not in caps:
            name = core.get_property("CPU", "FULL_DEVICE_NAME")
            raise CareBridgeError(f"precision bf16 needs a CPU with bf16 instructions (AVX512_BF16 or AMX) and this "
                                  f"one ({name}) has none; use --precision fp32")
    return "CPU"


class TFSavedModelEngine(_LayoutMixin):
    """TensorFlow SavedModel (``serve`` endpoint returning a dict of named outputs, or a tensor/list)."""

    name = "tensorflow"
    # one tile's working memory per input voxel (pipeline.bytes_per_voxel; measured on the CPU 520-800 B in 2D,
    # 533-773 B in 3D, the smallest tiles highest: benchmarks/tile_memory.py)
    bytes_per_voxel = {2: 880.0, 3: 880.0}

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
        vals = named_outputs(out, self.info.output_names)
        return [self._from_net(v.numpy()) for v in vals]


def named_outputs(out, names) -> list:
    """A framework's result as one value per declared output: a dict by the declared names (else by sorted key),
    a list or tuple as is, a single value as a list of one."""
    if isinstance(out, dict):
        return [out[n] for n in names] if all(n in out for n in names) else [out[k] for k in sorted(out)]
    if isinstance(out, (list, tuple)):
        return list(out)
    return [out]


def engine_threads() -> int:
    """Threads an engine may use: ``CARE_BRIDGE_ENGINE_THREADS`` (set for each worker of a local Dask cluster, which
    shares the cores out), else every core."""
    v = os.environ.get("CARE_BRIDGE_ENGINE_THREADS", "")
    return int(v) if v.isdigit() and int(v) > 0 else (os.cpu_count() or 1)


def _import_framework(module: str, engine: str, extra: str, fallback: str):
    """Import an engine's framework, or a one-line error naming the extra to install and the engine to use instead."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise CareBridgeError(f"the {engine} engine needs {module}; pip install 'care_bridge[{extra}]' or use "
                              f"{fallback}") from e


def _import_tf():
    configure_tensorflow(bit_reproducible=True)  # only effective if TF is not imported yet
    return _import_framework("tensorflow", "tensorflow", "train", "--engine onnxruntime")


def available(module: str) -> bool:
    """Whether a framework is installed (without importing it)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


class TorchScriptEngine(_LayoutMixin):
    """PyTorch on TorchScript weights (the ``torch`` extra), on the CPU. The archive and the compiled graph are
    checked before anything of the model runs (:mod:`.torch_guard`); warnings the model raises are not shown
    (they would add lines to one-line messages).

    Runs without oneDNN (``torch.backends.mkldnn``), as the TF engine does: PyTorch's oneDNN convolutions round
    differently with the input's shape (tiled vs untiled up to 2.6e-7 of the output's range, measured), its native
    ones less so: bit-identical with a declared halo, within 3.2e-8 of the range for a bundle without one, whose
    border tiles are narrower (measured; tested bound 1e-6); measured 1.3-1.5x slower on small networks."""

    name = "torch"

    def __init__(self, path: str | Path, info: ModelInfo, *, threads: int | None = None):
        torch = _import_torch()
        from .torch_guard import load_torchscript

        self.info = info
        self.precision = "fp32"
        torch.set_num_threads(int(threads or engine_threads()))
        self.module = load_torchscript(path)
        self.max_batch = 1  # as the other CPU engines
        self._torch = torch

    what = "TorchScript weights"

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        torch = self._torch
        xin = self._to_net(x)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with torch.inference_mode(), torch.backends.mkldnn.flags(enabled=False):
                    out = self.module.forward(torch.from_numpy(np.ascontiguousarray(xin, dtype=np.float32)))
        except Exception as e:  # TorchScript raises its own error types (shape checks inside the graph)
            raise CareBridgeError(f"the {self.what} refused an input of shape {list(xin.shape)}: "
                                  f"{_first_line(e)}; check the image's axes and channels against the bundle "
                                  "(care-bridge inspect)") from e
        vals = named_outputs(out, self.info.output_names)
        if not all(isinstance(v, torch.Tensor) for v in vals):
            raise CareBridgeError(f"the {self.what} returned something other than tensors; rdf.yaml does not "
                                  "match the weights (ask the bundle's authors)")
        return [self._from_net(v.detach().to(torch.float32).numpy()) for v in vals]


class TorchStateDictEngine(TorchScriptEngine):
    """PyTorch on ``pytorch_state_dict`` weights (the ``torch`` extra), on the CPU: the network is built from
    care_bridge's own code for an allow-listed architecture (:func:`.torch_architectures.resolve_architecture`
    checked its name and kwargs), and the weights are read as data (:func:`.state_dict_reader.read_state_dict`,
    no unpickling) and loaded with ``strict=True``. Nothing the bundle names is imported or run. Runs as the
    TorchScript engine does (same tensor in/out code, oneDNN off: bit-identical tiled and untiled with a declared
    halo)."""

    what = "pytorch_state_dict weights"

    def __init__(self, path: str | Path, info: ModelInfo, architecture, *, threads: int | None = None):
        from .state_dict_reader import read_state_dict
        from .torch_architectures import build_network, load_weights

        tensors = read_state_dict(path)  # before PyTorch is even imported: a forged file stops here
        torch = _import_torch()
        self.info = info
        self.precision = "fp32"
        torch.set_num_threads(int(threads or engine_threads()))
        where = Path(path).name
        self.module = build_network(architecture, where)
        load_weights(self.module, tensors, architecture, where)
        self.architecture = architecture
        self.max_batch = 1
        self._torch = torch


def _import_torch():
    return _import_framework("torch", "torch", "torch", "the bundle's ONNX weights (--engine onnxruntime)")


def torch_available() -> bool:
    return available("torch")


def state_dict_architecture(weights: dict | None):
    """The checked architecture of a bundle's ``pytorch_state_dict`` entry (``weights``: the rdf's ``weights``
    mapping); a one-line :class:`BundleError` naming the allow-list when care_bridge does not build it."""
    from .torch_architectures import resolve_architecture

    entry = weights.get("pytorch_state_dict") if isinstance(weights, dict) else None
    return resolve_architecture(entry)


def tensorflow_available() -> bool:
    return available("tensorflow")


def onnxruntime_has_tensorrt() -> bool:
    configure_onnxruntime()
    import onnxruntime as ort

    return "TensorrtExecutionProvider" in ort.get_available_providers()


def choose_engine(requested: str | None, available_formats: dict[str, Path], precision: str = "fp32", *,
                  weights: dict | None = None) -> str:
    """Pick an engine name: the requested one (checked), or the fastest that the weights allow here.

    ``weights`` (the rdf's ``weights`` mapping) lets ``torch`` run ``pytorch_state_dict`` weights: when they are
    the engine's only weights, their architecture is checked here (a one-line refusal naming the allow-list).

    A precision other than fp32 needs an engine that runs it: ``bf16`` OpenVINO (``auto`` picks it), ``fp16``
    OpenVINO's GPU device or ONNX Runtime's TensorRT provider (``auto``: OpenVINO if installed, else ONNX Runtime
    with TensorRT); any other pairing is a one-line error. Whether the device supports the precision is checked
    when the engine is made."""
    if precision not in PRECISIONS:
        raise CareBridgeError(f"precision {precision!r} is unknown; choose one of {', '.join(PRECISIONS)}")
    torch_formats = "torchscript" in available_formats or "pytorch_state_dict" in available_formats
    can = {
        "onnxruntime": "onnx" in available_formats,
        "tensorflow": "tensorflow_saved_model_bundle" in available_formats and tensorflow_available(),
        "openvino": "onnx" in available_formats and openvino_available(),
        "torch": torch_formats and torch_available(),
    }
    if requested in (None, "auto"):
        if precision != "fp32":
            return _auto_for_precision(precision, available_formats, can)
        for name in _preference():
            if can.get(name):
                if name == "torch" and "torchscript" not in available_formats:
                    state_dict_architecture(weights)
                return name
        if "torchscript" in available_formats:
            raise CareBridgeError("the bundle's only runnable weights are torchscript, which need PyTorch: pip install "
                                  "'care_bridge[torch]'")
        if "pytorch_state_dict" in available_formats:
            state_dict_architecture(weights)  # an unknown architecture is the first thing to say
            raise CareBridgeError("the bundle's only runnable weights are pytorch_state_dict, which need PyTorch: pip "
                                  "install 'care_bridge[torch]'")
        raise BundleError(
            "the bundle has no weights this runtime can execute (supported: onnx, tensorflow_saved_model_bundle, "
            f"torchscript, pytorch_state_dict of a known architecture); it has {', '.join(available_formats) or 'none'}"
        )
    if requested not in can:
        raise CareBridgeError(f"unknown engine {requested!r}; choose one of auto, {', '.join(ENGINE_NAMES)}")
    if not can[requested]:
        if requested == "tensorflow" and "tensorflow_saved_model_bundle" in available_formats:
            why = "TensorFlow is not installed (pip install care_bridge[train])"
        elif requested == "openvino" and "onnx" in available_formats:
            why = "OpenVINO is not installed (pip install 'care_bridge[openvino]')"
        elif requested == "torch" and torch_formats:
            why = "PyTorch is not installed (pip install 'care_bridge[torch]')"
        else:
            why = "the bundle has no weights for it"
        raise CareBridgeError(f"engine {requested!r} cannot run here: {why}; choose another --engine")
    if requested == "torch" and "torchscript" not in available_formats:
        state_dict_architecture(weights)
    if precision != "fp32":
        if requested in ("tensorflow", "torch") or (requested == "onnxruntime" and precision == "bf16"):
            raise CareBridgeError(f"engine {requested} runs fp32 only; for --precision {precision} use --engine "
                                  "openvino (or auto)")
        if requested == "onnxruntime" and not onnxruntime_has_tensorrt():
            raise CareBridgeError("engine onnxruntime runs fp16 only with its TensorRT provider (a GPU), which this "
                                  "installation lacks; use --engine openvino on a GPU, or --precision fp32")
    return requested


def _auto_for_precision(precision: str, formats: dict[str, Path], can: dict[str, bool]) -> str:
    if "onnx" not in formats:
        raise CareBridgeError(f"precision {precision} runs the ONNX weights and this bundle has none "
                              f"({', '.join(formats) or 'no weights'}); use --precision fp32")
    if can["openvino"]:
        return "openvino"
    if precision == "fp16" and onnxruntime_has_tensorrt():
        return "onnxruntime"
    raise CareBridgeError(f"precision {precision} needs OpenVINO (pip install 'care_bridge[openvino]')"
                          + (" or ONNX Runtime with TensorRT" if precision == "fp16" else "")
                          + "; or use --precision fp32")


def make_engine(name: str, formats: dict[str, Path], info: ModelInfo, precision: str = "fp32", *,
                weights: dict | None = None) -> Engine:
    """Instantiate engine ``name`` on the weights in ``formats`` (bioimage.io weight format → path) at
    ``precision`` (a pairing :func:`choose_engine` accepted). ``torch`` runs ``torchscript`` weights when present,
    else ``pytorch_state_dict`` ones, whose architecture comes from ``weights`` (the rdf's ``weights`` mapping);
    pass ``formats`` with one entry to choose."""
    if name == "onnxruntime":
        return OnnxEngine(formats["onnx"], info, precision=precision)
    if name == "openvino":
        return OpenVinoEngine(formats["onnx"], info, precision=precision)
    if name == "tensorflow":
        if precision != "fp32":
            raise CareBridgeError(f"engine tensorflow runs fp32 only; for --precision {precision} use --engine "
                                  "openvino")
        return TFSavedModelEngine(formats["tensorflow_saved_model_bundle"], info)
    if name == "torch":
        if precision != "fp32":
            raise CareBridgeError(f"engine torch runs fp32 only; for --precision {precision} use --engine openvino")
        if "torchscript" in formats:
            return TorchScriptEngine(formats["torchscript"], info)
        return TorchStateDictEngine(formats["pytorch_state_dict"], info, state_dict_architecture(weights))
    raise CareBridgeError(f"engine {name!r} needs an in-memory Keras model; use a model folder")
