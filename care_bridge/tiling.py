"""Tiled prediction geometry (pure numpy): plan tiles, cut padded blocks, stitch.

Tile origins are multiples of the network's step (pool ** depth), so max-pooling windows fall on the same
pixels in every tile, and the halo (a multiple of the step) covers the receptive field. Two border rules:

- ``pad_halo=False`` (care_bridge bundles; CSBDeep's ``CARE.predict``): the image is conceptually padded only up
  to a multiple of the step (``symmetric``); a tile reads ``halo`` extra pixels where it has a neighbour and
  none beyond the image, where the network's own zero padding sees the image border exactly as in an untiled
  call. Border tiles are therefore ``halo`` smaller than interior ones, and an untiled call computes no halo.
- ``pad_halo=True`` (third-party bioimage.io bundles, as bioimageio.core does): the image is conceptually padded
  (``symmetric``) by the halo on every side as well, and every tile has the shape ``core + 2 * halo``.

A tile reads its block straight from the unpadded image with reflected indices, so no padded copy of the whole
image is ever made. Untiled prediction is the special case of one tile under the same rule, so tiled and
untiled results agree exactly (up to the engine's arithmetic).

**Fixed-size axes** (step 0: a network that runs at one size only, e.g. CAREamics' 128×128 exports): every tile
reads exactly that size, tiles overlap by the halo, start on multiples of :func:`fixed_alignment`, and the last
one is shifted back so it ends at the (conceptually padded) image end; an image smaller than the size is padded
(reflected) up to it. The number of tiles along such an axis follows from the size, not from ``n_tiles``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import CareBridgeError


@dataclass(frozen=True)
class Tile:
    """One tile. ``read`` are per-axis ``(start, stop)`` in image coordinates (may extend beyond the image:
    reflected); ``write`` is the region of the output it fills (image coordinates, clipped to the image);
    ``crop`` the same region in the tile's own (input-resolution) coordinates."""

    read: tuple[tuple[int, int], ...]
    write: tuple[slice, ...]
    crop: tuple[slice, ...]


@dataclass(frozen=True)
class TilePlan:
    shape: tuple[int, ...]  # image spatial shape
    n_tiles: tuple[int, ...]
    core: tuple[int, ...]  # output region per tile (multiple of step)
    halo: tuple[int, ...]  # multiple of step
    tiles: tuple[Tile, ...]

    @property
    def tile_shape(self) -> tuple[int, ...]:
        """The largest tile's shape (the memory a tile needs)."""
        return tuple(max(t.read[k][1] - t.read[k][0] for t in self.tiles) for k in range(len(self.shape)))


