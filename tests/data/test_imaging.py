"""The physical imaging model: PSF, blur, camera noise and synthetic pairs."""

import time

import numpy as np
import pytest
import tifffile

from care_bridge.data.imaging import acquire, blur, default_psf, gaussian_psf, load_psf, synthetic_pair
from care_bridge.errors import CareBridgeError


def _second_moment_sigma(psf, axis):
    """Standard deviation of the PSF along ``axis`` measured from the array itself."""
    marginal = psf.sum(axis=tuple(a for a in range(psf.ndim) if a != axis)).astype(np.float64)
    d = np.arange(psf.shape[axis]) - (psf.shape[axis] - 1) // 2
    mean = (marginal * d).sum() / marginal.sum()
    return np.sqrt((marginal * (d - mean) ** 2).sum() / marginal.sum())


def test_psf_sums_to_one_and_widths_follow_na_and_wavelength():
    # NA 1.0, 500 nm, n 1.33; voxels 100 nm axially, 50 nm laterally
    psf = gaussian_psf((61, 41, 41), na=1.0, wavelength_nm=500, refractive_index=1.33, voxel_size_nm=(100, 50, 50))
    assert psf.dtype == np.float32
    assert psf.sum() == pytest.approx(1.0, abs=1e-5)
    lateral_px = 0.21 * 500 / 1.0 / 50  # 2.1 px
    axial_px = 2 * np.sqrt(6) * 1.33 / (2 * np.pi / 500 * 1.0**2) / 100  # Zhang et al. 2007: 5.18 px
    assert _second_moment_sigma(psf, 0) == pytest.approx(axial_px, rel=0.01)
    assert _second_moment_sigma(psf, 1) == pytest.approx(lateral_px, rel=0.01)
    assert _second_moment_sigma(psf, 2) == pytest.approx(lateral_px, rel=0.01)
    assert np.unravel_index(np.argmax(psf), psf.shape) == (30, 20, 20)


def test_psf_is_narrower_for_higher_na():
    kw = dict(wavelength_nm=600, refractive_index=1.518, voxel_size_nm=40)
    wide = gaussian_psf((41, 41), na=0.7, **kw)
    narrow = gaussian_psf((41, 41), na=1.4, **kw)
    assert _second_moment_sigma(wide, 0) == pytest.approx(2 * _second_moment_sigma(narrow, 0), rel=0.02)


def test_psf_rejects_na_above_refractive_index():
    with pytest.raises(CareBridgeError, match="numerical aperture"):
        gaussian_psf((9, 9), na=1.4, wavelength_nm=500, refractive_index=1.33, voxel_size_nm=50)


@pytest.mark.parametrize("shape", [(9, 9), (10, 10), (7, 9, 9)])
def test_blur_of_a_point_is_the_psf_without_shift(shape):
    psf = gaussian_psf(shape, na=1.0, wavelength_nm=500, refractive_index=1.33, voxel_size_nm=60)
    img = np.zeros((21,) * len(shape), np.float32)
    img[(10,) * len(shape)] = 1.0
    out = blur(img, psf)
    assert out.shape == img.shape
    assert np.unravel_index(np.argmax(out), out.shape) == (10,) * len(shape)
    assert out.sum() == pytest.approx(1.0, abs=1e-4)


def test_load_psf_normalizes_a_measured_psf_from_tiff(tmp_path):
    psf = 7.0 * gaussian_psf((15, 15, 15), na=1.0, wavelength_nm=500, refractive_index=1.33, voxel_size_nm=100)
    path = tmp_path / "psf.tif"
    tifffile.imwrite(path, psf)
    loaded = load_psf(path, 3)
    assert loaded.shape == (15, 15, 15)
    assert loaded.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(loaded, psf / 7.0, rtol=1e-5, atol=1e-9)


def test_load_psf_squeezes_singleton_axes():
    psf = gaussian_psf((9, 9), na=1.0, wavelength_nm=500, refractive_index=1.33, voxel_size_nm=100)
    assert load_psf(psf[None], 2).shape == (9, 9)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: np.where(p > p.max() / 2, np.nan, p), "NaN"),
        (lambda p: p[None].repeat(3, 0), "dimensions"),
        (lambda p: p - p.max() / 10, "negative"),
        (lambda p: np.roll(p, 3, axis=1), r"peak is \(\+0\.00, \+3\.00\) px"),
        (lambda p: np.zeros_like(p), "no positive"),
    ],
)
def test_load_psf_rejects_bad_psfs(make, match):
    psf = gaussian_psf((11, 11), na=1.0, wavelength_nm=500, refractive_index=1.33, voxel_size_nm=100)
    with pytest.raises(CareBridgeError, match=match):
        load_psf(make(psf), 2)


def test_load_psf_rejects_off_centre_centroid():
    psf = np.zeros((11, 11), np.float32)
    psf[5, 5] = 1.0
    psf[5, 10] = 0.5  # peak centred but centroid (5, 6.67) is 1.67 px off
    with pytest.raises(CareBridgeError, match="centroid"):
        load_psf(psf, 2)


