"""How a macro calls into Python when Python hosts ImageJ: a command listener.

ImageJ 1.x calls every registered ``ij.CommandListener`` before it executes a command, in the thread that runs
the command — for ``run("…")`` in a macro, the macro's own thread. We register a JPype proxy that claims the
command ``"CARE Bridge"``: the macro says ``run("CARE Bridge", "op=restore bundle=[…] …")``; the proxy reads the
options (``ij.Macro.getOptions()``) and the macro's current image (``WindowManager``, batch-mode aware), runs the
Python runtime in-process, shows the results, and answers through the Java system property
``care_bridge.reply`` (``ok:…`` or ``error:…``), which the macro reads with
``call("java.lang.System.getProperty", "care_bridge.reply")``. Returning null cancels the command, so ImageJ never
looks for a menu entry of that name. No Java compiler, no class files, nothing written to disk; the same
mechanism works in Fiji (ImageJ 1.x is inside it). The macros detect the host by the system property
``care_bridge.hosted`` = ``1``.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

from ..errors import CareBridgeError
from .options import parse_options

COMMAND = "CARE Bridge"
HOSTED_PROPERTY = "care_bridge.hosted"
REPLY_PROPERTY = "care_bridge.reply"
ERROR_PROPERTY = "care_bridge.last_error"

_HANDLERS: dict[str, Callable[[dict[str, str]], str]] = {}
_LISTENER = None


def handler(op: str):
    """Register a Python function ``f(options) -> reply text`` for ``run("CARE Bridge", "op=<op> …")``."""

    def deco(f):
        _HANDLERS[op] = f
        return f

    return deco


def _system():
    import jpype

    return jpype.JClass("java.lang.System")


def dispatch(options_text: str | None) -> str:
    """Run one bridge call; never raises (the caller is Java). Returns ``ok:<text>`` or ``error:<one line>``."""
    try:
        opts = parse_options(options_text)
        op = opts.get("op", "")
        if op not in _HANDLERS:
            raise CareBridgeError(f"unknown CARE Bridge op {op!r}; expected one of {', '.join(sorted(_HANDLERS))}")
        return "ok:" + _HANDLERS[op](opts)
    except CareBridgeError as e:
        msg = str(e)
    except Exception as e:  # a bug: keep the traceback on stderr, give the macro one line
        traceback.print_exc(file=sys.stderr)
        msg = f"internal error in care_bridge ({type(e).__name__}: {e}); please report it with the console output"
    try:
        _system().setProperty(ERROR_PROPERTY, msg)
    except Exception:
        pass
    return "error:" + msg


def install_bridge() -> None:
    """Register the listener once per JVM and mark this ImageJ as hosted."""
    global _LISTENER
    import jpype

    if _LISTENER is not None:
        return

    @jpype.JImplements("ij.CommandListener")
    class _CareCommandListener:
        @jpype.JOverride
        def commandExecuting(self, command):  # noqa: N802 - Java interface
            if command is None or str(command) != COMMAND:
                return command
            opts = jpype.JClass("ij.Macro").getOptions()
            reply = dispatch(None if opts is None else str(opts))
            _system().setProperty(REPLY_PROPERTY, reply)
            return None  # handled: ImageJ stops here

    _LISTENER = _CareCommandListener()
    jpype.JClass("ij.Executer").addCommandListener(_LISTENER)
    _system().setProperty(HOSTED_PROPERTY, "1")
    from . import handlers  # noqa: F401 - registers the ops


def last_error() -> str:
    """The last error message a CARE macro or the bridge reported in this JVM ("" if none)."""
    v = _system().getProperty(ERROR_PROPERTY)
    return "" if v is None else str(v)


def clear_last_error() -> None:
    _system().clearProperty(ERROR_PROPERTY)


__all__ = ["COMMAND", "dispatch", "handler", "install_bridge", "last_error"]
