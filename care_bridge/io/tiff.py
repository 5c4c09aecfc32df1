"""TIFF input/output with axes and metadata: ImageJ hyperstacks and OME-TIFF.

Read: axes, physical pixel sizes and unit, the time interval, channel names (OME), ImageJ's Info and slice
labels, and which convention the file follows (:attr:`ImageMeta.format`). Written: the same, in the format asked
for (``imagej`` hyperstack or ``ome-tiff``), float32 or the input's type (:func:`cast_to`).

A microscope file is untrusted input too: :func:`read_header` reads only the header, and :func:`read_image`
refuses, before decoding anything, an image whose declared size does not fit in memory (``max_bytes``, default
half the available memory) or that expands like a decompression bomb (:data:`BOMB_MIN_BYTES`,
:data:`BOMB_RATIO`); a file that turns out damaged while its pixels are decoded (truncated, mis-sized strips) is a
one-line error, never a partly zero image.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from ..axes import check_axes, move_axes
from ..errors import CareBridgeError
from ..resources import available_memory, format_bytes
from .atomic import atomic_path
from .ome import ome_metadata, parse_ome

IMAGEJ_ORDER = "TZCYX"
# a compressed image that decodes to more than BOMB_MIN_BYTES at more than BOMB_RATIO times its file size is
# refused as a likely decompression bomb (a 1 MB file of zlib tiles declaring 30000x30000 pixels): noisy microscopy
# compresses a few-fold, not hundreds of times; the same rule as for bundle zips (care_bridge.bundle.safe_zip)
BOMB_MIN_BYTES = 256 << 20
BOMB_RATIO = 200.0


FORMATS = ("imagej", "ome-tiff")
OME_ORDER = "TCZYX"


@dataclass
class ImageMeta:
    """What an image file says about its pixels: axes (if known), pixel sizes per spatial axis and their unit,
    the time between frames (``time_interval`` in ``time_unit``), channel names, ImageJ's Info text and slice
    labels, and the file's convention (``format``: ``imagej``, ``ome-tiff`` or ``tiff``)."""

    axes: str | None = None
    pixel_size: dict[str, float] = field(default_factory=dict)  # e.g. {"Z": 2.0, "Y": 0.1, "X": 0.1}
    unit: str | None = None
    time_interval: float | None = None
    time_unit: str | None = None
    channel_names: list[str] | None = None
    info: str | None = None
    labels: list[str] | None = None
    format: str = "tiff"


@dataclass(frozen=True)
class ImageHeader:
    """What a TIFF declares about its first series, read without decoding a pixel."""

    shape: tuple[int, ...]
    dtype: np.dtype
    file_bytes: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_header(path: str | os.PathLike) -> ImageHeader:
    """The declared shape and dtype of a TIFF's first series (no pixel data is read)."""
    p = _existing(path)
    try:
        with _quiet_tifffile(), tifffile.TiffFile(p) as tf:
            series = tf.series[0]
            return ImageHeader(tuple(int(n) for n in series.shape), np.dtype(series.dtype), p.stat().st_size)
    except Exception as e:  # tifffile raises many kinds
        raise CareBridgeError(f"cannot read {p} as TIFF ({type(e).__name__}: {_first_line(e)}); check the file") from e


def check_declared_size(header: ImageHeader, path: str | os.PathLike, max_bytes: float | None = None) -> None:
    """Refuse an image whose declared size cannot be decoded safely: more than ``max_bytes`` (default: half the
    available memory), or a decompression bomb (more than :data:`BOMB_MIN_BYTES` at over :data:`BOMB_RATIO`
    times the file's size)."""
    name = Path(path).name
    n = header.nbytes
    dims = "x".join(map(str, header.shape))
    if max_bytes is None:
        room = available_memory()
        max_bytes = room / 2 if room is not None else None
    if max_bytes is not None and n > max_bytes:
        raise CareBridgeError(f"{name} declares {dims} {header.dtype} pixels ({format_bytes(n)} decoded), more than "
                              f"the {format_bytes(max_bytes)} of memory this run may use; crop or split the image, or "
                              "raise --memory-budget on a larger machine")
    if n > BOMB_MIN_BYTES and n > BOMB_RATIO * max(header.file_bytes, 1):
        raise CareBridgeError(f"{name} declares {dims} {header.dtype} pixels ({format_bytes(n)}) in a "
                              f"{format_bytes(header.file_bytes)} file, {n / max(header.file_bytes, 1):.0f} times "
                              "its size; refusing a likely decompression bomb (save the image uncompressed if it "
                              "is genuine)")


