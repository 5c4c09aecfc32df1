"""Extracting untrusted zip files (bundles, zipped SavedModels) and checking their files' sha256.

A bundle comes from the internet; unpacking it must never write outside a fresh folder or exhaust the disk.
Refused, each with a one-line :class:`BundleError` naming the entry: absolute paths, drive letters,
``..`` components, backslashes, symlinks and other non-regular entries (Unix mode in the zip's external
attributes), duplicate names, encrypted entries, entries or totals over :class:`ZipLimits`, and compression
ratios typical of zip bombs. Sizes are checked against the header *and* while streaming (headers can lie).
"""

from __future__ import annotations

import errno
import hashlib
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import tempdirs
from ..errors import BundleError

_CHUNK = 1 << 20
COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


@dataclass(frozen=True)
class ZipLimits:
    """Limits for one archive: total uncompressed bytes, bytes per entry, entries, compression ratio."""

    max_total_bytes: int = 4 << 30
    max_entry_bytes: int = 2 << 30
    max_entries: int = 10_000
    max_ratio: float = 200.0  # uncompressed / compressed, for entries over ratio_min_bytes
    # the ratio rule only for large entries: small sparse files (a label mask of zeros) compress ~1000x and are
    # harmless, the absolute limits above bound everything else
    ratio_min_bytes: int = 64 << 20


DEFAULT_LIMITS = ZipLimits()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_name(name: str, where: str) -> PurePosixPath:
    if not name or "\x00" in name:
        raise BundleError(f"{where}: entry with an empty or NUL name; the archive is malformed or malicious")
    if "\\" in name:
        raise BundleError(f"{where}: entry {name!r} contains a backslash; refusing (possible path traversal)")
    p = PurePosixPath(name)
    if p.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise BundleError(f"{where}: entry {name!r} has an absolute path; refusing to extract it")
    if len(name.encode("utf-8", "surrogatepass")) > 1024 or any(len(part.encode("utf-8", "surrogatepass")) > 255
                                                               for part in p.parts):
        raise BundleError(f"{where}: entry {name[:60]!r}… has a name longer than file systems allow; refusing")
    if any(part == ".." for part in p.parts):
        raise BundleError(f"{where}: entry {name!r} contains '..' and would escape the folder; refusing")
    return p


def check_archive(zf: zipfile.ZipFile, where: str, limits: ZipLimits = DEFAULT_LIMITS) -> list[zipfile.ZipInfo]:
    """Check every entry of an open archive against the rules above; return the file entries."""
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise BundleError(f"{where}: {len(infos)} entries exceed the limit of {limits.max_entries}; refusing")
    seen: set[str] = set()
    total = 0
    files = []
    for info in infos:
        name = info.filename
        p = _check_name(name, where)
        key = p.as_posix().rstrip("/").lower()
        if key in seen:
            raise BundleError(f"{where}: duplicate entry {name!r}; the archive is ambiguous, refusing")
        seen.add(key)
        mode = info.external_attr >> 16
        if info.create_system == 3 and mode:  # Unix attributes present
            kind = stat.S_IFMT(mode)
            if stat.S_ISLNK(mode):
                raise BundleError(f"{where}: entry {name!r} is a symbolic link; refusing to extract links")
            if kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise BundleError(f"{where}: entry {name!r} is not a regular file (mode {oct(mode)}); refusing")
        if info.flag_bits & 0x1:
            raise BundleError(f"{where}: entry {name!r} is encrypted; bundles must not be encrypted")
        if info.compress_type not in COMPRESSIONS:
            raise BundleError(f"{where}: entry {name!r} uses compression method {info.compress_type}; bundles use "
                              "stored or deflated entries (re-zip the bundle)")
        if info.is_dir():
            continue
        if info.file_size > limits.max_entry_bytes:
            raise BundleError(
                f"{where}: entry {name!r} is {info.file_size} bytes uncompressed, over the limit of "
                f"{limits.max_entry_bytes}; refusing (raise ZipLimits.max_entry_bytes if it is genuine)"
            )
        total += info.file_size
        if total > limits.max_total_bytes:
            raise BundleError(
                f"{where}: uncompressed size exceeds {limits.max_total_bytes} bytes at entry {name!r}; refusing "
                "(possible zip bomb; raise ZipLimits.max_total_bytes if it is genuine)"
            )
        if info.file_size > limits.ratio_min_bytes:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise BundleError(
                    f"{where}: entry {name!r} has compression ratio {ratio:.0f}, over {limits.max_ratio:.0f}; "
                    "refusing (possible zip bomb)"
                )
        files.append(info)
    return files


