"""Semi-synthetic training pairs for isotropic restoration, axial upsampling and surface projection."""

import numpy as np
import pytest

from care_bridge.data.imaging import gaussian_psf
from care_bridge.data.modes import (
    axial_training_pairs,
    effective_factor,
    isotropic_training_pairs,
    max_projection,
    projection_training_pairs,
    subsample_positions,
    surface_projection,
    upsample_z,
)
from care_bridge.data.structures import filaments
from care_bridge.errors import CareBridgeError


@pytest.fixture(scope="module")
def stack():
    """A 'ZYX' stack of thin filaments: lots of lateral high-frequency content."""
    return filaments((8, 64, 64), n=30, persistence_length_px=40, width_px=1.5, length_px=60,
                     rng=np.random.default_rng(0))


@pytest.fixture(scope="module")
def iso_psf():
    # widefield PSF sampled at the lateral pixel size along all axes (axial sigma ~ 3.5x lateral)
    return gaussian_psf((25, 9, 9), na=1.0, wavelength_nm=500, refractive_index=1.33, voxel_size_nm=50)


def _high_freq_fraction(a, axis):
    """Fraction of the power above half Nyquist along ``axis`` (averaged over the other axes)."""
    p = np.abs(np.fft.fft(a - a.mean(axis=axis, keepdims=True), axis=axis)) ** 2
    f = np.abs(np.fft.fftfreq(a.shape[axis]))
    shape = [1] * a.ndim
    shape[axis] = -1
    return float((p * (f >= 0.25).reshape(shape)).sum() / p.sum())


def test_subsample_positions_for_factor_2_5_by_hand():
    pos = subsample_positions(64, 2.5)
    # floor(2.5 k + 0.5) for k = 0..25 (2.5 * 25 = 62.5 <= 63)
    assert pos[:6].tolist() == [0, 3, 5, 8, 10, 13]
    assert pos[-1] == 63 and len(pos) == 26
    assert effective_factor(64, 2.5) == pytest.approx(63 / 25)  # 2.52
    assert effective_factor(64, 2.0) == pytest.approx(2.0)
    assert effective_factor(61, 3.0) == pytest.approx(3.0)


def test_isotropic_pairs_report_the_effective_factor(stack, iso_psf):
    X, Y, info = isotropic_training_pairs(stack, "ZYX", factor=2.5, psf=iso_psf, patch_shape=(32, 32),
                                          n_patches=6, rng=np.random.default_rng(0))
    assert info["effective_factor"] == pytest.approx(2.52)
    assert info["factor"] == 2.5 and info["axes"] == "SYXC"
    assert X.shape == Y.shape == (6, 32, 32, 1)
    assert X.dtype == Y.dtype == np.float32


def test_isotropic_targets_are_lateral_slices_and_inputs_keep_the_sampled_rows(stack):
    # no PSF, no mirroring: the input equals the target on the kept rows and interpolates linearly in between
    X, Y, info = isotropic_training_pairs(stack, "ZYX", factor=3, psf=None, patch_shape=(64, 64), n_patches=4,
                                          rng=np.random.default_rng(1), normalize=False, augment=False)
    slices = [stack[z] for z in range(stack.shape[0])]
    for x, y in zip(X[..., 0], Y[..., 0]):
        assert any(np.array_equal(y, s) for s in slices)
        np.testing.assert_allclose(x[0::3], y[0::3], atol=1e-6)
        np.testing.assert_allclose(x[1], (2 * y[0] + y[3]) / 3, atol=1e-5)


def test_isotropic_input_loses_high_frequencies_along_the_subsampled_axis(stack, iso_psf):
    X, Y, _ = isotropic_training_pairs(stack, "ZYX", factor=4, psf=iso_psf, patch_shape=(48, 48), n_patches=8,
                                       rng=np.random.default_rng(2), normalize=False)
    assert _high_freq_fraction(X[..., 0], 1) < 0.2 * _high_freq_fraction(Y[..., 0], 1)


def test_isotropic_subsampling_alone_degrades_only_the_first_patch_axis(stack):
    X, Y, _ = isotropic_training_pairs(stack, "ZYX", factor=4, psf=None, patch_shape=(48, 48), n_patches=8,
                                       rng=np.random.default_rng(2), normalize=False)
    assert _high_freq_fraction(X[..., 0], 1) < 0.3 * _high_freq_fraction(Y[..., 0], 1)
    assert _high_freq_fraction(X[..., 0], 2) > 0.6 * _high_freq_fraction(Y[..., 0], 2)


