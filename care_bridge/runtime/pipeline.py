"""The stages of restoring an image with a network — the single place where a network is applied.

``statistics of the whole sample (prepare_input) → tiles with halo → normalize each block → engine → crop →
de-normalize (CARE) → stitch → postprocess the whole output``. :func:`apply_network` composes these stages for
one image of any axes; the mode procedures (:mod:`care_bridge.runtime.procedures`) compose the same public
functions (e.g. isotropic restoration normalizes once, upsamples, and applies the network to slices with
:data:`IDENTITY_OPS`).

CARE's intensity mapping (documented in the README): the input is normalized per channel with its own
percentiles ``p_low``/``p_high`` (``scale_range``); the network's output is mapped back with the *input's*
percentiles, ``y = y_n * (p_high - p_low) + p_low`` (a Laplace scale: ``s = s_n * (p_high - p_low)``), as
CSBDeep's ``PercentileNormalizer(do_after=True)`` does. A model with ``denormalize == "none"`` returns
normalized units.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..axes import check_axes, move_axes
from ..describe import ModelInfo, ReadoutRequest, Readouts, Restoration
from ..errors import CareBridgeError
from ..normalize import PercentileStats, apply_denormalization, check_finite
from ..tiling import TilePlan, auto_n_tiles, fixed_alignment, plan_tiles, read_block
from . import ops
from .engines import Engine
from .readouts import NO_READOUTS, ReadoutSink, check_request, member_distribution

# Bytes of working memory per tile when n_tiles is automatic and no --memory-budget is given. 512 MiB since
# 2026-12-02 (1 GiB before): measured on 2 idle vCPUs with OpenVINO fp32 (benchmarks/csbdeep_side_by_side.py and
# the README's table), it keeps the whole restoration under a third of csbdeep's peak in every case measured
# (2048²: 0.59 GB; 32x512²: 0.66 GB; 64x512²: 0.78 GB) while staying 1.2-2.0x faster than csbdeep's fastest
# configuration; 1 GiB was 8-30 % faster but peaked at 0.34-0.47 of csbdeep's memory in 3D.
DEFAULT_MEMORY_BUDGET = 512 << 20
# the network receives already normalized data: its preprocessing becomes a float32 cast
IDENTITY_OPS: tuple[dict, ...] = ({"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},)

TileCounts = int | Sequence[int] | None


def spread_tiles(n: int, nd: int) -> tuple[int, ...]:
    """An integer tile count split over the last two axes (Y, X) by factors of 2: 4 → (2, 2), in 3D
    (1, 2, 2); an odd count goes to one axis (3 → (1, 3))."""
    if n < 1:
        raise CareBridgeError(f"n_tiles must be >= 1, got {n}")
    out = [1] * nd
    k = nd - 1
    while n > 1:
        f = 2 if n % 2 == 0 else n
        out[k] *= f
        n //= f
        k = nd - 1 if k == max(0, nd - 2) else max(0, nd - 2)
    return tuple(out)


def tile_counts(n_tiles: TileCounts, axes: str) -> tuple[int, ...] | None:
    """``n_tiles`` as one count per axis of ``axes`` (None: automatic). An int spreads over Y and X
    (:func:`spread_tiles`); a sequence needs one positive value per axis."""
    nd = len(axes)
    if n_tiles is None:
        return None
    if isinstance(n_tiles, (int, np.integer)) and not isinstance(n_tiles, bool):
        return spread_tiles(int(n_tiles), nd)
    t = tuple(int(v) for v in n_tiles)
    if len(t) != nd:
        raise CareBridgeError(f"n_tiles needs {nd} values (one per axis of {axes}), got {len(t)}; "
                              f"e.g. {','.join(['2'] * nd)} or one number such as 4")
    if any(v < 1 for v in t):
        raise CareBridgeError(f"n_tiles must be >= 1 per axis, got {t}")
    return t


def bytes_per_voxel(info: ModelInfo, n_first: int = 32, engine: Engine | None = None) -> float:
    """Working memory per input voxel of one tile of a U-Net.

    Generic estimate: float32 feature maps alive at the finest level (input, two convolutions, skip and
    concatenation ~ 5 x n_first channels), doubled for the engine's scratch space (1304 B for one channel in and
    out). An ``engine`` with a ``bytes_per_voxel`` attribute ({number of spatial axes: bytes}, measured on the
    CARE default network of that dimension, 32 first filters, one channel in and out) gives its own figure,
    scaled by the same feature-map count (care_bridge's own networks only: a third-party bundle's architecture
    is unknown, it keeps the generic estimate). Measured by ``benchmarks/tile_memory.py`` (peak RSS minus the loaded
    engine's, one tile, fresh process; 2-core Intel Xeon, 2026-12-02), bytes per voxel of 512²-1536² / 16x128²-
    32x256² tiles: onnxruntime 1056-1243 (2D), 684-808 (3D); openvino fp32 778-780 / 738-748; openvino bf16
    398-405 / 384-391 (before the engine compiled static shapes; since: fp32 515-524, bf16 269-282 in 2D and
    3D); tensorflow 520-800 / 533-773 (the smallest tiles highest). A whole restoration needs
    more with ONNX Runtime, whose arena grows over tiles of several shapes (3D: 1245-1376 B per tile voxel beyond
    the image), so ONNX Runtime keeps the generic 1304; OpenVINO's whole restorations match its first tile."""
    maps = 5 * n_first + info.n_channel_in + 2 * info.n_channel_out
    measured = (getattr(engine, "bytes_per_voxel", None) or {}).get(len(info.axes))
    if measured and info.mode != "bioimageio":
        return float(measured) * maps / (5 * 32 + 1 + 2)
    return 4.0 * maps * 2


def whole_image_bytes(info: ModelInfo, geometry: dict, shape: Sequence[int], axes: str, itemsize: int,
                      readouts: ReadoutRequest = NO_READOUTS) -> int:
    """Estimated memory a restoration holds besides its tiles (bytes): the input as given, a float copy of one
    sample for its percentiles, and each output plane (restoration, Laplace scale, readouts; float32) twice —
    the working array and the contiguous result a front end writes. ``geometry``: the mode's output geometry
    for this image (:attr:`care_bridge.modes.Mode.geometry`); ``shape``/``axes``: the image's."""
    in_vox = math.prod(shape)
    looped = math.prod(n for a, n in zip(axes, shape) if a in "ST")
    out_vox = math.prod(g.size for g in geometry.values()) * looped
    planes = info.n_channel_out * (2 if info.probabilistic else 1)
    planes += info.n_channel_out * (int(readouts.std) + int(readouts.disagreement) + 2 * int(readouts.interval)
                                    + readouts.samples)
    return int(in_vox * itemsize + 8 * in_vox // max(looped, 1) + 2 * 4 * out_vox * planes)


def tile_budget(info: ModelInfo, whole: int, memory_budget: float | None, available: int | None) -> float | None:
    """The memory left for tiles once the whole-image arrays (``whole`` bytes, :func:`whole_image_bytes`) are
    counted: ``memory_budget`` is the whole process' working memory when given (a one-line error if even the
    smallest tile does not fit in what is left); without it tiles get :data:`DEFAULT_MEMORY_BUDGET` and the
    whole image must fit in the ``available`` memory."""
    if memory_budget is None:
        if available is not None and whole > available:
            raise CareBridgeError(f"restoring this image needs about {_gib(whole)} of memory for the image and its "
                                  f"outputs, but only {_gib(available)} is available; crop or split the image")
        return None
    smallest = math.prod(m + 2 * h for m, h in zip(info.min_size or info.step, info.halo)) * bytes_per_voxel(info)
    left = memory_budget - whole
    if left < smallest:
        raise CareBridgeError(f"restoring this image needs about {_gib(whole + smallest)} of memory (the image, its "
                              f"outputs and one tile), over the memory budget of {_gib(memory_budget)}; raise "
                              "--memory-budget or crop the image")
    return left


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def input_ops(info: ModelInfo) -> tuple[dict, ...]:
    """The network's preprocessing: the rdf's ops, or CARE's ``scale_range`` with the model's percentiles."""
    if info.preprocessing:
        return tuple(info.preprocessing)
    return ({"id": "scale_range", "kwargs": {"axes": [a.lower() for a in info.axes],
                                             "min_percentile": info.percentile_low,
                                             "max_percentile": info.percentile_high, "eps": info.eps}},)


def prepare_input(pre_ops: tuple[dict, ...], sample: np.ndarray) -> tuple[list[ops.PreparedOp], PercentileStats | None]:
    """Statistics of one whole sample ``"<spatial>C"`` (never of a tile): the prepared elementwise ops and,
    when the first op is ``scale_range``, its percentiles (CARE's de-normalization needs them)."""
    prepared = ops.prepare_all(pre_ops, sample)
    stats = prepared[0].stats if prepared and pre_ops[0].get("id") == "scale_range" else None
    return prepared, stats


def denormalize(info: ModelInfo, y: np.ndarray, stats: PercentileStats | None, *, is_scale: bool) -> np.ndarray:
    """CARE's output mapping with the input's percentiles (a no-op for ``denormalize == "none"``)."""
    y = np.array(y, dtype=np.float32)
    if info.denormalize == "input_percentiles" and stats is not None:
        if info.n_channel_in not in (1, info.n_channel_out):
            raise CareBridgeError(
                f"cannot map {info.n_channel_out} output channels back with {info.n_channel_in} input "
                "channels' percentiles; the model should declare denormalize: none")
        y = apply_denormalization(y, stats, is_scale=is_scale)
    return y


def postprocess(info: ModelInfo, y: np.ndarray) -> np.ndarray:
    """The rdf's postprocessing on one whole stitched output ``"<spatial>C"``."""
    if not info.postprocessing:
        return y
    return ops.apply_all(ops.prepare_all(tuple(info.postprocessing), y), y)


def pads_halo(info: ModelInfo) -> bool:
    """The border rule (:mod:`care_bridge.tiling`): care_bridge networks see the image border as in CSBDeep (no
    halo padding beyond the image: the network's zero padding, as in training); third-party bioimage.io bundles
    get the halo padded symmetrically, as bioimageio.core does."""
    return info.mode == "bioimageio"


def declares_no_halo(info: ModelInfo) -> bool:
    """A third-party bundle that declares no halo (CAREamics exports none): tiles need its measured receptive
    field (:func:`measure_halo`), or seams show at their borders (issue #13: 2x2 tiles changed a CAREamics
    restoration by 85% of its range)."""
    return info.mode == "bioimageio" and not any(info.halo)


def choose_tiles(info: ModelInfo, shape: tuple[int, ...], n_tiles: TileCounts,
                 memory_budget: float | None, *, halo: tuple[int, ...] | None = None,
                 engine: Engine | None = None) -> tuple[int, ...]:
    """Tiles per network axis: the requested counts, or as many as one tile's working memory needs to fit
    ``memory_budget`` bytes (default :data:`DEFAULT_MEMORY_BUDGET`, 512 MiB). An axis the network reduces
    (projection) is never split.

    ``halo``: the overlap when it is not the declared one (a measured receptive field, :func:`tiling_halo`,
    with the network border rule). Without it, a third-party bundle that declares no halo is never tiled (asking
    for tiles is a one-line error)."""
    t = tile_counts(n_tiles, info.axes)
    measured = halo is not None
    if not measured and declares_no_halo(info):
        if t is not None and any(v > 1 for v in t):
            raise CareBridgeError("this bundle declares no halo, so tiles would show seams at their borders; restore "
                                  "it untiled (n_tiles none) or ask its authors to declare the output halo")
        return (1,) * len(info.axes)
    if t is None:
        t = auto_n_tiles(shape, halo=halo if measured else info.halo, step=info.step,
                         bytes_per_voxel=bytes_per_voxel(info, engine=engine),
                         memory_budget=memory_budget or DEFAULT_MEMORY_BUDGET,
                         pad_halo=pads_halo(info) and not measured,
                         min_size=info.min_size if 0 in info.step else None)
    out_net = info.output_spatial_axes
    return tuple(n if a in out_net else 1 for a, n in zip(info.axes, t))


def tiling_halo(engine: Engine, info: ModelInfo, shape: tuple[int, ...], n_tiles: TileCounts,
                memory_budget: float | None) -> tuple[tuple[int, ...], bool]:
    """``(halo, pad_halo)`` for tiling an image of spatial ``shape``: the declared halo with the
    bundle's border rule (:func:`pads_halo`); for a bundle that declares none, the receptive field measured on
    the engine (:func:`measure_halo`, once per engine, only if the image needs more than one tile) with the
    network border rule, so that the tiles reproduce the untiled result."""
    if not declares_no_halo(info):
        return tuple(info.halo), pads_halo(info)
    zero = tuple(info.halo)
    one = plan_tiles(shape, choose_tiles(info, shape, n_tiles, memory_budget, halo=zero, engine=engine), zero,
                     info.step, info.min_size, pad_halo=False)
    if len(one.tiles) == 1:  # one tile: nothing to overlap (the same block as with any halo under this rule)
        return zero, False
    return measure_halo(engine, info), False


PROBE_START = {2: 64, 3: 32}  # first probe size per axis by number of spatial axes; doubled while too small
PROBE_MAX = {2: 512, 3: 160}
PROBE_RELATIVE = 1e-6  # an output pixel "changes" when it moves by more than this fraction of the largest change


def measure_halo(engine: Engine, info: ModelInfo) -> tuple[int, ...]:
    """The receptive-field radius (input pixels per side, per network axis) of a network whose bundle declares no
    halo, measured on ``engine`` itself and cached on it; one line on stderr says so.

    A random input (standard normal, the normalized range) is run, and again with one pixel changed (the first,
    then the last pixel of a cell of the step grid: see :func:`_probe`), with two different backgrounds (a ReLU
    that is off in one may be on in the other); every output pixel that changes by more than
    :data:`PROBE_RELATIVE` of the largest change counts. The radius is the farthest such pixel from the changed
    one, rounded up to the step. A probe whose changes reach its border is doubled (up to :data:`PROBE_MAX`);
    along a fixed-size axis the probe has that size, and a field reaching its border is a one-line error."""
    cached = getattr(engine, "measured_halo", None)
    if cached is not None:
        return cached
    nd = len(info.axes)
    align = [st if st else fixed_alignment(mn) for st, mn in zip(info.step, info.min_size)]
    size = [mn if st == 0 else _valid_size(max(mn, PROBE_START.get(nd, 32)), mn, st)
            for st, mn in zip(info.step, info.min_size)]
    while True:
        radius, touches = _probe(engine, info, size, align)
        grow = [k for k in touches if info.step[k]]
        stuck = [k for k in touches if not info.step[k] or size[k] * 2 > PROBE_MAX.get(nd, 160)]
        if stuck:
            k = stuck[0]
            fix = (f"give an image of at most {size[k]} pixels along {info.axes[k]}" if not info.step[k]
                   else "restore it untiled (n_tiles none)")
            raise CareBridgeError(f"this bundle declares no halo and its receptive field along {info.axes[k]} reaches "
                                  f"across the whole {size[k]}-pixel probe, so tiles cannot reproduce the untiled "
                                  f"result; {fix}")
        if not grow:
            break
        for k in grow:
            size[k] = _valid_size(size[k] * 2, info.min_size[k], info.step[k])
    halo = tuple(-(-r // a) * a for r, a in zip(radius, align))
    engine.measured_halo = halo
    sys.stderr.write(f"care-bridge: the bundle declares no halo; its receptive field measured on the {engine.name} "
                     f"engine is {', '.join(f'{a}={h}' for a, h in zip(info.axes, halo))} pixels, used as the tiles' "
                     "overlap\n")
    return halo


def _valid_size(want: int, mn: int, step: int) -> int:
    return mn + max(0, -(-(want - mn) // step)) * step


def _probe(engine: Engine, info: ModelInfo, size: list[int], align: list[int]) -> tuple[list[int], list[int]]:
    """One probe (see :func:`measure_halo`): per network axis the radius seen, and the axes whose changes reached
    the probe's border. The changed pixel is the first of a cell of the step grid (how far it reaches forward) or
    the last (how far back): with pooling, an input pixel influences whole pooling cells, so these two positions
    reach farthest."""
    nd = len(info.axes)
    cell = [(s // 2) // a * a for s, a in zip(size, align)]
    keep = [k for k, a in enumerate(info.axes) if a in info.output_spatial_axes]
    radius, touches = [0] * nd, set()
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        x0 = rng.standard_normal((1, *size, info.n_channel_in)).astype(np.float32)
        y0 = engine.run(x0)
        for last in (False, True):
            at = [c + (a - 1 if last else 0) for c, a in zip(cell, align)]
            x1 = x0.copy()
            x1[(0, *at)] += rng.choice(np.float32([-4.0, 4.0]), size=info.n_channel_in)
            y1 = engine.run(x1)
            d = np.zeros(np.asarray(y0[0]).shape[1:-1], np.float32)
            for a, b in zip(y0, y1):
                d = np.maximum(d, np.abs(np.asarray(b, np.float32) - np.asarray(a, np.float32))[0].max(axis=-1))
            if not d.max() > 0:
                continue
            changed = d > PROBE_RELATIVE * float(d.max())
            for j, k in enumerate(keep):
                hit = np.flatnonzero(changed.any(axis=tuple(i for i in range(changed.ndim) if i != j)))
                s = info.scale[k]
                lo, hi = math.floor(hit[0] / s), math.ceil((hit[-1] + 1) / s) - 1  # in input pixels
                radius[k] = max(radius[k], at[k] - lo, hi - at[k])
                if hit[0] == 0 or hit[-1] == changed.shape[j] - 1:
                    touches.add(k)
    return radius, sorted(touches)


@dataclass
class Sample:
    """One sample of a batch: its loop index, input ``"<net>C"``, prepared ops and statistics, and the output
    views it fills."""

    index: tuple
    x: np.ndarray
    prepared: list
    stats: PercentileStats | None
    out: np.ndarray
    scale_out: np.ndarray | None


def predict_batch(engine: Engine, info: ModelInfo, batch: list[Sample], plan: TilePlan, *, denorm: bool = True,
                  on_tile=None, sink: ReadoutSink | None = None) -> None:
    """Predict samples (each ``"<net>C"``) tile by tile into their outputs (``"<output net>C"``): for each tile,
    every sample's normalized block is stacked into one engine call (the batch axis ``S``); the outputs are
    cropped by the halo, mapped back (de-normalized) and written per sample, and ``sink`` receives each tile's
    readouts. The network sees each batch entry alone, so a sample's values do not depend on its batch."""
    keep = [k for k, a in enumerate(info.axes) if a in info.output_spatial_axes]
    for tile in tiles_by_shape(plan):
        blocks = np.stack([ops.apply_all(smp.prepared, read_block(smp.x, tile.read)) for smp in batch])
        ys = engine.run(blocks)
        check_engine_output(info, ys, blocks.shape, keep)
        dst, src = [], []
        for k in keep:
            s = info.scale[k]
            w, c = tile.write[k], tile.crop[k]
            dst.append(slice(int(round(w.start * s)), int(round(w.stop * s))))
            src.append(slice(int(round(c.start * s)), int(round(c.stop * s))))
        for b, smp in enumerate(batch):
            def back(y: np.ndarray, is_scale: bool, st=smp.stats) -> np.ndarray:
                return denormalize(info, y, st, is_scale=is_scale) if denorm else np.asarray(y, np.float32)

            crop = (b, *src)
            smp.out[tuple(dst)] = back(ys[0][crop], False)
            if smp.scale_out is not None:
                smp.scale_out[tuple(dst)] = back(ys[1][crop] * np.float32(info.scale_calibration), True)
            if sink is not None:
                mu, bb = member_distribution(info, [y[crop] for y in ys])
                sink.write(smp.index, tuple(dst), mu, bb, back)
            if on_tile is not None:
                on_tile()


def tiles_by_shape(plan: TilePlan) -> list:
    """The plan's tiles grouped by their block shape (raster order within a shape): engines that prepare per
    input shape (OpenVINO compiles one static shape at a time, ONNX Runtime re-plans on a new shape) then do
    so once per shape instead of at every change between border and inner tiles. Every tile writes its own
    region, so the order does not change the result."""
    def shape(t) -> tuple[int, ...]:
        return tuple(b - a for a, b in t.read)

    first = {}
    for t in plan.tiles:
        first.setdefault(shape(t), len(first))
    return sorted(plan.tiles, key=lambda t: first[shape(t)])


def check_engine_output(info: ModelInfo, ys: list[np.ndarray], in_shape: tuple[int, ...], keep: list[int]) -> None:
    """The weights must return what the description declares: one array per output, batch first, each kept
    spatial axis ``round(size * scale)`` long; otherwise a one-line error (a bundle whose rdf.yaml disagrees with
    its weights), not a broadcasting error while stitching."""
    want = tuple(int(round(in_shape[1 + k] * info.scale[k])) for k in keep)
    for name, y in zip(info.output_names, ys):
        got = tuple(y.shape[1:-1])
        if y.ndim != len(keep) + 2 or y.shape[0] != in_shape[0] or got != want:
            raise CareBridgeError(f"the weights returned output {name!r} of shape {list(y.shape)} where the "
                                  f"description declares {[in_shape[0], *want, '…']}; rdf.yaml does not match the "
                                  "weights (ask the bundle's authors)")
    if len(ys) < len(info.output_names):
        raise CareBridgeError(f"the weights returned {len(ys)} output(s), the description declares "
                              f"{len(info.output_names)}; rdf.yaml does not match the weights")


MAX_BATCH = 32


def batch_size(engine: Engine, info: ModelInfo, plan: TilePlan, n_samples: int, memory_budget: float | None) -> int:
    """How many samples (frames, slices) share one engine call: as many whole tiles as fit the memory budget
    (:func:`bytes_per_voxel` per voxel), at most the engine's ``max_batch`` (1 unless it says otherwise),
    :data:`MAX_BATCH` and the number of samples. Measured on the 2-core CPU (benchmarks/isotropic_side_by_side.py,
    32x256x256 isotropic x4): batching slices gained nothing (28.9 s batched, 27.2 s one by one) and cost memory,
    so CPU engines run one sample per call; GPU execution providers batch."""
    per_tile = math.prod(plan.tile_shape) * bytes_per_voxel(info, engine=engine)
    fit = int((memory_budget or DEFAULT_MEMORY_BUDGET) // max(per_tile, 1.0))
    return max(1, min(n_samples, MAX_BATCH, int(getattr(engine, "max_batch", 1)), fit))


def check_image(image: np.ndarray, axes: str) -> tuple[np.ndarray, str]:
    """``image`` as an array with checked ``axes``: numeric, non-empty, finite."""
    image = np.asarray(image)
    axes = check_axes(axes, image.ndim)
    if image.dtype.kind not in "uif":
        raise CareBridgeError(f"image dtype {image.dtype} is not numeric; give an integer or float image")
    if image.size == 0:
        raise CareBridgeError("image is empty (a dimension of size 0); check the file and axes")
    check_finite(image)
    return image, axes


def loop_axes_of(info: ModelInfo, axes: str, *, loop_z: bool = False) -> str:
    """The image axes looped over (``S``, ``T``; ``Z`` for a 2D network that may run plane by plane)."""
    net = info.axes
    missing = [a for a in net if a not in axes]
    if missing:
        raise CareBridgeError(f"the model needs axes {net!r} but the image has {axes!r} (no {''.join(missing)}); "
                              "check --axes")
    allowed = "ST" + ("Z" if loop_z and "Z" not in net else "")
    extra = [a for a in axes if a not in net and a != "C"]
    bad = [a for a in extra if a not in allowed]
    if bad:
        if "Z" in bad:
            raise CareBridgeError(f"this is a 2D model ({net}) and the image has a Z axis; restore it plane by plane "
                                  "(--planewise, planewise=true) or use a 3D model")
        raise CareBridgeError(f"axes {axes!r}: axis {''.join(bad)} cannot be handled by a {net} model")
    return "".join(a for a in "STZ" if a in extra)


def check_channels(info: ModelInfo, image: np.ndarray, axes: str) -> None:
    if "C" in axes:
        c = image.shape[axes.index("C")]
        if c != info.n_channel_in:
            raise CareBridgeError(f"the model expects {info.n_channel_in} channel(s) but the image has {c} along C; "
                                  "give an image with matching channels")
    elif info.n_channel_in != 1:
        raise CareBridgeError(f"the model expects {info.n_channel_in} channels but the image has no C axis; "
                              "add 'C' to --axes")


def apply_network(engine: Engine, info: ModelInfo, image: np.ndarray, axes: str, *, n_tiles: TileCounts = None,
                  memory_budget: float | None = None, progress: bool = False, loop_z: bool = False,
                  pre_ops: tuple[dict, ...] | None = None, denorm: bool = True,
                  readouts: ReadoutRequest = NO_READOUTS) -> Restoration:
    """Apply the network to ``image`` with axes ``axes``: normalization, tiles, stitching.

    Axes beyond the network's (``T``, ``S``; ``Z`` with ``loop_z`` for a 2D network) are looped over; ``C``
    must match the network's input channels. ``n_tiles``: tiles per network axis (an int spreads over Y and
    X), else chosen from ``memory_budget``. ``pre_ops`` replaces the network's preprocessing (e.g.
    :data:`IDENTITY_OPS` for data already normalized) and ``denorm=False`` keeps normalized units. Returns
    float32 with the input's axes order (plus ``C`` first if the model outputs several channels and the input
    had none), and the ``readouts`` asked for (:mod:`care_bridge.runtime.readouts`).
    """
    image, axes = check_image(image, axes)
    check_request(info, readouts, axes)
    loop_axes = loop_axes_of(info, axes, loop_z=loop_z)
    check_channels(info, image, axes)
    net = info.axes
    x = move_axes(image, axes, loop_axes + net + "C")  # a view; nothing is copied here
    spatial_shape = x.shape[len(loop_axes): len(loop_axes) + len(net)]
    out_net = info.output_spatial_axes
    halo, pad = tiling_halo(engine, info, spatial_shape, n_tiles, memory_budget)
    plan = plan_tiles(spatial_shape, choose_tiles(info, spatial_shape, n_tiles, memory_budget,
                                                  halo=halo if declares_no_halo(info) else None, engine=engine),
                      halo, info.step, info.min_size, pad_halo=pad)
    out_sp = tuple(int(round(L * s)) for a, L, s in zip(net, spatial_shape, info.scale) if a in out_net)
    loop_shape = x.shape[: len(loop_axes)]
    n_out = info.n_channel_out
    out = np.empty(loop_shape + out_sp + (n_out,), np.float32)
    scale_out = np.empty_like(out) if info.probabilistic else None
    sink = ReadoutSink(readouts, out.shape) if readouts.any else None
    pre = pre_ops if pre_ops is not None else input_ops(info)
    bar = _progress(progress, math.prod(loop_shape) * len(plan.tiles))
    indices = list(np.ndindex(*loop_shape))
    nb = batch_size(engine, info, plan, len(indices), memory_budget)
    for start in range(0, len(indices), nb):
        batch = []
        for idx in indices[start:start + nb]:
            prepared, stats = prepare_input(pre, x[idx])
            batch.append(Sample(idx, x[idx], prepared, stats, out[idx],
                                scale_out[idx] if scale_out is not None else None))
        predict_batch(engine, info, batch, plan, denorm=denorm, on_tile=bar.update if bar is not None else None,
                      sink=sink)
        if denorm:
            for smp in batch:
                out[smp.index] = postprocess(info, out[smp.index])
    if bar is not None:
        bar.close()
    bad = int(out.size - np.count_nonzero(np.isfinite(out)))
    if bad:  # finite input (checked above), non-finite output: overflow in the network or the mapping back
        raise CareBridgeError(f"the network produced {bad} non-finite value(s) from a finite image; its intensities "
                              "are probably far outside what the model was trained on (rescale or clip the input)")
    out_axes = loop_axes + out_net + "C"
    res_axes = "".join(a for a in axes if a in out_axes)
    squeeze = "C" not in res_axes and n_out == 1
    if "C" not in res_axes and n_out > 1:
        res_axes = "C" + res_axes

    def to_result(a: np.ndarray | None, stacked: bool = False) -> np.ndarray | None:
        return to_output_axes(a, out_axes, res_axes, squeeze=squeeze, stacked=stacked)

    found = sink.finish(to_result) if sink is not None else Readouts()
    return Restoration(to_result(out), res_axes, to_result(scale_out), engine.name, tuple(plan.n_tiles), found)


def to_output_axes(a: np.ndarray | None, src: str, dst: str, *, squeeze: bool, stacked: bool = False
                   ) -> np.ndarray | None:
    """A working array with axes ``src`` (channels last; with a leading draw/member axis if ``stacked``) as a
    contiguous array with axes ``dst``; ``squeeze`` drops the single channel first. None stays None."""
    if a is None:
        return None
    if squeeze:
        a, src = a[..., 0], src[:-1]
    if stacked:
        return np.ascontiguousarray(np.stack([move_axes(x, src, dst) for x in a]))
    return np.ascontiguousarray(move_axes(a, src, dst))


def _progress(enabled: bool, total: int):
    if not enabled or total <= 1:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="restoring", unit="tile", disable=os.environ.get("CARE_BRIDGE_NO_PROGRESS") == "1")