def test_acquire_mean_and_variance_follow_poisson_plus_read_noise():
    x = np.full((300, 300), 0.5, np.float32)
    x[0, 0] = 1.0  # the brightest pixel defines the photon scale: 0.5 -> 40 photons
    out = acquire(x, photons=80, read_noise_e=3.0, offset_adu=100.0, gain_adu_per_e=2.0,
                  background_photons=5.0, rng=np.random.default_rng(0))
    assert out.dtype == np.float32
    vals = out.ravel()[1:]
    # electrons: Poisson(40 + 5) + N(0, 3²) -> mean 45, variance 45 + 9; ADU = 2 e + 100
    assert vals.mean() == pytest.approx(2 * 45 + 100, abs=0.3)
    assert vals.var() == pytest.approx(4 * (45 + 9), rel=0.03)


def test_acquire_without_read_noise_is_pure_poisson():
    x = np.linspace(0, 1, 200 * 200, dtype=np.float32).reshape(200, 200)
    out = acquire(x, photons=20, read_noise_e=0.0, offset_adu=0.0, rng=np.random.default_rng(1))
    assert np.all(out == np.round(out))  # whole photo-electrons
    residual = out - 20 * x
    assert residual.mean() == pytest.approx(0.0, abs=0.05)
    assert residual.var() == pytest.approx((20 * x).mean(), rel=0.03)  # Poisson: variance = mean


@pytest.mark.parametrize("kw", [dict(photons=0), dict(photons=10, read_noise_e=-1), dict(photons=10, gain_adu_per_e=0)])
def test_acquire_rejects_unphysical_settings(kw):
    args = dict(photons=10, read_noise_e=1.0, offset_adu=0.0, rng=np.random.default_rng(0))
    args.update(kw)
    with pytest.raises(CareBridgeError):
        acquire(np.ones((4, 4)), **args)


@pytest.mark.parametrize("structure", ["blobs", "tubules", "granules", "mixed"])
@pytest.mark.parametrize("shape", [(64, 64), (16, 32, 32)])
def test_synthetic_pair_is_deterministic_float32_and_registered(structure, shape):
    low, high = synthetic_pair(shape, photons=10, rng=np.random.default_rng(5), structure=structure)
    low2, high2 = synthetic_pair(shape, photons=10, rng=np.random.default_rng(5), structure=structure)
    other, _ = synthetic_pair(shape, photons=10, rng=np.random.default_rng(6), structure=structure)
    assert low.shape == high.shape == shape and low.dtype == high.dtype == np.float32
    np.testing.assert_array_equal(low, low2)
    np.testing.assert_array_equal(high, high2)
    assert not np.array_equal(low, other)
    # same sample: the noisy image correlates with the clean one much better than with another sample
    c_same = np.corrcoef(low.ravel(), high.ravel())[0, 1]
    c_other = np.corrcoef(other.ravel(), high.ravel())[0, 1]
    assert c_same > 0.3 and c_same > c_other + 0.2


def test_synthetic_pair_high_has_the_photon_factor_and_far_less_noise():
    low, high, truth = synthetic_pair((128, 128), photons=10, rng=np.random.default_rng(0), return_truth=True,
                                      offset_adu=100.0, high_photon_factor=1000.0)
    ratio = (high - 100).mean() / (low - 100).mean()
    assert ratio == pytest.approx(1000, rel=0.05)
    assert truth.shape == (128, 128)
    # relative noise ~ 1/sqrt(photons): the high image matches the noise-free blurred truth almost exactly
    clean = blur(truth, default_psf(2, limit=truth.shape)).ravel()
    assert np.corrcoef(high.ravel(), clean)[0, 1] > 0.99
    assert np.corrcoef(low.ravel(), clean)[0, 1] < 0.9


def test_synthetic_pair_is_fast():
    def best_of(shape, k=3):
        times = []
        for i in range(k):
            t = time.perf_counter()
            synthetic_pair(shape, rng=np.random.default_rng(i))
            times.append(time.perf_counter() - t)
        return min(times)

    synthetic_pair((32, 32), rng=np.random.default_rng(0))  # warm caches
    assert best_of((128, 128)) < 0.1
    assert best_of((32, 64, 64)) < 0.5


def test_synthetic_pair_rejects_unknown_structure_and_4d_shapes():
    with pytest.raises(CareBridgeError, match="structure"):
        synthetic_pair((32, 32), rng=np.random.default_rng(0), structure="nuclei")
    with pytest.raises(CareBridgeError, match="2D"):
        synthetic_pair((2, 8, 32, 32), rng=np.random.default_rng(0))


def test_synthetic_pair_acquires_a_given_truth():
    truth = np.zeros((32, 32), np.float32)
    truth[:, 16:] = 1.0  # bright right half only
    low, high = synthetic_pair((32, 32), photons=50, rng=np.random.default_rng(0), truth=truth, read_noise_e=0)
    assert high[:, 24:].mean() > 10 * (high[:, :8].mean() - 100)  # offset 100 ADU; the dark half has background only
    with pytest.raises(CareBridgeError, match="truth has shape"):
        synthetic_pair((32, 32), rng=np.random.default_rng(0), truth=np.zeros((8, 8)))
