"""One care_bridge-owned temporary folder per process, removed at exit, on errors and on termination signals.

Everything care_bridge unpacks or stages (bundles, zipped SavedModels, export work folders) goes under
:func:`process_temp_root` — ``$TMPDIR/care_bridge-<pid>-<random>`` — so one ``rmtree`` at exit removes every
trace, and a folder left by a process that was killed (``SIGKILL`` runs no clean-up) is removed by the next
care_bridge process, which checks that its owner is gone. Nothing is written under the user's home.

:func:`remove_on_termination` turns ``SIGTERM``/``SIGHUP`` into an ordinary exception in the main thread, so
``finally`` blocks (temporary outputs, extracted bundles) run before the process ends; the command line calls it.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import tempfile
import threading
from pathlib import Path

PREFIX = "care_bridge-"
_OWNER = re.compile(rf"^{re.escape(PREFIX)}(\d+)-")
_lock = threading.Lock()
_root: Path | None = None
_root_pid: int | None = None


class Terminated(SystemExit):
    """Raised in the main thread when the process receives SIGTERM or SIGHUP (exit status 128 + signal)."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale(parent: str | os.PathLike | None = None) -> list[Path]:
    """Remove ``care_bridge-<pid>-*`` folders in ``parent`` (default: the system temporary folder) whose process
    is gone; return what was removed. Folders of live processes, and everything else, are left alone."""
    base = Path(parent or tempfile.gettempdir())
    removed = []
    try:
        entries = list(base.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _OWNER.match(p.name)
        if m and int(m[1]) != os.getpid() and not pid_alive(int(m[1])) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def process_temp_root() -> Path:
    """This process' temporary folder (created on first use; a forked child gets its own)."""
    global _root, _root_pid
    with _lock:
        if _root is None or _root_pid != os.getpid() or not _root.is_dir():
            remove_stale()
            _root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
            _root_pid = os.getpid()
        return _root


def mkdtemp(prefix: str) -> Path:
    """A new folder inside :func:`process_temp_root`."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=process_temp_root()))


def cleanup() -> None:
    """Remove this process' temporary folder (registered with :mod:`atexit`)."""
    global _root
    with _lock:
        if _root is not None and _root_pid == os.getpid():
            shutil.rmtree(_root, ignore_errors=True)
            _root = None


atexit.register(cleanup)


def _raise_terminated(signum, _frame):
    raise Terminated(128 + signum)


def remove_on_termination() -> None:
    """Make SIGTERM and SIGHUP raise :class:`Terminated` in the main thread (only from the main thread, and only
    where the signal still has its default action), so clean-up code runs before the process ends."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _raise_terminated)
