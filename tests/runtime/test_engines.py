from pathlib import Path

import pytest

from care_bridge.errors import BundleError, CareBridgeError
from care_bridge.runtime.engines import choose_engine


def test_default_engine_is_the_measured_fastest_available(monkeypatch):
    from care_bridge.runtime import engines

    both = {"onnx": Path("w.onnx"), "tensorflow_saved_model_bundle": Path("tf")}
    # on a CPU: OpenVINO when installed (measured fastest in 3D, on par in 2D), else ONNX Runtime
    assert choose_engine("auto", both) == ("openvino" if engines.openvino_available() else "onnxruntime")
    monkeypatch.setattr(engines, "openvino_available", lambda: False)
    assert choose_engine("auto", both) == "onnxruntime"
    assert choose_engine(None, {"tensorflow_saved_model_bundle": Path("tf")}) == "tensorflow"
    # with a GPU provider in onnxruntime, onnxruntime first
    monkeypatch.setattr(engines, "openvino_available", lambda: True)
    monkeypatch.setattr(engines, "_preference", lambda: engines.PREFERENCE_GPU)
    assert choose_engine("auto", both) == "onnxruntime"


def test_unavailable_or_unknown_engines_are_named():
    with pytest.raises(CareBridgeError, match="no weights for it"):
        choose_engine("tensorflow", {"onnx": Path("w.onnx")})
    with pytest.raises(CareBridgeError, match="unknown engine 'caffe'"):  # torch is an engine since #13
        choose_engine("caffe", {"onnx": Path("w.onnx")})
    with pytest.raises(CareBridgeError, match="engine 'torch' cannot run here: the bundle has no weights"):
        choose_engine("torch", {"onnx": Path("w.onnx")})
    with pytest.raises(BundleError, match="has keras_v3"):
        choose_engine("auto", {"keras_v3": Path("w.keras")})
