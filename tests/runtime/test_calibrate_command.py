"""``care-bridge calibrate`` on real (tiny ONNX) bundles: the reliability curve derived independently, the
fitted factor, the recalibrated bundle applied by the runtime, and one-line errors."""

from __future__ import annotations

import json
import math
import zipfile

import numpy as np
import pytest
import tifffile
import yaml

from care_bridge import runtime
from care_bridge.cli.main import main
from care_bridge.describe import ReadoutRequest
from care_bridge.frontend import describe_bundle_text
from care_bridge.laplace_mixture import CALIBRATION_LEVELS


def _pairs(tmp_path, n=2, shape=(36, 44), same=True):
    """Held-out pairs whose high image is the low image: the truth in output units is then the low image itself
    (the input's percentiles normalize and map back the same image)."""
    rng = np.random.default_rng(3)
    for d in ("low", "high"):
        (tmp_path / d).mkdir(exist_ok=True)
    for k in range(n):
        x = (rng.poisson(40, shape) + 30 * (np.indices(shape).sum(0) % 7)).astype(np.float32)
        tifffile.imwrite(tmp_path / "low" / f"p{k}.tif", x)
        tifffile.imwrite(tmp_path / "high" / f"p{k}.tif", x if same else x[:-4])
    return tmp_path / "low", tmp_path / "high"


def _coverage_by_hand(restorer, low_dir, factor=1.0):
    """Fraction of pixels inside the central p-interval of a single Laplace: |y - mu| <= b ln(1 / (1 - p))."""
    d, b = [], []
    for f in sorted(low_dir.iterdir()):
        x = tifffile.imread(f)
        res = restorer.restore(x, "YX")
        d.append(np.abs(x - res.image).ravel())
        b.append(res.scale.ravel() * factor)
    d, b = np.concatenate(d).astype(np.float64), np.concatenate(b).astype(np.float64)
    return np.array([np.mean(d <= bb * math.log(1 / (1 - p))) for p, bb in zip(CALIBRATION_LEVELS, [b] * 99)])


def test_curve_factor_and_recalibrated_bundle(tmp_path, onnx_bundle, capsys):
    bundle = onnx_bundle("2d_probabilistic")
    low, high = _pairs(tmp_path)
    out = tmp_path / "cal.zip"
    assert main(["calibrate", "--bundle", str(bundle), "--low", str(low), "--high", str(high), "--out", str(out),
                 "--report", str(tmp_path / "rep")]) == 0
    rep = json.loads((tmp_path / "rep" / "calibration.json").read_text())
    r = runtime.load(bundle)
    want = _coverage_by_hand(r, low)
    np.testing.assert_allclose(rep["coverage_before"], want, atol=2e-3)  # float32 vs float64 at the borders
    ece = float(np.mean(np.abs(want - np.array(CALIBRATION_LEVELS))))
    assert rep["ece_before"] == pytest.approx(ece, abs=2e-3)
    after = _coverage_by_hand(r, low, rep["factor"])
    np.testing.assert_allclose(rep["coverage_after"], after, atol=2e-3)
    assert rep["ece_after"] <= rep["ece_before"] and rep["ece_after"] < 0.05
    assert (tmp_path / "rep" / "calibration.png").stat().st_size > 1000
    # the recalibrated copy: same weights, the factor stored and applied by the runtime
    rc = runtime.load(out)
    assert rc.info.scale_calibration == pytest.approx(rep["factor"])
    x = tifffile.imread(next(low.iterdir()))
    a, c = r.restore(x, "YX", readouts=ReadoutRequest(interval=True)), rc.restore(x, "YX", readouts=ReadoutRequest(interval=True))
    np.testing.assert_array_equal(a.image, c.image)
    np.testing.assert_allclose(c.scale, a.scale * np.float32(rep["factor"]), rtol=1e-6)
    np.testing.assert_allclose(c.readouts.upper - c.image, (a.readouts.upper - a.image) * rep["factor"], rtol=1e-4,
                               atol=1e-3)
    with zipfile.ZipFile(out) as z:
        rdf = yaml.safe_load(z.read("rdf.yaml"))
        assert {"calibration.png", "calibration.json"} <= set(z.namelist())
    assert rdf["config"]["care_bridge"]["calibration"]["method"] == "scale"
    text = describe_bundle_text(out)  # care-bridge inspect and CARE Model Info
    assert f"scales recalibrated x{rep['factor']:.4g}" in text and "probabilistic (Laplace)" in text
    # calibrating the recalibrated bundle again finds (almost) nothing left to fix
    assert main(["calibrate", "--bundle", str(out), "--low", str(low), "--high", str(high), "--report",
                 str(tmp_path / "rep2"), "--quiet"]) == 0
    assert json.loads((tmp_path / "rep2" / "calibration.json").read_text())["factor"] == pytest.approx(1.0, rel=0.05)


def test_ensemble_bundle_calibrates(tmp_path, onnx_bundle):
    low, high = _pairs(tmp_path, n=1)
    assert main(["calibrate", "--bundle", str(onnx_bundle("2d_ensemble")), "--low", str(low), "--high", str(high),
                 "--report", str(tmp_path / "rep"), "--quiet"]) == 0
    rep = json.loads((tmp_path / "rep" / "calibration.json").read_text())
    assert len(rep["coverage_before"]) == len(CALIBRATION_LEVELS) and rep["n_pixels"] == 36 * 44
    assert "ensemble of 3 probabilistic members: std, disagreement" in describe_bundle_text(onnx_bundle("2d_ensemble"))
    assert "readouts      : none (not probabilistic)" in describe_bundle_text(onnx_bundle("2d"))


@pytest.mark.parametrize("problem", ["not_probabilistic", "shapes", "partner"])
def test_bad_calibration_input_is_one_line(tmp_path, onnx_bundle, capsys, problem):
    low, high = _pairs(tmp_path, n=1, same=problem != "shapes")
    if problem == "partner":
        (high / "p0.tif").rename(high / "other.tif")
    bundle = onnx_bundle("2d" if problem == "not_probabilistic" else "2d_probabilistic")
    rc = main(["calibrate", "--bundle", str(bundle), "--low", str(low), "--high", str(high), "--out",
               str(tmp_path / "o.zip"), "--report", str(tmp_path / "rep")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert {"not_probabilistic": "probabilistic or ensemble", "shapes": "registered",
            "partner": "matched by identical file names"}[problem] in err
    assert not (tmp_path / "o.zip").exists()
