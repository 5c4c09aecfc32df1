"""Images read and written one frame at a time: TIFF series read lazily (by pages, or by byte offset when the pixels
are contiguous), OME-Zarr (NGFF 0.4) read and written by chunks, vendor files (CZI, ND2, LIF) through bioio.

A *frame* is one index of the image's outer time axis ``T``: what the runtime restores
independently anyway (its normalization statistics are per frame), so restoring frame by frame gives the same
bits as restoring the whole image at once, with memory bounded by one frame.

OME-Zarr is written as NGFF 0.4 on Zarr format 2 (what napari's ome-zarr reader and Fiji's N5/Zarr viewers open):
``.zattrs`` ``multiscales`` with axes (type and unit) and per-level ``coordinateTransformations`` (scale = pixel
size × 2^level in Y/X), levels ``0``, ``1``, … each half the size of the one before in Y and X (mean of 2×2).
``zarr`` is imported only when a Zarr store is touched (the ``io`` extra).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..axes import check_axes
from ..errors import CareBridgeError
from .tiff import ImageMeta, _meta, _quiet_tifffile, check_declared_size

NGFF_VERSION = "0.4"
LOOP_AXES = "T"


VENDOR_SUFFIXES = (".czi", ".nd2", ".lif")


def is_vendor(path: str | os.PathLike) -> bool:
    """A microscope vendor's file (Zeiss CZI, Nikon ND2, Leica LIF), read through bioio (the ``vendor`` extra)."""
    return Path(path).suffix.lower() in VENDOR_SUFFIXES


def is_zarr(path: str | os.PathLike) -> bool:
    """A Zarr store: a folder with ``.zgroup``/``.zattrs``/``zarr.json``, or a name ending in ``.zarr``."""
    p = Path(path)
    return p.suffix.lower() == ".zarr" or (p.is_dir() and any((p / n).exists() for n in (".zgroup", "zarr.json")))


def _zarr():
    try:
        import zarr
    except ImportError as e:
        raise CareBridgeError("OME-Zarr needs the zarr package: pip install 'care_bridge[io]'") from e
    return zarr


