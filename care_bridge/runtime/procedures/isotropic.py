"""Isotropic reconstruction (Weigert et al., Nature Methods 2018, doi:10.1038/s41592-018-0216-7; as CSBDeep's
``IsotropicCARE.predict``), for every volume ``"ZYX"`` (+ ``C``) of the image (``T``/``S`` are looped):

1. normalize the whole *original* volume once with the model's percentiles (per channel), so every slice
   sees the same intensity mapping;
2. upsample Z by ``factor`` with linear interpolation (:func:`care_bridge.resample.upsample_z`:
   ``round((nz - 1) f) + 1`` planes, input plane ``k`` on plane ``k f``);
3. restore every XZ slice (Z as the network's first axis, X second, Y looped) and every YZ slice (Z first,
   Y second, X looped) with the 2D network — all channels of a slice jointly;
4. combine the two estimates voxel-wise: ``geometric`` (default, CSBDeep) ``sqrt(max(u1, 0) · max(u2, 0))``
   in normalized units, or ``mean`` ``(u1 + u2) / 2``. A probabilistic model's Laplace scale is
   ``max(s1, s2)``;
5. map back with the input percentiles (CARE's de-normalization), if the model declares it.

Tiles are counted on the image's axes ``(Z, Y, X)``: the XZ pass uses ``(tz, tx)``, the YZ pass ``(tz, ty)``;
an int spreads over Y and X. The result has the input's axes with Z of the upsampled size.
"""

from __future__ import annotations

import numpy as np

from ...axes import move_axes
from ...describe import ReadoutRequest, Readouts, Restoration
from ...errors import CareBridgeError
from ...modes.isotropic import IsotropicParams
from ...resample import upsample_z
from .. import ops
from ..readouts import NO_READOUTS, ReadoutSink, check_request
from ..pipeline import IDENTITY_OPS, apply_network, check_image, denormalize, input_ops, postprocess, \
    prepare_input, tile_counts, to_output_axes


def combine_estimates(u1: np.ndarray, u2: np.ndarray, how: str) -> np.ndarray:
    """Voxel-wise combination of the XZ- and YZ-slice estimates (normalized units), see module docstring."""
    if how == "geometric":
        return np.sqrt(np.maximum(u1, 0) * np.maximum(u2, 0)).astype(np.float32)
    if how == "mean":
        return ((u1 + u2) * np.float32(0.5)).astype(np.float32)
    raise CareBridgeError(f"unknown isotropic combination {how!r}; choose geometric or mean")


