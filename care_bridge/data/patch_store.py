"""Patch files on disk: written image by image, read memory-mapped, so training data may exceed the RAM.

Format: an **uncompressed** ``.npz``, a ZIP archive whose members are *stored* (not deflated) ``.npy`` files:
``X.npy`` and ``Y.npy`` (the patches, ``"S<spatial>C"``, float32), ``axes.npy`` (a string), ``report.npy`` (a JSON
string: what data generation did) and, optional, ``source.npy`` (int32, one per patch: the source image it was
cut from). Any NumPy reads it with ``np.load``. NumPy cannot memory-map a member of a ZIP, so :func:`open_patch_file`
finds each stored member's bytes in the archive (the local header at the offset the central directory gives, then
the ``.npy`` header) and maps ``X`` and ``Y`` there with ``np.memmap``; :class:`PatchRows` (a training or validation
subset) reads the rows a batch needs with ``pread`` at their offsets, so a batch reads only its own patches and the
resident memory stays bounded by the batch however much of the file has been read (the pages stay in the
kernel's page cache, which the kernel reclaims). Every shape and offset is checked against the file's size before
mapping; a truncated or damaged file is one :class:`~care_bridge.errors.CareBridgeError`.

Files written before this format (``np.savez_compressed``: deflated members) still open — loaded into memory as
before, refused with one line when their arrays would not fit in the available memory.

Float32 patches of noisy microscopy compress little (measured ~10 % on the synthetic pairs), which is why storing
them uncompressed costs little disk for what memory-mapping gains.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CareBridgeError
from ..io import atomic_path
from ..io.atomic import check_output_path, remove_stale_parts
from ..resources import available_memory, format_bytes

MEMBERS = ("X", "Y", "axes", "report", "source")
SMALL_MEMBER_LIMIT = 64 << 20  # axes, report: a few KiB in practice; more is a damaged or foreign file
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # signature ... name length, extra length (30 bytes)
_COPY_CHUNK = 16 << 20


@dataclass
class PatchFile:
    """An opened patch file: ``X``/``Y`` memory-mapped (``mapped``) or in memory, their axes, the report and the
    per-patch sources (None in files from before sources were recorded)."""

    path: Path
    X: np.ndarray
    Y: np.ndarray
    axes: str
    meta: dict
    sources: np.ndarray | None
    mapped: bool


class PatchRows:
    """Rows ``index`` of an array (a memory map or an in-memory array) without copying them: what a training or
    validation set is, a subset of a patch file's patches. ``take(rows)`` gathers rows ``index[rows]`` into a new
    array, reading only those; indexing as an array (``view[:, 0]``), ``copy()`` and ``np.asarray(view)`` read the
    whole subset into memory (for small files and tests)."""

    def __init__(self, base: np.ndarray, index: np.ndarray | None = None):
        self.base = base
        self.index = np.arange(len(base)) if index is None else np.asarray(index, np.int64)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.base.shape[1:])

    @property
    def ndim(self) -> int:
        return self.base.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.base.dtype

    def __len__(self) -> int:
        return len(self.index)

    def take(self, rows) -> np.ndarray:
        idx = self.index[rows]
        if _is_file_map(self.base):
            return read_rows(self.base, idx)
        return np.asarray(self.base[idx])

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return self.take(key[0])[(slice(None), *key[1:])]
        return self.take(key)

    def copy(self) -> np.ndarray:
        return self.take(slice(None))

    def __array__(self, dtype=None, copy=None):
        a = self.take(slice(None))
        return a if dtype is None else a.astype(dtype)


def _is_file_map(a) -> bool:
    """An ``np.memmap`` as :func:`open_patch_file` makes it (not a view of one: those keep their parent's
    ``offset``)."""
    return isinstance(a, np.memmap) and isinstance(a.base, mmap.mmap) and a.filename is not None \
        and a.flags.c_contiguous


def read_rows(m: np.memmap, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` of the memory map ``m``, read from its file with ``pread`` (runs of consecutive rows in one
    call) rather than through the map: the pages go to the page cache, not into this process's resident set, so
    memory stays bounded by what is read even after a pass over a file larger than the memory."""
    idx = np.asarray(idx, np.int64).reshape(-1)
    out = np.empty((len(idx), *m.shape[1:]), m.dtype)
    if not len(idx):
        return out
    if idx.min() < 0 or idx.max() >= len(m):
        raise IndexError(f"rows {idx.min()}..{idx.max()} of {len(m)}")
    row = out[:1].nbytes
    flat = out.reshape(len(idx), -1).view(np.uint8).reshape(len(idx), row) if row else None
    if flat is None:
        return out
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    fd = os.open(m.filename, os.O_RDONLY)
    try:
        for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(idx)]):
            view = memoryview(flat[a:b]).cast("B")
            pos, done = m.offset + int(idx[a]) * row, 0
            while done < len(view):
                got = os.preadv(fd, [view[done:]], pos + done)
                if not got:
                    raise CareBridgeError(f"patch file {m.filename} ends before row {int(idx[b - 1])}; it was "
                                          "truncated while in use")
                done += got
    finally:
        os.close(fd)
    return out


