"""Python hosts ImageJ: start it with the CARE bridge installed, and run macros in it.

    >>> from care_bridge import fiji
    >>> session = fiji.start_imagej()                      # ij.jar, or fiji.start_imagej("/opt/Fiji.app")
    >>> fiji.run_macro("CARE_Model_Info", "bundle=[model.zip]")
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import CareBridgeError
from . import jvm
from .bridge import clear_last_error, install_bridge
from .handlers import HANDLERS

MACROS_ENV = "CARE_BRIDGE_MACROS"


def start_imagej(fiji: str | os.PathLike | None = None, *, ij_jar: str | os.PathLike | None = None,
                 headless: bool | None = None) -> jvm.ImageJSession:
    """Start ImageJ once per process (:func:`.jvm.start_imagej`) and install the CARE bridge with
    :data:`.handlers.HANDLERS`."""
    session = jvm.start_imagej(fiji, ij_jar=ij_jar, headless=headless)
    install_bridge(HANDLERS)
    return session


def macros_dir() -> Path:
    """Where our ``.ijm`` files are: ``$CARE_BRIDGE_MACROS`` or ``fiji_macros/`` beside the package."""
    env = os.environ.get(MACROS_ENV)
    cands = [Path(env)] if env else []
    cands.append(Path(__file__).resolve().parents[2] / "fiji_macros")
    for c in cands:
        if (c / "CARE_Restore.ijm").is_file():
            return c
    raise CareBridgeError(f"CARE macros not found; set {MACROS_ENV} to the folder holding CARE_Restore.ijm")


def macro_path(name: str | os.PathLike) -> Path:
    """A macro file by path, or by name among ours (``"CARE_Restore"`` → ``fiji_macros/CARE_Restore.ijm``)."""
    p = Path(name)
    if p.suffix == ".ijm" and p.is_file():
        return p.resolve()
    q = macros_dir() / (p.name if p.suffix == ".ijm" else p.name + ".ijm")
    if not q.is_file():
        raise CareBridgeError(f"macro {name} not found (looked for {q})")
    return q


def run_macro(name: str | os.PathLike, args: str = "", *, session=None, batch: bool = True) -> str:
    """Run a macro file (ours by name, or any ``.ijm`` path) in the in-process ImageJ with ``args`` (its
    ``getArgument()``); starts ImageJ if needed. Returns the macro's return value ("" if none).

    A macro that stops with ``exit("…")`` returns ``"[aborted]"``; its message is in :func:`.bridge.last_error`.
    A syntax or runtime error in the macro itself raises :class:`CareBridgeError` instead of opening a modal
    error dialog (which nobody could click in a script). ``batch`` (default) runs without image windows."""
    import jpype

    session = session or start_imagej()
    path = macro_path(name)
    clear_last_error()
    interp_cls = jpype.JClass("ij.macro.Interpreter")
    jpype.JClass("ij.plugin.Macro_Runner").setFilePath(str(path))  # getInfo("macro.filepath")
    saved = bool(interp_cls.batchMode)
    interp_cls.batchMode = bool(batch) or saved
    try:
        interp = interp_cls()
        interp.setIgnoreErrors(True)
        try:
            out = interp.run(path.read_text(encoding="utf-8"), args)
        except Exception as e:  # exit("…") in a macro run this way cancels it with a RuntimeException
            if "Macro canceled" not in str(e):
                raise
            out = "[aborted]"
        if interp.wasError() or interp.getErrorMessage() is not None:
            raise CareBridgeError(f"macro {path.name} failed: {interp.getErrorMessage()}")
    finally:
        interp_cls.batchMode = saved
    return "" if out is None else str(out)
