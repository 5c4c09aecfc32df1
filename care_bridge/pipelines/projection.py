"""Joint surface projection and denoising (CARE, Weigert et al. 2018, Fig. 2): a low-SNR ``"ZYX"`` stack of
a curved epithelium → the restored 2D surface image ``"YX"``, one network trained end to end
(:mod:`care_bridge.models.projection`). Ground truth: the surface projection of the high-SNR (noise-free)
stack; training data from the synthetic epithelium generator (:func:`care_bridge.data.modes.projection_training_pairs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data import imaging, modes as datamodes, patch_stream
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
    and the generator's info (+ ``source``: each sample is its own source). In memory:
    :func:`projection_data_stream` makes the same pairs a stack at a time."""
    stream = projection_data_stream(n, shape_zyx, photons=photons, seed=seed, percentiles=percentiles,
                                    percentile_jitter=percentile_jitter, heights=True, **kwargs)
    X, Y, source = stream.collect()
    return X, Y, patch_stream.with_source(stream.info, source)


def projection_data_stream(n: int, shape_zyx: Sequence[int], *, photons: float, seed: int = 0,
                           percentiles: tuple[float, float] | None = None, percentile_jitter: float = 0.0,
                           heights: bool = False, **kwargs) -> patch_stream.PatchStream:
    """The pairs of :func:`make_projection_data` (the same, bit for bit) as a
    :class:`~care_bridge.data.patch_stream.PatchStream` of one stack per batch: memory holds one stack.

    The normalization levels are drawn after all the stacks (the random draws' order fixes the data), so the
    stacks are simulated twice: once to advance the generator to the levels (the generator's state before each
    stack is kept, a few bytes), then each again from its state when its batch is made. ``heights``: keep the
    ``"SYX"`` surfaces in ``info["heights"]`` (memory: all of them)."""
    shape = datamodes.check_projection_shape(n, shape_zyx)
    if kwargs.get("psf") is None:
        kwargs["psf"] = imaging.default_psf(3, limit=shape)
    rng = np.random.default_rng(seed)
    states, H = [], np.empty((n, *shape[1:]), np.float32) if heights else None
    for i in range(n):
        states.append(rng.bit_generator.state)
        _, _, h = datamodes.projection_training_pair(shape, photons=photons, rng=rng, **kwargs)
        if H is not None:
            H[i] = h
    low, high = percentiles if percentiles is not None else (None, None)
    levels = percentile_levels(n, rng, low=low, high=high, jitter=percentile_jitter)
    info = {"axes_x": "SZYXC", "axes_y": "SYXC", **({"heights": H} if heights else {}), "normalization": "image",
            **percentile_meta(low, high, percentile_jitter), "source_names": [f"stack {k}" for k in range(n)]}

    def batches():
        for i in range(n):
            again = patch_stream.generator_at(rng, states[i])
            x, y, _ = datamodes.projection_training_pair(shape, photons=photons, rng=again, **kwargs)
            X, Y = x[None, ..., None], y[None, ..., None]
            normalize_with_image_percentiles(X, Y, X[0].copy(), Y[0].copy(), levels[i : i + 1])
            yield patch_stream.PatchBatch(np.array([i]), X, Y, i)
            del x, y, X, Y  # before the next stack is simulated

    return patch_stream.PatchStream(n, batches(), info)


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
