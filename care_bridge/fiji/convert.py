"""ImagePlus ↔ numpy, in memory and bit-exact, with axes and calibration.

An ImagePlus holds ``C·Z·T`` planes in one stack, channel fastest (ImageJ's hyperstack order ``TZCYX``).
Arrays come out squeezed of size-1 ``T``/``Z``/``C`` axes — the same array and axes that
:func:`care_bridge.io.read_image` gives for the TIFF ImageJ would save, so both Fiji paths feed the runtime
identical input. Pixels move through one direct NIO buffer over the numpy memory (no temporary files):
~0.1 s each way for 50×1024×1024 float32.
"""

from __future__ import annotations

import numpy as np

from ..axes import check_axes, move_axes
from ..errors import CareBridgeError
from ..io import ImageMeta

IJ_ORDER = "TZCYX"
_BITDEPTH_DTYPE = {8: np.uint8, 16: np.uint16, 32: np.float32}


def _java():
    import jpype

    return jpype


def _typed_buffer(arr: np.ndarray):
    """A java.nio buffer of the element type over ``arr``'s memory (C-contiguous), and the Java array type."""
    jpype = _java()
    import jpype.nio

    bb = jpype.nio.convertToDirectBuffer(arr.reshape(-1).view(np.uint8))
    bb = bb.order(jpype.JClass("java.nio.ByteOrder").nativeOrder())
    if arr.dtype == np.uint8:
        return bb, jpype.JByte
    if arr.dtype == np.uint16:
        return bb.asShortBuffer(), jpype.JShort
    return bb.asFloatBuffer(), jpype.JFloat


def imageplus_to_array(imp) -> tuple[np.ndarray, str]:
    """The pixels of ``imp`` as a numpy array (uint8, uint16 or float32) and its axes, e.g. ``"ZCYX"``."""
    if imp is None:
        raise CareBridgeError("no image is open; open an image first (File > Open...)")
    depth = int(imp.getBitDepth())
    if depth == 24:
        raise CareBridgeError(
            f"{imp.getTitle()} is an RGB image; convert it first (Image > Type > 16-bit, "
            "or Image > Color > Split Channels / Make Composite)"
        )
    dtype = _BITDEPTH_DTYPE[depth]
    nc, nz, nt = int(imp.getNChannels()), int(imp.getNSlices()), int(imp.getNFrames())
    w, h = int(imp.getWidth()), int(imp.getHeight())
    stack = imp.getStack()
    n = int(stack.getSize())
    if n != nc * nz * nt:
        raise CareBridgeError(
            f"{imp.getTitle()}: stack has {n} planes but C*Z*T = {nc}*{nz}*{nt}; fix it with Image > Hyperstacks"
        )
    out = np.empty((n, h, w), dtype)
    buf, _ = _typed_buffer(out)
    plane = w * h
    for i in range(n):
        buf.position(i * plane)
        buf.put(stack.getPixels(i + 1))
    arr = out.reshape(nt, nz, nc, h, w)
    keep = [i for i, (a, s) in enumerate(zip(IJ_ORDER, arr.shape)) if s != 1 or a in "YX"]
    axes = "".join(IJ_ORDER[i] for i in keep)
    return arr.reshape([arr.shape[i] for i in keep]), axes


def array_to_imageplus(arr: np.ndarray, axes: str, title: str):
    """A new ImagePlus (not shown) from ``arr`` with ``axes``; uint8/uint16/float32 keep their type, other
    types become float32. More than one channel gives a CompositeImage."""
    jpype = _java()
    axes = check_axes(axes, arr.ndim)
    if "S" in axes:
        raise CareBridgeError("an ImagePlus has no sample axis 'S'; give one image at a time")
    if arr.dtype not in (np.uint8, np.uint16, np.float32):
        arr = arr.astype(np.float32)
    x = np.ascontiguousarray(move_axes(arr, axes, IJ_ORDER))
    nt, nz, nc, h, w = x.shape
    ImageStack = jpype.JClass("ij.ImageStack")
    ImagePlus = jpype.JClass("ij.ImagePlus")
    stack = ImageStack(w, h)
    buf, jtype = _typed_buffer(x)
    plane = w * h
    for i in range(nt * nz * nc):
        pixels = jpype.JArray(jtype)(plane)
        buf.position(i * plane)
        buf.get(pixels)
        stack.addSlice("", pixels)
    imp = ImagePlus(title, stack)
    imp.setDimensions(nc, nz, nt)
    if nc > 1:
        imp = jpype.JClass("ij.CompositeImage")(imp, 3)  # IJ.GRAYSCALE mode
    elif nz > 1 and nt > 1:
        imp.setOpenAsHyperStack(True)
    if x.dtype == np.float32:
        _reset_display(imp, x)
    return imp


def _reset_display(imp, x: np.ndarray) -> None:
    finite = x[np.isfinite(x)]
    if finite.size:
        imp.setDisplayRange(float(finite.min()), float(finite.max()))


def meta_from_imageplus(imp) -> ImageMeta:
    """Pixel sizes (X, Y and Z when the image has slices) and unit of ``imp``'s calibration."""
    cal = imp.getCalibration()
    meta = ImageMeta(unit=str(cal.getUnit()))
    if cal.scaled():
        meta.pixel_size = {"X": float(cal.pixelWidth), "Y": float(cal.pixelHeight)}
        if int(imp.getNSlices()) > 1:
            meta.pixel_size["Z"] = float(cal.pixelDepth)
    return meta


def copy_calibration(src, dst, spacing: dict[str, float] | None = None) -> None:
    """Give ``dst`` the calibration (pixel sizes, units, frame interval, origin) and properties of ``src``.

    ``spacing`` (output pixel spacing over input pixel spacing per axis, e.g. ``{"Z": 0.25}`` after isotropic
    restoration ×4; :func:`care_bridge.frontend.spacing_factors`) multiplies the pixel size on that axis.
    """
    cal = src.getCalibration().copy()
    for axis, field in (("X", "pixelWidth"), ("Y", "pixelHeight"), ("Z", "pixelDepth")):
        f = (spacing or {}).get(axis, 1.0)
        if f != 1.0:
            setattr(cal, field, float(getattr(cal, field)) * f)
    dst.setCalibration(cal)
    info = src.getProperty("Info")
    if info is not None:
        dst.setProperty("Info", info)
    props = src.getProperties()  # java.util.Properties of ImagePlus.setProperty, may be null
    if props is not None:
        for key in props.keySet():
            if str(key) != "Info":
                dst.setProperty(str(key), props.get(key))
    image_props = src.getImageProperties() if hasattr(src, "getImageProperties") else None
    if image_props is not None and hasattr(dst, "setProp"):  # ImageJ >= 1.53: Property.set / setProp
        for key in image_props.keySet():
            dst.setProp(str(key), str(image_props.get(key)))