def read_image(path: str | os.PathLike, *, max_bytes: float | None = None) -> tuple[np.ndarray, ImageMeta]:
    """Read a TIFF; return the array (squeezed of size-1 ImageJ axes) and its metadata.

    The declared size is checked first (:func:`check_declared_size` with ``max_bytes``); a file that turns out
    damaged while decoding (tifffile reports a truncated or mis-sized strip) is a one-line error."""
    p = _existing(path)
    check_declared_size(read_header(p), p, max_bytes)
    try:
        with _quiet_tifffile(), tifffile.TiffFile(p) as tf:
            series = tf.series[0]
            with _decode_warnings() as warned:
                arr = series.asarray()
            if warned:
                raise CareBridgeError(f"{p.name} is damaged ({warned[0]}); check the file or export it again")
            axes = series.axes.upper().replace("Q", "").replace("I", "Z")
            meta = _meta(tf)
    except CareBridgeError:
        raise
    except MemoryError:
        raise CareBridgeError(f"{p.name} does not fit in memory; crop or split the image") from None
    except Exception as e:  # tifffile raises many kinds
        raise CareBridgeError(f"cannot read {p} as TIFF ({type(e).__name__}: {_first_line(e)}); check the file") from e
    if len(axes) == arr.ndim and set(axes) <= set("TZCYXS"):
        keep = [i for i, a in enumerate(axes) if arr.shape[i] != 1 or a in "YX"]
        arr = arr.reshape([arr.shape[i] for i in keep])
        meta.axes = "".join(axes[i] for i in keep).replace("S", "C")
        if len(set(meta.axes)) != len(meta.axes):
            meta.axes = None
    return arr, meta


def _meta(tf: tifffile.TiffFile) -> ImageMeta:
    """The metadata of an open TIFF: OME-XML if the file is OME-TIFF, else ImageJ's description and the
    resolution tags."""
    meta = ImageMeta()
    if tf.is_ome:
        ome = parse_ome(tf.ome_metadata)
        meta.format = "ome-tiff"
        meta.pixel_size = dict(ome.get("pixel_size", {}))
        meta.unit = ome.get("unit")
        meta.time_interval, meta.time_unit = ome.get("time_interval"), ome.get("time_unit")
        meta.channel_names = ome.get("channel_names")
        if meta.pixel_size:
            return meta
    ij = tf.imagej_metadata or {}
    if tf.is_imagej:
        meta.format = "imagej"
    unit = ij.get("unit")
    meta.unit = meta.unit or (unit if isinstance(unit, str) else None)
    page = tf.pages[0]
    for tag, letter in (("XResolution", "X"), ("YResolution", "Y")):
        t = page.tags.get(tag)
        if t is not None and isinstance(t.value, tuple) and len(t.value) == 2:
            num, den = t.value
            if num and den and num / den not in (0, 1):
                meta.pixel_size[letter] = den / num
    with contextlib.suppress(TypeError, ValueError):
        if "spacing" in ij and float(ij["spacing"]) > 0:
            meta.pixel_size["Z"] = float(ij["spacing"])
    with contextlib.suppress(TypeError, ValueError):
        if meta.time_interval is None and "finterval" in ij and float(ij["finterval"]) > 0:
            meta.time_interval = float(ij["finterval"])
            tunit = ij.get("tunit")
            meta.time_unit = tunit if isinstance(tunit, str) else "s"
    if isinstance(ij.get("Info"), str):
        meta.info = ij["Info"]
    labels = ij.get("Labels")
    if isinstance(labels, (list, tuple)) and all(isinstance(x, str) for x in labels):
        meta.labels = list(labels)
    return meta


def cast_to(image: np.ndarray, dtype: np.dtype | str | None) -> np.ndarray:
    """``image`` in ``dtype`` (None: float32): integers are rounded half to even and clipped to the type's range
    (a restoration can undershoot 0 or overshoot the maximum); floats are cast."""
    dt = np.dtype(dtype) if dtype is not None else np.dtype(np.float32)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        return np.clip(np.rint(image), info.min, info.max).astype(dt)
    if dt.kind == "f":
        return image.astype(dt, copy=False)
    raise CareBridgeError(f"cannot write pixels as {dt}; choose float32 or the input's integer type")


