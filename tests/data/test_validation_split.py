"""Validation that measures generalization: patch files record each patch's source, and with two or more sources
whole sources are held out, so no validation patch shares a pixel with a training patch; old files still load."""

import json

import numpy as np
import pytest

from care_bridge.data.patches import create_patches, load_patches, save_patches, split_validation_indices
from care_bridge.errors import CareBridgeError


def _images(n, size=32):
    rng = np.random.default_rng(0)
    for i in range(n):
        y = rng.random((size, size)).astype(np.float32)
        yield f"img{i}.tif", y + 0.1, y


def test_create_patches_records_sources_and_training_holds_out_whole_images(tmp_path):
    create_patches(_images(5), "YX", (8, 8), 6, tmp_path / "p.npz", augment_flips=False, threshold=0.0,
                   progress=False)
    with np.load(tmp_path / "p.npz") as d:
        assert d["source"].tolist() == [i for i in range(5) for _ in range(6)]
        assert json.loads(str(d["report"]))["source_names"] == [f"img{i}.tif" for i in range(5)]
    for seed in range(6):
        X, Y, Xv, Yv, _, meta = load_patches(tmp_path / "p.npz", validation_fraction=0.2, seed=seed)
        split = meta["validation_split"]
        # 5 images of 6 patches, 20 %: one whole image (6 patches) is closest to 6 patches
        assert split["by"] == "source" and len(Xv) == 6 and len(X) == 24
        assert len(split["validation_sources"]) == 1 and split["validation_sources"][0].startswith("img")
        assert "source_names" not in meta
        # the held-out patches are exactly those recorded as cut from the held-out image
        with np.load(tmp_path / "p.npz") as d:
            held = d["X"][d["source"] == int(split["validation_sources"][0][3:-4])]  # "img<i>.tif"
        np.testing.assert_array_equal(np.sort(Xv, axis=None), np.sort(held, axis=None))


@pytest.mark.parametrize("seed", range(8))
def test_split_by_source_never_shares_a_source_and_is_closest_to_the_fraction(seed):
    rng = np.random.default_rng(seed)
    sources = rng.integers(0, rng.integers(2, 9), 60)
    t, v, info = split_validation_indices(60, fraction=0.15, seed=seed, sources=sources)
    assert len(t) and len(v) and len(t) + len(v) == 60 and not set(t) & set(v)
    assert not set(sources[t]) & set(sources[v])  # no validation patch shares a source with a training patch
    assert info["by"] == "source" and info["fraction"] == len(v) / 60


def test_split_by_hand():
    # sources 0, 1, 2 with 1, 3 and 6 patches; fraction 0.3 -> 3 patches wanted. The order of the sources is a
    # permutation fixed by the seed; whatever it is, the held-out set is the prefix whose size is closest to 3
    # (k = 1 .. 2 sources), never all three
    sources = np.array([0, 1, 1, 1, 2, 2, 2, 2, 2, 2])
    for seed in range(20):
        order = np.random.default_rng(seed).permutation(np.array([0, 1, 2]))
        sizes = {0: 1, 1: 3, 2: 6}
        held = [sizes[order[0]], sizes[order[0]] + sizes[order[1]]]
        k = 1 if abs(held[0] - 3) <= abs(held[1] - 3) else 2
        _, v, info = split_validation_indices(10, fraction=0.3, seed=seed, sources=sources)
        assert sorted(set(sources[v])) == sorted(order[:k].tolist()) == info["validation_sources"]


def test_one_source_or_an_old_file_splits_random_patches_as_before(tmp_path):
    X = np.arange(20, dtype=np.float32).reshape(20, 1, 1, 1) * np.ones((1, 4, 4, 1), np.float32)
    save_patches(tmp_path / "old.npz", X, X, "YX", {})  # no sources: a file from before they were recorded
    Xt, _, Xv, _, _, meta = load_patches(tmp_path / "old.npz", validation_fraction=0.25, seed=7)
    idx = np.random.default_rng(7).permutation(20)  # the rule since the first version: 5 random patches
    assert Xv[:, 0, 0, 0].tolist() == idx[:5].tolist() and Xt[:, 0, 0, 0].tolist() == idx[5:].tolist()
    assert meta["validation_split"] == {"by": "patch", "fraction": 0.25}
    save_patches(tmp_path / "one.npz", X, X, "YX", {}, sources=np.zeros(20, np.int32))
    _, _, Xv1, _, _, _ = load_patches(tmp_path / "one.npz", validation_fraction=0.25, seed=7)
    np.testing.assert_array_equal(Xv1, Xv)
    with pytest.raises(CareBridgeError, match="one non-negative integer per patch"):
        save_patches(tmp_path / "bad.npz", X, X, "YX", {}, sources=np.zeros(3, np.int32))


def test_mode_pipelines_hold_out_whole_sources():
    from care_bridge.pipelines.common import split_validation

    X = np.arange(12, dtype=np.float32)[:, None]
    src = np.repeat(np.arange(4), 3)
    Xt, _, Xv, _ = split_validation(X, X, fraction=0.25, seed=1, sources=src)
    assert len(Xv) == 3 and not set(src[Xt[:, 0].astype(int)]) & set(src[Xv[:, 0].astype(int)])


def test_isotropic_data_holds_out_whole_planes():
    from care_bridge.pipelines.common import split_validation
    from care_bridge.pipelines.isotropic import make_isotropic_data

    stack = np.random.default_rng(0).random((10, 32, 32)).astype(np.float32)
    X, Y, info = make_isotropic_data(stack, "ZYX", factor=2, psf=None, patch_shape=(16, 16), n_patches=40)
    planes = info["source"]
    Xt, _, Xv, _ = split_validation(np.arange(40)[:, None], np.arange(40)[:, None], fraction=0.2, seed=0,
                                    sources=planes)
    assert not set(planes[Xt[:, 0]]) & set(planes[Xv[:, 0]])
