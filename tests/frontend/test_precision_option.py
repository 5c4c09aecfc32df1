"""The precision option: parsed once by the contract (``parse_precision`` → ``RestoreOptions.precision``) for the
CLI, the macros' option strings and the KNIME settings; fp32 unless asked; ``care-bridge predict --precision``
end to end. The numerics of bf16 are tested in tests/runtime/test_openvino.py."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from care_bridge.errors import CareBridgeError
from care_bridge.fiji.options import parse_options
from care_bridge.frontend import load_restorer, restore_options
from care_bridge.frontend import options as o


@pytest.mark.parametrize("text,expected", [
    (None, "fp32"), ("", "fp32"), ("  ", "fp32"), ("default", "fp32"), ("fp32", "fp32"), ("FP32", "fp32"),
    ("float32", "fp32"), ("f32", "fp32"), (" fp32 ", "fp32"),
    ("bf16", "bf16"), ("BF16", "bf16"), ("bfloat16", "bf16"), ("BFloat16", "bf16"),
    ("fp16", "fp16"), ("float16", "fp16"), ("half", "fp16"), ("F16", "fp16"),
])
def test_precision_spellings(text, expected):
    assert o.parse_precision(text) == expected


@pytest.mark.parametrize("bad", ["auto", "fp8", "int8", "bf32", "fast", "fp 16", "16bit"])
def test_bad_precision_is_one_line_naming_the_option_and_the_choices(bad):
    with pytest.raises(CareBridgeError, match=r"precision .* is unknown; choose fp32 \(default\), bf16 .* fp16") as e:
        o.parse_precision(bad)
    assert "\n" not in str(e.value)


def test_every_front_ends_mapping_gets_the_same_precision():
    assert restore_options({}).precision == "fp32"  # never anything else by default
    assert o.RestoreOptions().precision == "fp32"
    assert restore_options({"precision": "BFloat16"}).precision == "bf16"
    # an ImageJ macro's option string (hosted bridge) and a KNIME dialog's settings go through the same function
    assert restore_options(parse_options("bundle=[/m.zip] precision=[bf16] n_tiles=[auto]")).precision == "bf16"
    from care_bridge import knime_nodes as kn

    assert kn.RestoreOptions.from_settings(precision="half").restore.precision == "fp16"
    assert kn.RestoreOptions.from_settings(n_tiles="auto").restore.precision == "fp32"
    assert "precision" in o.OPTION_KEYS and o.PRECISIONS == ("fp32", "bf16", "fp16")
    assert "openvino" in o.ENGINES and o.parse_engine("OpenVINO") == "openvino"


def test_load_restorer_checks_the_precision_before_any_file(tmp_path):
    with pytest.raises(CareBridgeError, match="precision 'fp8' is unknown"):
        load_restorer(tmp_path / "missing.zip", "auto", "fp8")


def test_a_model_folder_runs_fp32_only(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.yaml").write_text("name: m\n")
    with pytest.raises(CareBridgeError, match="model folder runs in Keras at fp32; precision bf16 needs a bundle"):
        load_restorer(folder, "auto", "bf16")


def _has_bf16() -> bool:
    try:
        import openvino as ov
    except ImportError:
        return False
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _predict(bundle, src, out, *extra):
    return subprocess.run([sys.executable, "-m", "care_bridge.cli.main", "predict", "--bundle", str(bundle),
                           "--input", str(src), "--output", str(out), *extra], capture_output=True, text=True,
                          env=os.environ | {"CARE_BRIDGE_NO_PROGRESS": "1"}, timeout=120)


def test_cli_precision_errors_are_one_line(onnx_bundle, tmp_path):
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, np.random.default_rng(0).poisson(20, (40, 44)).astype(np.uint16))
    for extra, msg in ((["--precision", "fp8"], "precision 'fp8' is unknown"),
                       (["--precision", "bf16", "--engine", "onnxruntime"], "engine onnxruntime runs fp32 only")):
        p = _predict(onnx_bundle("2d"), src, tmp_path / "out.tif", *extra)
        assert p.returncode == 2, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("care-bridge: error: ") and msg in lines[0], p.stderr
        assert not (tmp_path / "out.tif").exists()


@pytest.mark.skipif(not _has_bf16(), reason="needs OpenVINO (the openvino extra) and a CPU with bf16 instructions")
def test_cli_precision_bf16_end_to_end(onnx_bundle, tmp_path):
    from care_bridge import runtime

    bundle = onnx_bundle("2d")
    image = np.random.default_rng(3).poisson(20, (64, 70)).astype(np.uint16)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, image)
    p = _predict(bundle, src, tmp_path / "bf16.tif", "--precision", "bf16")
    assert p.returncode == 0, p.stderr
    assert "[engine openvino bf16, tiles" in p.stdout
    got = tifffile.imread(tmp_path / "bf16.tif")
    np.testing.assert_array_equal(got, runtime.load(bundle, precision="bf16").restore(image, "YX").image)
    p = _predict(bundle, src, tmp_path / "fp32.tif")  # the default: fp32 with the default engine
    assert p.returncode == 0, p.stderr
    assert "[engine openvino, tiles" in p.stdout  # auto on a CPU with OpenVINO installed (engines.PREFERENCE_CPU)
    fp32 = tifffile.imread(tmp_path / "fp32.tif")
    err = np.abs(got - fp32).max() / float(fp32.max() - fp32.min())
    assert 1e-5 < err <= 1e-2  # bf16 really ran, within the README's bound
    assert "--precision" in subprocess.run([sys.executable, "-m", "care_bridge.cli.main", "predict", "--help"],
                                           capture_output=True, text=True).stdout