@dataclass
class FrameReader:
    """An image opened for reading frame by frame: ``shape``/``dtype``/``axes`` of the whole image, its metadata,
    and :meth:`read` of one frame (all axes but the first, the loop axis ``axes[0]``, when that is T or S)."""

    path: Path
    shape: tuple[int, ...]
    dtype: np.dtype
    axes: str
    meta: ImageMeta
    kind: str  # "tiff" or "zarr"
    _handle: object = field(default=None, repr=False, compare=False)

    @property
    def n_frames(self) -> int:
        return self.shape[0] if self.axes[:1] == "T" else 1

    @property
    def frame_axes(self) -> str:
        return self.axes[1:] if self.axes[:1] == "T" else self.axes

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` (or the whole image when there is no loop axis). The file stays open between reads
        (its layout is worked out once): call :meth:`close` when done."""
        looped = self.axes[:1] == "T"
        if self.kind == "bioio":
            img, order = self._handle
            fixed = {d: 0 for d in order if d not in self.axes}
            if looped:
                fixed["T"] = index
            return np.asarray(img.get_image_data(self.frame_axes, **fixed))
        if self.kind == "zarr":
            if self._handle is None:
                self._handle = _zarr().open_array(str(self.path / "0"), mode="r")
            return np.asarray(self._handle[index] if looped else self._handle[...])
        tf, series = self._tiff()
        plane = math.prod(series.shape[-2:])
        frame = math.prod(self.shape[1:]) if looped else math.prod(self.shape)
        if looped and series.dataoffset is not None:
            # uncompressed, contiguous pixels (also an ImageJ hyperstack over 4 GB, which has a single IFD): read
            # the frame's bytes at its offset
            dtype = np.dtype(series.dtype).newbyteorder(tf.byteorder)
            fh = tf.filehandle
            fh.seek(series.dataoffset + index * frame * dtype.itemsize)
            data = np.frombuffer(fh.read(frame * dtype.itemsize), dtype=dtype, count=frame)
            return data.astype(dtype.newbyteorder("="), copy=False).reshape(self.shape[1:])
        if looped and series.axes.upper().endswith("YX") and len(series.pages) * plane == math.prod(series.shape):
            # pages run in series order with the loop axis slowest: frame `index` is a run of whole pages
            per = frame // plane
            data = tf.asarray(key=slice(index * per, (index + 1) * per), series=0)
            return np.asarray(data).reshape(self.shape[1:])
        whole = series.asarray().reshape(self.shape)  # an unusual layout: read all, keep one frame
        return whole[index] if looped else whole

    def _tiff(self):
        if self._handle is None:
            import tifffile

            with _quiet_tifffile():
                tf = tifffile.TiffFile(self.path)
                self._handle = (tf, tf.series[0])
        return self._handle

    def close(self) -> None:
        if self._handle is not None and self.kind == "tiff":
            self._handle[0].close()
        self._handle = None

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_frames(path: str | os.PathLike, axes: str | None = None, *, max_frame_bytes: float | None = None
                ) -> FrameReader:
    """Open a TIFF or an OME-Zarr image for reading frame by frame (nothing is decoded). ``axes`` overrides the
    file's; one frame must fit ``max_frame_bytes`` (default: half the available memory)."""
    p = Path(path)
    if is_zarr(p):
        reader = _open_zarr(p)
    elif is_vendor(p):
        reader = _open_bioio(p)
    else:
        import tifffile

        from .tiff import _existing, read_header

        p = _existing(p)
        header = read_header(p)
        try:
            with _quiet_tifffile(), tifffile.TiffFile(p) as tf:
                series = tf.series[0]
                raw_axes = series.axes.upper().replace("Q", "").replace("I", "Z")
                meta = _meta(tf)
        except Exception as e:  # tifffile raises many kinds
            raise CareBridgeError(f"cannot read {p} as TIFF ({type(e).__name__}); check the file") from e
        shape = header.shape
        keep = [i for i, a in enumerate(raw_axes) if shape[i] != 1 or a in "YX"] if len(raw_axes) == len(shape) \
            else list(range(len(shape)))
        file_axes = "".join(raw_axes[i] for i in keep).replace("S", "C") if len(raw_axes) == len(shape) else None
        shape = tuple(shape[i] for i in keep)
        meta.axes = file_axes if file_axes and len(set(file_axes)) == len(file_axes) else None
        reader = FrameReader(p, shape, header.dtype, meta.axes or "", meta, "tiff")
    if axes:
        reader.axes = check_axes(axes.upper(), len(reader.shape))
    elif not reader.axes:
        raise CareBridgeError(f"{p.name}: the file does not say its axes; pass them (e.g. --axes TYX)")
    from .tiff import ImageHeader

    frame_shape = reader.shape[1:] if reader.axes[0] == "T" else reader.shape
    frame_bytes = math.prod(frame_shape) * reader.dtype.itemsize
    file_bytes = p.stat().st_size if p.is_file() else frame_bytes  # a Zarr store's chunks are checked by zarr
    check_declared_size(ImageHeader(tuple(frame_shape), reader.dtype, max(file_bytes, 1)), p, max_frame_bytes)
    return reader


def _open_bioio(p: Path) -> FrameReader:
    """A vendor file through bioio and its plugin (scene 0); axes of size 1 other than Y, X are dropped, as for
    TIFFs; physical pixel sizes (bioio reports micrometres) and channel names are kept."""
    if not p.is_file():
        raise CareBridgeError(f"input {p} does not exist; check the path")
    try:
        from bioio import BioImage
    except ImportError as e:
        raise CareBridgeError(f"{p.suffix} files need bioio and its plugin: pip install 'care_bridge[vendor]'") from e
    try:
        img = BioImage(str(p))
        order, shape = str(img.dims.order).upper(), tuple(int(n) for n in img.shape)
        sizes, names = img.physical_pixel_sizes, img.channel_names
    except Exception as e:  # bioio and its plugins raise many kinds
        raise CareBridgeError(f"cannot read {p.name} ({type(e).__name__}: {str(e).strip()[:120]}); check the file, or "
                              "install the bioio plugin for this format") from None
    if not set(order) <= set("TCZYX"):
        raise CareBridgeError(f"{p.name} has axes {order}; only T, C, Z, Y, X images are supported (split RGB or "
                              "multi-sample data first)")
    keep = [i for i, a in enumerate(order) if shape[i] != 1 or a in "YX"]
    axes = "".join(order[i] for i in keep)
    meta = ImageMeta(axes=axes, format="ome-tiff")  # written back as OME-TIFF by default: it keeps channel names
    for a in "ZYX":
        v = getattr(sizes, a, None)
        if a in axes and isinstance(v, (int, float)) and math.isfinite(v) and v > 0:
            meta.pixel_size[a] = float(v)
            meta.unit = "µm"
    if names is not None and "C" in axes and len(names) == shape[order.index("C")]:
        meta.channel_names = [str(n) for n in names]
    reader = FrameReader(p, tuple(shape[i] for i in keep), np.dtype(img.dtype), axes, meta, "bioio")
    reader._handle = (img, order)
    return reader


def _open_zarr(p: Path) -> FrameReader:
    zarr = _zarr()
    try:
        group = zarr.open_group(str(p), mode="r")
        attrs = dict(group.attrs)
    except Exception as e:  # zarr raises many kinds for a folder that is not a store
        raise CareBridgeError(f"{p.name} is not a readable Zarr store ({type(e).__name__}); check the path") from e
    ms = attrs.get("multiscales") or (attrs.get("ome") or {}).get("multiscales")
    if not isinstance(ms, list) or not ms or not isinstance(ms[0], dict):
        raise CareBridgeError(f"{p.name} is a Zarr store but not OME-Zarr (no multiscales metadata); write it as "
                              "OME-Zarr (NGFF) or convert it to TIFF")
    m = ms[0]
    axes_md = m.get("axes") or []
    names = "".join(str(a.get("name", a) if isinstance(a, dict) else a).upper()[:1] for a in axes_md)
    datasets = m.get("datasets") or []
    if not datasets or not isinstance(datasets[0], dict) or str(datasets[0].get("path")) != "0":
        raise CareBridgeError(f"{p.name}: OME-Zarr multiscales must list level '0' first")
    try:
        arr = zarr.open_array(str(p / "0"), mode="r")
    except Exception as e:
        raise CareBridgeError(f"{p.name}: level 0 cannot be opened ({type(e).__name__}); the store is damaged") from e
    if len(names) != arr.ndim or len(set(names)) != len(names) or not set(names) <= set("TCZYX"):
        raise CareBridgeError(f"{p.name}: OME-Zarr axes {names!r} do not describe its {arr.ndim}D array")
    meta = ImageMeta(axes=names, format="ome-zarr")
    scale = next((t.get("scale") for t in datasets[0].get("coordinateTransformations") or []
                  if isinstance(t, dict) and t.get("type") == "scale"), None)
    for a, ax_md, s in zip(names, axes_md, scale or [None] * len(names)):
        unit = ax_md.get("unit") if isinstance(ax_md, dict) else None
        if a in "ZYX" and isinstance(s, (int, float)) and s > 0:
            meta.pixel_size[a] = float(s)
            meta.unit = meta.unit or _unit_symbol(unit)
        if a == "T" and isinstance(s, (int, float)) and s > 0:
            meta.time_interval, meta.time_unit = float(s), _time_symbol(unit)
    omero = attrs.get("omero") or {}
    chans = omero.get("channels") if isinstance(omero, dict) else None
    if isinstance(chans, list) and all(isinstance(c, dict) and isinstance(c.get("label"), str) for c in chans):
        meta.channel_names = [c["label"] for c in chans]
    return FrameReader(p, tuple(arr.shape), np.dtype(arr.dtype), names, meta, "zarr")


_UNITS = {"micrometer": "µm", "nanometer": "nm", "millimeter": "mm", "meter": "m", "angstrom": "Å"}
_TIME_UNITS = {"second": "s", "millisecond": "ms", "minute": "min", "hour": "h", "microsecond": "µs"}


def _unit_symbol(unit) -> str | None:
    return _UNITS.get(unit, unit) if isinstance(unit, str) else None


def _time_symbol(unit) -> str:
    return _TIME_UNITS.get(unit, unit) if isinstance(unit, str) else "s"


def _unit_name(symbol: str | None) -> str | None:
    inverse = {v: k for k, v in _UNITS.items()} | {"um": "micrometer", "micron": "micrometer", "μm": "micrometer"}
    return inverse.get(symbol) if symbol else None


class ZarrFrameWriter:
    """An OME-Zarr store filled frame by frame (level 0), then finished with its lower-resolution levels and NGFF
    metadata. Frames already written are recorded in ``care_bridge_progress.json`` (written atomically after
    each frame), so an interrupted run can be resumed."""

    PROGRESS = "care_bridge_progress.json"

    def __init__(self, path: str | os.PathLike, shape: tuple[int, ...], axes: str, *, meta: ImageMeta,
                 dtype=np.float32, resume: bool = False, job: dict | None = None):
        zarr = _zarr()
        self.path, self.shape, self.axes, self.meta = Path(path), tuple(shape), axes, meta
        self.looped = axes[:1] in tuple(LOOP_AXES)
        progress = self.path / self.PROGRESS
        if resume and progress.is_file():
            state = json.loads(progress.read_text())
            if state.get("job") != job or tuple(state.get("shape", ())) != self.shape:
                raise CareBridgeError(f"{self.path.name}: the partial result was made by another job (other input, "
                                      "bundle or options); remove it or drop --resume")
            self.done = _expand(state.get("done", []))
            self.array = zarr.open_array(str(self.path / "0"), mode="r+")
        else:
            if self.path.exists():
                import shutil

                shutil.rmtree(self.path)
            group = zarr.open_group(str(self.path), mode="w", zarr_format=2)
            chunks = (1,) + self.shape[1:] if self.looped else self.shape
            self.array = group.create_array("0", shape=self.shape, chunks=chunks, dtype=np.dtype(dtype),
                                            fill_value=0, chunk_key_encoding={"name": "v2", "separator": "/"}, overwrite=True)
            self.done = set()
        self.job = job
        self._save_progress()

    def _save_progress(self) -> None:
        tmp = self.path / f".{self.PROGRESS}.part"
        tmp.write_text(json.dumps({"job": self.job, "shape": list(self.shape), "done": _ranges(self.done)}))
        os.replace(tmp, self.path / self.PROGRESS)

    def write(self, index: int, frame: np.ndarray) -> None:
        if self.looped:
            self.array[index] = frame
        else:
            self.array[...] = frame
        self.mark_done(index)

    def mark_done(self, index: int) -> None:
        self.done.add(int(index))
        self._save_progress()

    def finish(self) -> None:
        """Write the lower-resolution levels (frame by frame) and the NGFF metadata; remove the progress record."""
        write_multiscales(self.path, self.axes, self.meta)
        (self.path / self.PROGRESS).unlink(missing_ok=True)


def _ranges(done: set[int]) -> list[list[int]]:
    """Frames done as ``[first, last]`` runs (the progress record stays small for long time-lapses)."""
    out: list[list[int]] = []
    for i in sorted(done):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def _expand(runs) -> set[int]:
    done: set[int] = set()
    for r in runs if isinstance(runs, list) else []:
        if isinstance(r, list) and len(r) == 2 and all(isinstance(v, int) for v in r) and 0 <= r[0] <= r[1]:
            done.update(range(r[0], r[1] + 1))
    return done


def write_multiscales(path: Path, axes: str, meta: ImageMeta, *, min_size: int = 64) -> None:
    """Add levels 1, 2, … (mean of 2×2 in Y and X, computed frame by frame) to the store at ``path`` until the
    smaller of Y, X is below ``min_size``, and write the NGFF 0.4 ``multiscales`` (and ``omero`` channel
    labels)."""
    zarr = _zarr()
    group = zarr.open_group(str(path), mode="r+")
    base = group["0"]
    y, x = axes.index("Y"), axes.index("X")
    levels = [base]
    while min(levels[-1].shape[y], levels[-1].shape[x]) // 2 >= min_size:
        prev = levels[-1]
        shape = list(prev.shape)
        shape[y], shape[x] = shape[y] // 2, shape[x] // 2
        looped = axes[:1] in tuple(LOOP_AXES)
        chunks = tuple([1] + shape[1:]) if looped else tuple(shape)
        arr = group.create_array(str(len(levels)), shape=tuple(shape), chunks=chunks, dtype=prev.dtype, fill_value=0,
                                 chunk_key_encoding={"name": "v2", "separator": "/"}, overwrite=True)
        for i in range(shape[0] if looped else 1):
            src = np.asarray(prev[i] if looped else prev[...], dtype=np.float64)
            yy, xx = (y - 1, x - 1) if looped else (y, x)
            sl = [slice(None)] * src.ndim
            sl[yy], sl[xx] = slice(0, 2 * shape[y]), slice(0, 2 * shape[x])
            src = src[tuple(sl)]
            src = (np.take(src, range(0, src.shape[yy], 2), axis=yy) + np.take(src, range(1, src.shape[yy], 2), axis=yy))
            src = (np.take(src, range(0, src.shape[xx], 2), axis=xx) + np.take(src, range(1, src.shape[xx], 2), axis=xx))
            out = (src / 4.0).astype(prev.dtype) if prev.dtype.kind == "f" else np.rint(src / 4.0).astype(prev.dtype)
            if looped:
                arr[i] = out
            else:
                arr[...] = out
        levels.append(arr)
    unit = _unit_name(meta.unit)
    axes_md = []
    for a in axes:
        kind = {"T": "time", "C": "channel"}.get(a, "space")
        d = {"name": a.lower(), "type": kind}
        if kind == "space" and unit:
            d["unit"] = unit
        if kind == "time" and meta.time_unit:
            d["unit"] = {v: k for k, v in _TIME_UNITS.items()}.get(meta.time_unit, meta.time_unit)
        axes_md.append(d)
    datasets = []
    for k in range(len(levels)):
        scale = []
        for a in axes:
            if a in "YX":
                scale.append(float(meta.pixel_size.get(a, 1.0)) * 2 ** k)
            elif a == "Z":
                scale.append(float(meta.pixel_size.get("Z", 1.0)))
            elif a == "T":
                scale.append(float(meta.time_interval or 1.0))
            else:
                scale.append(1.0)
        datasets.append({"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
    attrs = {"multiscales": [{"version": NGFF_VERSION, "name": path.stem, "axes": axes_md, "datasets": datasets}]}
    if meta.channel_names and "C" in axes and len(meta.channel_names) == base.shape[axes.index("C")]:
        attrs["omero"] = {"channels": [{"label": n, "active": True} for n in meta.channel_names]}
    group.attrs.update(attrs)
