"""Issue 3's identity statements: for one engine, tiled == untiled bit for bit, API == CLI in another process;
across engines ≤ 1e-5 in normalized units."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from care_bridge import runtime
from care_bridge.frontend import load_restorer
from care_bridge.normalize import percentile_stats

ENGINES = ["onnxruntime", "tensorflow"]


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).poisson(20, (150, 203)).astype(np.uint16)


@pytest.mark.parametrize("engine", ENGINES)
def test_tiled_and_untiled_are_bit_identical(tiny_bundle, image, engine):
    r = runtime.load(tiny_bundle("2d"), engine=engine)
    a = r.restore(image, "YX", n_tiles=1)
    b = r.restore(image, "YX", n_tiles=(3, 2))
    assert a.engine == engine and b.n_tiles == (3, 2)
    np.testing.assert_array_equal(a.image, b.image)


@pytest.mark.parametrize("engine", ENGINES)
def test_api_and_cli_in_another_process_are_bit_identical(tiny_bundle, image, engine, tmp_path):
    bundle = tiny_bundle("2d")
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, image)
    out = tmp_path / "out.tif"
    p = subprocess.run([sys.executable, "-m", "care_bridge.cli.main", "predict", "--bundle", str(bundle),
                        "--input", str(src), "--output", str(out), "--engine", engine, "--n-tiles", "2,2"],
                       capture_output=True, text=True, env=os.environ | {"CARE_BRIDGE_NO_PROGRESS": "1"})
    assert p.returncode == 0, p.stderr
    assert f"engine {engine}" in p.stdout
    api = runtime.load(bundle, engine=engine).restore(image, "YX", n_tiles=1).image
    np.testing.assert_array_equal(tifffile.imread(out), api)


@pytest.mark.parametrize("kind,shape,axes", [("2d", (150, 203), "YX"), ("3d", (13, 40, 37), "ZYX"),
                                             ("2d_multichannel", (2, 64, 70), "CYX")])
def test_engines_agree_in_normalized_units(tiny_bundle, kind, shape, axes):
    x = np.random.default_rng(1).poisson(30, shape).astype(np.float32)
    outs = [runtime.load(tiny_bundle(kind), engine=e).restore(x, axes, n_tiles=1).image for e in ENGINES]
    c_axis = axes.index("C") if "C" in axes else None
    span = percentile_stats(x, c_axis).span()  # de-normalization factor per channel
    diff = np.abs(outs[0] - outs[1])
    if c_axis is not None:
        diff = np.moveaxis(diff, c_axis, -1)
    assert (diff / span).max() <= 1e-5


def test_bundle_and_model_folder_share_one_pipeline(tiny_model, tiny_bundle, image):
    """The Keras model folder and its exported bundle run through the same restore code."""
    a = load_restorer(tiny_model("2d")).restore(image, "YX").image
    b = runtime.load(tiny_bundle("2d"), engine="onnxruntime").restore(image, "YX").image
    span = percentile_stats(image).span()[0]
    assert np.abs(a - b).max() / span <= 1e-5


def test_probabilistic_bundle_gives_mean_and_scale(tiny_bundle, tmp_path):
    r = runtime.load(tiny_bundle("2d_probabilistic"), engine="onnxruntime")
    x = np.random.default_rng(2).poisson(10, (48, 52)).astype(np.float32)
    res = r.restore(x, "YX", n_tiles=(2, 2))
    full = r.restore(x, "YX", n_tiles=1)
    assert res.scale is not None and (res.scale > 0).all()
    np.testing.assert_array_equal(res.scale, full.scale)


def test_batch_of_files_gives_one_output_per_input(tiny_bundle, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(3):
        tifffile.imwrite(d / f"s{i}.tif", np.random.default_rng(i).poisson(9, (40, 40)).astype(np.uint16))
    (d / "notes.txt").write_text("not an image")
    p = subprocess.run([sys.executable, "-m", "care_bridge.cli.main", "predict", "--bundle", str(tiny_bundle("2d")),
                        "--input", str(d / "*.tif"), "--output", str(tmp_path / "out"), "--engine", "onnxruntime"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in (tmp_path / "out").iterdir()) == ["s0.tif", "s1.tif", "s2.tif"]
