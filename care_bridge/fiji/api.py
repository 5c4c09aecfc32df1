"""Python API for pyimagej / JPype users: restore an ImagePlus (or an ImageJ2 Dataset) and run our macros.

    >>> from care_bridge import fiji
    >>> session = fiji.start_imagej()                      # ij.jar, or fiji.start_imagej("/opt/Fiji.app")
    >>> imp = session.IJ.openImage("/data/cells.tif")
    >>> out = fiji.restore_imageplus(imp, "model.zip")      # out.image: ImagePlus "cells-CARE"
    >>> fiji.run_macro("CARE_Model_Info", "bundle=[model.zip]")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import CareBridgeError
from .convert import array_to_imageplus, copy_calibration, imageplus_to_array, size_ratio
from .options import n_tiles_for_runtime

MACROS_ENV = "CARE_BRIDGE_MACROS"


@dataclass
class RestoredImages:
    """Result of :func:`restore_imageplus`: the restored ImagePlus, the Laplace scale (probabilistic bundles)
    or None, the engine that ran and the tiles used."""

    image: Any
    scale: Any | None
    engine: str
    n_tiles: tuple[int, ...]


@lru_cache(maxsize=2)
def _load_cached(bundle: str, mtime: float, engine: str):
    from .. import runtime

    return runtime.load(bundle, engine=engine)


def input_axes(restorer, ndim: int, axes: str, given: str | None) -> str:
    """``care_bridge.runtime.files.input_axes`` (imported lazily: importing this package loads no runtime)."""
    from ..runtime.files import input_axes as rule

    return rule(restorer, ndim, axes, given)


def load_restorer(bundle: str | os.PathLike, engine: str = "auto"):
    """``runtime.load`` with a small cache keyed by path, modification time and engine (a folder of images
    through the hosted bridge loads the bundle once)."""
    p = Path(bundle).expanduser()
    if not str(bundle).strip():
        raise CareBridgeError("no bundle given; choose a CARE bundle (.zip), e.g. bundle=[/path/model.zip]")
    if not p.exists():
        raise CareBridgeError(f"bundle {p} does not exist; check the path (bundle=[/path/model.zip])")
    return _load_cached(str(p.resolve()), p.stat().st_mtime, engine or "auto")


def result_title(title: str, suffix: str = "-CARE") -> str:
    """``cells.tif`` → ``cells-CARE``: the input's title without a TIFF extension, plus ``suffix``."""
    t = str(title)
    for ext in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if t.lower().endswith(ext):
            t = t[: -len(ext)]
            break
    return t + suffix


def restore_imageplus(
    imp,
    bundle: str | os.PathLike,
    *,
    n_tiles: int | tuple[int, ...] | None = None,
    engine: str = "auto",
    title: str | None = None,
) -> RestoredImages:
    """Restore ``imp`` with ``bundle``; the input is not modified. Returns new (not shown) ImagePlus objects
    titled ``<title>-CARE`` (and ``<title>-CARE-scale``) with the input's calibration and properties."""
    arr, axes = imageplus_to_array(imp)
    restorer = load_restorer(bundle, engine)
    axes = input_axes(restorer, arr.ndim, axes, None)  # the CLI's rule: both Fiji paths feed the runtime alike
    nt = n_tiles_for_runtime(n_tiles) if isinstance(n_tiles, tuple) else n_tiles
    res = restorer.restore(arr, axes, n_tiles=nt)
    out_axes = getattr(res, "axes", axes)
    name = title or result_title(imp.getTitle())
    ratio = size_ratio(arr.shape, axes, res.image.shape, out_axes)
    image = array_to_imageplus(res.image, out_axes, name)
    copy_calibration(imp, image, ratio)
    scale = None
    if res.scale is not None:
        scale = array_to_imageplus(res.scale, out_axes, name + "-scale")
        copy_calibration(imp, scale, ratio)
    return RestoredImages(image, scale, str(res.engine), tuple(getattr(res, "n_tiles", ()) or ()))


def restore_dataset(ij, dataset, bundle: str | os.PathLike, **kwargs):
    """ImageJ2 (pyimagej) only: restore a ``Dataset`` and return a ``Dataset`` (through ImageJ 1.x
    ImagePlus, so everything else is shared with the plain-ImageJ path). Not verified here (no Fiji)."""
    imp = ij.py.to_imageplus(dataset)
    out = restore_imageplus(imp, bundle, **kwargs)
    return ij.py.to_dataset(out.image)


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

    from .bridge import clear_last_error
    from .jvm import start_imagej

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
