"""Isotropic training data: CSBDeep's foreground filter, the degraded axis where prediction puts Z, augmentation
that keeps it there, non-square patches, the normalization prediction applies and the CLI flags — expected values
by hand."""

import json

import numpy as np
import pytest

from care_bridge.data.modes import isotropic_training_pairs
from care_bridge.errors import CareBridgeError


def _pairs(stack, **kw):
    args = dict(factor=1.0, psf=None, patch_shape=(18, 10), n_patches=30, rng=np.random.default_rng(0))
    args.update(kw)
    return isotropic_training_pairs(stack, "ZYX", **args)


def _block_stack():
    # background 0.1; one bright 4 x 4 block (value 1) in plane 2 at y, x = 18..21. 16 of 6400 voxels are 1, so
    # the 99.9th percentile is 1 and CSBDeep's level is threshold x 1.
    s = np.full((4, 40, 40), 0.1, np.float32)
    s[2, 18:22, 18:22] = 1.0
    return s


def test_foreground_filter_keeps_exactly_the_patches_near_the_object():
    # patch (18, 10): the max filter spans 18 // 2 = 9 (offsets -4..4) by 10 // 2 = 5 (offsets -2..2). Degrading Y
    # (patch along Y, X): centres with y in 14..25 (12) and x in 16..23 (8) see the block, 96 of the
    # (40 - 18 + 1) x (40 - 10 + 1) = 713 valid centres per plane; degrading X (patch along X, Y) the same
    # transposed: 96 of 713. Only plane 2: 192 of 4 x 2 x 713 = 5704 possible patches.
    X, Y, info = _pairs(_block_stack(), threshold=0.4, normalize=False)
    assert info["foreground_fraction"] == pytest.approx(192 / 5704)
    assert (info["source"] == 2).all()
    assert X.shape == Y.shape == (30, 18, 10, 1)  # non-square patches
    # a patch [c - 9, c + 9) x [c - 5, c + 5) contains its centre's filter window, so part of the block
    assert ((Y[..., 0] == 1).sum(axis=(1, 2)) >= 1).all()
    # below the background (0.1 > 0.05 x 1) every patch passes
    _, _, info = _pairs(_block_stack(), threshold=0.05, normalize=False)
    assert info["foreground_fraction"] == 1.0
    with pytest.raises(CareBridgeError, match="foreground filter.*lower --threshold"):
        _pairs(np.zeros((4, 40, 40), np.float32), threshold=0.4, normalize=False)


def _coordinate_stack():
    # each voxel tells where it is: v = 10000 z + 100 y + x
    z, y, x = np.meshgrid(np.arange(3), np.arange(30), np.arange(24), indexing="ij")
    return (10000 * z + 100 * y + x).astype(np.float32)


def _orientation(y_patch):
    """(degraded stack axis, mirrored along patch axis 0, mirrored along patch axis 1) of a target patch of
    :func:`_coordinate_stack`, read from the steps between neighbouring voxels."""
    d0, d1 = y_patch[1, 0] - y_patch[0, 0], y_patch[0, 1] - y_patch[0, 0]
    steps = {(100, 1): ("Y", 0, 0), (-100, 1): ("Y", 1, 0), (100, -1): ("Y", 0, 1), (-100, -1): ("Y", 1, 1),
             (1, 100): ("X", 0, 0), (-1, 100): ("X", 1, 0), (1, -100): ("X", 0, 1), (-1, -100): ("X", 1, 1)}
    return steps[(round(float(d0)), round(float(d1)))]