def restore_isotropic(restorer, image, axes: str, *, n_tiles=None, memory_budget=None,
                      progress: bool = False, readouts: ReadoutRequest = NO_READOUTS) -> Restoration:
    """Isotropic reconstruction of ``image`` (axes with ``Z``, ``Y``, ``X``; optional ``C``, ``T``, ``S``).
    Readouts of a probabilistic model come from the combined Laplace ``(combined mean, max(s1, s2))``."""
    info = restorer.info
    if info.ensemble > 1:
        raise CareBridgeError("isotropic reconstruction with an ensemble bundle is not supported; use a single "
                              "probabilistic isotropic model")
    params = info.procedure
    if not isinstance(params, IsotropicParams):
        raise CareBridgeError("this bundle's isotropic procedure has no parameters; re-export it")
    if info.axes != "YX":
        raise CareBridgeError(f"an isotropic model must be a 2D (YX) network, this one is {info.axes}")
    image, axes = check_image(image, axes)
    if not set("ZYX") <= set(axes):
        raise CareBridgeError(f"isotropic restoration needs a Z stack (axes with Z, Y and X), got {axes!r}")
    if image.shape[axes.index("Z")] < 2:
        raise CareBridgeError("the stack has a single Z plane; isotropic restoration needs at least 2")
    n_c = image.shape[axes.index("C")] if "C" in axes else 1
    if n_c != info.n_channel_in:
        raise CareBridgeError(f"the model expects {info.n_channel_in} channel(s) but the image has {n_c}")
    check_request(info, readouts, axes)
    tiles = tile_counts(n_tiles, "ZYX")
    loop = "".join(a for a in "TS" if a in axes)
    x = move_axes(image, axes, loop + "ZYXC")
    lead = x.shape[: len(loop)]
    means, scales, used, sink = [], [], (1, 1, 1), None
    for idx in np.ndindex(*lead):
        m, s, used, stats, (mn, sn) = _volume(restorer, params, x[idx], tiles, memory_budget, progress)
        means.append(m)
        scales.append(s)
        if readouts.any:
            sink = sink or ReadoutSink(readouts, lead + m.shape)
            sink.write(idx, tuple(slice(0, n) for n in m.shape[:-1]), mn[None], sn[None],
                       lambda y, is_scale, st=stats: denormalize(info, y, st, is_scale=is_scale))
    mean = np.stack(means).reshape(lead + means[0].shape)
    scale = np.stack(scales).reshape(lead + scales[0].shape) if info.probabilistic else None
    work = loop + "ZYXC"
    out_axes = axes if "C" in axes or info.n_channel_out == 1 else "C" + axes

    def to_result(a, stacked: bool = False):
        return to_output_axes(a, work, out_axes, squeeze="C" not in out_axes, stacked=stacked)

    found = sink.finish(to_result) if sink is not None else Readouts()
    return Restoration(to_result(mean), out_axes, to_result(scale), restorer.engine.name, used, found)


def _volume(restorer, params: IsotropicParams, vol: np.ndarray, tiles, memory_budget, progress):
    """One ``"ZYXC"`` volume → (mean, scale or None) ``"ZYXC"`` in image units, and the tiles used (Z, Y, X)."""
    info, engine = restorer.info, restorer.engine
    prepared, stats = prepare_input(input_ops(info), vol)  # statistics of the whole original volume
    xn = upsample_z(ops.apply_all(prepared, vol), params.factor, axes="ZYXC")
    t_xz = None if tiles is None else (tiles[0], tiles[2])
    t_yz = None if tiles is None else (tiles[0], tiles[1])
    common = dict(memory_budget=memory_budget, progress=progress, pre_ops=IDENTITY_OPS, denorm=False)
    # XZ slices: Y is the loop axis, the network sees (Z, X) as its (Y, X)
    r1 = apply_network(engine, info, xn, "YSXC", n_tiles=t_xz, **common)
    # YZ slices: X is the loop axis, the network sees (Z, Y) as its (Y, X)
    r2 = apply_network(engine, info, xn, "YXSC", n_tiles=t_yz, **common)
    u1, u2 = _as_zyxc(r1.image, r1.axes, "YSXC"), _as_zyxc(r2.image, r2.axes, "YXSC")
    mean = combine_estimates(u1, u2, params.combine)
    scale = None
    if info.probabilistic:
        scale = np.maximum(_as_zyxc(r1.scale, r1.axes, "YSXC"), _as_zyxc(r2.scale, r2.axes, "YXSC"))
    normalized = (mean.copy(), scale.copy() if scale is not None else None)
    mean = postprocess(info, denormalize(info, mean, stats, is_scale=False))
    if scale is not None:
        scale = denormalize(info, scale, stats, is_scale=True)
    used = (r1.n_tiles[0], r2.n_tiles[1], r1.n_tiles[1])
    return mean.astype(np.float32), scale, used, stats, normalized


def _as_zyxc(y: np.ndarray, res_axes: str, relabel: str) -> np.ndarray:
    """A result of ``apply_network`` on a relabelled stack back to ``"ZYXC"`` (labels: Y=Z, S/X = Y/X)."""
    names = dict(zip(relabel, "ZYXC"))
    src = "".join(names[a] for a in res_axes)
    if "C" not in src:
        y, src = y[..., None], src + "C"
    return move_axes(y, src, "ZYXC")