def rows(a) -> PatchRows:
    """``a`` as :class:`PatchRows` (an array: all its rows)."""
    return a if isinstance(a, PatchRows) else PatchRows(np.asarray(a) if not isinstance(a, np.ndarray) else a)


# ------------------------------------------------------------------------------------------------ writing
def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    import io

    buf = io.BytesIO()
    d = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buf, d)
    return buf.getvalue()


def _write_member(zf: zipfile.ZipFile, name: str, dtype, shape, chunks) -> None:
    with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
        f.write(_npy_header(dtype, shape))
        for c in chunks:
            f.write(c)


def _array_chunks(a: np.ndarray) -> Iterator[bytes]:
    a = np.ascontiguousarray(a)
    rows_per = max(1, _COPY_CHUNK // max(1, a[:1].nbytes))
    for i in range(0, len(a), rows_per) if a.ndim else [None]:
        yield (a if i is None else a[i:i + rows_per]).tobytes()


def _file_chunks(p: Path) -> Iterator[bytes]:
    with open(p, "rb") as f:
        while chunk := f.read(_COPY_CHUNK):
            yield chunk


def _gathered_chunks(p: Path, shape: tuple[int, ...], order: np.ndarray) -> Iterator[bytes]:
    """Rows ``order`` of the raw float32 array ``shape`` in file ``p``, read a chunk at a time."""
    m = np.memmap(p, np.float32, mode="r", shape=shape)
    per = max(1, _COPY_CHUNK // max(1, m[:1].nbytes))
    for i in range(0, len(order), per):
        yield read_rows(m, order[i:i + per]).tobytes()


def _write_small(zf: zipfile.ZipFile, name: str, a: np.ndarray) -> None:
    _write_member(zf, name, a.dtype, a.shape, _array_chunks(a))


def check_patch_path(out: str | Path) -> Path:
    out = Path(out)
    if out.suffix != ".npz":
        raise CareBridgeError(f"patch file {out} must end in .npz")
    return out


def _check_sources(sources, n: int) -> np.ndarray:
    s = np.asarray(sources)
    if s.shape != (n,) or s.dtype.kind not in "iu" or (len(s) and s.min() < 0):
        raise CareBridgeError(f"sources must be one non-negative integer per patch ({n}), got {s.shape}")
    return s.astype(np.int32)


def write_patch_file(out: str | Path, X: np.ndarray, Y: np.ndarray, axes: str, meta: dict, *,
                     sources: np.ndarray | None = None, overwrite: bool = False) -> Path:
    """Write in-memory patches ``X``/``Y`` (axes ``axes``, e.g. ``"SYXC"``) as a patch file, atomically (a
    temporary file renamed into place); the arrays are streamed into the archive, never copied whole."""
    out = check_patch_path(out)
    if len(X) != len(Y):
        raise CareBridgeError(f"{len(X)} input patches but {len(Y)} targets; they must pair up")
    src = None if sources is None else _check_sources(sources, len(X))
    with atomic_path(out, overwrite=overwrite) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for name, a in (("X", X), ("Y", Y)):
            _write_member(zf, name, a.dtype, a.shape, _array_chunks(a))
        _write_small(zf, "axes", np.array(axes))
        _write_small(zf, "report", np.array(json.dumps(meta)))
        if src is not None:
            _write_small(zf, "source", src)
    return out


class PatchFileWriter:
    """Write a patch file image by image without holding its patches in memory: :meth:`append` spills each batch
    of patch pairs (float32) to two hidden files beside the output, :meth:`commit` packs them into the archive and
    renames it into place (all or nothing). Disk: twice the file for a moment; memory: one appended batch.
    A batch may name the rows its patches take in the file (``rows``), for generators that make their patches
    source by source but must keep the order in which their random draws give them (patch ``i`` of image
    ``i mod n``); :meth:`commit` then gathers the spilled rows in file order.

    Use as a context manager: the spill files go whatever happens (a killed writer's are removed by the next write
    to the same output, as for every atomic output)."""

    def __init__(self, out: str | Path, *, overwrite: bool = False):
        self.out = check_output_path(check_patch_path(out), overwrite=overwrite)
        self.overwrite = overwrite
        remove_stale_parts(self.out)
        self._spill: dict[str, Path] = {}
        self._files = {}
        for name in ("X", "Y"):
            fd, tmp = tempfile.mkstemp(prefix=f".{self.out.name}.{os.getpid()}.", suffix=f".{name}.part",
                                       dir=self.out.parent)
            self._spill[name] = Path(tmp)
            self._files[name] = os.fdopen(fd, "wb")
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._sources: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self.n = 0

    def append(self, X: np.ndarray, Y: np.ndarray, sources: np.ndarray | int, *, rows=None) -> None:
        """Spill patch pairs ``X``/``Y`` cut from ``sources`` (one integer, or one per patch); ``rows``: the rows
        they take in the file (default: the next ones). The rows of all batches must together be ``0 .. n-1``."""
        if len(X) != len(Y):
            raise CareBridgeError(f"{len(X)} input patches but {len(Y)} targets; they must pair up")
        for name, a in (("X", X), ("Y", Y)):
            shape = tuple(a.shape[1:])
            if self._shapes.setdefault(name, shape) != shape:
                raise CareBridgeError(f"{name} patches of shape {shape} cannot join patches of shape "
                                      f"{self._shapes[name]} in one file")
            np.ascontiguousarray(a, np.float32).tofile(self._files[name])
        src = np.full(len(X), sources, np.int64) if np.ndim(sources) == 0 else np.asarray(sources)
        self._sources.append(_check_sources(src, len(X)))
        r = np.arange(self.n, self.n + len(X)) if rows is None else np.asarray(rows, np.int64).reshape(-1)
        if r.shape != (len(X),):
            raise CareBridgeError(f"{len(X)} patches cannot take {r.size} rows")
        self._rows.append(r)
        self.n += len(X)

    def _file_order(self) -> np.ndarray | None:
        """The spilled rows in file order (None: as appended)."""
        rows = np.concatenate(self._rows) if self._rows else np.zeros(0, np.int64)
        if np.array_equal(rows, np.arange(self.n)):
            return None
        order = np.argsort(rows, kind="stable")
        if not np.array_equal(rows[order], np.arange(self.n)):
            raise CareBridgeError(f"the rows of the appended patches are not 0 .. {self.n - 1}, each once")
        return order

    def commit(self, axes: str, meta: dict) -> Path:
        for f in self._files.values():
            f.close()
        order = self._file_order()
        sources = np.concatenate(self._sources) if self._sources else np.zeros(0, np.int32)
        with atomic_path(self.out, overwrite=self.overwrite) as tmp, \
                zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            for name in ("X", "Y"):
                shape = (self.n, *self._shapes[name])
                chunks = _file_chunks(self._spill[name]) if order is None else \
                    _gathered_chunks(self._spill[name], shape, order)
                _write_member(zf, name, np.float32, shape, chunks)
            _write_small(zf, "axes", np.array(axes))
            _write_small(zf, "report", np.array(json.dumps(meta)))
            _write_small(zf, "source", sources if order is None else sources[order])
        return self.out

    def close(self) -> None:
        for name, f in self._files.items():
            f.close()
            with contextlib.suppress(FileNotFoundError):
                self._spill[name].unlink()

    def __enter__(self) -> PatchFileWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ------------------------------------------------------------------------------------------------ reading
def _damaged(p: Path, why: str) -> CareBridgeError:
    return CareBridgeError(f"patch file {p} is damaged or truncated ({why}); re-create it with care-bridge datagen")


def _member_array_offset(p: Path, f, zi: zipfile.ZipInfo, size: int) -> tuple[int, tuple[int, ...], np.dtype, bool]:
    """Byte offset, shape, dtype and Fortran order of the ``.npy`` array stored in member ``zi``, all checked
    against the member's and the file's sizes."""
    if zi.header_offset + _LOCAL_HEADER.size > size:
        raise _damaged(p, f"{zi.filename} starts beyond the end of the file")
    f.seek(zi.header_offset)
    head = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
    if head[0] != b"PK\x03\x04":
        raise _damaged(p, f"no local header for {zi.filename}")
    start = zi.header_offset + _LOCAL_HEADER.size + head[-2] + head[-1]
    end = start + zi.file_size
    if end > size:
        raise _damaged(p, f"{zi.filename} needs {end} bytes, the file has {size}")
    f.seek(start)
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
    except (ValueError, OSError) as e:
        raise _damaged(p, f"{zi.filename}: {e}") from None
    if dtype.hasobject or any(int(s) < 0 for s in shape):
        raise _damaged(p, f"{zi.filename} holds {dtype} {shape}")
    offset = f.tell()
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if offset + nbytes > end:
        raise _damaged(p, f"{zi.filename} declares {shape} {dtype} ({nbytes} bytes) but stores {end - offset}")
    return offset, tuple(int(s) for s in shape), dtype, bool(fortran)


def _peek(p: Path, zf: zipfile.ZipFile, zi: zipfile.ZipInfo) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """Shape, dtype, Fortran order and byte count that member ``zi`` declares (its ``.npy`` header only)."""
    try:
        with zf.open(zi) as m:
            version = np.lib.format.read_magic(m)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(m)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, NotImplementedError) as e:
        raise _damaged(p, f"{zi.filename}: {e}") from None
    if dtype.hasobject or any(int(s) < 0 for s in shape):
        raise _damaged(p, f"{zi.filename} holds {dtype} {shape}")
    return tuple(int(s) for s in shape), dtype, bool(fortran), int(np.prod(shape, dtype=object)) * dtype.itemsize


def _read_member(p: Path, zf: zipfile.ZipFile, name: str, limit: int) -> np.ndarray:
    """Member ``name`` read into memory, refused (one line) when it declares more than ``limit`` bytes or more
    than the archive holds for it."""
    zi = zf.getinfo(f"{name}.npy")
    shape, dtype, fortran, nbytes = _peek(p, zf, zi)
    if nbytes > limit or nbytes > zi.file_size:
        raise _damaged(p, f"{zi.filename} declares {shape} {dtype} ({format_bytes(nbytes)}) in "
                          f"{format_bytes(zi.file_size)}")
    try:
        with zf.open(zi) as m:
            return np.lib.format.read_array(m, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise _damaged(p, f"{zi.filename}: {e}") from None


def open_patch_file(path: str | Path, *, mmap: bool = True) -> PatchFile:
    """Open a patch file (this module's format, or an older compressed one): ``X``/``Y`` memory-mapped when
    ``mmap`` and their members are stored, else read into memory (refused when they would not fit)."""
    p = Path(path)
    if not p.is_file():
        raise CareBridgeError(f"patch file {p} does not exist; create it with care-bridge datagen")
    size = p.stat().st_size
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise _damaged(p, str(e)) from None
    with zf, open(p, "rb") as f:
        names = set(zf.namelist())
        missing = [m for m in ("X", "Y", "axes") if f"{m}.npy" not in names]
        if missing:
            raise CareBridgeError(f"{p} is not a patch file (no {', '.join(missing)}); create it with care-bridge "
                                  "datagen")
        axes = str(_read_member(p, zf, "axes", SMALL_MEMBER_LIMIT))
        meta = {}
        if "report.npy" in names:
            try:
                meta = json.loads(str(_read_member(p, zf, "report", SMALL_MEMBER_LIMIT)))
            except json.JSONDecodeError as e:
                raise _damaged(p, f"report.npy: {e}") from None
        if not isinstance(meta, dict):
            raise _damaged(p, "its report is not a JSON object")
        infos = {m: zf.getinfo(f"{m}.npy") for m in ("X", "Y")}
        n = _peek(p, zf, infos["X"])[0][:1] or (0,)
        sources = None  # files written before sources were recorded have none
        if "source.npy" in names:
            sources = _read_member(p, zf, "source", 8 * n[0])
        arrays, mapped = {}, False
        if mmap and all(zi.compress_type == zipfile.ZIP_STORED for zi in infos.values()):
            layout = {m: _member_array_offset(p, f, zi, size) for m, zi in infos.items()}
            if not any(fortran for *_, fortran in layout.values()):
                for m, (offset, shape, dtype, _) in layout.items():
                    arrays[m] = (np.memmap(p, dtype=dtype, mode="r", offset=offset, shape=shape) if all(shape)
                                 else np.zeros(shape, dtype))
                mapped = True
        if not arrays:
            arrays = _load_in_memory(p, zf, infos)
    return PatchFile(p, arrays["X"], arrays["Y"], axes, meta, sources, mapped)


def _load_in_memory(p: Path, zf: zipfile.ZipFile, infos: dict) -> dict[str, np.ndarray]:
    need = sum(_peek(p, zf, zi)[3] for zi in infos.values())
    room = available_memory()
    if room is not None and need > room:
        raise CareBridgeError(f"{p} is compressed and its patches need {format_bytes(need)} in memory, "
                              f"{format_bytes(room)} available; re-create it with care-bridge datagen, whose "
                              "uncompressed files train from disk")
    return {m: _read_member(p, zf, m, need) for m in infos}


def copy_patch_file(src: str | Path, dst: str | Path, *, overwrite: bool = False) -> Path:
    """Rewrite a patch file (e.g. an older compressed one) in this module's memory-mappable format."""
    pf = open_patch_file(src)
    return write_patch_file(dst, pf.X, pf.Y, pf.axes, pf.meta, sources=pf.sources, overwrite=overwrite)


__all__ = ["PatchFile", "PatchFileWriter", "PatchRows", "copy_patch_file", "open_patch_file", "rows",
           "write_patch_file"]