def test_augmentation_draws_the_degraded_stack_axis_and_mirrors_but_never_moves_the_degraded_patch_axis():
    s = _coordinate_stack()
    # a one-sided axial blur (z, x) profile: out[a] = (in[a] + in[a - 1]) / 2 along the degraded axis
    psf = np.array([[0.0], [0.0], [1.0], [1.0], [0.0]], np.float32)
    X, Y, info = _pairs(s, psf=psf, patch_shape=(8, 12), n_patches=200, threshold=0.0, normalize=False)
    seen = {_orientation(y) for y in Y[..., 0]}
    assert seen == {(a, m0, m1) for a in "YX" for m0 in (0, 1) for m1 in (0, 1)}  # all 8 variants drawn
    # in every pair, whatever the variant, the input is the target blurred along the patch's FIRST axis in
    # the same direction: the mirroring happens before the degradation, so an asymmetric PSF keeps its
    # orientation (the axis prediction feeds Z along; runtime/procedures/isotropic.py: "YSXC" and "YXSC")
    np.testing.assert_allclose(X[:, 1:, :, 0], (Y[:, 1:, :, 0] + Y[:, :-1, :, 0]) / 2, rtol=0, atol=1e-2)
    assert info["augment"] and (info["source"] == Y[:, 0, 0, 0] // 10000).all()
    # no augmentation: the stack's Y is degraded, nothing is mirrored
    X, Y, info = _pairs(s, psf=psf, patch_shape=(8, 12), n_patches=50, threshold=0.0, normalize=False,
                        augment=False)
    assert {_orientation(y) for y in Y[..., 0]} == {("Y", 0, 0)} and not info["augment"]
    np.testing.assert_allclose(X[:, 1:, :, 0], (Y[:, 1:, :, 0] + Y[:, :-1, :, 0]) / 2, rtol=0, atol=1e-2)


def test_a_patch_fitting_only_one_orientation_uses_that_one():
    s = _coordinate_stack()  # Y 30, X 24: (28, 8) fits along (Y, X) only
    _, Y, _ = _pairs(s, patch_shape=(28, 8), n_patches=20, threshold=0.0, normalize=False)
    assert {_orientation(y)[0] for y in Y[..., 0]} == {"Y"}


def test_degraded_axis_found_by_measuring_blur_is_the_first_one_for_every_patch():
    rng = np.random.default_rng(3)
    s = rng.random((6, 40, 40)).astype(np.float32)  # white noise: a blur shows as lost high frequencies
    from care_bridge.pipelines.isotropic import axial_kernel

    X, Y, _ = _pairs(s, psf=axial_kernel(2.0), factor=3.0, patch_shape=(16, 24), n_patches=40, threshold=0.0)

    def neighbour_correlation(a, axis):  # white noise: about 0; blurred along axis: close to 1
        a = np.moveaxis(a, axis, 0)
        return float(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1])

    for x, y in zip(X[..., 0], Y[..., 0]):
        assert abs(neighbour_correlation(y, 0)) < 0.3 and abs(neighbour_correlation(y, 1)) < 0.3
        assert neighbour_correlation(x, 0) > 0.8  # blurred (and subsampled) along the first patch axis
        assert abs(neighbour_correlation(x, 1)) < 0.3  # untouched along the second


def test_inputs_and_targets_are_normalized_with_the_whole_stacks_percentiles_as_prediction_does():
    # one plane, v = 100 y + x, 5 x 40, factor 2, no PSF, no augmentation: rows 0, 2, 4 are kept, rows 1 and 3
    # interpolated (here: equal to the truth). The stack's 200 values sorted: 0..39, 100..139, ..., 400..439;
    # numpy's linear percentile at p sits at position p / 100 x 199: p2 -> 3.98 -> 3.98, p99.8 -> 198.602 ->
    # 438 + 0.602 = 438.602. Prediction normalizes this stack with exactly these numbers.
    y, x = np.meshgrid(np.arange(5), np.arange(40), indexing="ij")
    s = (100 * y + x).astype(np.float32)[None]
    X, Y, info = _pairs(s, factor=2.0, patch_shape=(5, 8), n_patches=6, threshold=0.0, augment=False,
                        percentile_low=2.0, percentile_high=99.8)
    lo, hi = 3.98, 438.602
    for xn, yn in zip(X[..., 0], Y[..., 0]):
        raw = yn * (hi - lo + 1e-6) + lo  # the target's raw values: rows 0..4 of columns x0..x0+7
        np.testing.assert_allclose(raw - raw[0, 0], 100 * np.arange(5)[:, None] + np.arange(8), atol=1e-3)
        np.testing.assert_allclose(xn, yn, atol=1e-6)  # the input: the same values, the same map
    assert info["normalization"] == "image" and info["percentiles"] == [2.0, 99.8]
    # a blur makes the input differ, but the map stays the stack's: undoing it gives the raw degraded values
    psf = np.array([[1.0], [2.0], [1.0]], np.float32)  # (z, x) profile [1, 2, 1] / 4 along the degraded axis
    X, Y, _ = _pairs(s, psf=psf, factor=1.0, patch_shape=(5, 8), n_patches=3, threshold=0.0, augment=False,
                     percentile_low=2.0, percentile_high=99.8)
    raw_x, raw_y = (A[..., 0] * (hi - lo + 1e-6) + lo for A in (X, Y))
    np.testing.assert_allclose(raw_x[:, 1:-1], (raw_y[:, :-2] + 2 * raw_y[:, 1:-1] + raw_y[:, 2:]) / 4, atol=1e-3)


