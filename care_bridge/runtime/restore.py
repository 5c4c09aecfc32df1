"""The restoration pipeline: the single place where a network is applied to an image.

``image (any axes) → per sample: statistics on the whole image → tiles with halo → normalize block → engine →
crop → de-normalize → stitch``. Model folders, bundles, the CLI, Fiji and KNIME all come through here.

CARE's intensity mapping (documented in the README): the input is normalized per channel with its own
percentiles ``p_low``/``p_high`` (``scale_range``); the network's output is mapped back with the *input's*
percentiles, ``y = y_n * (p_high - p_low) + p_low`` (a Laplace scale: ``s = s_n * (p_high - p_low)``), as
CSBDeep's ``PercentileNormalizer(do_after=True)`` does. A model with ``denormalize == "none"`` returns
normalized units.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..axes import check_axes, move_axes
from ..errors import CareBridgeError
from ..normalize import PercentileStats, apply_denormalization, check_finite
from ..tiling import auto_n_tiles, plan_tiles, read_block
from . import ops
from .engines import Engine
from .info import ModelInfo

DEFAULT_MEMORY_BUDGET = 1 << 30  # bytes of working memory per tile when n_tiles is automatic


@dataclass
class Restoration:
    """Result of :meth:`Restorer.restore`: ``image`` (float32, axes ``axes``), the Laplace ``scale`` of a
    probabilistic model (same axes) or None, the engine that ran and the tiling used."""

    image: np.ndarray
    axes: str
    scale: np.ndarray | None
    engine: str
    n_tiles: tuple[int, ...]


def _parse_n_tiles(n_tiles, nd: int) -> tuple[int, ...] | None:
    if n_tiles is None:
        return None
    if isinstance(n_tiles, (int, np.integer)):
        n_tiles = _spread(int(n_tiles), nd)
    t = tuple(int(v) for v in n_tiles)
    if len(t) != nd:
        raise CareBridgeError(f"n_tiles needs {nd} values (one per spatial axis), got {len(t)}; e.g. {'2,' * (nd - 1)}2")
    if any(v < 1 for v in t):
        raise CareBridgeError(f"n_tiles must be >= 1 per axis, got {t}")
    return t


def _spread(n: int, nd: int) -> tuple[int, ...]:
    """An integer tile count split over the last axes (Y, X): 4 → (1, 2, 2) in 3D."""
    out = [1] * nd
    k = nd - 1
    while n > 1:
        f = 2 if n % 2 == 0 else n
        out[k] *= f
        n //= f
        k = nd - 1 if k == max(0, nd - 2) else max(0, nd - 2)
    return tuple(out)


def bytes_per_voxel(info: ModelInfo, n_first: int = 32) -> float:
    """Rough working memory per input voxel of a U-Net: float32 feature maps alive at the finest level
    (input, two convolutions, skip and concatenation ~ 5 x n_first channels), doubled for the engine's
    scratch space."""
    return 4.0 * (5 * n_first + info.n_channel_in + 2 * info.n_channel_out) * 2


class Restorer:
    """A loaded network (thin state: its :class:`ModelInfo` and an engine) that restores numpy images."""

    def __init__(self, info: ModelInfo, engine: Engine, *, source: str = ""):
        self.info = info
        self.engine = engine
        self.source = source

    def __repr__(self) -> str:
        return f"Restorer({self.info.name!r}, axes={self.info.axes!r}, engine={self.engine.name!r})"

    # -- public -------------------------------------------------------------------------------------------
    def restore(
        self,
        image: np.ndarray,
        axes: str,
        *,
        n_tiles: int | Sequence[int] | None = None,
        memory_budget: float | None = None,
        progress: bool = False,
    ) -> Restoration:
        """Restore ``image`` with axes ``axes`` (e.g. ``"YX"``, ``"ZYX"``, ``"CYX"``, ``"TZCYX"``), running
        whatever procedure the model declares (plain tiled prediction, or e.g. the isotropic
        rotate-restore-combine of :mod:`care_bridge.runtime.procedures`)."""
        from .procedures import PROCEDURES

        proc = PROCEDURES.get(self.info.mode)
        if proc is not None:
            return proc(self, image, axes, n_tiles=n_tiles, memory_budget=memory_budget, progress=progress)
        return self.apply_network(image, axes, n_tiles=n_tiles, memory_budget=memory_budget, progress=progress)

    def apply_network(
        self,
        image: np.ndarray,
        axes: str,
        *,
        n_tiles: int | Sequence[int] | None = None,
        memory_budget: float | None = None,
        progress: bool = False,
    ) -> Restoration:
        """Apply the network itself to ``image`` with axes ``axes``: normalization, tiles, stitching.

        Axes beyond the network's (``T``, ``S``; ``Z`` for a 2D network that declares plane-wise use) are
        looped over; ``C`` must match the network's input channels. ``n_tiles`` gives tiles per spatial axis
        (an int spreads over Y and X); without it tiles are chosen so one tile's working memory fits
        ``memory_budget`` bytes (default 1 GiB). Returns float32 with the input's axes order (plus ``C`` first
        if the model outputs several channels and the input had none).
        """
        info = self.info
        image = np.asarray(image)
        axes = check_axes(axes, image.ndim)
        if image.dtype.kind not in "uif":
            raise CareBridgeError(f"image dtype {image.dtype} is not numeric; give an integer or float image")
        if image.size == 0:
            raise CareBridgeError("image is empty (a dimension of size 0); check the file and axes")
        check_finite(image)
        net = info.axes
        missing = [a for a in net if a not in axes]
        if missing:
            raise CareBridgeError(
                f"the model needs axes {net!r} but the image has {axes!r} (no {''.join(missing)}); "
                "check --axes"
            )
        loop_axes = self._loop_axes(axes)
        if "C" in axes:
            c = image.shape[axes.index("C")]
            if c != info.n_channel_in:
                raise CareBridgeError(
                    f"the model expects {info.n_channel_in} channel(s) but the image has {c} along C; "
                    "give an image with matching channels"
                )
        elif info.n_channel_in != 1:
            raise CareBridgeError(
                f"the model expects {info.n_channel_in} channels but the image has no C axis; add 'C' to --axes"
            )
        work_axes = loop_axes + net + "C"
        x = move_axes(image, axes, work_axes)  # a view; nothing is copied here
        spatial_shape = x.shape[len(loop_axes) : len(loop_axes) + len(net)]
        out_net = self._output_spatial()
        tiles = self._choose_tiles(spatial_shape, n_tiles, memory_budget)
        plan = plan_tiles(spatial_shape, tiles, info.halo, info.step, info.min_size)
        out_shape_sp = tuple(
            int(round(L * s)) for a, L, s in zip(net, spatial_shape, info.scale) if a in out_net
        )
        loop_shape = x.shape[: len(loop_axes)]
        n_out = info.n_channel_out
        out = np.empty(loop_shape + out_shape_sp + (n_out,), np.float32)
        scale_out = np.empty_like(out) if info.probabilistic else None
        pbar = _progress(progress, math.prod(loop_shape) * len(plan.tiles))
        for idx in np.ndindex(*loop_shape):
            self._restore_one(x[idx], plan, out_net, out, scale_out, idx, pbar)
            if info.postprocessing:  # statistics of the whole stitched output, never of a tile
                post = ops.prepare_all(tuple(info.postprocessing), out[idx])
                out[idx] = ops.apply_all(post, out[idx])
        if pbar is not None:
            pbar.close()
        out_axes = loop_axes + out_net + "C"
        res_axes = "".join(a for a in axes if a in out_axes)
        if "C" not in res_axes:
            if n_out == 1:
                out = out[..., 0]
                scale_out = scale_out[..., 0] if scale_out is not None else None
                out_axes = out_axes[:-1]
            else:
                res_axes = "C" + res_axes
        result = move_axes(out, out_axes, res_axes)
        scale_res = move_axes(scale_out, out_axes, res_axes) if scale_out is not None else None
        return Restoration(
            np.ascontiguousarray(result),
            res_axes,
            np.ascontiguousarray(scale_res) if scale_res is not None else None,
            self.engine.name,
            tuple(plan.n_tiles),
        )

    # -- internals ----------------------------------------------------------------------------------------
    def _loop_axes(self, axes: str) -> str:
        net = self.info.axes
        allowed_loop = "ST"
        if "Z" not in net and (self.info.procedure.get("planewise") or self.info.mode == "isotropic"):
            allowed_loop += "Z"
        extra = [a for a in axes if a not in net and a != "C"]
        bad = [a for a in extra if a not in allowed_loop]
        if bad:
            if "Z" in bad:
                raise CareBridgeError(
                    f"this is a 2D model ({net}) and the image has a Z axis; restore plane by plane "
                    "(the bundle does not declare plane-wise use) or use a 3D model"
                )
            raise CareBridgeError(f"axes {axes!r}: axis {''.join(bad)} cannot be handled by a {net} model")
        return "".join(a for a in "STZ" if a in extra)

    def _output_spatial(self) -> str:
        lay = self.info.output_layout or ""
        sp = "".join(a for a in lay.upper() if a in "ZYX")
        return sp or self.info.axes

    def _choose_tiles(self, shape, n_tiles, memory_budget) -> tuple[int, ...]:
        info = self.info
        t = _parse_n_tiles(n_tiles, len(shape))
        if t is None:
            t = auto_n_tiles(
                shape,
                halo=info.halo,
                step=info.step,
                bytes_per_voxel=bytes_per_voxel(info),
                memory_budget=memory_budget or DEFAULT_MEMORY_BUDGET,
            )
        out_net = self._output_spatial()
        # an axis the network reduces (projection) cannot be split
        return tuple(n if a in out_net else 1 for a, n in zip(info.axes, t))

    def _restore_one(self, x, plan, out_net, out, scale_out, idx, pbar) -> None:
        """One sample ``x`` ("<net>C"): statistics, then tile by tile."""
        info = self.info
        pre_ops = self._pre_ops()
        prepared = ops.prepare_all(pre_ops, x)
        stats = prepared[0].stats if prepared and pre_ops[0].get("id") == "scale_range" else None
        net = info.axes
        keep = [k for k, a in enumerate(net) if a in out_net]
        for tile in plan.tiles:
            block = read_block(x, tile.read)
            block = ops.apply_all(prepared, block)[np.newaxis]
            ys = self.engine.run(block)
            dst, src = [], []
            for k in keep:
                s = info.scale[k]
                w, c = tile.write[k], tile.crop[k]
                dst.append(slice(int(round(w.start * s)), int(round(w.stop * s))))
                src.append(slice(int(round(c.start * s)), int(round(c.stop * s))))
            y = ys[0][(0, *src)]
            out[idx + tuple(dst)] = self._post(y, stats, is_scale=False)
            if scale_out is not None:
                scale_out[idx + tuple(dst)] = self._post(ys[1][(0, *src)], stats, is_scale=True)
            if pbar is not None:
                pbar.update(1)

    def _pre_ops(self) -> tuple[dict, ...]:
        info = self.info
        if info.preprocessing:
            return tuple(info.preprocessing)
        return (
            {
                "id": "scale_range",
                "kwargs": {
                    "axes": [a.lower() for a in info.axes],
                    "min_percentile": info.percentile_low,
                    "max_percentile": info.percentile_high,
                    "eps": info.eps,
                },
            },
        )

    def _post(self, y: np.ndarray, stats: PercentileStats | None, *, is_scale: bool) -> np.ndarray:
        info = self.info
        y = np.array(y, dtype=np.float32)
        if info.denormalize == "input_percentiles" and stats is not None:
            if info.n_channel_in not in (1, info.n_channel_out):
                raise CareBridgeError(
                    f"cannot map {info.n_channel_out} output channels back with {info.n_channel_in} input "
                    "channels' percentiles; the model should declare denormalize: none"
                )
            y = apply_denormalization(y, stats, is_scale=is_scale)
        return y


def _progress(enabled: bool, total: int):
    if not enabled or total <= 1:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="restoring", unit="tile", disable=os.environ.get("CARE_BRIDGE_NO_PROGRESS") == "1")
