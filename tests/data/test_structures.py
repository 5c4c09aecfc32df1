"""Ground-truth generators: physical parameters show up in the rendered structures."""

import numpy as np
import pytest

from care_bridge.data.structures import (
    blobs,
    epithelium,
    filaments,
    granules,
    ground_truth,
    perlin_background,
    two_filaments,
    worm_like_chain,
)
from care_bridge.errors import CareBridgeError


def _inside(make, margin=4):
    """The first rendering (seeds 0, 1, ...) whose structure stays ``margin`` px away from every border,
    so that integrals are not cut by the image edge."""
    for seed in range(50):
        img = make(np.random.default_rng(seed))
        core = img[tuple(slice(margin, s - margin) for s in img.shape)]
        if np.isclose(core.sum(), img.sum(), rtol=1e-6):
            return img
    raise AssertionError("no seed renders the structure inside the image")


def test_single_blob_peaks_at_one_with_the_gaussian_integral():
    img = _inside(lambda rng: blobs((64, 64), 1, 4.0, rng), margin=1)
    assert img.dtype == np.float32
    # radius 4 is the 1/e² radius: sigma 2, integral of a unit-peak Gaussian = 2 pi sigma²
    # unit peak at a sub-pixel centre: the brightest pixel is at most (0.5, 0.5) px away from it
    assert np.exp(-0.5 / (2 * 2.0**2)) <= img.max() <= 1.0
    assert img.sum() == pytest.approx(2 * np.pi * 2.0**2, rel=0.01)
    peak = np.unravel_index(np.argmax(img), img.shape)
    assert img[peak[0], peak[1] + 4] == pytest.approx(np.exp(-2.0), abs=0.03)


def _tangent_correlation(chains, lag):
    t = np.diff(chains, axis=1)
    t /= np.linalg.norm(t, axis=-1, keepdims=True)
    return float(np.mean(np.sum(t[:, lag:] * t[:, :-lag], axis=-1)))


def test_worm_like_chain_2d_tangent_correlation_decays_with_twice_the_persistence_length():
    rng = np.random.default_rng(0)
    chains = np.stack([worm_like_chain(200, 2, step_px=0.5, persistence_length_px=20.0, rng=rng) for _ in range(200)])
    # 2D worm-like chain: <t(s).t(0)> = exp(-s / (2 Lp)); s = 20 px = 40 steps
    assert _tangent_correlation(chains, 40) == pytest.approx(np.exp(-20 / 40), abs=0.04)
    step = np.linalg.norm(np.diff(chains, axis=1), axis=-1)
    np.testing.assert_allclose(step, 0.5, rtol=1e-9)


def test_worm_like_chain_3d_tangent_correlation_decays_with_the_persistence_length():
    rng = np.random.default_rng(1)
    chains = np.stack([worm_like_chain(120, 3, step_px=0.5, persistence_length_px=20.0, rng=rng) for _ in range(150)])
    # 3D: <t(s).t(0)> = exp(-s / Lp); s = 10 px = 20 steps
    assert _tangent_correlation(chains, 20) == pytest.approx(np.exp(-10 / 20), abs=0.04)


@pytest.mark.parametrize("shape", [(96, 96), (24, 48, 48)])
def test_straight_filament_has_unit_peak_and_its_length_as_integral(shape):
    width = 3.0
    sigma = width / (2 * np.sqrt(2 * np.log(2)))
    img = _inside(lambda rng: filaments(shape, n=1, persistence_length_px=1e9, width_px=width, length_px=16.0,
                                        rng=rng), margin=1)
    assert img.dtype == np.float32 and img.shape == shape
    assert img.max() == pytest.approx(1.0, rel=0.08)
    # integral of a line of length L with a unit-peak Gaussian cross-section: L * (sqrt(2 pi) sigma)^(d-1)
    expected = 16.0 * (np.sqrt(2 * np.pi) * sigma) ** (len(shape) - 1)
    assert img.sum() == pytest.approx(expected, rel=0.05)


def test_crossing_filaments_add_up():
    img = filaments((64, 64), n=40, persistence_length_px=50, width_px=2, length_px=60, rng=np.random.default_rng(0))
    assert img.max() > 1.5  # 40 long filaments in a small field must cross