def test_percentile_levels_are_drawn_per_patch_by_default():
    # the same plane, patches as wide as it (x0 = 0): raw value 0 at the first voxel maps to -lo / (hi - lo), and
    # neighbours along x differ by 1 / (hi - lo). For a level p in [1, 3] the stack's percentile sits at
    # position p / 100 x 199, which is its value (below 39): 1.99 p.
    y, x = np.meshgrid(np.arange(5), np.arange(40), indexing="ij")
    s = (100 * y + x).astype(np.float32)[None]
    X, Y, info = _pairs(s, factor=2.0, patch_shape=(5, 40), n_patches=40, threshold=0.0, augment=False)
    p = -Y[:, 0, 0, 0] / (Y[:, 0, 1, 0] - Y[:, 0, 0, 0]) / 1.99  # the level drawn for each patch
    assert (p > 1 - 1e-3).all() and (p < 3 + 1e-3).all() and np.std(p) > 0.3  # drawn per patch from [1, 3]
    np.testing.assert_allclose(X, Y, atol=1e-6)  # the same level maps input and target
    assert info["percentiles"] is None and info["percentile_ranges"] == [[1.0, 3.0], [99.5, 99.9]]


def test_cli_isotropic_flags_act_and_unused_ones_are_refused(tmp_path, capsys):
    from care_bridge.cli.main import main
    from care_bridge.io import write_image

    write_image(tmp_path / "stack.tif", _block_stack(), "ZYX")
    base = ["datagen", "--mode", "isotropic", "--input", str(tmp_path / "stack.tif"), "--factor", "2",
            "--psf-sigma-z", "1", "--patch-shape", "16,8", "--n-patches", "8"]

    def meta(name, *extra):
        assert main(base + ["--out", str(tmp_path / name), *extra]) == 0
        with np.load(tmp_path / name) as d:
            return json.loads(str(d["report"])), d["X"].shape, d["source"]

    m, shape, src = meta("a.npz")
    assert shape == (8, 16, 8, 1) and m["augment"] and m["threshold"] == 0.4 and m["percentiles"] is None
    assert m["foreground_fraction"] < 0.1 and (src == 2).all()  # only plane 2 holds the object
    assert "pass the foreground filter" in capsys.readouterr().out
    m, _, _ = meta("b.npz", "--threshold", "0.05", "--no-augment", "--percentiles", "1", "99.5",
                   "--percentile-jitter", "0.5")
    assert m["foreground_fraction"] == 1.0 and not m["augment"] and m["threshold"] == 0.05
    assert m["percentiles"] == [1.0, 99.5] and m["percentile_jitter"] == 0.5
    assert m["network"]["mode"] == "isotropic" and "source" not in m
    for extra, flag in ((["--normalization", "patch"], "--normalization"), (["--low", str(tmp_path)], "--low")):
        assert main(base + ["--out", str(tmp_path / "c.npz"), *extra]) == 2
        err = capsys.readouterr().err
        assert f"{flag} has no effect with --mode isotropic" in err and err.count("\n") == 1
    assert main(base + ["--out", str(tmp_path / "c.npz"), "--threshold", "2"]) == 2
    assert "threshold must be between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "c.npz").exists()
