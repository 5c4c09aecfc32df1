"""TIFF input/output with axes and physical pixel sizes (ImageJ hyperstack convention)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from ..axes import check_axes, move_axes
from ..errors import CareBridgeError
from .atomic import atomic_path

IMAGEJ_ORDER = "TZCYX"


@dataclass
class ImageMeta:
    """What a TIFF says about its pixels: axes (if known), pixel sizes per spatial axis, unit."""

    axes: str | None = None
    pixel_size: dict[str, float] = field(default_factory=dict)  # e.g. {"Z": 2.0, "Y": 0.1, "X": 0.1}
    unit: str | None = None


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, ImageMeta]:
    """Read a TIFF; return the array (squeezed of size-1 ImageJ axes) and its metadata."""
    p = Path(path)
    if not p.is_file():
        raise CareBridgeError(f"input {p} does not exist; check the path")
    try:
        with tifffile.TiffFile(p) as tf:
            series = tf.series[0]
            arr = series.asarray()
            axes = series.axes.upper().replace("Q", "").replace("I", "Z")
            meta = ImageMeta()
            ij = tf.imagej_metadata or {}
            page = tf.pages[0]
            unit = ij.get("unit")
            meta.unit = unit if isinstance(unit, str) else None
            for tag, letter in (("XResolution", "X"), ("YResolution", "Y")):
                t = page.tags.get(tag)
                if t is not None:
                    num, den = t.value
                    if num and den and num / den not in (0, 1):
                        meta.pixel_size[letter] = den / num
            if "spacing" in ij:
                meta.pixel_size["Z"] = float(ij["spacing"])
    except CareBridgeError:
        raise
    except Exception as e:  # tifffile raises many kinds
        raise CareBridgeError(f"cannot read {p} as TIFF ({type(e).__name__}: {e}); check the file") from e
    if len(axes) == arr.ndim and set(axes) <= set("TZCYXS"):
        keep = [i for i, a in enumerate(axes) if arr.shape[i] != 1 or a in "YX"]
        arr = arr.reshape([arr.shape[i] for i in keep])
        meta.axes = "".join(axes[i] for i in keep).replace("S", "C")
        if len(set(meta.axes)) != len(meta.axes):
            meta.axes = None
    return arr, meta


def write_image(
    path: str | os.PathLike,
    image: np.ndarray,
    axes: str,
    *,
    overwrite: bool = False,
    meta: ImageMeta | None = None,
) -> Path:
    """Write ``image`` (axes ``axes``) atomically as an ImageJ hyperstack TIFF (float32 stays float32).

    Calibration in ``meta`` (pixel sizes, unit) is written where ImageJ reads it.
    """
    axes = check_axes(axes, image.ndim)
    if "S" in axes:
        raise CareBridgeError("cannot write a batch axis 'S' to one TIFF; write one file per sample")
    arr = move_axes(image, axes, IMAGEJ_ORDER)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    kwargs: dict = {}
    ijmeta: dict = {"axes": IMAGEJ_ORDER}
    if meta is not None:
        if "X" in meta.pixel_size and "Y" in meta.pixel_size:
            kwargs["resolution"] = (1.0 / meta.pixel_size["X"], 1.0 / meta.pixel_size["Y"])
        if "Z" in meta.pixel_size:
            ijmeta["spacing"] = meta.pixel_size["Z"]
        if meta.unit:
            ijmeta["unit"] = meta.unit
    with atomic_path(path, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, np.ascontiguousarray(arr), imagej=True, metadata=ijmeta, **kwargs)
    return Path(path)
