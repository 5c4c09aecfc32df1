"""Percentile normalization and CARE's output de-normalization (pure numpy).

CARE (Weigert et al., Nature Methods 15:1090, 2018, doi:10.1038/s41592-018-0216-7) normalizes every image by
its low/high intensity percentiles, ``x_n = (x - p_low) / (p_high - p_low + eps)``, so that the network sees
inputs of a fixed range whatever the photon count. The same formula is bioimage.io's ``scale_range``
preprocessing. After prediction CARE maps the output back into the *input's* intensity range with the input's
percentiles: ``y = y_n * (p_high - p_low) + p_low`` (CSBDeep ``PercentileNormalizer.after``); for a Laplace
scale output only the factor applies, ``s = s_n * (p_high - p_low)``.

Statistics are computed once per image (per channel) and then applied block by block, so tiling never changes
the normalization. Percentiles use numpy's default linear interpolation in float64; the affine maps are
evaluated in float32 with float32 constants, so the result does not depend on how the image is cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import CareBridgeError

DEFAULT_LOW = 2.0
DEFAULT_HIGH = 99.8
DEFAULT_EPS = 1e-6  # bioimage.io scale_range's default


@dataclass(frozen=True)
class PercentileStats:
    """Per-channel percentiles of one image: ``low``/``high`` have one value per channel (axis ``C``)."""

    low: np.ndarray
    high: np.ndarray
    eps: float = DEFAULT_EPS

    def scale(self) -> np.ndarray:
        """float32 ``p_high - p_low + eps`` per channel (the divisor of :func:`apply_normalization`)."""
        return (self.high - self.low + self.eps).astype(np.float32)

    def span(self) -> np.ndarray:
        """float32 ``p_high - p_low`` per channel (the factor of :func:`apply_denormalization`)."""
        return (self.high - self.low).astype(np.float32)


def check_finite(x: np.ndarray, what: str = "image") -> None:
    """Refuse NaN/Inf pixels with a clear message."""
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        n = int(x.size - np.count_nonzero(np.isfinite(x)))
        raise CareBridgeError(f"{what} contains {n} NaN/Inf pixel(s); replace them (e.g. with 0) before restoring")


def percentile_stats(
    x: np.ndarray,
    channel_axis: int | None = None,
    *,
    low: float = DEFAULT_LOW,
    high: float = DEFAULT_HIGH,
    eps: float = DEFAULT_EPS,
) -> PercentileStats:
    """Percentiles ``low``/``high`` of ``x`` over all axes but ``channel_axis`` (one pair per channel).

    Raises for NaN/Inf, empty images and percentiles outside ``0 <= low < high <= 100``.
    """
    if not 0 <= low < high <= 100:
        raise CareBridgeError(f"percentiles must satisfy 0 <= low < high <= 100, got low={low}, high={high}")
    if x.size == 0:
        raise CareBridgeError("image is empty (a dimension of size 0); check the file and axes")
    check_finite(x)
    if channel_axis is None:
        xs = [x]
    else:
        xs = [np.take(x, c, axis=channel_axis) for c in range(x.shape[channel_axis])]
    lo, hi = [], []
    for xc in xs:
        p = np.percentile(xc, [low, high])
        lo.append(p[0])
        hi.append(p[1])
    span = np.asarray(hi, np.float64) - np.asarray(lo, np.float64)
    if not np.all(np.abs(span) < np.finfo(np.float32).max / 4):
        raise CareBridgeError(f"the image's intensities span {float(np.max(np.abs(span))):.3g} between its {low} and "
                              f"{high} percentiles, more than float32 arithmetic can hold; rescale the image (e.g. "
                              "to 0..65535) before restoring")
    return PercentileStats(np.asarray(lo, np.float64), np.asarray(hi, np.float64), float(eps))


def apply_normalization(x: np.ndarray, stats: PercentileStats, channel_last: bool = True) -> np.ndarray:
    """``(x - p_low) / (p_high - p_low + eps)`` in float32; channels on the last axis (or a single channel)."""
    lo = stats.low.astype(np.float32)
    sc = stats.scale()
    if not channel_last:
        lo, sc = lo[0], sc[0]
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows as non-finite output, refused later
        out = np.asarray(x, dtype=np.float32) - lo
        out /= sc
    return out


def apply_denormalization(y: np.ndarray, stats: PercentileStats, *, is_scale: bool = False) -> np.ndarray:
    """CARE's map back into the input's range, channels last: ``y * (p_high - p_low) + p_low``
    (``+ p_low`` omitted for a Laplace scale). In place on float32 ``y``; returns it."""
    y = np.asarray(y, dtype=np.float32)
    if not y.flags.writeable:  # e.g. a view of a framework tensor
        y = y.copy()
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows as non-finite output, refused later
        y *= stats.span()
        if not is_scale:
            y += stats.low.astype(np.float32)
    return y


def normalize_percentile(
    x: np.ndarray,
    *,
    low: float = DEFAULT_LOW,
    high: float = DEFAULT_HIGH,
    eps: float = DEFAULT_EPS,
    clip: bool = False,
) -> np.ndarray:
    """Normalize a whole array (all axes together) by its own percentiles; float32 result."""
    stats = percentile_stats(x, None, low=low, high=high, eps=eps)
    out = apply_normalization(x, stats, channel_last=False)
    if clip:
        np.clip(out, 0, 1, out=out)
    return out
