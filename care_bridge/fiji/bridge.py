"""How a macro calls into Python when Python hosts ImageJ: a command listener.

ImageJ 1.x calls every registered ``ij.CommandListener`` before it executes a command, in the thread that runs
the command — for ``run("…")`` in a macro, the macro's own thread. We register a JPype proxy that claims the
command ``"CARE Bridge"``: the macro says ``run("CARE Bridge", "op=restore reply=[TOKEN] bundle=[…] …")``; the
proxy reads the options (``ij.Macro.getOptions()``), looks the op up in the handler table it was installed with,
runs it in-process and answers through the Java system property ``care_bridge.reply.TOKEN`` (``ok:…`` or
``error:…``), which the macro reads with ``call("java.lang.System.getProperty", …)`` and then clears. Each call
has its own token, so two macros running at once never read each other's reply. Returning null cancels the
command, so ImageJ never looks for a menu entry of that name. No Java compiler, no class files, nothing written
to disk; the same mechanism works in Fiji (ImageJ 1.x is inside it). The macros detect the host by the system
property ``care_bridge.hosted`` = ``1``.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable, Mapping

from ..errors import CareBridgeError
from ..frontend.messages import error_line
from .options import parse_options

COMMAND = "CARE Bridge"
HOSTED_PROPERTY = "care_bridge.hosted"
REPLY_PROPERTY = "care_bridge.reply"  # + "." + the call's token
ERROR_PROPERTY = "care_bridge.last_error"

Handler = Callable[[dict[str, str]], str]
_LISTENER = None
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _system():
    import jpype

    return jpype.JClass("java.lang.System")


def reply_property(opts: Mapping[str, str]) -> str:
    """The system property this call's reply goes to: ``care_bridge.reply.<reply token>``."""
    token = opts.get("reply", "")
    if token and not _TOKEN.fullmatch(token):
        raise CareBridgeError(f"reply token {token!r} must be letters, digits, '_', '.' or '-'")
    return f"{REPLY_PROPERTY}.{token}" if token else REPLY_PROPERTY


def dispatch(handlers: Mapping[str, Handler], options_text: str | None) -> tuple[str, str]:
    """Run one bridge call; never raises (the caller is Java). Returns (reply property, ``ok:<text>`` or
    ``error:<one line>``)."""
    prop = REPLY_PROPERTY
    try:
        opts = parse_options(options_text)
        prop = reply_property(opts)
        op = opts.get("op", "")
        if op not in handlers:
            raise CareBridgeError(f"unknown CARE Bridge op {op!r}; expected one of {', '.join(sorted(handlers))}")
        return prop, "ok:" + handlers[op](opts)
    except Exception as e:  # noqa: BLE001 - the caller is Java: every failure becomes one reply line
        msg = error_line(e)
        if msg is None:  # a bug: keep the traceback on stderr, give the macro one line
            traceback.print_exc(file=sys.stderr)
            msg = f"internal error in care_bridge ({type(e).__name__}: {e}); please report it with the console output"
    try:
        _system().setProperty(ERROR_PROPERTY, msg)
    except Exception:  # noqa: BLE001 - no JVM (unit tests of dispatch)
        pass
    return prop, "error:" + msg


def install_bridge(handlers: Mapping[str, Handler]) -> None:
    """Register the listener answering with ``handlers`` (op name → function) once per JVM and mark this
    ImageJ as hosted."""
    global _LISTENER
    import jpype

    if _LISTENER is not None:
        return
    table = dict(handlers)

    @jpype.JImplements("ij.CommandListener")
    class _CareCommandListener:
        @jpype.JOverride
        def commandExecuting(self, command):  # noqa: N802 - Java interface
            if command is None or str(command) != COMMAND:
                return command
            opts = jpype.JClass("ij.Macro").getOptions()
            prop, reply = dispatch(table, None if opts is None else str(opts))
            _system().setProperty(prop, reply)
            return None  # handled: ImageJ stops here

    _LISTENER = _CareCommandListener()
    jpype.JClass("ij.Executer").addCommandListener(_LISTENER)
    _system().setProperty(HOSTED_PROPERTY, "1")


def last_error() -> str:
    """The last error message a CARE macro or the bridge reported in this JVM ("" if none)."""
    v = _system().getProperty(ERROR_PROPERTY)
    return "" if v is None else str(v)


def clear_last_error() -> None:
    _system().clearProperty(ERROR_PROPERTY)


__all__ = ["COMMAND", "Handler", "dispatch", "install_bridge", "last_error", "reply_property"]
