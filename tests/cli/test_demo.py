"""The README's main-job command restores the embedded sample with the embedded bundle."""

import os
import subprocess
import sys

import tifffile

from care_bridge.bundle import open_bundle
from care_bridge.cli.demo import ASSETS


def test_embedded_bundle_is_small_and_valid():
    z = ASSETS / "demo_bundle.zip"
    assert z.stat().st_size <= 5 * 1024 * 1024
    b = open_bundle(z)  # verifies every sha256 of the bundle
    assert {"onnx", "tensorflow_saved_model_bundle"} <= set(b.formats)


def test_demo_restores_the_embedded_sample(tmp_path):
    p = subprocess.run([sys.executable, "-m", "care_bridge.cli.main", "demo", "--out", str(tmp_path),
                        "--engine", "onnxruntime"], capture_output=True, text=True, env=os.environ)
    assert p.returncode == 0, p.stderr
    lines = {ln.split()[0]: ln.split()[1:] for ln in p.stdout.splitlines() if ln.startswith(("input", "CARE"))}
    ssim_in, ssim_out = float(lines["input"][2]), float(lines["CARE"][2])
    assert ssim_out > ssim_in + 0.3  # the embedded model really restores the sample
    out = tifffile.imread(tmp_path / "restored.tif")
    assert out.shape == tifffile.imread(ASSETS / "demo_low.tif").shape
    assert (tmp_path / "before_after.png").read_bytes()[:4] == b"\x89PNG"


def test_validate_inspect_and_deepimagej_check_on_the_embedded_bundle():
    z = str(ASSETS / "demo_bundle.zip")

    def cli(*a):
        return subprocess.run([sys.executable, "-m", "care_bridge.cli.main", *a], capture_output=True, text=True)

    v = cli("validate", z)
    assert v.returncode == 0 and "overall: PASS" in v.stdout and "reproduce onnx" in v.stdout
    d = cli("validate", "--consumer", "deepimagej", z)
    # exit 1 while the bundle has a TF 2.21 SavedModel: deepImageJ would load it first (tests/fiji/test_deepimagej.py)
    assert d.returncode == (0 if "verdict       OK" in d.stdout else 1) and "de-normalization" in d.stdout
    i = cli("inspect", z)
    assert i.returncode == 0 and "halo" in i.stdout and "Y=44" in i.stdout
