"""Isotropic reconstruction: trains on the anisotropic stack itself, restores through the runtime's
rotate-restore-combine procedure, beats plain Z interpolation on a volume subsampled from an isotropic one."""

from __future__ import annotations

import numpy as np
import pytest

from care_bridge.frontend import load_restorer
from care_bridge.errors import CareBridgeError
from care_bridge.pipelines import isotropic as iso

FACTOR, SIGMA_Z = 4, 3.0


@pytest.fixture(scope="module")
def volumes():
    gt = iso.synthetic_isotropic_volume((48, 48, 48), seed=1)
    aniso = iso.simulate_anisotropic(gt, factor=FACTOR, sigma_z_px=SIGMA_Z, photons=200, seed=2)
    return gt, aniso


@pytest.fixture(scope="module")
def iso_model(volumes, tmp_path_factory):
    _, aniso = volumes
    out = tmp_path_factory.mktemp("iso") / "model"
    iso.train_isotropic(aniso, "ZYX", out, factor=FACTOR, psf=iso.axial_kernel(SIGMA_Z), patch_shape=(32, 32),
                        n_patches=128, epochs=6, steps_per_epoch=20, batch_size=8, unet_n_first=8)
    return out


def test_isotropic_restoration_beats_linear_interpolation(volumes, iso_model):
    gt, aniso = volumes
    r = load_restorer(iso_model)
    res = r.restore(aniso, "ZYX")
    assert res.axes == "ZYX" and res.image.shape == ((aniso.shape[0] - 1) * FACTOR + 1, 48, 48)
    m = iso.evaluate_isotropic(res.image, iso.isotropic_baseline(aniso, FACTOR), gt)
    assert m["ssim"]["care"] > m["ssim"]["baseline"] + 0.1
    assert m["nrmse"]["care"] < 0.8 * m["nrmse"]["baseline"]
    si = m["spectral_isotropy"]
    assert abs(np.log(si["care"])) < abs(np.log(si["baseline"]))  # closer to 1 (isotropic)


def test_multichannel_and_time_axes_restore_per_volume(volumes, iso_model):
    _, aniso = volumes
    r = load_restorer(iso_model)
    single = r.restore(aniso, "ZYX").image
    stacked = r.restore(np.stack([aniso, aniso]), "TZYX")
    assert stacked.axes == "TZYX"
    np.testing.assert_allclose(stacked.image[1], single, rtol=1e-5, atol=1e-4)
    yzx = r.restore(np.ascontiguousarray(aniso.transpose(1, 0, 2)), "YZX").image
    np.testing.assert_allclose(yzx.transpose(1, 0, 2), single, rtol=1e-5, atol=1e-4)


def test_combinations_geometric_and_mean():
    from care_bridge.runtime.procedures.isotropic import combine_estimates

    u1, u2 = np.array([4.0, -1.0], np.float32), np.array([1.0, 3.0], np.float32)
    np.testing.assert_allclose(combine_estimates(u1, u2, "geometric"), [2.0, 0.0])
    np.testing.assert_allclose(combine_estimates(u1, u2, "mean"), [2.5, 1.0])
    with pytest.raises(CareBridgeError):
        combine_estimates(u1, u2, "median")


@pytest.mark.parametrize("psf", [np.full((9, 3), np.nan, np.float32), np.ones((3, 3, 3, 3), np.float32)])
def test_bad_psf_is_refused(volumes, psf, tmp_path):
    _, aniso = volumes
    with pytest.raises(CareBridgeError):
        iso.train_isotropic(aniso, "ZYX", tmp_path / "m", factor=FACTOR, psf=psf, patch_shape=(32, 32))
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("factor", [0.5, 0.0, float("nan")])
def test_factor_below_one_is_refused(volumes, factor, tmp_path):
    _, aniso = volumes
    with pytest.raises(CareBridgeError):
        iso.train_isotropic(aniso, "ZYX", tmp_path / "m", factor=factor, psf=None, patch_shape=(32, 32))
    assert not (tmp_path / "m").exists()


def test_stack_thinner_than_patch_is_refused(tmp_path):
    with pytest.raises(CareBridgeError, match="patch"):
        iso.train_isotropic(np.ones((4, 16, 16), np.float32), "ZYX", tmp_path / "m", factor=2, psf=None,
                            patch_shape=(32, 32))
    assert not (tmp_path / "m").exists()


def test_isotropic_model_refuses_2d_images(iso_model):
    with pytest.raises(CareBridgeError, match="Z"):
        load_restorer(iso_model).restore(np.ones((32, 32), np.float32), "YX")


def test_training_validated_on_held_out_planes(iso_model):
    """The stack's 12 planes are the sources: validation patches come from whole planes no training patch is cut
    from (the split is recorded in the provenance), and the data passed the foreground filter."""
    import json

    prov = json.loads((iso_model / "provenance.json").read_text())
    split = prov["data"]["validation_split"]
    assert split["by"] == "source" and split["n_sources"] <= 12 and split["validation_sources"]
    assert 0 < prov["data"]["foreground_fraction"] <= 1
    assert prov["n_patches_validation"] + prov["n_patches_train"] == 128
