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
from ..errors import CareBridgeError
from ..models.config import CareConfig
from .common import normalize_stack, train_mode


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


def make_projection_data(n: int, shape_zyx: Sequence[int], *, photons: float, seed: int = 0, **kwargs):
    """``n`` simulated stacks: ``X`` ``"SZYXC"`` (each stack percentile-normalized), ``Y`` ``"SYXC"`` (each
    ground-truth projection percentile-normalized), and the generator's info."""
    X, Y, info = datamodes.projection_training_pairs(n, shape_zyx, photons=photons,
                                                     rng=np.random.default_rng(seed), **kwargs)
    X = np.stack([normalize_stack(x) for x in X])
    Y = np.stack([normalize_stack(y) for y in Y])
    return X, Y, info


def train_projection(n: int, shape_zyx: Sequence[int], out_dir: str | Path, *, photons: float = 5.0, seed: int = 0,
                     proj_depth: int = 1, proj_n_first: int = 8, progress: bool = False, **fields):
    """Simulate ``n`` stacks and train a projection network into ``out_dir``."""
    X, Y, _ = make_projection_data(n, shape_zyx, photons=photons, seed=seed)
    config = projection_config(proj_depth=proj_depth, proj_n_first=proj_n_first, seed=seed, **fields)
    return train_mode(config, X, Y, out_dir, progress=progress,
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
