"""Restoring image files: read → restore → write (atomically), shared by the CLI, Fiji's standalone path and
KNIME nodes so that every front end writes the same bytes."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from ..errors import CareBridgeError
from ..io import ImageMeta, read_image, write_image
from .restore import Restoration, Restorer

TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass
class FileResult:
    input: Path
    output: Path
    scale_output: Path | None
    restoration: Restoration


def scale_path(output: str | Path) -> Path:
    """Where a probabilistic model's Laplace scale goes: ``OUT_scale.tif`` beside ``OUT.tif``."""
    p = Path(output)
    return p.with_name(p.stem + "_scale" + (p.suffix or ".tif"))


def output_axes_meta(meta: ImageMeta, restorer: Restorer) -> ImageMeta:
    """Calibration of the output: pixel sizes divided by the model's scale on each axis."""
    info = restorer.info
    px = dict(meta.pixel_size)
    for a, s in zip(info.axes, info.scale):
        if a in px and s:
            px[a] = px[a] / s
    return ImageMeta(axes=None, pixel_size=px, unit=meta.unit)


def input_axes(restorer: Restorer, ndim: int, file_axes: str | None, given: str | None) -> str:
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


def restore_file(
    restorer: Restorer,
    input_path: str | Path,
    output_path: str | Path,
    *,
    axes: str | None = None,
    n_tiles=None,
    memory_budget: float | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> FileResult:
    """Restore one TIFF into ``output_path`` (float32 ImageJ TIFF with the input's calibration); a
    probabilistic model also writes :func:`scale_path`. Never writes over the input."""
    inp, out = Path(input_path), Path(output_path)
    if out.exists() and inp.exists() and out.resolve() == inp.resolve():
        raise CareBridgeError(f"output {out} is the input file; choose another output path")
    sp = scale_path(out) if restorer.info.probabilistic else None
    for p in (out, sp):
        if p is not None and p.exists() and not overwrite:
            raise CareBridgeError(f"output {p} already exists; choose another path or pass --overwrite")
    image, meta = read_image(inp)
    ax = input_axes(restorer, image.ndim, meta.axes, axes)
    res = restorer.restore(image, ax, n_tiles=n_tiles, memory_budget=memory_budget, progress=progress)
    out_meta = output_axes_meta(meta, restorer)
    write_image(out, res.image, res.axes, overwrite=overwrite, meta=out_meta)
    if sp is not None and res.scale is not None:
        write_image(sp, res.scale, res.axes, overwrite=overwrite, meta=out_meta)
    return FileResult(inp, out, sp, res)


def expand_inputs(spec: str) -> list[Path]:
    """A file, a folder (its TIFFs) or a glob pattern → sorted list of TIFF paths."""
    p = Path(spec)
    if p.is_dir():
        files = sorted(q for q in p.iterdir() if q.suffix.lower() in TIFF_SUFFIXES and q.is_file())
    elif p.is_file():
        files = [p]
    else:
        files = sorted(Path(f) for f in glob.glob(spec) if Path(f).is_file())
        if not files and not any(ch in spec for ch in "*?["):
            raise CareBridgeError(f"input {spec} does not exist; give a TIFF file, a folder or a glob pattern")
    if not files:
        raise CareBridgeError(f"no TIFF files match {spec}")
    return files