def test_granule_is_a_disc_of_given_radius_and_brightness():
    img = _inside(lambda rng: granules((48, 48), n=1, radius_range_px=(6, 6), brightness_range=(0.7, 0.7),
                                       rng=rng))
    assert img.max() == pytest.approx(0.7)
    assert img.sum() == pytest.approx(0.7 * np.pi * 6**2, rel=0.03)
    assert (img == np.float32(0.7)).sum() == pytest.approx(np.pi * 5.5**2, rel=0.1)


def test_granules_3d_brightness_in_range():
    img = granules((16, 32, 32), n=10, radius_range_px=(1, 2), brightness_range=(0.2, 0.5), rng=np.random.default_rng(0))
    assert img.shape == (16, 32, 32) and img.dtype == np.float32
    assert 0.2 <= img.max() <= 1.0


def test_perlin_background_is_smooth_and_spans_zero_to_one():
    rng = np.random.default_rng(0)
    bg = perlin_background((128, 128), scale_px=16, rng=rng)
    assert bg.dtype == np.float32
    assert bg.min() == pytest.approx(0.0, abs=1e-6) and bg.max() == pytest.approx(1.0, abs=1e-6)
    c1 = np.corrcoef(bg[:, :-1].ravel(), bg[:, 1:].ravel())[0, 1]
    c_far = np.corrcoef(bg[:, :-32].ravel(), bg[:, 32:].ravel())[0, 1]
    assert c1 > 0.97 and c_far < 0.5  # correlated over ~scale_px, not beyond
    vol = perlin_background((8, 16, 16), scale_px=4, rng=rng)
    assert vol.shape == (8, 16, 16)


def test_two_filaments_profile_matches_two_gaussians():
    img = two_filaments((8, 65), separation_px=10, width_px=2 * np.sqrt(2 * np.log(2)) * 2.0)  # sigma 2
    assert img.shape == (8, 65) and img.dtype == np.float32
    np.testing.assert_array_equal(img[0], img[7])
    assert img[3, 32] == pytest.approx(2 * np.exp(-25 / 8), rel=1e-5)  # midway, 5 px from each line
    assert img[3, 27] == pytest.approx(1 + np.exp(-100 / 8), rel=1e-5)  # on a line
    vol = two_filaments((9, 8, 65), separation_px=10, width_px=4.71)
    assert vol.shape == (9, 8, 65) and np.argmax(vol[:, 0, 27]) == 4


def test_epithelium_membranes_lie_on_the_height_surface():
    vol, height = epithelium((24, 64, 64), rng=np.random.default_rng(0), curvature=0.6, thickness_px=2.0,
                             cell_size_px=10)
    assert vol.shape == (24, 64, 64) and height.shape == (64, 64)
    assert vol.dtype == np.float32 and height.dtype == np.float32
    lit = vol.max(axis=0) > 0.5
    assert 0.1 < lit.mean() < 0.7  # membranes, not filled cells
    z_peak = np.argmax(vol, axis=0)
    assert np.abs(z_peak[lit] - height[lit]).max() <= 1.0
    assert 0 <= height.min() and height.max() <= 23


def test_epithelium_curvature_controls_height_range():
    _, flat = epithelium((24, 64, 64), rng=np.random.default_rng(0), curvature=0.0)
    _, dome = epithelium((24, 64, 64), rng=np.random.default_rng(0), curvature=1.0)
    assert np.ptp(flat) < 3 and np.ptp(dome) > 8
    # a dome: the centre is higher than the corners
    assert dome[32, 32] > dome[0, 0] + 5


@pytest.mark.parametrize("structure", ["blobs", "tubules", "granules", "mixed"])
def test_ground_truth_is_nonnegative_float32(structure):
    gt = ground_truth((48, 48), structure, np.random.default_rng(0))
    assert gt.dtype == np.float32 and gt.min() >= -1e-6 and 0.2 < gt.max() < 5


def test_bad_shapes_and_parameters_raise():
    rng = np.random.default_rng(0)
    with pytest.raises(CareBridgeError):
        blobs((4, 4, 4, 4), 1, 2.0, rng)
    with pytest.raises(CareBridgeError):
        filaments((32, 32), n=1, persistence_length_px=0, width_px=1, length_px=10, rng=rng)
    with pytest.raises(CareBridgeError):
        epithelium((32, 32), rng=rng)
    with pytest.raises(CareBridgeError):
        ground_truth((32, 32), "nuclei", rng)
