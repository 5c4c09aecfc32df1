"""Resolution measures: FWHM, line profiles, two-line contrast, spectral isotropy, Richardson-Lucy."""

import numpy as np
import pytest
from scipy import ndimage
from scipy.special import j1

from care_bridge.errors import CareBridgeError
from care_bridge.evaluate.resolution import (
    RAYLEIGH_DIP,
    fwhm_of_profile,
    line_profile,
    richardson_lucy_baseline,
    spectral_isotropy,
    two_line_contrast,
)

FWHM_PER_SIGMA = 2 * np.sqrt(2 * np.log(2))  # 2.3548


def _gauss(x, mu, sigma):
    return np.exp(-((x - mu) ** 2) / (2 * sigma**2))


@pytest.mark.parametrize("sigma", [2.0, 3.0, 7.0])
def test_fwhm_of_sampled_gaussian(sigma):
    x = np.arange(101)
    assert fwhm_of_profile(_gauss(x, 50.3, sigma)) == pytest.approx(FWHM_PER_SIGMA * sigma, rel=0.02)


def test_fwhm_ignores_a_constant_baseline_and_scales_with_pixel_size():
    p = 5.0 + 3.0 * _gauss(np.arange(60), 30, 4.0)
    assert fwhm_of_profile(p, pixel_size=0.1) == pytest.approx(0.1 * FWHM_PER_SIGMA * 4.0, rel=0.02)


def test_fwhm_raises_when_the_peak_is_cut():
    with pytest.raises(CareBridgeError, match="half maximum"):
        fwhm_of_profile(_gauss(np.arange(20), 1.0, 4.0))
    with pytest.raises(CareBridgeError):
        fwhm_of_profile(np.ones(10))


def test_line_profile_across_a_vertical_line():
    img = np.broadcast_to(_gauss(np.arange(64), 32, 2.0), (40, 64)).astype(np.float32)
    prof = line_profile(img, (20, 10), (20, 54), width=3)
    assert prof.shape == (45,)  # both ends included
    assert np.argmax(prof) == 22
    assert fwhm_of_profile(prof) == pytest.approx(FWHM_PER_SIGMA * 2.0, rel=0.02)
    with pytest.raises(CareBridgeError):
        line_profile(np.zeros((4, 4, 4)), (0, 0), (3, 3))


def test_two_lines_three_sigma_apart_are_resolved():
    x = np.arange(48)
    p = _gauss(x, 20, 2.0) + _gauss(x, 26, 2.0)
    c = two_line_contrast(p, (20, 26))
    # by hand: dip at 23 = 2 exp(-9/8); peak at 20 = 1 + exp(-36/8)
    assert c.dip == pytest.approx(2 * np.exp(-9 / 8))
    assert c.ratio == pytest.approx(2 * np.exp(-9 / 8) / (1 + np.exp(-4.5)))
    assert c.resolved


def test_two_lines_two_sigma_apart_merge():
    x = np.arange(48)
    p = _gauss(x, 20, 2.0) + _gauss(x, 24, 2.0)
    c = two_line_contrast(p, (20, 24))
    # peaks found at 21/23 (within 1 sample): exp(-1/8) + exp(-9/8); the midpoint 2 exp(-1/2) is higher
    assert c.ratio == pytest.approx(2 * np.exp(-0.5) / (np.exp(-1 / 8) + np.exp(-9 / 8)))
    assert c.ratio > 1 and not c.resolved


def test_airy_patterns_at_the_rayleigh_distance_give_the_rayleigh_dip():
    v = np.linspace(-12, 12, 2401)  # optical units, 0.01 per sample
    airy = lambda u: np.where(np.abs(u) < 1e-9, 1.0, (2 * j1(u) / np.where(u == 0, 1, u)) ** 2)  # noqa: E731
    d = 3.8317  # first zero of J1: the Rayleigh distance in optical units
    p = airy(v - d / 2) + airy(v + d / 2)
    c = two_line_contrast(p, (1200 - 191.6, 1200 + 191.6), search_px=3)
    assert c.ratio == pytest.approx(RAYLEIGH_DIP, abs=0.01)


def test_two_line_contrast_rejects_bad_positions():
    with pytest.raises(CareBridgeError):
        two_line_contrast(np.ones(10), (3, 20))


def _blob(shape, sigma_zyx):
    grids = np.indices(shape, dtype=np.float64)
    c = [(s - 1) / 2 for s in shape]
    return np.exp(-sum((g - ci) ** 2 / (2 * s**2) for g, ci, s in zip(grids, c, sigma_zyx)))


def test_spectral_isotropy_of_an_isotropic_blob_is_one():
    assert spectral_isotropy(_blob((32, 32, 32), (2, 2, 2))) == pytest.approx(1.0, abs=0.02)
    # non-cubic volumes: all axes are compared on one (zero-padded) frequency grid
    assert spectral_isotropy(_blob((24, 32, 32), (2, 2, 2))) == pytest.approx(1.0, abs=0.05)
    assert spectral_isotropy(_blob((16, 64, 64), (2, 2, 2))) == pytest.approx(1.0, abs=0.05)


def test_spectral_isotropy_of_white_noise_is_one():
    noise = np.random.default_rng(0).normal(size=(24, 48, 48))  # flat spectrum along every axis
    assert spectral_isotropy(noise) == pytest.approx(1.0, abs=0.03)


def test_spectral_isotropy_of_a_z_stretched_blob_is_well_below_one():
    stretched = spectral_isotropy(_blob((32, 32, 32), (4, 2, 2)))
    assert stretched < 0.3
    # stretching in X instead lowers the lateral energy: the ratio goes above one
    assert spectral_isotropy(_blob((32, 32, 32), (2, 2, 4))) > 1.2


def test_spectral_isotropy_rejects_2d():
    with pytest.raises(CareBridgeError, match="3D"):
        spectral_isotropy(np.zeros((16, 16)))


def test_richardson_lucy_sharpens_a_blurred_line():
    img = np.zeros((48, 48), np.float64)
    img[:, 24] = 1.0
    g = _gauss(np.arange(-8, 9), 0, 2.0)
    psf = np.outer(g, g)
    psf /= psf.sum()
    blurred = ndimage.convolve(img, psf, mode="reflect") + 0.01
    restored = richardson_lucy_baseline(blurred, psf, num_iter=30)
    assert restored.dtype == np.float32 and restored.shape == blurred.shape
    before = fwhm_of_profile(blurred[24])
    after = fwhm_of_profile(restored[24])
    assert before == pytest.approx(FWHM_PER_SIGMA * 2.0, rel=0.05)
    assert after < 0.7 * before


def test_richardson_lucy_rejects_mismatched_psf():
    with pytest.raises(CareBridgeError, match="dimensions"):
        richardson_lucy_baseline(np.ones((8, 8)), np.ones((3, 3, 3)), num_iter=2)
    with pytest.raises(CareBridgeError, match="NaN"):
        richardson_lucy_baseline(np.ones((8, 8)), np.full((3, 3), np.nan), num_iter=2)
