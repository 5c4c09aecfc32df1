"""The one place where care_bridge sets up the environment of the frameworks it loads.

The functions only *set defaults* (a user's own environment wins) and must run before the framework is
imported: :func:`configure_tensorflow` is called by everything that imports TensorFlow or Keras,
:func:`configure_onnxruntime` before onnxruntime is imported, :func:`configure_openvino` before OpenVINO is.
"""

from __future__ import annotations

import os
import sys

TENSORFLOW_DEFAULTS = {
    # bioimageio.core picks Keras' backend from KERAS_BACKEND and defaults to torch (measured, NOTES.md)
    "KERAS_BACKEND": "tensorflow",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
BIT_REPRODUCIBLE_TENSORFLOW = {
    # oneDNN's convolutions in TF are not bit-reproducible from one process to another (measured: 1-ulp
    # differences in ~0.2% of pixels for the same input and weights), which would break the promise that a
    # bundle gives the same bits everywhere; Eigen's kernels are.
    "TF_ENABLE_ONEDNN_OPTS": "0",
}
ONNXRUNTIME_DEFAULTS = {
    # onnxruntime 1.32 otherwise sends telemetry and writes a device id under ~/.cache (measured); a tool that
    # runs on unpublished data makes no network connection of its own
    "ORT_DISABLE_TELEMETRY": "1",
}
# OpenVINO 2026.4's runtime (Core, the CPU/GPU plugins, the ONNX reader) needs no environment variable: measured with
# strace over read_model + compile_model + inference, it opens no internet socket and creates no file (none under
# $HOME). Its telemetry is Python: `import openvino` imports the model converter (openvino.tools.ovc), which imports
# the `openvino_telemetry` package, and convert_model() then sends usage events to Google Analytics and writes a
# client id under ~/intel unless the user opted out (no consent file counts as consent). care_bridge never converts,
# but a restoring process should not carry that code: configure_openvino makes `openvino_telemetry` unimportable
# before OpenVINO is imported, so ovc falls back to its own no-op stub (openvino/tools/ovc/telemetry_stub.py).
# The one runtime feature that writes files, the compiled-model cache, needs a CACHE_DIR the engine never sets.
OPENVINO_DEFAULTS: dict[str, str] = {}


def configure_tensorflow(*, bit_reproducible: bool = False) -> None:
    """Environment defaults for TensorFlow/Keras (:data:`TENSORFLOW_DEFAULTS`); ``bit_reproducible`` (the
    inference engine) also selects Eigen's kernels (:data:`BIT_REPRODUCIBLE_TENSORFLOW`). Training keeps
    oneDNN, which is faster; the first import of TensorFlow in a process fixes the choice."""
    for k, v in TENSORFLOW_DEFAULTS.items():
        os.environ.setdefault(k, v)
    if bit_reproducible:
        for k, v in BIT_REPRODUCIBLE_TENSORFLOW.items():
            os.environ.setdefault(k, v)


def configure_onnxruntime() -> None:
    """Environment defaults for onnxruntime (see :data:`ONNXRUNTIME_DEFAULTS`)."""
    for k, v in ONNXRUNTIME_DEFAULTS.items():
        os.environ.setdefault(k, v)


def configure_openvino() -> None:
    """Before OpenVINO is imported: its environment defaults (:data:`OPENVINO_DEFAULTS`, none needed by 2026.4)
    and its telemetry package made unimportable (a ``None`` entry in ``sys.modules``; ImportError is the path
    OpenVINO takes when the package is not installed). Without effect once a process imported the package."""
    for k, v in OPENVINO_DEFAULTS.items():
        os.environ.setdefault(k, v)
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
