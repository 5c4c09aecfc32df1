"""The command line end to end, as a user runs it (subprocesses, real files)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

BIN = [sys.executable, "-m", "care_bridge.cli.main"]


def run(*args, check=True):
    p = subprocess.run([*BIN, *map(str, args)], capture_output=True, text=True,
                       env=os.environ | {"CARE_BRIDGE_NO_PROGRESS": "1"})
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def assert_one_line_error(p, needle):
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.startswith("care-bridge:")]
    assert len(lines) == 1 and needle in lines[0], p.stderr
    assert "Traceback" not in p.stderr


def test_help_reads_like_a_manual():
    out = run("--help").stdout
    for cmd in ("datagen", "train", "predict", "evaluate", "export", "validate", "inspect", "demo"):
        assert cmd in out
    assert "--n-tiles" in run("predict", "--help").stdout


def test_datagen_train_predict_evaluate(tmp_path):
    from tiny_models import make_pairs

    for name, low, high in make_pairs("2d", n=2):
        (tmp_path / "low").mkdir(exist_ok=True)
        (tmp_path / "high").mkdir(exist_ok=True)
        tifffile.imwrite(tmp_path / "low" / name, low)
        tifffile.imwrite(tmp_path / "high" / name, high)
    p = run("datagen", "--low", tmp_path / "low", "--high", tmp_path / "high", "--axes", "YX",
            "--patch-shape", "32,32", "--n-patches", "8", "--out", tmp_path / "p.npz")
    assert "rejected as background" in p.stdout
    run("train", "--data", tmp_path / "p.npz", "--out", tmp_path / "m", "--epochs", "1", "--steps-per-epoch", "2",
        "--batch-size", "4", "--filters", "4", "--quiet")
    src = tmp_path / "low" / "img0.tif"
    before = src.read_bytes()
    p = run("predict", "--model", tmp_path / "m", "--input", src, "--output", tmp_path / "out.tif")
    assert "engine keras" in p.stdout
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.shape == tifffile.imread(src).shape and out.dtype == np.float32
    assert src.read_bytes() == before  # the input is never touched
    p = run("predict", "--model", tmp_path / "m", "--input", src, "--output", tmp_path / "out.tif", check=False)
    assert_one_line_error(p, "already exists")
    p = run("evaluate", "--prediction", tmp_path / "out.tif", src, "--target", tmp_path / "high" / "img0.tif")
    assert "SSIM" in p.stdout and "out.tif" in p.stdout
    # a folder of inputs → a folder of outputs, one per input
    run("predict", "--model", tmp_path / "m", "--input", tmp_path / "low", "--output", tmp_path / "batch")
    assert sorted(f.name for f in (tmp_path / "batch").iterdir()) == ["img0.tif", "img1.tif"]


def test_expected_errors_are_one_line(tmp_path, tiny_model):
    m = tiny_model("2d")
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"this is not a tiff")
    assert_one_line_error(run("predict", "--model", m, "--input", bad, "--output", tmp_path / "o.tif", check=False),
                          "cannot read")
    nan = tmp_path / "nan.tif"
    tifffile.imwrite(nan, np.full((32, 32), np.nan, np.float32))
    assert_one_line_error(run("predict", "--model", m, "--input", nan, "--output", tmp_path / "o.tif", check=False),
                          "NaN")
    ok = tmp_path / "ok.tif"
    tifffile.imwrite(ok, np.ones((32, 32), np.float32))
    assert_one_line_error(run("predict", "--model", m, "--input", ok, "--output", tmp_path / "o.tif",
                              "--axes", "ZYX", check=False), "has 2 dimensions")
    assert_one_line_error(run("predict", "--model", tmp_path, "--input", ok, "--output", tmp_path / "o.tif",
                              check=False), "no rdf.yaml")
    assert not (tmp_path / "o.tif").exists()


def test_failed_write_leaves_target_untouched_and_no_temp_files(tmp_path):
    from care_bridge.errors import CareBridgeError
    from care_bridge.io import atomic_path, write_image

    target = tmp_path / "o.tif"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target, overwrite=True) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk gone")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["o.tif"]
    with pytest.raises(CareBridgeError, match="already exists"):
        write_image(target, np.zeros((4, 4), np.float32), "YX")
    with pytest.raises(CareBridgeError, match="does not exist"):
        write_image(tmp_path / "missing" / "o.tif", np.zeros((4, 4), np.float32), "YX")
