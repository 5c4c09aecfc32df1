"""CARE's normalization of training patches: the percentiles of the whole source image (input and target each by
their own image, per channel), levels drawn per patch from [1, 3] and [99.5, 99.9] as CSBDeep's
``norm_percentiles(sample_percentiles())`` does — checked against values derived by hand."""

import numpy as np
import pytest

from care_bridge.data.patches import create_patches, load_patches, percentile_levels
from care_bridge.errors import CareBridgeError


def _pair():
    # x = 0, 1, ..., 1023 laid out as 32 x 32; y = 2 x + 5. numpy's linear percentile of 0..1023 at p is
    # p / 100 * 1023, so with levels (2, 99.8): x_low = 20.46, x_high = 1020.954; y's are 2 * those + 5.
    x = np.arange(1024, dtype=np.float64).reshape(32, 32)
    return x, 2 * x + 5


def test_patches_use_the_percentiles_of_their_whole_source_image(tmp_path):
    x, y = _pair()
    create_patches(iter([("a", x, y)]), "YX", (8, 8), 6, tmp_path / "p.npz", augment_flips=False,
                   percentile_low=2.0, percentile_high=99.8, threshold=0.0, progress=False)
    X, Y, Xv, Yv, _, meta = load_patches(tmp_path / "p.npz", validation_fraction=0.2)
    X, Y = np.concatenate([X, Xv])[..., 0], np.concatenate([Y, Yv])[..., 0]
    lo, hi = 20.46, 1020.954
    for xn, yn in zip(X, Y):
        raw = xn * (hi - lo + 1e-6) + lo  # back to raw values: a run of consecutive integers
        assert np.allclose(raw - raw[0, 0], np.add.outer(32 * np.arange(8), np.arange(8)), atol=2e-3)
        assert np.allclose(yn, (2 * raw + 5 - (2 * lo + 5)) / (2 * (hi - lo) + 1e-6), atol=1e-5)
    assert meta["normalization"] == "image" and meta["percentiles"] == [2.0, 99.8]


def test_sampled_levels_lie_in_csbdeeps_ranges_per_patch(tmp_path):
    x, y = _pair()
    create_patches(iter([("a", x, y)]), "YX", (8, 8), 20, tmp_path / "p.npz", augment_flips=False, threshold=0.0,
                   seed=3, progress=False)
    X, Y, Xv, Yv, _, meta = load_patches(tmp_path / "p.npz", validation_fraction=0.2)
    X = np.concatenate([X, Xv])[..., 0]
    lows = []
    for xn in X:
        # two raw values one apart (neighbours along X) give the patch's (low, high) by hand
        scale = 1.0 / (xn[0, 1] - xn[0, 0])  # high - low + eps
        raw00 = None
        # the raw value of pixel (0, 0) is an integer r with xn[0, 0] = (r - low) / scale: low = r - xn[0, 0] * scale
        # for the right r, low lies in [percentile(1), percentile(3)] = [10.23, 30.69]
        for r in range(1024):
            low = r - xn[0, 0] * scale
            if 10.23 - 1e-3 <= low <= 30.69 + 1e-3 and 1017.885 - 1e-2 <= low + scale <= 1021.977 + 1e-2:
                raw00 = r
                break
        assert raw00 is not None, "levels outside CSBDeep's sampling ranges"
        lows.append(low)
    assert np.std(lows) > 1.0  # drawn per patch, not one level for all
    assert meta["percentiles"] is None and meta["percentile_ranges"] == [[1.0, 3.0], [99.5, 99.9]]


def test_per_patch_normalization_is_an_explicit_option(tmp_path):
    x, y = _pair()
    create_patches(iter([("a", x, y)]), "YX", (8, 8), 4, tmp_path / "p.npz", augment_flips=False, threshold=0.0,
                   normalization="patch", progress=False)
    X, _, Xv, _, _, meta = load_patches(tmp_path / "p.npz", validation_fraction=0.25)
    for xn in np.concatenate([X, Xv])[..., 0]:  # each patch spans its own 2..99.8 percentiles: about 0..1
        assert -0.05 < xn.min() < 0.05 and 0.95 < xn.max() < 1.05
    assert meta["normalization"] == "patch"
    with pytest.raises(CareBridgeError, match="normalization 'both' is unknown"):
        create_patches(iter([("a", x, y)]), "YX", (8, 8), 4, tmp_path / "q.npz", normalization="both", progress=False)


def test_percentile_levels():
    rng = np.random.default_rng(0)
    fixed = percentile_levels(3, rng, low=2, high=99.8)
    assert fixed.tolist() == [[2.0, 99.8]] * 3
    sampled = percentile_levels(1000, rng)
    assert (1 <= sampled[:, 0]).all() and (sampled[:, 0] <= 3).all()
    assert (99.5 <= sampled[:, 1]).all() and (sampled[:, 1] <= 99.9).all()
    with pytest.raises(CareBridgeError, match="jitter needs fixed percentiles"):
        percentile_levels(3, rng, jitter=0.5)


def test_flags_a_mode_generator_does_not_use_are_refused(tmp_path, capsys):
    """Regression: datagen --mode isotropic accepted --threshold, --percentiles and --no-augment and ignored them.
    Now each mode takes the flags its generator uses (tests/data/test_isotropic_data.py shows them act) and
    refuses the others with one line."""
    from care_bridge.cli.main import main

    out = ["--patch-shape", "16,32,32", "--n-patches", "8", "--out", str(tmp_path / "p.npz")]
    modes = {"projection": ["--synthetic", "2", "--shape", "8,32,32"],
             "upsampling": ["--synthetic", "1", "--shape", "16,32,32", "--factor", "2"],
             "tubules": ["--synthetic", "1", "--shape", "32,32"],
             "isotropic": ["--input", str(tmp_path / "stack.tif"), "--factor", "4", "--psf-sigma-z", "2"]}
    refused = {"projection": (["--threshold", "0.2"], ["--no-augment"], ["--normalization", "patch"]),
               "upsampling": (["--no-augment"], ["--high", str(tmp_path)]),
               "tubules": (["--threshold", "0.2"],),
               "isotropic": (["--normalization", "patch"],)}
    for mode, cases in refused.items():
        for extra in cases:
            assert main(["datagen", "--mode", mode, *modes[mode], *out, *extra]) == 2
            err = capsys.readouterr().err
            assert f"{extra[0]} has no effect with --mode {mode}" in err and err.count("\n") == 1
    assert main(["datagen", "--mode", "projection", *modes["projection"], *out, "--percentile-jitter", "1"]) == 2
    assert "--percentile-jitter needs --percentiles" in capsys.readouterr().err
    assert not (tmp_path / "p.npz").exists()