def safe_extract(
    zip_path: str | Path,
    dest: str | Path | None = None,
    *,
    limits: ZipLimits = DEFAULT_LIMITS,
    prefix: str = "care_bridge_bundle_",
) -> Path:
    """Extract ``zip_path`` into a fresh folder and return it.

    ``dest`` must not exist (it is created); ``None`` makes a new temporary folder. Nothing is ever
    overwritten. On any refusal the partially written folder is removed and :class:`BundleError` raised.
    """
    zip_path = Path(zip_path)
    where = zip_path.name
    if not zip_path.is_file():
        raise BundleError(f"{zip_path} does not exist or is not a file; give the path of a bundle .zip")
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, NotImplementedError, ValueError, EOFError) as e:
        raise BundleError(f"{where} is not a readable zip file ({e}); download the bundle again") from e
    with zf:
        files = check_archive(zf, where, limits)
        if dest is None:
            root = tempdirs.mkdtemp(prefix)
        else:
            root = Path(dest)
            if root.exists():
                raise BundleError(f"extraction folder {root} already exists; refusing to overwrite it")
            root.mkdir(parents=True)
        try:
            total = 0
            resolved_root = root.resolve()
            for info in files:
                target = (root / info.filename).resolve()
                if resolved_root not in target.parents:
                    raise BundleError(f"{where}: entry {info.filename!r} would be written outside the folder")
                if target.exists():
                    raise BundleError(f"{where}: entry {info.filename!r} collides with an extracted path")
                target.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                with zf.open(info) as src, open(target, "xb") as dst:
                    for chunk in iter(lambda: src.read(_CHUNK), b""):
                        written += len(chunk)
                        total += len(chunk)
                        if written > info.file_size or written > limits.max_entry_bytes:
                            raise BundleError(f"{where}: entry {info.filename!r} is larger than its header says")
                        if total > limits.max_total_bytes:
                            raise BundleError(f"{where}: uncompressed size exceeds the limit; refusing")
                        dst.write(chunk)
        except BundleError:
            shutil.rmtree(root, ignore_errors=True)
            raise
        except OSError as e:
            shutil.rmtree(root, ignore_errors=True)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise BundleError(f"no space left on device while extracting {where} into {root.parent}; free some "
                                  "space (or set TMPDIR to a larger disk) and retry") from None
            raise BundleError(f"{where} is corrupt ({e}); download the bundle again") from e
        except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, ValueError) as e:  # CRC errors,
            # truncated archives, damaged compressed data, headers that contradict each other
            shutil.rmtree(root, ignore_errors=True)
            raise BundleError(f"{where} is corrupt ({e}); download the bundle again") from e
    return root


def verify_files(root: Path, expected: dict[str, str | None], where: str = "bundle") -> None:
    """Check that each file in ``expected`` (relative path → sha256 or None) exists in ``root`` and matches.

    Paths come from an untrusted rdf.yaml: they must be relative, without ``..``, and stay inside ``root``.
    """
    resolved_root = root.resolve()
    for rel, digest in expected.items():
        _check_name(rel, where)
        p = (root / rel).resolve()
        if resolved_root not in p.parents:
            raise BundleError(f"{where}: rdf.yaml names {rel!r}, which lies outside the bundle; refusing")
        if not p.is_file():
            raise BundleError(f"{where}: file {rel!r} named in rdf.yaml is missing; the bundle is incomplete")
        if digest is not None:
            actual = sha256_file(p)
            if actual.lower() != str(digest).lower():
                raise BundleError(
                    f"{where}: sha256 of {rel!r} is {actual[:12]}…, rdf.yaml says {str(digest)[:12]}…; "
                    "the file was modified or corrupted, download the bundle again"
                )
