"""Reliability readouts in the runtime: from the network's outputs on one tile to the requested
:class:`~care_bridge.describe.Readouts`, with :mod:`care_bridge.laplace_mixture` doing the numerics.

Everything is computed per pixel from the members' Laplace parameters in the network's normalized units
(after ``ModelInfo.scale_calibration`` multiplies the scales), then mapped back like the image (CARE's
de-normalization: values affinely, ``std`` like a scale; ``D`` is unitless). Per-pixel readouts of a tile equal
those of the whole image, and samples are keyed by each pixel's global index, so tiled and untiled results
are identical.
"""

from __future__ import annotations

import numpy as np

from .. import laplace_mixture as lm
from ..describe import ModelInfo, ReadoutRequest, Readouts
from ..errors import CareBridgeError

NO_READOUTS = ReadoutRequest()


def check_request(info: ModelInfo, request: ReadoutRequest, axes: str) -> None:
    """One-line errors for readouts this model or image cannot give."""
    if not request.any:
        return
    if not info.distributional:
        raise CareBridgeError(f"readouts ({', '.join(request.names) or 'members'}) need a probabilistic or ensemble "
                              "model; this one predicts only an image (train with --probabilistic or --ensemble)")
    if request.disagreement and info.ensemble < 2:
        raise CareBridgeError("the disagreement D needs an ensemble bundle; this model is a single probabilistic "
                              "network (train with care-bridge train --ensemble 5)")
    if request.samples and "T" in axes:
        raise CareBridgeError("samples are written as a time series, but the image already has a T axis; restore its "
                              "frames one by one to get samples")


def member_distribution(info: ModelInfo, ys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The members' Laplace ``(mu, b)``, each ``(M, ..., C)``, from the network's outputs (``"...C"``, cropped)
    in normalized units; scales times ``info.scale_calibration``."""
    c = info.n_channel_out
    if info.ensemble > 1:
        m = info.ensemble
        mu = np.moveaxis(ys[1].reshape(ys[1].shape[:-1] + (m, c)), -2, 0)
        b = np.moveaxis(ys[2].reshape(ys[2].shape[:-1] + (m, c)), -2, 0)
    else:
        mu, b = ys[0][None], ys[1][None]
    return mu, b * np.float32(info.scale_calibration)


def compute(request: ReadoutRequest, mu: np.ndarray, b: np.ndarray, ids: np.ndarray) -> dict[str, np.ndarray]:
    """The requested readouts in normalized units (float32): ``std``, ``disagreement``, ``lower``, ``upper``
    (pixel shape), ``samples`` and ``members`` (a leading draw / member axis)."""
    out: dict[str, np.ndarray] = {}
    if request.std:
        out["std"] = lm.mixture_std(mu, b)
    if request.disagreement:
        out["disagreement"] = lm.disagreement(mu, b)
    if request.interval:
        out["lower"], out["upper"] = lm.central_interval(mu, b, request.level)
    if request.samples:
        out["samples"] = lm.samples(mu, b, request.samples, ids, seed=request.seed)
    if request.members:
        out["members"], out["member_scales"] = mu, b
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


IS_SCALE = {"std": True, "member_scales": True, "disagreement": None}  # None: unitless, never mapped back; others: values
STACKED = frozenset({"samples", "members", "member_scales"})  # a leading draw / member axis


def global_ids(shape: tuple[int, ...], index: tuple, region: tuple[slice, ...]) -> np.ndarray:
    """Linear indices in an array of ``shape`` of the block ``index + region`` (``region`` covers the trailing
    axes; missing trailing axes are taken whole): what keys a pixel's random draws."""
    strides = np.cumprod((1,) + tuple(shape[::-1]))[:-1][::-1].astype(np.uint64)
    lead = len(index)
    ids = np.zeros((), np.uint64) + np.uint64(sum(int(i) * int(s) for i, s in zip(index, strides)))
    full = tuple(region) + tuple(slice(0, n) for n in shape[lead + len(region):])
    for k, sl in enumerate(full):
        ax = lead + k
        r = np.arange(sl.start, sl.stop, dtype=np.uint64) * strides[ax]
        ids = ids[..., None] + r if k else ids + r
    return ids


class ReadoutSink:
    """Full-size arrays for the requested readouts of one restoration, filled region by region.

    ``shape``: the restoration's working array shape (``loop + output spatial + (C,)``); ``denorm(y, is_scale)``
    maps normalized units back for one region (CARE's mapping with that sample's input statistics).
    """

    def __init__(self, request: ReadoutRequest, shape: tuple[int, ...]):
        self.request, self.shape = request, tuple(shape)
        self.arrays: dict[str, np.ndarray] = {}  # allocated at the first region, from what compute() returns

    def write(self, index: tuple, region: tuple[slice, ...], mu: np.ndarray, b: np.ndarray, denorm) -> None:
        """Compute the readouts of the region ``index + region`` from ``(mu, b)`` (normalized, ``(M, ...C)``)."""
        ids = global_ids(self.shape, index, region)
        for name, y in compute(self.request, mu, b, ids).items():
            kind = IS_SCALE.get(name, False)
            if kind is not None:
                y = denorm(y, kind)
            lead = (y.shape[0],) if name in STACKED else ()
            if name not in self.arrays:
                self.arrays[name] = np.empty(lead + self.shape, np.float32)
            self.arrays[name][(slice(None),) * len(lead) + tuple(index) + tuple(region)] = y

    def finish(self, move) -> Readouts:
        """:class:`Readouts` with each array moved to the restoration's axes by ``move(array, stacked)``."""
        return Readouts(level=self.request.level, **{k: move(a, k in STACKED) for k, a in self.arrays.items()})

