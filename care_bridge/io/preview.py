"""Animated previews (GIF) of image stacks, e.g. the samples of a probabilistic restoration."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import CareBridgeError
from .atomic import atomic_path


def write_gif(path: str | os.PathLike, frames: np.ndarray, *, fps: float = 8.0, overwrite: bool = False) -> Path:
    """Frames ``"TYX"`` as a looping 8-bit grey GIF, atomically; all frames share one intensity mapping (the
    0.1 and 99.9 percentiles of the whole stack), so changes between frames are real changes."""
    try:
        from PIL import Image
    except ImportError as e:  # scikit-image brings Pillow; a bare environment may lack it
        raise CareBridgeError("writing a GIF preview needs Pillow (pip install pillow)") from e
    f = np.asarray(frames, np.float64)
    if f.ndim != 3 or f.shape[0] < 1:
        raise CareBridgeError(f"a GIF preview needs frames with axes TYX, got shape {f.shape}")
    lo, hi = np.percentile(f, [0.1, 99.9])
    g = np.clip((f - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    imgs = [Image.fromarray(np.round(255 * x).astype(np.uint8), mode="L") for x in g]
    with atomic_path(path, overwrite=overwrite) as tmp:
        imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], duration=int(1000 / fps), loop=0)
    return Path(path)


def preview_frames(stack: np.ndarray, axes: str) -> np.ndarray:
    """``"T..."`` samples → ``"TYX"``: the middle Z plane and the first channel."""
    a = np.asarray(stack)
    for ax in "ZC":
        if ax in axes:
            k = axes.index(ax)
            a = np.take(a, a.shape[k] // 2 if ax == "Z" else 0, axis=k)
            axes = axes.replace(ax, "")
    return a
