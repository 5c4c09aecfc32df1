"""Restoring an image frame by frame: memory bounded by one frame, resumable, and optionally spread over a Dask
cluster — with the same bits as restoring the whole image at once.

The runtime normalizes every frame (each index of the outer time axis ``T``) with its own statistics, so a
frame restored alone equals the same frame of a whole-image restoration. :func:`restore_stream`:

1. opens the input lazily (:func:`care_bridge.io.frames.open_frames`: TIFF pages, OME-Zarr chunks, vendor files);
2. writes each restored frame into a hidden partial OME-Zarr store beside the output,
   ``.<output name>.partial.zarr``, and records it as done (``care_bridge_progress.json``, written atomically);
3. when every frame is done, finishes the output: an OME-Zarr output gets its lower-resolution levels and NGFF
   metadata and is renamed into place; a TIFF output is written frame by frame from the store to a temporary
   file that is renamed into place, and the store is removed.

An interrupted run leaves the partial store; ``resume=True`` continues it (the frames already done are not
recomputed; a store made by another job is refused). With ``workers`` (a local cluster of that many processes)
or ``scheduler`` (the address of a running ``dask.distributed`` scheduler), frames are Dask tasks: each worker
loads the bundle once (cached per process), reads its frame from the input, restores it and writes its chunk of
the store; failed tasks are retried twice. Workers must see the bundle, the input and the output folder at the
same paths (a shared file system, as on an HPC cluster). See docs/DISTRIBUTED.md.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..bundle.safe_zip import sha256_file
from ..describe import Restoration
from ..errors import CareBridgeError
from ..io import atomic_path
from ..io.frames import ZarrFrameWriter, is_vendor, is_zarr, open_frames
from ..io.tiff import FORMATS, OME_ORDER, cast_to, imagej_metadata
from .calibration import output_meta
from .options import RestoreOptions

MAX_RETRIES = 2


@dataclass
class StreamPlan:
    """What a streamed restoration will make: frames, the output's axes/shape/dtype and metadata."""

    n_frames: int
    frame_axes: str
    out_axes: str
    out_shape: tuple[int, ...]
    dtype: np.dtype
    meta: object


def partial_path(output: Path) -> Path:
    """Where the frames of a restoration into ``output`` are collected until it is complete."""
    return output.with_name(f".{output.name}.partial.zarr")


def wants_stream(input_path: Path, output: Path, options: RestoreOptions, *, workers: int | None = None,
                 scheduler: str | None = None, resume: bool = False, stream: bool = False) -> bool:
    """Whether a restoration goes frame by frame: asked for, distributed, resumed, or an OME-Zarr in or out."""
    return bool(stream or workers or scheduler or resume or is_zarr(input_path) or is_zarr(output)
                or is_vendor(input_path) or options.output_format == "ome-zarr")


def too_big_for_memory(input_path: Path, options: RestoreOptions) -> bool:
    """A TIFF time-lapse whose declared size does not fit in memory (``options.memory_budget``, else half the
    available memory) goes frame by frame instead of being refused."""
    if is_zarr(input_path) or is_vendor(input_path) or not input_path.is_file():
        return False
    from ..io.tiff import read_header
    from ..resources import available_memory

    try:
        header = read_header(input_path)
        reader_axes = open_frames(input_path, options.axes, max_frame_bytes=float("inf")).axes
    except CareBridgeError:
        return False  # the in-memory path names the problem
    room = options.memory_budget
    if room is None:
        avail = available_memory()
        room = avail / 2 if avail is not None else None
    return room is not None and header.nbytes > room and reader_axes[:1] == "T"


def _restore_kwargs(options: RestoreOptions) -> dict:
    return dict(n_tiles=options.n_tiles, memory_budget=options.memory_budget, planewise=options.planewise,
                channels=options.channels)


def _check(restorer, options: RestoreOptions) -> None:
    if options.readouts.any:
        raise CareBridgeError("reliability readouts are not written frame by frame yet; restore without --readouts, "
                              "or without streaming (no --stream/--workers/--dask/--resume, TIFF in and out)")
    if restorer.info.probabilistic or restorer.info.ensemble > 1:
        raise CareBridgeError("a probabilistic model's scale is not written frame by frame yet; restore it in memory "
                              "(no --stream/--workers/--dask/--resume, TIFF in and out)")


