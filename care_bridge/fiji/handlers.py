"""The ops a hosted macro can ask for with ``run("CARE Bridge", "op=… …")`` (see :mod:`.bridge`)."""

from __future__ import annotations

from ..errors import CareBridgeError
from .api import load_restorer, restore_imageplus
from .bridge import handler
from .describe import describe_bundle
from .options import parse_n_tiles


def _jclass(name: str):
    import jpype

    return jpype.JClass(name)


@handler("ping")
def ping(opts: dict[str, str]) -> str:
    """Lets a macro check the bridge answers."""
    return "pong"


@handler("restore")
def restore_current(opts: dict[str, str]) -> str:
    """Restore the macro's current image; show ``<title>-CARE`` (and ``-scale``); reply ``image=ID scale=ID``."""
    imp = _jclass("ij.WindowManager").getCurrentImage()
    if imp is None:
        raise CareBridgeError("no image is open; open an image first (File > Open...)")
    n_tiles = parse_n_tiles(opts.get("n_tiles"))
    out = restore_imageplus(
        imp,
        opts.get("bundle", ""),
        n_tiles=n_tiles,
        engine=opts.get("engine") or "auto",
        title=opts.get("title") or None,
    )
    # show the scale first so that the restored image ends up the current one
    scale_id = 0
    if out.scale is not None:
        out.scale.show()
        scale_id = int(out.scale.getID())
    out.image.show()
    return f"image={int(out.image.getID())} scale={scale_id} engine={out.engine}"


@handler("info")
def info(opts: dict[str, str]) -> str:
    """A human-readable description of a bundle for the Log window."""
    bundle = opts.get("bundle", "")
    restorer = load_restorer(bundle, opts.get("engine") or "auto")
    return describe_bundle(restorer, bundle)
