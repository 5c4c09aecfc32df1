"""Joint surface projection and denoising (CARE, Weigert et al. 2018, Fig. 2): a low-SNR ``"ZYX"`` stack of
a curved epithelium → the restored 2D surface image ``"YX"``, one network trained end to end
(:mod:`care_bridge.models.projection`). Ground truth: the surface projection of the high-SNR (noise-free)
stack; training data from the synthetic epithelium generator (:func:`care_bridge.data.modes.projection_training_pairs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data import modes as datamodes
from ..data.patches import normalize_with_image_percentiles, percentile_levels, percentile_meta
from ..errors import CareBridgeError
from ..models.config import CareConfig
from .common import train_mode


def projection_config(*, n_channels: int = 1, proj_depth: int = 1, proj_n_first: int = 8, **fields) -> CareConfig:
    """A projection network configuration (3D front never pooled along Z; output layout ``byxc``)."""
    depth = int(fields.get("unet_depth", 2))
    return CareConfig.from_dict({"name": "care_projection", **fields, "mode": "projection", "axes": "ZYX",
                                 "n_channel_in": n_channels, "n_channel_out": n_channels,
                                 "unet_pool": (1, 2, 2), "unet_depth": depth,
                                 "procedure": {"output_layout": "byxc", "axis": "Z", "proj_depth": int(proj_depth),
                                               "proj_n_first": int(proj_n_first),
                                               "projection": "softmax over Z of per-voxel logits, weighted sum"}},
                                source="projection settings")


def make_projection_data(n: int, shape_zyx: Sequence[int], *, photons: float, seed: int = 0,
                         percentiles: tuple[float, float] | None = None, percentile_jitter: float = 0.0, **kwargs):
    """``n`` simulated stacks: ``X`` ``"SZYXC"``, each stack normalized by its own percentiles (as prediction
    normalizes the whole input stack), ``Y`` ``"SYXC"``, each ground-truth projection by its own — one pair of
    levels per sample, drawn from [1, 3] and [99.5, 99.9] as CSBDeep does unless ``percentiles`` fix them —
    and the generator's info (+ ``source``: each sample is its own source)."""
    rng = np.random.default_rng(seed)
    X, Y, info = datamodes.projection_training_pairs(n, shape_zyx, photons=photons, rng=rng, **kwargs)
    low, high = percentiles if percentiles is not None else (None, None)
    levels = percentile_levels(n, rng, low=low, high=high, jitter=percentile_jitter)
    for i in range(n):
        x, y = X[i].copy(), Y[i].copy()
        normalize_with_image_percentiles(X[i : i + 1], Y[i : i + 1], x, y, levels[i : i + 1])
    return X, Y, {**info, "normalization": "image", **percentile_meta(low, high, percentile_jitter),
                  "source": np.arange(n, dtype=np.int32), "source_names": [f"stack {k}" for k in range(n)]}


def train_projection(n: int, shape_zyx: Sequence[int], out_dir: str | Path, *, photons: float = 5.0, seed: int = 0,
                     proj_depth: int = 1, proj_n_first: int = 8, progress: bool = False, **fields):
    """Simulate ``n`` stacks and train a projection network into ``out_dir``."""
    X, Y, info = make_projection_data(n, shape_zyx, photons=photons, seed=seed)
    config = projection_config(proj_depth=proj_depth, proj_n_first=proj_n_first, seed=seed, **fields)
    return train_mode(config, X, Y, out_dir, progress=progress, sources=info["source"],
                      data_meta={"mode": "projection", "photons": photons, "n_stacks": int(n)})


def projection_baseline(stack_zyx: np.ndarray) -> np.ndarray:
    """Maximum intensity projection along Z of the (noisy) stack."""
    stack_zyx = np.asarray(stack_zyx)
    if stack_zyx.ndim != 3:
        raise CareBridgeError(f"projection needs a 3D ZYX stack, got {stack_zyx.ndim}D")
    return datamodes.max_projection(stack_zyx).astype(np.float32)


def evaluate_projection(restored: np.ndarray, baseline: np.ndarray, truth: np.ndarray) -> dict:
    from ..evaluate.metrics import nrmse, ssim

    return {"ssim": {"care": ssim(restored, truth), "baseline": ssim(baseline, truth)},
            "nrmse": {"care": nrmse(restored, truth), "baseline": nrmse(baseline, truth)}}
