"""bioimage.io processing ops, as the runtime applies them: statistics on the whole image first, then an
elementwise map applied block by block (so tiling never changes the result).

Images here are one sample, spatial axes then channels last (``"<spatial>C"``). Each op is prepared once per
image (:func:`prepare`) into an affine map ``x * a + b`` per channel, or an elementwise function; CARE's
percentile normalization is ``scale_range`` (see :mod:`care_bridge.normalize`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import BundleError
from ..normalize import PercentileStats, apply_normalization, percentile_stats

SUPPORTED_PRE = ("scale_range", "scale_linear", "zero_mean_unit_variance", "fixed_zero_mean_unit_variance",
                 "clip", "sigmoid", "binarize", "ensure_dtype")
SUPPORTED_POST = SUPPORTED_PRE


@dataclass(frozen=True)
class PreparedOp:
    """An elementwise map ready to apply to blocks (float32 in, float32 out)."""

    fn: Callable[[np.ndarray], np.ndarray]
    stats: PercentileStats | None = None  # set for scale_range: CARE's de-normalization needs it


def _per_channel(x: np.ndarray, axes: list[str] | None, reduce) -> np.ndarray:
    """Reduce over all spatial axes, per channel unless 'c' is among the op's axes (then jointly)."""
    n_c = x.shape[-1]
    if axes is not None and "c" in [a.lower() for a in axes]:
        return np.repeat(np.asarray(reduce(x), np.float64).reshape(1), n_c)
    return np.array([reduce(x[..., c]) for c in range(n_c)], np.float64)


def _kw(op: dict) -> dict:
    return dict(op.get("kwargs") or {})


def prepare(op: dict, image: np.ndarray) -> PreparedOp:
    """Prepare one bioimage.io op (``{"id": ..., "kwargs": {...}}``) on a whole image ``"<spatial>C"``."""
    oid = op.get("id")
    kw = _kw(op)
    if oid == "scale_range":
        if kw.get("reference_tensor"):
            raise BundleError("scale_range with a reference_tensor is not supported by care_bridge's runtime")
        axes = kw.get("axes")
        low = float(kw.get("min_percentile", 0.0))
        high = float(kw.get("max_percentile", 100.0))
        eps = float(kw.get("eps", 1e-6))
        if axes is not None and "c" in [a.lower() for a in axes]:
            s = percentile_stats(image, None, low=low, high=high, eps=eps)
            n_c = image.shape[-1]
            stats = PercentileStats(np.repeat(s.low, n_c), np.repeat(s.high, n_c), eps)
        else:
            stats = percentile_stats(image, image.ndim - 1, low=low, high=high, eps=eps)
        return PreparedOp(lambda b, st=stats: apply_normalization(b, st), stats)
    if oid in ("zero_mean_unit_variance", "fixed_zero_mean_unit_variance"):
        eps = np.float32(kw.get("eps", 1e-6))
        if oid == "zero_mean_unit_variance":
            mean = _per_channel(image, kw.get("axes"), np.mean).astype(np.float32)
            std = _per_channel(image, kw.get("axes"), np.std).astype(np.float32)
        else:
            mean = np.asarray(kw["mean"], np.float32).reshape(-1)
            std = np.asarray(kw["std"], np.float32).reshape(-1)
        return PreparedOp(lambda b: (np.asarray(b, np.float32) - mean) / (std + eps))
    if oid == "scale_linear":
        gain = np.asarray(kw.get("gain", 1.0), np.float32).reshape(-1)
        offset = np.asarray(kw.get("offset", 0.0), np.float32).reshape(-1)
        return PreparedOp(lambda b: np.asarray(b, np.float32) * gain + offset)
    if oid == "clip":
        lo, hi = kw.get("min"), kw.get("max")
        return PreparedOp(lambda b: np.clip(np.asarray(b, np.float32), lo, hi))
    if oid == "sigmoid":
        return PreparedOp(lambda b: (1.0 / (1.0 + np.exp(-np.asarray(b, np.float32)))).astype(np.float32))
    if oid == "binarize":
        t = np.asarray(kw.get("threshold", 0.5), np.float32).reshape(-1)
        return PreparedOp(lambda b: (np.asarray(b) > t).astype(np.float32))
    if oid == "ensure_dtype":
        return PreparedOp(lambda b: np.asarray(b, np.float32))
    raise BundleError(f"processing op {oid!r} is not supported by care_bridge's runtime; "
                      f"supported: {', '.join(SUPPORTED_PRE)}")


def prepare_all(ops: tuple[dict, ...], image: np.ndarray) -> list[PreparedOp]:
    """Prepare a chain; each op's statistics are taken on the output of the ops before it."""
    prepared = []
    x = image
    for i, op in enumerate(ops):
        p = prepare(op, x)
        prepared.append(p)
        if i < len(ops) - 1:
            x = p.fn(x)
    return prepared


def apply_all(prepared: list[PreparedOp], block: np.ndarray) -> np.ndarray:
    for p in prepared:
        block = p.fn(block)
    return np.asarray(block, np.float32)
