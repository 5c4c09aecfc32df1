"""Mode-specific restoration procedures built on :meth:`Restorer.apply_network`.

``PROCEDURES`` maps ``ModelInfo.mode`` → ``fn(restorer, image, axes, *, n_tiles, memory_budget, progress)``
returning a :class:`~care_bridge.runtime.restore.Restoration`; modes not listed use the plain network (the
upsampling and projection networks do everything inside the network; only isotropic restoration needs a
procedure around a 2D network).

Isotropic reconstruction (Weigert et al., Nature Methods 2018, doi:10.1038/s41592-018-0216-7; as CSBDeep's
``IsotropicCARE.predict``), for every volume ``"ZYX"`` (+ ``C``) of the image (``T``/``S`` are looped):

1. normalize the whole *original* volume once with the model's percentiles (per channel), so every slice
   sees the same intensity mapping;
2. upsample Z by ``procedure["factor"]`` with linear interpolation
   (:func:`care_bridge.data.modes.upsample_z`: ``round((nz - 1) f) + 1`` planes, input plane ``k`` on plane
   ``k f``);
3. restore every XZ slice (Z as the network's first axis, X second, Y looped as ``S``) and every YZ slice
   (Z first, Y second, X looped) with the 2D network — all channels of a slice jointly;
4. combine the two estimates voxel-wise, ``procedure["combine"]``: ``"geometric"`` (default, CSBDeep):
   ``sqrt(max(u1, 0) · max(u2, 0))`` in normalized units; ``"mean"``: ``(u1 + u2) / 2``. A probabilistic
   model's Laplace scale is ``max(s1, s2)``;
5. map back with the input percentiles (CARE's de-normalization), if the model declares it.

The result has the input's axes with Z of the upsampled size. Imports no TensorFlow.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..axes import check_axes, move_axes
from ..errors import CareBridgeError
from ..normalize import PercentileStats, apply_denormalization, check_finite
from . import ops

PROCEDURES: dict = {}
COMBINATIONS = ("geometric", "mean")
# the network already receives normalized slices: its own preprocessing becomes a float32 cast
_IDENTITY_PRE = ({"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},)


def _register(mode: str):
    def deco(fn):
        PROCEDURES[mode] = fn
        return fn

    return deco


def isotropic_factor(procedure: dict) -> float:
    """The Z upsampling factor of an isotropic model (``procedure["factor"]``, finite and >= 1)."""
    f = procedure.get("factor")
    try:
        f = float(f)
    except (TypeError, ValueError):
        raise CareBridgeError(f"isotropic model declares no valid procedure.factor ({f!r}); re-export it") from None
    if not np.isfinite(f) or f < 1:
        raise CareBridgeError(f"isotropic procedure.factor must be >= 1, got {f}")
    return f


def combine_estimates(u1: np.ndarray, u2: np.ndarray, how: str) -> np.ndarray:
    """Voxel-wise combination of the XZ- and YZ-slice estimates (normalized units), see module docstring."""
    if how == "geometric":
        return np.sqrt(np.maximum(u1, 0) * np.maximum(u2, 0)).astype(np.float32)
    if how == "mean":
        return ((u1 + u2) * np.float32(0.5)).astype(np.float32)
    raise CareBridgeError(f"unknown isotropic combination {how!r}; choose one of {', '.join(COMBINATIONS)}")


@_register("isotropic")
def restore_isotropic(restorer, image, axes, *, n_tiles=None, memory_budget=None, progress=False):
    """Isotropic reconstruction of ``image`` (axes with ``Z``, ``Y``, ``X``; optional ``C``, ``T``, ``S``)."""
    from .restore import Restoration

    info = restorer.info
    image = np.asarray(image)
    axes = check_axes(axes, image.ndim)
    if info.axes != "YX":
        raise CareBridgeError(f"an isotropic model must be a 2D (YX) network, this one is {info.axes}")
    if not set("ZYX") <= set(axes):
        raise CareBridgeError(f"isotropic restoration needs a Z stack (axes with Z, Y and X), got {axes!r}")
    if image.dtype.kind not in "uif" or image.size == 0:
        raise CareBridgeError("image must be a non-empty numeric array")
    check_finite(image)
    factor = isotropic_factor(info.procedure)
    how = str(info.procedure.get("combine", "geometric"))
    if how not in COMBINATIONS:
        raise CareBridgeError(f"unknown isotropic combination {how!r}; choose one of {', '.join(COMBINATIONS)}")
    if image.shape[axes.index("Z")] < 2:
        raise CareBridgeError("the stack has a single Z plane; isotropic restoration needs at least 2")
    n_c = image.shape[axes.index("C")] if "C" in axes else 1
    if n_c != info.n_channel_in:
        raise CareBridgeError(f"the model expects {info.n_channel_in} channel(s) but the image has {n_c}")
    loop = "".join(a for a in "TS" if a in axes)
    x = move_axes(image, axes, loop + "ZYXC")
    # a 2D-network view that runs on normalized slices and returns normalized units
    net = type(restorer)(dataclasses.replace(info, preprocessing=_IDENTITY_PRE, postprocessing=(),
                                             denormalize="none", mode="plain"), restorer.engine,
                         source=restorer.source)
    means, scales, tiles = [], [], (1, 1)
    for idx in np.ndindex(*x.shape[: len(loop)]):
        m, s, tiles = _isotropic_volume(net, restorer, x[idx], factor, how, n_tiles, memory_budget, progress)
        means.append(m)
        scales.append(s)
    lead = x.shape[: len(loop)]
    mean = np.stack(means).reshape(lead + means[0].shape)
    scale = np.stack(scales).reshape(lead + scales[0].shape) if info.probabilistic else None
    work = loop + "ZYXC"
    out_axes = axes if "C" in axes or info.n_channel_out == 1 else "C" + axes
    if "C" not in out_axes:
        mean, scale = mean[..., 0], (scale[..., 0] if scale is not None else None)
        work = work[:-1]
    mean = np.ascontiguousarray(move_axes(mean, work, out_axes))
    scale = np.ascontiguousarray(move_axes(scale, work, out_axes)) if scale is not None else None
    return Restoration(mean, out_axes, scale, restorer.engine.name, tiles)


def _isotropic_volume(net, restorer, vol, factor, how, n_tiles, memory_budget, progress):
    """One ``"ZYXC"`` volume → (mean, scale or None) ``"ZYXC"`` in image units, and the tiles used."""
    from ..data.modes import upsample_z

    info = restorer.info
    prepared = ops.prepare_all(restorer._pre_ops(), vol)  # statistics of the whole original volume
    stats: PercentileStats | None = prepared[0].stats if prepared else None
    xn = upsample_z(ops.apply_all(prepared, vol), factor, axes="ZYXC")
    # XZ slices: Y is the loop axis, the network sees (Z, X) as its (Y, X)
    r1 = net.apply_network(xn, "YSXC", n_tiles=n_tiles, memory_budget=memory_budget, progress=progress)
    # YZ slices: X is the loop axis, the network sees (Z, Y) as its (Y, X)
    r2 = net.apply_network(xn, "YXSC", n_tiles=n_tiles, memory_budget=memory_budget, progress=progress)
    u1, u2 = _as_zyxc(r1.image, r1.axes, "YSXC"), _as_zyxc(r2.image, r2.axes, "YXSC")
    mean = combine_estimates(u1, u2, how)
    scale = None
    if info.probabilistic:
        scale = np.maximum(_as_zyxc(r1.scale, r1.axes, "YSXC"), _as_zyxc(r2.scale, r2.axes, "YXSC"))
    if info.denormalize == "input_percentiles" and stats is not None:
        mean = apply_denormalization(mean, stats)
        scale = apply_denormalization(scale, stats, is_scale=True) if scale is not None else None
    if info.postprocessing:
        mean = ops.apply_all(ops.prepare_all(tuple(info.postprocessing), mean), mean)
    return mean.astype(np.float32), scale, r1.n_tiles


def _as_zyxc(y: np.ndarray, res_axes: str, relabel: str) -> np.ndarray:
    """A result of ``apply_network`` on a relabelled stack back to ``"ZYXC"`` (labels: Y=Z, S/X = Y/X)."""
    names = dict(zip(relabel, "ZYXC"))
    src = "".join(names[a] for a in res_axes)
    if "C" not in src:
        y, src = y[..., None], src + "C"
    return move_axes(y, src, "ZYXC")
