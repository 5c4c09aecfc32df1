"""The jobs every front end runs: load a model, restore one file, restore many files into a folder.

``care-bridge predict``, the Fiji macros (hosted through the bridge, standalone through the CLI) and the KNIME
Restorer all call these functions, with options parsed by :mod:`.options`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..describe import Restoration
from ..describe.readouts import image_name
from ..errors import CareBridgeError
from ..io import atomic_path, read_image, write_image
from ..io.frames import is_zarr
from ..io.preview import preview_frames, write_gif
from .calibration import output_meta
from .messages import error_line
from .naming import TIFF_SUFFIXES, output_path, readout_path, scale_path
from .options import RestoreOptions, parse_engine, parse_precision


@dataclass
class FileResult:
    """One restored file: where it came from and went, and the restoration itself."""

    input: Path
    output: Path
    scale_output: Path | None
    restoration: Restoration
    seconds: float = 0.0
    readout_outputs: tuple[Path, ...] = ()


@dataclass
class FileFailure:
    """One file that could not be restored, with the one-line reason."""

    input: Path
    output: Path
    message: str


def load_restorer(source: str | os.PathLike, engine: str = "auto", precision: str = "fp32"):
    """A :class:`~care_bridge.runtime.Restorer` for ``source``: a bundle (``.zip`` or unpacked folder) or a
    care_bridge model folder (Keras; needs the ``train`` extra), running at ``precision`` (``fp32`` unless asked;
    see :func:`~.options.parse_precision`). Cached by path, modification time, engine and precision, so a folder
    of images (or repeated bridge calls) loads a bundle once."""
    engine = parse_engine(engine)  # a bad option is named before any file is looked at
    precision = parse_precision(precision)
    s = str(source).strip() if source is not None else ""
    if not s:
        raise CareBridgeError("no bundle given; choose a CARE bundle (.zip), e.g. bundle=[/path/model.zip]")
    p = Path(s).expanduser()
    if not p.exists():
        raise CareBridgeError(f"bundle {p} does not exist; check the path")
    return _load_cached(str(p.resolve()), p.stat().st_mtime_ns, engine, precision)


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int, engine: str, precision: str = "fp32"):
    p = Path(path)
    if p.is_dir() and ((p / "config.yaml").is_file() or (p / "ensemble.yaml").is_file()) and not (p / "rdf.yaml").is_file():
        if engine not in ("auto", "keras"):
            raise CareBridgeError(f"a model folder runs in Keras; engine {engine!r} needs a bundle "
                                  f"(care-bridge export {p} --out m.zip)")
        if precision != "fp32":
            raise CareBridgeError(f"a model folder runs in Keras at fp32; precision {precision} needs a bundle "
                                  f"(care-bridge export {p} --out m.zip)")
        try:
            from ..models.keras_engine import load_model_folder_restorer
        except ImportError as e:
            raise CareBridgeError(f"model folders need the 'train' extra ({e}); pip install 'care_bridge[train]'") from e
        return load_model_folder_restorer(p)
    from .. import runtime

    return runtime.load(p, engine=engine, precision=precision)


def input_axes(restorer, ndim: int, file_axes: str | None, given: str | None) -> str:
    """Axes of an input image: ``given``, else the file's own (ImageJ) axes, else inferred from the model."""
    info = restorer.info
    if given:
        return given.upper()
    if file_axes and len(file_axes) == ndim:
        return file_axes
    net = info.axes
    if ndim == len(net):
        return net
    if ndim == len(net) + 1 and info.n_channel_in > 1:
        return "C" + net
    raise CareBridgeError(
        f"cannot tell the axes of a {ndim}D image for a {net} model; pass axes explicitly (e.g. Z{net} or T{net})"
    )


def output_format_for(meta, options: RestoreOptions) -> str:
    """The output's format: the one asked for, else the input's (an OME-TIFF gives an OME-TIFF; an ImageJ or
    plain TIFF an ImageJ hyperstack)."""
    if options.output_format != "auto":
        return options.output_format
    return "ome-tiff" if meta.format == "ome-tiff" else "imagej"


def readout_outputs(output: Path, request) -> list[Path]:
    """The files the requested readouts of restoring into ``output`` go to (:func:`readout_path`): one TIFF per
    readout in :meth:`Readouts.images` order, and the samples' GIF preview."""
    paths = [readout_path(output, image_name(f, request.level)) for f in request.image_fields]
    if request.samples:
        paths.append(readout_path(output, "samples", ".gif"))
    return paths