def restore_stream(restorer, input_path: str | os.PathLike, output_path: str | os.PathLike,
                   options: RestoreOptions = RestoreOptions(), *, workers: int | None = None,
                   scheduler: str | None = None, resume: bool = False, progress: bool = False):
    """Restore ``input_path`` into ``output_path`` frame by frame (see the module docstring). Returns the
    restoration's description (axes, engine, tiles of the first frame; no pixels: they are in the file)."""
    inp, out = Path(input_path), Path(output_path)
    _check(restorer, options)
    fmt = _out_format(inp, out, options)
    if out.exists() and not options.overwrite:
        raise CareBridgeError(f"output {out} already exists; choose another path or pass --overwrite")
    if not out.parent.is_dir():
        raise CareBridgeError(f"output folder {out.parent} does not exist; create it first")
    part = partial_path(out)
    if part.exists() and not resume and not options.overwrite:
        raise CareBridgeError(f"{part.name} holds the frames of an interrupted run; pass --resume to continue it or "
                              "--overwrite to start again")
    reader = open_frames(inp, options.axes)
    first = reader.read(0)
    res0 = restorer.restore(first, reader.frame_axes, **_restore_kwargs(options))
    plan = _plan(restorer, reader, res0, options)
    job = {"input": str(inp.resolve()), "bundle": str(restorer.source), "bundle_sha256": bundle_digest(restorer.source),
           "axes": reader.axes, "options": repr(_restore_kwargs(options)), "dtype": str(plan.dtype)}
    writer = ZarrFrameWriter(part, plan.out_shape, plan.out_axes, meta=plan.meta, dtype=plan.dtype,
                             resume=resume and part.exists(), job=job)
    todo = [i for i in range(plan.n_frames) if i not in writer.done]
    if 0 in todo:
        writer.write(0, cast_to(res0.image, plan.dtype))
        todo.remove(0)
    bar = _bar(progress, plan.n_frames, len(writer.done))
    try:
        if (workers or scheduler) and todo:
            _run_dask(restorer, reader, writer, todo, options, plan, workers=workers, scheduler=scheduler, bar=bar)
        else:
            for i in todo:
                res = restorer.restore(reader.read(i), reader.frame_axes, **_restore_kwargs(options))
                writer.write(i, cast_to(res.image, plan.dtype))
                if bar is not None:
                    bar.update()
    finally:
        reader.close()
        if bar is not None:
            bar.close()
    _finish(writer, out, fmt, plan, overwrite=options.overwrite)
    return Restoration(np.empty((0,), np.float32), plan.out_axes, None, res0.engine, res0.n_tiles)


def _out_format(inp: Path, out: Path, options: RestoreOptions) -> str:
    if options.output_format != "auto":
        return options.output_format
    if is_zarr(out):
        return "ome-zarr"
    if out.suffix.lower() in (".tif", ".tiff"):
        name = out.name.lower()
        if name.endswith((".ome.tif", ".ome.tiff")) or is_zarr(inp) or is_vendor(inp):
            return "ome-tiff"
        return _tiff_kind(inp)
    raise CareBridgeError(f"output {out.name}: give a .tif/.tiff or a .zarr path (or --output-format)")


def _tiff_kind(inp: Path) -> str:
    import tifffile

    with tifffile.TiffFile(inp) as tf:
        return "ome-tiff" if tf.is_ome else "imagej"


def _plan(restorer, reader, res0: Restoration, options: RestoreOptions) -> StreamPlan:
    looped = reader.axes[:1] == "T" and reader.frame_axes != reader.axes
    n = reader.n_frames if looped else 1
    out_axes = (reader.axes[0] if looped else "") + res0.axes
    shape = ((n,) if looped else ()) + tuple(res0.image.shape)
    frame_shape = reader.shape[1:] if looped else reader.shape
    full_in_shape = ((n,) if looped else ()) + tuple(frame_shape)
    meta = output_meta(reader.meta, restorer, reader.axes, full_in_shape, channels=options.channels)
    dtype = np.dtype(reader.dtype) if options.dtype == "input" else np.dtype(np.float32)
    return StreamPlan(n, reader.frame_axes, out_axes, shape, dtype, meta)


def _bar(enabled: bool, total: int, done: int):
    if not enabled or total <= 1:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc="frames", unit="frame",
                disable=os.environ.get("CARE_BRIDGE_NO_PROGRESS") == "1")


def _finish(writer: ZarrFrameWriter, out: Path, fmt: str, plan: StreamPlan, *, overwrite: bool) -> None:
    if fmt == "ome-zarr":
        writer.finish()
        if out.exists():
            if not overwrite:
                raise CareBridgeError(f"output {out} appeared while restoring; pass --overwrite to replace it")
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(writer.path, out)
        return
    if fmt not in FORMATS:
        raise CareBridgeError(f"unknown output format {fmt!r}")
    write_tiff_frames(out, writer.array, plan.out_axes, plan.meta, fmt, overwrite=overwrite)
    shutil.rmtree(writer.path, ignore_errors=True)