def _ceil_to(v: int, m: int) -> int:
    return -(-v // m) * m


FIXED_ALIGNMENT = 16


def fixed_alignment(size: int, halo: int = 0) -> int:
    """How far apart tiles along a fixed-size axis start: multiples of the largest power of two up to
    :data:`FIXED_ALIGNMENT` that divides ``size`` (a network that runs at one size has it divisible by its pooling
    factor; 16 is a U-Net of depth 4), so pooling windows fall on the same pixels in every tile; smaller if tiles
    that far apart would leave gaps between their outputs (``size - 2 * halo`` below it)."""
    a = math.gcd(size, FIXED_ALIGNMENT)
    while a > 1 and size - 2 * halo < a:
        a //= 2
    return a


def _fixed_axis(L: int, size: int, halo: int, pad_halo: bool) -> tuple[list, int, int, int]:
    """Tiles along a fixed-size axis (see the module): ``(per-tile (read, write, crop), stride, n, halo)``.

    Tiles read ``size`` pixels from aligned starts ``stride`` apart (the largest aligned step that keeps
    ``halo`` pixels on both sides of what a tile writes), the last one shifted back to end at the padded image
    end; each tile writes from where its own output becomes valid to where the next one's does."""
    a = fixed_alignment(size, halo)
    pad = halo if pad_halo else 0
    d0 = -pad  # the conceptually padded image [d0, d1): a multiple of the alignment long, so that every tile
    d1 = d0 + max(_ceil_to(L + 2 * pad, a), size)  # starts at the same phase of the pooling grid
    if d1 - d0 == size:  # one tile holds the (padded) image
        return [((d0, d0 + size), slice(0, L), slice(-d0, L - d0))], size - 2 * halo, 1, halo
    stride = (size - 2 * halo) // a * a
    if stride < 1:
        raise CareBridgeError(f"the network's fixed input size {size} leaves no output with a halo of {halo} pixels "
                              "per side, so the image cannot be tiled; give an image of at most that size")
    n = 1 + -(-(d1 - size - d0) // stride)
    starts = [min(d0 + i * stride, d1 - size) for i in range(n)]
    bounds = [0] + [min(max(r0 + halo, 0), L) for r0 in starts[1:]] + [L]
    axis = [((r0, r0 + size), slice(w0, w1), slice(w0 - r0, w1 - r0))
            for r0, w0, w1 in zip(starts, bounds, bounds[1:]) if w1 > w0]
    return axis, stride, len(axis), halo


def plan_tiles(
    shape: Sequence[int],
    n_tiles: Sequence[int],
    halo: Sequence[int],
    step: Sequence[int],
    min_size: Sequence[int] | None = None,
    *,
    pad_halo: bool = True,
) -> TilePlan:
    """Plan ``prod(n_tiles)`` tiles over a spatial ``shape`` (border rule ``pad_halo``: see the module).

    ``halo`` is rounded up to the step. Along each axis the core length is ``ceil(L / n)`` rounded up to the
    step; the last tile is shifted back so it ends at the padded image end (overlapping its neighbour) instead
    of running far past the image. ``n`` is reduced where the image is too small for that many tiles. An axis
    with step 0 has the fixed size ``min_size`` (see the module; its ``n_tiles`` entry is not used).
    """
    nd = len(shape)
    if not (len(n_tiles) == len(halo) == len(step) == nd):
        raise ValueError("shape, n_tiles, halo and step need one entry per spatial axis")
    if any(n < 1 for n in n_tiles):
        raise CareBridgeError(f"n_tiles must be >= 1 per axis, got {tuple(n_tiles)}")
    min_size = tuple(min_size) if min_size is not None else tuple(step)
    per_axis, cores, ns, halos = [], [], [], []
    for L, n, h, s, mn in zip(shape, n_tiles, halo, step, min_size):
        if s == 0:
            axis, core, n, h = _fixed_axis(L, mn, h, pad_halo)
            per_axis.append(axis)
            cores.append(core)
            ns.append(n)
            halos.append(h)
            continue
        h = _ceil_to(h, s)
        halos.append(h)
        padded = _ceil_to(L, s)
        n = min(n, max(1, padded // s))
        core = _ceil_to(math.ceil(L / n), s)
        while core + 2 * h < mn:  # tiny images: a tile must reach the network's minimum size
            core += s
        n = min(n, math.ceil(L / core))  # rounding can make fewer tiles enough
        starts = [min(i * core, max(0, _ceil_to(L, s) - core)) for i in range(n)]
        end = max(_ceil_to(L, s), _ceil_to(mn, s))  # the untiled tensor's end (a multiple of the step)
        axis = []
        for i, st in enumerate(starts):
            w0 = i * core if i > 0 else 0
            w1 = min(L, (i + 1) * core) if i < n - 1 else L
            w0 = max(w0, st)
            r0, r1 = st - h, st + core + h
            if not pad_halo:
                r0, r1 = max(r0, 0), min(r1, max(end, st + core))
                while r1 - r0 < mn:  # never below the network's minimum size (a tiny image: one tile); grow into
                    if r1 >= end and r0 >= s:  # the image rather than past its end, which an untiled call never sees
                        r0 -= s
                    else:
                        r1 += s
            axis.append(((r0, r1), slice(w0, w1), slice(w0 - r0, w1 - r0)))
        per_axis.append(axis)
        cores.append(core)
        ns.append(n)
    tiles = tuple(
        Tile(tuple(a[0] for a in combo), tuple(a[1] for a in combo), tuple(a[2] for a in combo))
        for combo in itertools.product(*per_axis)
    )
    return TilePlan(tuple(shape), tuple(ns), tuple(cores), tuple(halos), tiles)


def reflect_indices(start: int, stop: int, length: int) -> np.ndarray:
    """Indices ``start..stop-1`` mapped into ``[0, length)`` by symmetric reflection (``abc|cba|abc``)."""
    i = np.arange(start, stop)
    period = 2 * length
    i = np.mod(i, period)
    return np.where(i >= length, period - 1 - i, i)


def read_block(image: np.ndarray, read: Sequence[tuple[int, int]], n_lead: int = 0) -> np.ndarray:
    """The block ``read`` of the symmetrically padded ``image``, without padding the whole image.

    ``image`` has ``n_lead`` leading non-spatial axes (kept whole), then the spatial axes, then any trailing
    axes (e.g. channels, kept whole). Returns a new contiguous array.
    """
    sl: list = [slice(None)] * image.ndim
    fancy = []
    for k, (a, b) in enumerate(read):
        ax = n_lead + k
        L = image.shape[ax]
        if 0 <= a and b <= L:
            sl[ax] = slice(a, b)
        else:
            fancy.append((ax, reflect_indices(a, b, L)))
    block = image[tuple(sl)]
    for ax, idx in fancy:
        block = np.take(block, idx, axis=ax)
    return np.ascontiguousarray(block)


def auto_n_tiles(
    shape: Sequence[int],
    *,
    halo: Sequence[int],
    step: Sequence[int],
    bytes_per_voxel: float,
    memory_budget: float,
    pad_halo: bool = True,
    min_size: Sequence[int] | None = None,
) -> tuple[int, ...]:
    """Fewest tiles such that one tile's working memory (``bytes_per_voxel`` x tile voxels) fits the budget.

    Splits the axis with the largest current tile extent first (Z last in 3D only if it is smaller), which keeps
    tiles close to cubic and the halo overhead low. Fixed-size axes (step 0) are never split further: their tiles
    have the fixed size.
    """
    n = [1] * len(shape)
    for _ in range(10_000):
        plan = plan_tiles(shape, n, halo, step, min_size, pad_halo=pad_halo)
        if math.prod(plan.tile_shape) * bytes_per_voxel <= memory_budget:
            return tuple(plan.n_tiles)
        order = sorted(range(len(shape)), key=lambda k: -plan.core[k])
        for k in order:
            if step[k] and plan.core[k] > step[k]:
                n[k] = plan.n_tiles[k] + 1
                break
        else:
            return tuple(plan.n_tiles)
    return tuple(n)