def restore_file(restorer, input_path: str | os.PathLike, output_path_: str | os.PathLike,
                 options: RestoreOptions = RestoreOptions(), *, progress: bool = False, stream: bool = False,
                 workers: int | None = None, scheduler: str | None = None, resume: bool = False) -> FileResult:
    """Restore one image into ``output_path_`` (float32 ImageJ TIFF calibrated by :func:`output_meta`); a
    probabilistic model also writes :func:`scale_path`, and the requested readouts go to
    :func:`readout_outputs` (``OUT_std.tif``, ``OUT_disagreement.tif``, ``OUT_lower90.tif``, ``OUT_upper90.tif``,
    ``OUT_samples.tif`` with the draws along T, and ``OUT_samples.gif``). Never writes over the input; refuses
    existing outputs unless ``options.overwrite``; nothing is renamed into place before every file is written
    (temporary files + rename)."""
    t0 = time.perf_counter()
    inp, out = Path(input_path), Path(output_path_)
    if out.exists() and inp.exists() and out.resolve() == inp.resolve():
        raise CareBridgeError(f"output {out} is the input file; choose another output path")
    from .stream import restore_stream, too_big_for_memory, wants_stream

    if wants_stream(inp, out, options, workers=workers, scheduler=scheduler, resume=resume, stream=stream) \
            or too_big_for_memory(inp, options):
        res = restore_stream(restorer, inp, out, options, workers=workers, scheduler=scheduler, resume=resume,
                             progress=progress)
        return FileResult(inp, out, None, res, time.perf_counter() - t0)
    sp = scale_path(out) if restorer.info.probabilistic else None
    extra = readout_outputs(out, options.readouts)
    for p in (out, sp, *extra):
        if p is not None and p.exists() and not options.overwrite:
            raise CareBridgeError(f"output {p} already exists; choose another path or pass --overwrite")
    image, meta = read_image(inp, max_bytes=options.memory_budget)  # declared size checked before decoding
    ax = input_axes(restorer, image.ndim, meta.axes, options.axes)
    res = restorer.restore(image, ax, n_tiles=options.n_tiles, memory_budget=options.memory_budget,
                           progress=progress, readouts=options.readouts, planewise=options.planewise,
                           channels=options.channels)
    out_meta = output_meta(meta, restorer, ax, image.shape, channels=options.channels)
    fmt = output_format_for(meta, options)
    dtype = image.dtype if options.dtype == "input" else None
    files: list[tuple[Path, object]] = [(out, lambda t: write_image(t, res.image, res.axes, overwrite=True,
                                                                   meta=out_meta, format=fmt, dtype=dtype))]
    if sp is not None and res.scale is not None:  # a Laplace scale and the readouts stay float32
        files.append((sp, lambda t: write_image(t, res.scale, res.axes, overwrite=True, meta=out_meta, format=fmt)))
    for (name, arr, stacked), path in zip(res.readouts.images(), extra):
        files.append((path, lambda t, a=arr, st=stacked: write_image(t, a, ("T" if st else "") + res.axes,
                                                                    overwrite=True, meta=out_meta, format=fmt)))
    if res.readouts.samples is not None:
        frames = preview_frames(res.readouts.samples, "T" + res.axes)
        files.append((extra[-1], lambda t: write_gif(t, frames, overwrite=True)))
    with contextlib.ExitStack() as stack:  # every file is written to its temporary path, then all are renamed
        for path, write in files:
            write(stack.enter_context(atomic_path(path, overwrite=options.overwrite)))
    return FileResult(inp, out, sp, res, time.perf_counter() - t0, tuple(extra))


def expand_inputs(spec: str | os.PathLike) -> list[Path]:
    """A file, a folder (its TIFFs, sorted; hidden files skipped) or a glob pattern → sorted TIFF paths."""
    spec = str(spec)
    p = Path(spec)
    if is_zarr(p) and p.is_dir():
        return [p]
    if p.is_dir():
        files = sorted(q for q in p.iterdir()
                       if q.suffix.lower() in TIFF_SUFFIXES and q.is_file() and not q.name.startswith("."))
    elif p.is_file():
        files = [p]
    else:
        files = sorted(Path(f) for f in glob.glob(spec) if Path(f).is_file())
        if not files and not any(ch in spec for ch in "*?["):
            raise CareBridgeError(f"input {spec} does not exist; give a TIFF file, a folder or a glob pattern")
    if not files:
        raise CareBridgeError(f"no TIFF files match {spec}")
    return files


def restore_files(restorer, inputs: Sequence[Path], out_dir: str | os.PathLike,
                  options: RestoreOptions = RestoreOptions(), *, progress: bool = False,
                  on_result: Callable[[FileResult | FileFailure], None] | None = None,
                  ) -> list[FileResult | FileFailure]:
    """Restore each of ``inputs`` into ``out_dir`` under :func:`output_path` (``options.suffix``): the folder
    job of ``care-bridge predict DIR`` and CARE Restore Folder. A file that fails is reported (one line) and
    the others go on."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CareBridgeError(f"output {out} is a file; give a folder for several inputs")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CareBridgeError(f"output folder {out} cannot be created ({e.strerror}); choose another") from e
    names = [output_path(out, f, options.suffix).name for f in inputs]
    if len(set(names)) != len(names):
        raise CareBridgeError("two inputs would write the same output name; rename them or restore them separately")
    results: list[FileResult | FileFailure] = []
    for f in inputs:
        target = output_path(out, f, options.suffix)
        try:
            r: FileResult | FileFailure = restore_file(restorer, f, target, options, progress=progress)
        except Exception as e:  # noqa: BLE001 - an expected failure of one file must not stop the folder
            msg = error_line(e)
            if msg is None:
                raise
            r = FileFailure(f, target, msg)
        results.append(r)
        if on_result is not None:
            on_result(r)
    return results
