"""Shared fixtures: tiny real networks, trained for a few steps on generated data, and their bundles.

Everything is cached per test session, so the suite trains each kind of tiny model once.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CARE_BRIDGE_NO_PROGRESS", "1")
# as the runtime's TF engine does (runtime/engines.py): TF is imported here by training before any engine runs
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

KINDS = {
    # kind: (axes, raw shape, patch shape, n_channels, probabilistic)
    "2d": ("YX", (96, 96), (32, 32), 1, False),
    "3d": ("ZYX", (16, 48, 48), (8, 16, 16), 1, False),
    "2d_multichannel": ("CYX", (2, 96, 96), (32, 32), 2, False),
    "2d_probabilistic": ("YX", (96, 96), (32, 32), 1, True),
}


def make_pairs(kind: str, n: int = 3, seed: int = 0):
    """``n`` synthetic (name, low, high) pairs of the given kind."""
    from care_bridge.data.imaging import synthetic_pair

    axes, shape, _, n_c, _ = KINDS[kind]
    rng = np.random.default_rng(seed)
    sp = shape[1:] if "C" in axes else shape
    out = []
    for i in range(n):
        if n_c == 1:
            low, high = synthetic_pair(sp, photons=5, rng=rng)
        else:
            chans = [synthetic_pair(sp, photons=5, rng=rng) for _ in range(n_c)]
            low, high = np.stack([c[0] for c in chans]), np.stack([c[1] for c in chans])
        out.append((f"img{i}.tif", low, high))
    return out


def train_tiny(kind: str, out_dir: Path, *, epochs: int = 2, steps: int = 4) -> Path:
    from care_bridge.data.patches import create_patches
    from care_bridge.train import train_from_patch_file

    axes, _, patch, _, prob = KINDS[kind]
    out_dir.mkdir(parents=True, exist_ok=True)
    patches = out_dir / f"{kind}_patches.npz"
    if not patches.exists():
        create_patches(iter(make_pairs(kind)), axes, patch, 12, patches, progress=False)
    model = out_dir / f"{kind}_model"
    train_from_patch_file(patches, model, epochs=epochs, steps_per_epoch=steps, batch_size=4,
                          unet_n_first=4, probabilistic=prob or None, progress=False)
    return model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """``tiny_model(kind) -> Path`` of a trained model folder (kinds: see KINDS)."""
    root = tmp_path_factory.mktemp("tiny_models")
    cache: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in cache:
            cache[kind] = train_tiny(kind, root)
        return cache[kind]

    return get


@pytest.fixture(scope="session")
def tiny_bundle(tiny_model, tmp_path_factory):
    """``tiny_bundle(kind) -> Path`` of an exported bioimage.io bundle (.zip) of a tiny trained model."""
    from care_bridge.bundle import export_bundle

    root = tmp_path_factory.mktemp("tiny_bundles")
    cache: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in cache:
            cache[kind] = export_bundle(tiny_model(kind), root / f"{kind}.zip")
        return cache[kind]

    return get
