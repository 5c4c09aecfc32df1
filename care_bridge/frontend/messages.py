"""One-line messages for expected failures, the same text in every front end."""

from __future__ import annotations

import errno

from ..errors import CareBridgeError


def error_line(exc: BaseException) -> str | None:
    """The one-line message for an expected failure, or None for a bug (which keeps its traceback).

    :class:`CareBridgeError` says its own text; ``OSError`` names the file and the system's reason (a full
    disk is "no space left on device"); ``MemoryError`` suggests tiling.
    """
    if isinstance(exc, CareBridgeError):
        return " ".join(str(exc).split())
    if isinstance(exc, OSError):
        what = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        reason = exc.strerror or type(exc).__name__
        fix = "free some space and retry" if exc.errno == errno.ENOSPC else "check the path and permissions"
        return f"{reason.lower()}{what}; {fix}"
    if isinstance(exc, MemoryError):
        return "out of memory; use more tiles (e.g. n_tiles 4,4) or a smaller memory budget"
    return None
