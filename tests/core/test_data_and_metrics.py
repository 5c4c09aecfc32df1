
import numpy as np
import pytest
import tifffile

from care_bridge.data.pairs import find_pairs, iter_pairs
from care_bridge.data.patches import augment, create_patches, load_patches, sample_patches
from care_bridge.errors import CareBridgeError
from care_bridge.evaluate import normalize_minmse, nrmse, psnr, ssim


def _write(d, name, arr):
    d.mkdir(exist_ok=True)
    tifffile.imwrite(d / name, arr)


def test_pairs_are_matched_by_name_and_mismatches_reported(tmp_path):
    _write(tmp_path / "low", "a.tif", np.zeros((8, 8), np.uint16))
    _write(tmp_path / "high", "a.tif", np.zeros((8, 8), np.uint16))
    assert [p.name for p in find_pairs(tmp_path / "low", tmp_path / "high")] == ["a.tif"]
    _write(tmp_path / "low", "b.tif", np.zeros((8, 8), np.uint16))
    with pytest.raises(CareBridgeError, match="without a high partner.*b.tif"):
        find_pairs(tmp_path / "low", tmp_path / "high")


def test_shape_and_axes_mismatch(tmp_path):
    _write(tmp_path / "low", "a.tif", np.zeros((8, 8), np.uint16))
    _write(tmp_path / "high", "a.tif", np.zeros((8, 9), np.uint16))
    with pytest.raises(CareBridgeError, match="differs from high shape"):
        list(iter_pairs(tmp_path / "low", tmp_path / "high", "YX"))
    with pytest.raises(CareBridgeError, match="fix --axes"):
        list(iter_pairs(tmp_path / "low", tmp_path / "high", "ZYX"))


def test_background_patches_are_rejected_and_counted():
    y = np.zeros((64, 64, 1), np.float32)
    y[40:48, 40:48] = 1.0  # one bright object
    x = y + 0.1
    X, Y, rejected = sample_patches(x, y, (16, 16), 20, rng=np.random.default_rng(0))
    assert len(X) == 20 and rejected > 0
    assert all(p.max() > 0 for p in Y)  # every kept target holds foreground


def test_augmentation_applies_the_same_transform_to_input_and_target():
    rng = np.random.default_rng(0)
    X = rng.random((10, 8, 8, 1)).astype(np.float32)
    Xa, Ya = augment(X, X * 2, rng)
    np.testing.assert_allclose(Ya, Xa * 2)
    assert not np.array_equal(Xa, X)


def test_create_patches_streams_to_npz_with_report(tmp_path):
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(2):
        y = np.zeros((48, 48), np.float32)
        y[10:30, 10:30] = rng.random((20, 20)) * 100
        pairs.append((f"{i}", y + rng.normal(0, 5, y.shape).astype(np.float32), y))
    rep = create_patches(iter(pairs), "YX", (16, 16), 10, tmp_path / "p.npz", progress=False)
    assert rep.n_patches == 20 and rep.n_images == 2
    X, Y, Xv, Yv, axes, meta = load_patches(tmp_path / "p.npz", validation_fraction=0.25)
    # two source images: validation holds out whole images, at least one and never all, so 1 of 2 (10 patches)
    # although 0.25 was asked for (the closest share a whole image allows)
    assert axes == "SYXC" and X.dtype == np.float32 and len(Xv) == 10 and len(X) == 10
    assert meta["validation_split"]["by"] == "source"
    assert meta["n_rejected_background"] == rep.n_rejected_background
    # CARE: patches are normalized with their whole image's percentiles; both images are 83 % zeros, so their
    # low percentile (1st to 3rd) is 0 and background stays exactly 0 in every target patch
    assert meta["normalization"] == "image"
    allY = np.concatenate([Y, Yv])
    assert float(allY.min()) == 0.0  # background, mapped by the image's low percentile 0 (not by the patch's)
    with pytest.raises(CareBridgeError, match="already exists"):
        create_patches(iter(pairs), "YX", (16, 16), 10, tmp_path / "p.npz", progress=False)
    with pytest.raises(CareBridgeError, match="smaller than one patch"):
        create_patches(iter(pairs), "YX", (64, 64), 10, tmp_path / "q.npz", progress=False)
    assert not (tmp_path / "q.npz").exists()


def test_normalize_minmse_recovers_an_affine_map_by_hand():
    t = np.linspace(0, 1, 50)
    x = 2 * t + 3  # so alpha = 0.5, beta = -1.5 maps x exactly back onto t
    np.testing.assert_allclose(normalize_minmse(x, t), t, atol=1e-12)


def test_metrics_are_invariant_to_gain_and_offset_and_order_noise_levels():
    rng = np.random.default_rng(0)
    gt = np.zeros((64, 64))
    gt[16:48, 16:48] = 1
    gt += rng.random(gt.shape) * 0.1
    assert nrmse(5 * gt + 7, gt) == pytest.approx(0, abs=1e-6)
    assert ssim(5 * gt + 7, gt) == pytest.approx(1, abs=1e-6)
    a, b = gt + rng.normal(0, 0.05, gt.shape), gt + rng.normal(0, 0.3, gt.shape)
    assert nrmse(a, gt) < nrmse(b, gt) and psnr(a, gt) > psnr(b, gt) and ssim(a, gt) > ssim(b, gt)
    with pytest.raises(CareBridgeError, match="differs"):
        nrmse(gt[:10], gt)
