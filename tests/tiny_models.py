"""Tiny real CARE models on generated data: the kinds the shared fixtures provide (see conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