def test_isotropic_pairs_keep_channels(stack):
    czyx = np.stack([stack, 2 * stack])
    X, Y, _ = isotropic_training_pairs(czyx, "CZYX", factor=2, psf=None, patch_shape=(16, 16), n_patches=3,
                                       rng=np.random.default_rng(0), normalize=False)
    assert X.shape == (3, 16, 16, 2)
    np.testing.assert_allclose(Y[..., 1], 2 * Y[..., 0], rtol=1e-6)
    # normalized per channel: channel 1 = 2 x channel 0 has twice the percentiles, so both normalize alike
    Xn, Yn, _ = isotropic_training_pairs(czyx, "CZYX", factor=2, psf=None, patch_shape=(16, 16), n_patches=3,
                                         rng=np.random.default_rng(0), percentile_low=2, percentile_high=99.8)
    np.testing.assert_allclose(Yn[..., 1], Yn[..., 0], atol=1e-5)
    np.testing.assert_allclose(Xn[..., 1], Xn[..., 0], atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(factor=0.5), "factor"),
        (dict(patch_shape=(128, 128)), "smaller than the patch"),
        (dict(patch_shape=(16, 80)), "smaller than the patch"),
        (dict(threshold=1.5), "threshold must be between 0 and 1"),
        (dict(threshold=0.9, percentile_jitter=1.0), "jitter needs fixed percentiles"),
        (dict(psf=np.full((5, 5, 5), np.nan)), "NaN"),
        (dict(psf=np.ones(5)), "PSF must be 3D"),
    ],
)
def test_isotropic_pairs_reject_bad_input(stack, kwargs, match):
    args = dict(factor=2.0, psf=None, patch_shape=(16, 16), n_patches=2, rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(CareBridgeError, match=match):
        isotropic_training_pairs(stack, "ZYX", **args)


def test_isotropic_pairs_reject_2d_axes(stack):
    with pytest.raises(CareBridgeError):
        isotropic_training_pairs(stack[0], "YX", factor=2, psf=None, patch_shape=(16, 16), n_patches=1,
                                 rng=np.random.default_rng(0))


def test_upsample_z_keeps_planes_and_interpolates_linearly():
    z = np.arange(5, dtype=np.float32)[:, None, None] * np.ones((1, 3, 4), np.float32)
    up = upsample_z(z, 2)
    assert up.shape == (9, 3, 4)  # (5 - 1) * 2 + 1
    np.testing.assert_allclose(up[:, 0, 0], np.arange(9) / 2, atol=1e-5)
    up = upsample_z(z, 2.5)
    assert up.shape == (11, 3, 4)
    np.testing.assert_allclose(up[[0, 10], 1, 1], [0, 4], atol=1e-5)
    czyx = upsample_z(np.stack([z, z]), 3, axes="CZYX")
    assert czyx.shape == (2, 13, 3, 4)
    with pytest.raises(CareBridgeError):
        upsample_z(z, 0.9)


def test_axial_pairs_input_is_every_factor_th_plane(stack):
    X, Y, info = axial_training_pairs(stack, factor=2, patch_shape=(8, 16, 16), n_patches=5,
                                      rng=np.random.default_rng(0), normalize=False)
    assert X.shape == (5, 4, 16, 16, 1) and Y.shape == (5, 8, 16, 16, 1)
    assert X.shape[1] * info["factor"] == Y.shape[1]
    np.testing.assert_array_equal(X, Y[:, ::2])
    Xb, Yb, _ = axial_training_pairs(stack, factor=2, patch_shape=(8, 16, 16), n_patches=5,
                                     rng=np.random.default_rng(0), axial_sigma_px=1.0, normalize=False)
    np.testing.assert_array_equal(Yb, Y)
    assert not np.allclose(Xb, X)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(factor=0), "factor"),
        (dict(factor=1.5), "integer"),
        (dict(patch_shape=(6, 16, 16), factor=4), "multiple"),
        (dict(patch_shape=(16, 16, 16)), "smaller than the patch"),
    ],
)
def test_axial_pairs_reject_bad_input(stack, kwargs, match):
    args = dict(factor=2, patch_shape=(8, 16, 16), n_patches=1, rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(CareBridgeError, match=match):
        axial_training_pairs(stack, **args)


def test_surface_projection_takes_the_max_near_the_surface():
    stack = np.broadcast_to(np.arange(10, dtype=np.float32)[:, None, None], (10, 4, 5)).copy()
    h = np.full((4, 5), 5.0, np.float32)
    h[0, 0] = 2.0
    proj = surface_projection(stack, h, thickness=1)
    assert proj.shape == (4, 5)
    assert proj[1, 1] == 6 and proj[0, 0] == 3  # planes 4..6 and 1..3
    np.testing.assert_array_equal(max_projection(stack), np.full((4, 5), 9))
    # thickness 0 between planes still sees the nearest plane
    assert surface_projection(stack, h + 0.4, thickness=0)[1, 1] == 5


def test_projection_rejects_2d_images():
    with pytest.raises(CareBridgeError, match="3D"):
        max_projection(np.zeros((8, 8)))
    with pytest.raises(CareBridgeError, match="3D"):
        surface_projection(np.zeros((8, 8)), np.zeros((8, 8)), 1)
    with pytest.raises(CareBridgeError, match="3D"):
        projection_training_pairs(1, (32, 32), photons=5, rng=np.random.default_rng(0))


def test_projection_pairs_shapes_and_content():
    X, Y, info = projection_training_pairs(2, (16, 48, 48), photons=20, rng=np.random.default_rng(0))
    assert X.shape == (2, 16, 48, 48, 1) and Y.shape == (2, 48, 48, 1)
    assert X.dtype == Y.dtype == np.float32 and info["heights"].shape == (2, 48, 48)
    assert Y.max() == pytest.approx(1.0) and Y.min() >= 0
    # the noisy stack's surface projection resembles the target more than the other sample's does
    same = surface_projection(X[0, ..., 0], info["heights"][0], 2.0)
    assert np.corrcoef(same.ravel(), Y[0].ravel())[0, 1] > 0.5
    assert np.corrcoef(same.ravel(), Y[0].ravel())[0, 1] > np.corrcoef(same.ravel(), Y[1].ravel())[0, 1] + 0.2
