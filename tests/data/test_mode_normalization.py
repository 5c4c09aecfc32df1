"""The mode generators normalize training pairs as prediction normalizes an input: each by the percentiles of the
whole image it stands for (CARE, Methods "Image normalization") — expected values by hand."""

import json

import numpy as np
import pytest

from care_bridge.data.modes import axial_training_pairs


def test_upsampling_inputs_use_the_subsampled_stack_they_simulate_and_targets_the_whole_stack():
    # plane z holds the constant z (8 planes of 16 x 16 = 256 voxels), factor 2. An input patch starting on an
    # even plane simulates the acquisition of planes 0, 2, 4, 6: the sorted values are 256 zeros, ..., 256 sixes,
    # so with levels (2, 99.8) numpy's linear percentiles sit at positions 0.02 x 1023 = 20.46 (a 0) and
    # 0.998 x 1023 = 1020.95 (a 6): low 0, high 6. Odd planes 1, 3, 5, 7: low 1, high 7. The whole stack (2048
    # values 0..7): positions 40.94 (a 0) and 2042.9 (a 7): low 0, high 7.
    s = np.broadcast_to(np.arange(8, dtype=np.float32)[:, None, None], (8, 16, 16)).copy()
    X, Y, info = axial_training_pairs(s, factor=2, patch_shape=(4, 8, 8), n_patches=40, threshold=0.0,
                                      rng=np.random.default_rng(0), percentile_low=2.0, percentile_high=99.8)
    raw = Y[..., 0] * (7 + 1e-6)  # targets: v / 7
    np.testing.assert_allclose(raw - raw[:, :1], np.broadcast_to(np.arange(4)[None, :, None, None], raw.shape),
                               atol=1e-4)
    phase = np.round(raw[:, 0, 0, 0]) % 2
    assert set(phase) == {0, 1}  # both kinds of acquisition drawn
    expected = (raw[:, ::2] - phase[:, None, None, None]) / (6 + 1e-6)
    np.testing.assert_allclose(X[..., 0], expected, atol=1e-5)
    assert info["normalization"] == "image" and info["percentiles"] == [2.0, 99.8]


def test_upsampling_foreground_filter_is_csbdeeps():
    # 4 bright voxels (z 4, y 8, x 8..11) in an empty 8 x 16 x 16 stack: sorted, the 2048 values end in four 1s
    # (positions 2044..2047), so the 99.9th percentile (position 0.999 x 2047 = 2044.95) is 1 and the level 0.4
    s = np.zeros((8, 16, 16), np.float32)
    s[4, 8, 8:12] = 1.0
    X, Y, info = axial_training_pairs(s, factor=2, patch_shape=(4, 8, 8), n_patches=10, threshold=0.4,
                                      rng=np.random.default_rng(0), normalize=False)
    assert (Y.reshape(10, -1).max(axis=1) == 1).all()
    # CSBDeep's filter is patch // 2 = (2, 4, 4) wide; scipy's even windows cover offsets -1..0 / -2..1 / -2..1,
    # so it sees a bright voxel from centres z 4..5, y 7..10, x 7..13; centres whose patch [c - p // 2,
    # c - p // 2 + p) fits: z 2..6, y and x 4..12. Kept: 2 x 4 x 6 (x 7..12) of 5 x 9 x 9
    assert info["foreground_fraction"] == pytest.approx(2 * 4 * 6 / (5 * 9 * 9))


def test_projection_pairs_are_normalized_per_stack_with_levels_per_stack():
    from care_bridge.data.modes import projection_training_pairs
    from care_bridge.pipelines.projection import make_projection_data

    X, Y, info = make_projection_data(3, (8, 32, 32), photons=5, seed=4, percentiles=(2.0, 99.8))
    raw_X, raw_Y, _ = projection_training_pairs(3, (8, 32, 32), photons=5, rng=np.random.default_rng(4))
    for xn, yn, xr, yr in zip(X, Y, raw_X, raw_Y):  # normalized by its own percentiles: they become 0 and 1
        for n, r in ((xn, xr), (yn, yr)):
            lo, hi = np.percentile(r, [2.0, 99.8])
            np.testing.assert_allclose(n, (r - lo) / (hi - lo + 1e-6), atol=1e-5)
    assert info["source"].tolist() == [0, 1, 2]
    _, _, info = make_projection_data(2, (8, 32, 32), photons=5)
    assert info["percentiles"] is None and info["percentile_ranges"] == [[1.0, 3.0], [99.5, 99.9]]


def test_subdiffraction_patches_use_their_whole_images_percentiles():
    from care_bridge.pipelines.subdiffraction import make_subdiffraction_data

    # patches as large as the images, no rotation: each patch is its image, so with levels (2, 99.8) its own 2nd
    # and 99.8th percentiles become 0 and 1 exactly
    X, Y, info = make_subdiffraction_data("granules", 2, (32, 32), photons=20, patch_shape=(32, 32), n_patches=4,
                                          augment=False, percentiles=(2.0, 99.8))
    for A in (X, Y):
        for a in A[..., 0]:
            np.testing.assert_allclose(np.percentile(a, [2.0, 99.8]), [0, 1], atol=1e-5)
    np.testing.assert_array_equal(X[0], X[2])  # patch i comes from image i mod 2, same place: same pixels
    assert info["source"].tolist() == [0, 1, 0, 1] and not info["augment"]


def test_cli_modes_take_percentiles_and_record_sources(tmp_path):
    from care_bridge.cli.main import main

    out = tmp_path / "p.npz"
    assert main(["datagen", "--mode", "tubules", "--synthetic", "3", "--shape", "32,32", "--patch-shape", "16,16",
                 "--n-patches", "6", "--percentiles", "2", "99.8", "--no-augment", "--out", str(out)]) == 0
    with np.load(out) as d:
        meta = json.loads(str(d["report"]))
        assert d["source"].tolist() == [0, 1, 2, 0, 1, 2]
    assert meta["percentiles"] == [2.0, 99.8] and meta["augment"] is False
    assert meta["source_names"] == ["image 0", "image 1", "image 2"]
