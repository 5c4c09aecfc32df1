"""Atomic output: write to a temporary file beside the target, then rename over it.

The temporary file is hidden and names its writer, ``.<name>.<pid>.<random>.part``: a process killed while
writing (``SIGKILL`` runs no clean-up) leaves one behind, and the next write to the same target removes every such
file whose process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import CareBridgeError
from ..tempdirs import pid_alive


def check_output_path(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuse an existing output unless ``overwrite``; refuse a missing or read-only folder."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise CareBridgeError(f"output {p} already exists; choose another path or pass --overwrite")
    if p.exists() and p.is_dir():
        raise CareBridgeError(f"output {p} is a folder; give a file path")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise CareBridgeError(f"output folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise CareBridgeError(f"output folder {parent} is not writable; choose a writable folder")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to ``path``.

    On any error the temporary file is removed and the target is left as it was.
    """
    target = check_output_path(path, overwrite=overwrite)
    remove_stale_parts(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        if target.exists() and not overwrite:  # appeared meanwhile
            raise CareBridgeError(f"output {target} appeared while writing; pass --overwrite to replace it")
        os.replace(tmp_path, target)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise CareBridgeError(f"disk full while writing {target}; free space and try again") from e
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def remove_stale_parts(target: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed writers of ``target`` left beside it (``.<name>.<pid>.*.part``
    whose process no longer exists); return them."""
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    lead = f".{target.name}."
    removed = []
    with contextlib.suppress(OSError):
        for p in parent.iterdir():
            n = p.name
            if not (n.startswith(lead) and n.endswith(".part")):
                continue
            pid = n[len(lead):].split(".", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)) and p.is_file():
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                removed.append(p)
    return removed
