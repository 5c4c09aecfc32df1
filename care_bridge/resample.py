"""Resampling along Z (pure numpy/scipy), shared by training-data generation and the isotropic procedure."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .axes import check_axes
from .errors import CareBridgeError


def check_factor(factor: float) -> float:
    """An anisotropy/upsampling factor: finite and >= 1."""
    if not np.isfinite(factor) or factor < 1:
        raise CareBridgeError(f"factor must be >= 1 (the Z step divided by the lateral pixel size), got {factor}")
    return float(factor)


def upsample_z(stack: np.ndarray, factor: float, order: int = 1, *, axes: str = "ZYX") -> np.ndarray:
    """Interpolate ``stack`` along Z by ``factor`` (spline ``order``; 1 = linear), float32, same axes.

    The output has ``round((nz - 1)·factor) + 1`` planes, so input plane ``k`` lands on output plane
    ``k·factor`` exactly (first and last planes are kept); used before isotropic prediction.
    """
    factor = check_factor(factor)
    x = np.asarray(stack, np.float32)
    axes = check_axes(axes, x.ndim)
    if "Z" not in axes:
        raise CareBridgeError(f"axes {axes!r} have no Z axis to upsample")
    zi = axes.index("Z")
    nz = x.shape[zi]
    out_nz = int(round((nz - 1) * factor)) + 1
    zoom = [1.0] * x.ndim
    zoom[zi] = out_nz / nz
    return ndimage.zoom(x, zoom, order=order, mode="nearest", grid_mode=False).astype(np.float32)
