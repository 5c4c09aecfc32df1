"""The handler table of the hosted bridge: what a macro can ask for with ``run("CARE Bridge", "op=… …")``.

Each handler parses its options with the front-end contract (:mod:`care_bridge.frontend`) and calls the same
job as the command line: ``restore`` ≙ ``care-bridge predict FILE``, ``restore_folder`` ≙ ``care-bridge predict
DIR``, ``info`` ≙ ``care-bridge inspect``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CareBridgeError
from ..frontend import describe_bundle_text, expand_inputs, load_restorer, restore_files, restore_options
from ..frontend.jobs import FileResult
from .restore import restore_imageplus


def _jclass(name: str):
    import jpype

    return jpype.JClass(name)


def ping(opts: dict[str, str]) -> str:
    """Lets a macro check the bridge answers."""
    return "pong"


def restore_current(opts: dict[str, str]) -> str:
    """Restore the macro's current image; show ``<title>-CARE`` (and ``-scale``, and the readouts); reply
    ``image=ID scale=ID readouts=[ID,ID,...]``."""
    options = restore_options(opts)
    imp = _jclass("ij.WindowManager").getCurrentImage()
    if imp is None:
        raise CareBridgeError("no image is open; open an image first (File > Open...)")
    out = restore_imageplus(imp, opts.get("bundle", ""), options, title=opts.get("title") or None)
    # show the scale first so that the restored image ends up the current one
    scale_id = 0
    if out.scale is not None:
        out.scale.show()
        scale_id = int(out.scale.getID())
    for ri in out.readouts:
        ri.show()
    readout_ids = ",".join(str(int(ri.getID())) for ri in out.readouts)
    out.image.show()
    return f"image={int(out.image.getID())} scale={scale_id} readouts=[{readout_ids}] engine={out.engine}"


def restore_folder(opts: dict[str, str]) -> str:
    """Restore every TIFF of ``input`` into ``output`` (the folder job of ``care-bridge predict DIR``); reply
    a summary line, then one line per file (``name -> output`` or ``FAILED name: reason``)."""
    options = restore_options(opts)
    src, dst = opts.get("input", ""), opts.get("output", "")
    if not src or not Path(src).is_dir():
        raise CareBridgeError(f"input folder {src!r} does not exist; pass input=[/path/to/folder]")
    if not dst:
        raise CareBridgeError("no output folder given; pass output=[/path/to/results]")
    restorer = load_restorer(opts.get("bundle", ""), options.engine, options.precision)
    results = restore_files(restorer, expand_inputs(src), dst, options)
    ok = [r for r in results if isinstance(r, FileResult)]
    lines = [f"restored={len(ok)} failed={len(results) - len(ok)}"]
    for r in results:
        lines.append(f"{r.input.name} -> {r.output.name}" if isinstance(r, FileResult)
                     else f"FAILED {r.input.name}: {r.message}")
    return "\n".join(lines)


def info(opts: dict[str, str]) -> str:
    """The description of a bundle, as ``care-bridge inspect`` prints it."""
    bundle = opts.get("bundle", "")
    if not bundle.strip() or not Path(bundle).exists():
        raise CareBridgeError(f"bundle {bundle!r} does not exist; pass bundle=[/path/to/model.zip]")
    return describe_bundle_text(bundle)


HANDLERS = {"ping": ping, "restore": restore_current, "restore_folder": restore_folder, "info": info}
