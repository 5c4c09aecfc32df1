"""Shared steps of the mode pipelines: per-stack normalization, validation split, training, patch files (written
source by source as a generator makes them, :func:`write_mode_patches`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CareBridgeError
from ..models.config import CareConfig
from ..normalize import apply_normalization, percentile_stats

if TYPE_CHECKING:
    from ..data.patch_stream import PatchStream

NETWORK_KEYS = ("mode", "axes", "n_channel_in", "n_channel_out", "unet_pool", "procedure")


def normalize_stack(x: np.ndarray, *, channel_axis: int | None = None, low: float = 2.0,
                    high: float = 99.8) -> np.ndarray:
    """CARE percentile normalization of a whole image/stack, per channel if ``channel_axis`` is given, float32.

    The runtime normalizes a whole input image the same way before prediction."""
    x = np.asarray(x, np.float32)
    stats = percentile_stats(x, channel_axis, low=low, high=high)
    if channel_axis is None:
        return apply_normalization(x, stats, channel_last=False)
    moved = np.moveaxis(x, channel_axis, -1)
    return np.moveaxis(apply_normalization(moved, stats), -1, channel_axis)


def _split(X: np.ndarray, Y: np.ndarray, fraction: float, seed: int, sources: np.ndarray | None, by: str):
    from ..data.patches import split_validation_indices

    if len(X) != len(Y) or len(X) < 2:
        raise CareBridgeError(f"need at least 2 matching training samples, got {len(X)} inputs / {len(Y)} targets")
    return split_validation_indices(len(X), fraction=fraction, seed=seed, sources=sources, by=by)


def split_validation(X: np.ndarray, Y: np.ndarray, *, fraction: float = 0.1, seed: int = 0,
                     sources: np.ndarray | None = None, by: str = "source"):
    """Seed-fixed split into ``(X, Y, X_val, Y_val)``: whole sources held out when ``sources`` (one integer per
    sample) names at least two, else (or ``by="patch"``) random samples, at least one; see
    :func:`care_bridge.data.patches.split_validation_indices`."""
    t, v, _ = _split(X, Y, fraction, seed, sources, by)
    return X[t], Y[t], X[v], Y[v]


def train_mode(config: CareConfig, X: np.ndarray, Y: np.ndarray, out_dir: str | Path, *,
               validation_fraction: float = 0.1, progress: bool = False, data_meta: dict | None = None,
               sources: np.ndarray | None = None, validation_split: str = "source"):
    """Train ``config``'s network (any mode) on ``X → Y`` into the model folder ``out_dir``; ``sources`` (one
    integer per sample): hold out whole sources for validation (:func:`split_validation`; ``validation_split``
    ``"source"`` or ``"patch"``). The provenance records the split."""
    from ..models.factory import check_network_config
    from ..train import train

    check_network_config(config)
    t, v, how = _split(X, Y, validation_fraction, config.seed, sources, validation_split)
    return train(config, X[t], Y[t], X[v], Y[v], out_dir, progress=progress,
                 data_meta={**(data_meta or {}), "validation_split": how})


def network_fields(config: CareConfig) -> dict:
    """The config fields a patch file records, so that ``care-bridge train`` builds the mode's network."""
    d = config.model_dump(mode="json")
    return {k: d[k] for k in NETWORK_KEYS}


def write_mode_patches(out: str | Path, stream: PatchStream, describe: Callable[[], tuple[CareConfig, dict]], *,
                       overwrite: bool = False) -> tuple[CareConfig, dict]:
    """Write ``stream``'s patches to the patch file ``out`` batch by batch as they are made (memory: one batch;
    :class:`~care_bridge.data.patch_store.PatchFileWriter`), then the report: ``describe()`` gives the config and
    the report once the stream is exhausted; the report gets ``network`` (:func:`network_fields`: the mode, axes,
    channels, pooling and procedure of the network to train), and the sources come from the batches. All or nothing: the file appears, whole, at the end; an error on the way
    leaves neither it nor a spill file. Returns ``(config, meta)``."""
    from ..data.patch_store import PatchFileWriter

    with PatchFileWriter(out, overwrite=overwrite) as writer:
        stream.write(writer)
        config, meta = describe()
        writer.commit("S" + config.axes + "C", {**meta, "network": network_fields(config)})
    return config, meta