def imagej_metadata(meta: ImageMeta, *, has_time: bool, planes: int) -> tuple[dict, dict]:
    """``(metadata, keyword arguments)`` of ``tifffile.imwrite(..., imagej=True)`` for an ImageJ hyperstack
    (``TZCYX``) with ``planes`` pages: calibration, unit, frame interval (when the image has T), Info, and slice
    labels when their count matches."""
    ij: dict = {"axes": IMAGEJ_ORDER}
    kwargs: dict = {}
    if "X" in meta.pixel_size and "Y" in meta.pixel_size:
        kwargs["resolution"] = (1.0 / meta.pixel_size["X"], 1.0 / meta.pixel_size["Y"])
    if "Z" in meta.pixel_size:
        ij["spacing"] = meta.pixel_size["Z"]
    if meta.unit:
        ij["unit"] = meta.unit
    if meta.time_interval and has_time:
        ij["finterval"] = meta.time_interval
        if meta.time_unit and meta.time_unit not in ("s", "sec"):
            ij["tunit"] = meta.time_unit
    if meta.info:
        ij["Info"] = meta.info
    if meta.labels and len(meta.labels) == planes:
        ij["Labels"] = list(meta.labels)
    return ij, kwargs


def _existing(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise CareBridgeError(f"input {p} does not exist; check the path")
    return p


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else ""


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split())[:200])


@contextlib.contextmanager
def _quiet_tifffile():
    """tifffile logs what it finds odd in a header to stderr; an expected failure must stay one line."""
    log = logging.getLogger("tifffile")
    handler, propagate = _Collect(), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield handler.messages
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


_decode_warnings = _quiet_tifffile  # what tifffile reports while decoding pixels means the data is damaged


def write_image(
    path: str | os.PathLike,
    image: np.ndarray,
    axes: str,
    *,
    overwrite: bool = False,
    meta: ImageMeta | None = None,
    format: str = "imagej",
    dtype: np.dtype | str | None = None,
) -> Path:
    """Write ``image`` (axes ``axes``) atomically as an ImageJ hyperstack (``format="imagej"``) or an OME-TIFF
    (``"ome-tiff"``), in ``dtype`` (None: float32; see :func:`cast_to`).

    The metadata in ``meta`` (pixel sizes and unit, time interval, channel names, ImageJ Info and slice labels)
    is written where the format keeps it; slice labels only if their count matches the planes written.
    """
    axes = check_axes(axes, image.ndim)
    if "S" in axes:
        raise CareBridgeError("cannot write a batch axis 'S' to one TIFF; write one file per sample")
    if format not in FORMATS:
        raise CareBridgeError(f"unknown image format {format!r}; choose one of {', '.join(FORMATS)}")
    meta = meta or ImageMeta()
    arr = cast_to(np.asarray(image), dtype)
    if format == "ome-tiff":
        order = "".join(a for a in OME_ORDER if a in axes)
        arr = move_axes(arr, axes, order)
        n_c = arr.shape[order.index("C")] if "C" in order else 1
        md = ome_metadata(order, meta.pixel_size, meta.unit, meta.time_interval, meta.time_unit, meta.channel_names,
                          n_c)
        with atomic_path(path, overwrite=overwrite) as tmp:
            tifffile.imwrite(tmp, np.ascontiguousarray(arr), ome=True, photometric="minisblack", metadata=md)
        return Path(path)
    if arr.dtype not in (np.uint8, np.uint16, np.float32):
        raise CareBridgeError(f"an ImageJ TIFF cannot hold {arr.dtype} pixels; write float32 (--dtype float32) or an "
                              "OME-TIFF (--output-format ome-tiff)")
    arr = move_axes(arr, axes, IMAGEJ_ORDER)
    ijmeta, kwargs = imagej_metadata(meta, has_time="T" in axes, planes=math.prod(arr.shape[:3]))
    with atomic_path(path, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, np.ascontiguousarray(arr), imagej=True, metadata=ijmeta, **kwargs)
    return Path(path)