def write_tiff_frames(out: Path, array, axes: str, meta, fmt: str, *, overwrite: bool) -> None:
    """Write an array (a Zarr level; ``axes``, an outer ``T`` first if it has one) to a TIFF page by page, one
    frame in memory at a time: an ImageJ hyperstack (``TZCYX``, missing axes of size 1) or an OME-TIFF (the
    array's axes in OME order ``TCZYX``)."""
    import tifffile

    from ..axes import move_axes
    from ..io.ome import ome_metadata

    looped = axes[:1] == "T"
    frame_axes = axes[1:] if looped else axes
    n = array.shape[0] if looped else 1
    if fmt == "imagej":
        page_axes = "ZCYX"
    else:
        page_axes = "".join(a for a in OME_ORDER if a in frame_axes)
    size = dict(zip(axes, array.shape))
    shape_axes = ("T" if looped or fmt == "imagej" else "") + page_axes
    full_shape = tuple(size.get(a, 1) for a in shape_axes)

    def pages():
        for i in range(n):
            f = np.asarray(array[i] if looped else array[...])
            fa = frame_axes
            for a in "ZC":
                if a in page_axes and a not in fa:
                    f, fa = f[np.newaxis], a + fa
            f = move_axes(f, fa, page_axes)
            yield from f.reshape(-1, *f.shape[-2:])

    with atomic_path(out, overwrite=overwrite) as tmp:
        if fmt == "imagej":
            ij, kwargs = imagej_metadata(meta, has_time=looped, planes=math.prod(full_shape[:3]))
            tifffile.imwrite(tmp, pages(), shape=full_shape, dtype=array.dtype, imagej=True, metadata=ij, **kwargs)
        else:
            n_c = size.get("C", 1)
            md = ome_metadata(shape_axes, meta.pixel_size, meta.unit, meta.time_interval, meta.time_unit,
                              meta.channel_names, n_c)
            tifffile.imwrite(tmp, pages(), shape=full_shape, dtype=array.dtype, ome=True, photometric="minisblack",
                             metadata=md)


def bundle_digest(source: str | os.PathLike) -> str:
    """sha256 of the bundle a job restores with, so ``--resume`` never continues frames of a bundle that was
    replaced at the same path: a bundle file's bytes; a bundle folder's ``rdf.yaml`` (which pins every weight
    file's sha256, checked when the bundle is opened)."""
    p = Path(source)
    p = p / "rdf.yaml" if p.is_dir() else p
    return sha256_file(p) if p.is_file() else ""


# ------------------------------------------------------------------------------------------------------- Dask
@lru_cache(maxsize=2)
def _worker_restorer(bundle: str, engine: str, precision: str):
    """The restorer of a worker process: the bundle is loaded once per process and engine."""
    from .. import runtime

    return runtime.load(bundle, engine=engine, precision=precision)


@lru_cache(maxsize=2)
def _worker_reader(input_path: str, axes: str, mtime_ns: int):
    """The input of a worker process, opened once (its layout worked out once) for all its frames."""
    return open_frames(input_path, axes)


def restore_frame_task(bundle: str, engine: str, precision: str, input_path: str, axes: str, index: int,
                       store: str, kwargs: dict, dtype: str) -> int:
    """One Dask task: restore frame ``index`` of ``input_path`` and write it into level 0 of ``store`` (all paths
    absolute: the worker's working folder may be another)."""
    import zarr

    restorer = _worker_restorer(bundle, engine, precision)
    reader = _worker_reader(input_path, axes, Path(input_path).stat().st_mtime_ns)
    res = restorer.restore(reader.read(index), reader.frame_axes, **kwargs)
    arr = zarr.open_array(str(Path(store) / "0"), mode="r+")
    arr[index] = cast_to(res.image, np.dtype(dtype))
    return index


def _run_dask(restorer, reader, writer: ZarrFrameWriter, todo: list[int], options: RestoreOptions,
              plan: StreamPlan, *, workers: int | None, scheduler: str | None, bar) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as e:
        raise CareBridgeError("--workers/--dask need dask.distributed: pip install 'care_bridge[dask]'") from e
    if not restorer.source or not Path(restorer.source).exists():
        raise CareBridgeError("distributed restoration needs a bundle file the workers can open; give --bundle")
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="30s")
        else:
            # the cores are shared out: each worker's engine gets its part (two workers each using every core
            # measured 12-22% slower than one process on 2 cores)
            threads = max(1, (os.cpu_count() or 1) // int(workers))
            cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=40,
                                   env={"CARE_BRIDGE_ENGINE_THREADS": str(threads)})
            client = Client(cluster)
    except OSError as e:
        raise CareBridgeError(f"cannot reach the Dask scheduler {scheduler or 'of the local cluster'} ({e}); check "
                              "the address and that the scheduler is running") from e
    try:
        import uuid

        args = (str(Path(restorer.source).resolve()), restorer.engine.name,
                getattr(restorer.engine, "precision", "fp32"), str(reader.path.resolve()), reader.axes)
        run = uuid.uuid4().hex[:12]  # task keys unique to this run: two jobs on one scheduler never share one
        futures = [client.submit(restore_frame_task, *args, i, str(writer.path.resolve()), _restore_kwargs(options),
                                 str(plan.dtype), key=f"care-bridge-frame-{i}-{run}", retries=MAX_RETRIES,
                                 pure=False) for i in todo]
        for fut in as_completed(futures):
            try:
                writer.mark_done(fut.result())
            except CareBridgeError:
                raise
            except Exception as e:  # a task failed after its retries (a worker died each time, a damaged frame)
                raise CareBridgeError(f"a frame failed on the cluster after its retries ({type(e).__name__}: "
                                      f"{str(e)[:150]}); the frames done so far are kept, run again with "
                                      "--resume") from None
            if bar is not None:
                bar.update()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
