"""The trainer validates on whole held-out source images: no validation patch shares a source with a training
patch when the patch file records two or more (tested without training: the trainer is replaced by a spy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def patch_file(tmp_path) -> Path:
    from care_bridge.data.patches import save_patches

    # 4 sources of 5 patches; every value of a patch is its source index, so a patch tells where it came from
    src = np.repeat(np.arange(4, dtype=np.int32), 5)
    X = np.broadcast_to(src[:, None, None, None].astype(np.float32), (20, 8, 8, 1)).copy()
    save_patches(tmp_path / "p.npz", X, X.copy(), "YX", {"source_names": ["a", "b", "c", "d"]}, sources=src)
    return tmp_path / "p.npz"


def _spy_train(monkeypatch):
    from care_bridge.train import trainer

    seen = {}

    def spy(config, X, Y, X_val, Y_val, out_dir, **kw):
        seen.update(train=set(X[:, 0, 0, 0].tolist()), val=set(X_val[:, 0, 0, 0].tolist()), n_val=len(X_val),
                    meta=kw["data_meta"])
        return trainer.TrainResult(Path(out_dir), 0, 0.0, 0.0, 0.0)

    monkeypatch.setattr(trainer, "train", spy)
    return seen


def test_train_from_patch_file_holds_out_whole_sources(patch_file, tmp_path, monkeypatch):
    from care_bridge.train import train_from_patch_file

    seen = _spy_train(monkeypatch)
    for seed in range(5):
        train_from_patch_file(patch_file, tmp_path / f"m{seed}", seed=seed, validation_fraction=0.25, progress=False)
        assert seen["n_val"] == 5 and len(seen["val"]) == 1 and not seen["train"] & seen["val"]
        split = seen["meta"]["validation_split"]
        assert split["by"] == "source" and split["validation_sources"] == ["abcd"[int(seen["val"].pop())]]


def test_random_patches_on_request(patch_file, tmp_path, monkeypatch):
    from care_bridge.train import train_from_patch_file

    seen = _spy_train(monkeypatch)
    mixed = False
    for seed in range(5):
        train_from_patch_file(patch_file, tmp_path / f"m{seed}", seed=seed, validation_fraction=0.25, progress=False,
                              validation_split="patch")
        assert seen["n_val"] == 5 and seen["meta"]["validation_split"]["by"] == "patch"
        mixed |= bool(seen["train"] & seen["val"])
    assert mixed  # random patches: some validation patch shares its source with a training patch
