"""benchmarks/fidelity.py: its noise model, split and nucleus-brightness slope (numpy only), and a smoke run."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "fidelity.py"


@pytest.fixture(scope="module")
def fid():
    spec = importlib.util.spec_from_file_location("fidelity_benchmark", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_noise_model_photon_transfer(fid):
    """Mean offset + gain e and variance gain^2 (e + read_noise^2) per pixel: shot noise, read noise, gain."""
    gt = np.full((400, 400), 50.0)
    gt[0, 0] = 100.0  # the 99.9th percentile stays 50 -> e = 10 photo-electrons everywhere else
    raw = fid.degrade(gt, 10.0, np.random.default_rng(1), read_noise=1.5, gain=2.0, offset=100.0)[1:]
    assert raw.dtype == np.float32 and np.all(raw == np.round(raw))
    assert abs(raw.mean() - (100 + 2 * 10)) < 0.05
    assert abs(raw.var() / (4 * (10 + 1.5**2)) - 1) < 0.02


def test_split_keeps_network_divisible_widths(fid):
    assert fid.split_columns(512) == 384
    assert fid.split_columns(500) % 4 == 0 and (500 - fid.split_columns(500)) > 0


def test_nucleus_slope(fid):
    rng = np.random.default_rng(0)
    labels = np.zeros((96, 96), np.int32)
    gt = np.full((96, 96), 10.0)
    for i in range(9):
        y, x = divmod(i, 3)
        labels[y * 32 + 4:y * 32 + 28, x * 32 + 4:x * 32 + 28] = i + 1
        gt[labels == i + 1] = 50 + 20 * i
    gt += rng.normal(0, 0.1, gt.shape)
    assert fid.nucleus_slope(3 * gt + 7, gt, labels) == pytest.approx(1.0, abs=1e-3)  # affine: still faithful
    compressed = np.where(labels > 0, 0.5 * gt + 0.5 * 140, gt)  # bright and dim nuclei pulled together
    assert fid.nucleus_slope(compressed, gt, labels) < 0.8


def test_missing_data_is_one_line(tmp_path):
    p = subprocess.run([sys.executable, str(SCRIPT), "--image", str(tmp_path / "nope.tif")], capture_output=True,
                       text=True)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "pip install stardist --no-deps" in p.stderr


@pytest.mark.slow
@pytest.mark.tf
def test_quick_run_writes_results(tmp_path):
    """The smoke mode end to end with care_bridge only (both programs: ``--quick`` without ``--programs``)."""
    tifffile = pytest.importorskip("tifffile")
    yy, xx = np.mgrid[:192, :192]
    gt = np.zeros((192, 192), np.float32)
    labels = np.zeros((192, 192), np.uint16)
    for i, (cy, cx) in enumerate([(40, 40), (40, 140), (100, 90), (150, 40), (150, 160), (100, 170)]):
        m = (yy - cy) ** 2 + (xx - cx) ** 2 < 15**2
        gt[m], labels[m] = 100 + 30 * i, i + 1
    tifffile.imwrite(tmp_path / "gt.tif", gt)
    tifffile.imwrite(tmp_path / "mask.tif", labels)
    out = tmp_path / "fid.json"
    p = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--programs", "care_bridge", "--image",
                        str(tmp_path / "gt.tif"), "--mask", str(tmp_path / "mask.tif"), "--patch", "32",
                        "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(out.read_text())
    methods = res["levels"][0]["methods"]
    assert {"input", "care_bridge"} <= set(methods)
    assert all(np.isfinite(methods["care_bridge"][0][k]) for k in ("nrmse", "psnr", "ssim"))
