"""Axial upsampling (CARE, Weigert et al. 2018; CSBDeep ``UpsamplingCARE``): a 3D network restores a stack
acquired with ``factor`` times fewer planes, trained on (nearly) isotropic stacks subsampled in Z.

Stacks ``"ZYX"``; the restored stack has ``nz * factor`` planes, input plane ``k`` on output plane
``k * factor`` (:mod:`care_bridge.models.upsampling`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data import modes as datamodes, patch_stream
from ..errors import CareBridgeError
from ..models.config import CareConfig
from .common import train_mode


def upsampling_config(*, factor: int, n_channels: int = 1, **fields) -> CareConfig:
    """A 3D upsampling network configuration (``procedure = {"factor": f, "scale": [f, 1, 1]}``)."""
    if not float(factor).is_integer() or factor < 1:
        raise CareBridgeError(f"axial upsampling factor must be an integer >= 1, got {factor}")
    f = int(factor)
    return CareConfig.from_dict({"name": "care_upsampling", **fields, "mode": "upsampling", "axes": "ZYX",
                                 "n_channel_in": n_channels, "n_channel_out": n_channels,
                                 "procedure": {"factor": f, "scale": [f, 1, 1], "axis": "Z",
                                               "input_plane_k_at_output_plane": "k * factor"}},
                                source="upsampling settings")


def make_upsampling_data(stacks: Sequence[np.ndarray], *, factor: int, patch_shape: tuple[int, int, int],
                         n_patches: int, seed: int = 0, axial_sigma_px: float = 0.0, threshold: float = 0.4,
                         percentiles: tuple[float, float] | None = None, percentile_jitter: float = 0.0):
    """Normalized pairs from isotropic ``"ZYX"`` stacks (:func:`care_bridge.data.modes.axial_training_pairs`:
    foreground patches, ``X`` by the percentiles of the Z-subsampled stack it simulates, ``Y`` by the whole
    stack's, levels drawn per patch unless ``percentiles`` fix them): ``X`` ``"SZYXC"`` with ``pz / factor``
    planes, ``Y`` ``"SZYXC"`` with ``pz`` planes; ``info["source"]`` holds each patch's stack index. In memory:
    :func:`upsampling_data_stream` makes the same pairs a stack at a time."""
    stream = upsampling_data_stream(stacks, factor=factor, patch_shape=patch_shape, n_patches=n_patches, seed=seed,
                                    axial_sigma_px=axial_sigma_px, threshold=threshold, percentiles=percentiles,
                                    percentile_jitter=percentile_jitter)
    X, Y, source = stream.collect()
    return X, Y, patch_stream.with_source(stream.info, source)


def upsampling_data_stream(stacks: Sequence[np.ndarray], *, factor: int, patch_shape: tuple[int, int, int],
                           n_patches: int, seed: int = 0, axial_sigma_px: float = 0.0, threshold: float = 0.4,
                           percentiles: tuple[float, float] | None = None,
                           percentile_jitter: float = 0.0) -> patch_stream.PatchStream:
    """The pairs of :func:`make_upsampling_data` as a :class:`~care_bridge.data.patch_stream.PatchStream` of one stack's
    patches per batch (``n_patches`` shared out evenly, the first stacks one more): ``stacks[k]`` is read when
    its batch is made, so a lazy sequence (e.g. of files) keeps one stack in memory. ``info`` is complete
    (``foreground_fraction``: one per stack used) once the stream is exhausted."""
    if not stacks:
        raise CareBridgeError("give at least one isotropic stack")
    rng = np.random.default_rng(seed)
    low, high = percentiles if percentiles is not None else (None, None)
    per = [n_patches // len(stacks) + (i < n_patches % len(stacks)) for i in range(len(stacks))]
    info: dict = {}

    def batches():
        fractions, start = [], 0
        for k, n in enumerate(per):
            if n == 0:
                continue
            s = np.asarray(stacks[k])
            if s.ndim != 3:
                raise CareBridgeError(f"upsampling training stacks must be 3D ZYX, got {s.ndim}D")
            X, Y, one = datamodes.axial_training_pairs(s, factor=factor, patch_shape=patch_shape, n_patches=n,
                                                       rng=rng, axial_sigma_px=axial_sigma_px, threshold=threshold,
                                                       percentile_low=low, percentile_high=high,
                                                       percentile_jitter=percentile_jitter)
            fractions.append(one.pop("foreground_fraction"))
            info.update(one)
            yield patch_stream.PatchBatch(np.arange(start, start + n), X, Y, k)
            del s, X, Y  # before the next stack is read
            start += n
        info.update({"foreground_fraction": fractions, "source_names": [f"stack {k}" for k in range(len(stacks))]})

    return patch_stream.PatchStream(sum(per), batches(), info)


def train_upsampling(stacks: Sequence[np.ndarray], out_dir: str | Path, *, factor: int,
                     patch_shape: tuple[int, int, int] = (16, 32, 32), n_patches: int = 128, seed: int = 0,
                     progress: bool = False, threshold: float = 0.4, **fields):
    """Make data from isotropic ``stacks`` and train an upsampling network into ``out_dir`` (with several
    stacks, whole stacks are held out for validation)."""
    X, Y, info = make_upsampling_data(stacks, factor=factor, patch_shape=patch_shape, n_patches=n_patches,
                                      seed=seed, threshold=threshold)
    config = upsampling_config(factor=factor, seed=seed, **fields)
    return train_mode(config, X, Y, out_dir, progress=progress, sources=info["source"],
                      data_meta={"mode": "upsampling", "factor": int(factor), "n_patches": int(len(X))})


def upsampling_baseline(stack_zyx: np.ndarray, factor: int) -> np.ndarray:
    """Linear interpolation along Z onto the network's output grid (``nz * factor`` planes, plane ``k`` at
    ``k * factor``, constant beyond the last plane)."""
    x = np.asarray(stack_zyx, np.float32)
    nz = x.shape[0]
    t = np.arange(nz * int(factor)) / float(factor)
    k = np.clip(np.floor(t).astype(int), 0, nz - 1)
    k1 = np.clip(k + 1, 0, nz - 1)
    w = (t - k).astype(np.float32)[:, None, None]
    return (x[k] * (1 - w) + x[k1] * w).astype(np.float32)


def evaluate_upsampling(restored: np.ndarray, baseline: np.ndarray, truth: np.ndarray) -> dict:
    """SSIM / NRMSE of the network and of the baseline against the full-resolution ``truth``."""
    from ..evaluate.metrics import nrmse, ssim

    gt = np.asarray(truth)[: restored.shape[0]]
    return {"ssim": {"care": ssim(restored, gt), "baseline": ssim(baseline, gt)},
            "nrmse": {"care": nrmse(restored, gt), "baseline": nrmse(baseline, gt)}}
