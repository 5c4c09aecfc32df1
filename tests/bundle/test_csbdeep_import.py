"""CSBDeep model folders convert to care_bridge networks/bundles whose predictions equal CSBDeep's.

The fixtures in data/ were written by the real csbdeep 0.8.2 (Keras 3.15.1, TF 2.21) with
data/make_csbdeep_fixtures.py: its own weights_best.h5, config.json, and CARE.predict's output.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from care_bridge.bundle import open_bundle
from care_bridge.models.config import CareConfig
from care_bridge.export.csbdeep_import import import_csbdeep
from care_bridge.errors import BundleError, CareBridgeError
from care_bridge.models import load_model
from care_bridge.normalize import apply_denormalization, apply_normalization, percentile_stats

DATA = Path(__file__).parent / "data"


def _predict_like_csbdeep(run, x: np.ndarray, config) -> np.ndarray:
    """care_bridge's normalization around ``run`` (network on ``"S<axes>C"``), image ``"<axes>C"``."""
    st = percentile_stats(x, channel_axis=-1, low=config.percentile_low, high=config.percentile_high,
                          eps=config.norm_eps)
    y = np.array(run(apply_normalization(x, st)[None])[0])
    return apply_denormalization(y, st) if config.n_channel_in == config.n_channel_out else y


@pytest.mark.parametrize("case", ["csbdeep_2d", "csbdeep_2d_2to1_relu", "csbdeep_3d"])
def test_imported_model_predicts_like_csbdeep(case: str, tmp_path: Path):
    src = DATA / case
    model_dir = import_csbdeep(src, model_dir=tmp_path / "model")
    config, model = load_model(model_dir)
    x, expected = np.load(src / "input.npy"), np.load(src / "prediction.npy")
    y = _predict_like_csbdeep(lambda t: np.asarray(model(t, training=False)), x, config)
    assert y.shape == expected.shape
    assert np.abs(expected).max() > 0.01  # the reference is not trivially zero
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-6 * max(1.0, float(np.abs(expected).max())))
    prov = json.loads((model_dir / "provenance.json").read_text())
    assert prov["imported_from"] == "CSBDeep" and prov["csbdeep_config"]["unet_n_first"] == 4


def test_imported_bundle_predicts_like_csbdeep(tmp_path: Path):
    from care_bridge.runtime.engines import make_engine

    src = DATA / "csbdeep_2d"
    out = import_csbdeep(src, tmp_path / "csb.zip")  # full export incl. bioimageio.core.test_model
    x, expected = np.load(src / "input.npy"), np.load(src / "prediction.npy")
    with open_bundle(out) as b:
        assert b.rdf["config"]["care_bridge"]["eps"] == pytest.approx(1e-20)
        engine = make_engine("onnxruntime", b.formats, b.info)
        y = _predict_like_csbdeep(lambda t: engine.run(t)[0], x, CareConfig.from_dict(b.care_bridge["network"]))
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-6 * float(np.abs(expected).max()))


def _copy_case(tmp_path: Path, edit) -> Path:
    dst = tmp_path / "csb"
    shutil.copytree(DATA / "csbdeep_2d", dst)
    cfg = json.loads((dst / "config.json").read_text())
    edit(cfg)
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


def test_probabilistic_csbdeep_model_is_refused(tmp_path: Path):
    src = _copy_case(tmp_path, lambda c: c.update(probabilistic=True))
    with pytest.raises(CareBridgeError, match="probabilistic CSBDeep models are not supported"):
        import_csbdeep(src, model_dir=tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_config_that_does_not_match_the_weights_is_refused(tmp_path: Path):
    src = _copy_case(tmp_path, lambda c: c.update(unet_n_first=8))
    with pytest.raises(BundleError, match="has weights .* expected"):
        import_csbdeep(src, model_dir=tmp_path / "m")
    src2 = _copy_case(tmp_path / "b", lambda c: c.update(unet_n_depth=3))
    with pytest.raises(BundleError, match="no counterpart|lack layers|has weights"):
        import_csbdeep(src2, model_dir=tmp_path / "m2")


def test_missing_files_are_named(tmp_path: Path):
    with pytest.raises(CareBridgeError, match="config.json not found"):
        import_csbdeep(tmp_path)
