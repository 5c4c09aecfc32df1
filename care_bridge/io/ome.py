"""OME-XML (the metadata of OME-TIFF files): the physical pixel sizes, time increment and channel names of the
first image, read as data, and the metadata tifffile needs to write them back.

OME model (OME 2016-06 schema): ``Image/Pixels`` carries ``PhysicalSizeX/Y/Z`` with ``PhysicalSize*Unit`` (default
``µm``), ``TimeIncrement`` with ``TimeIncrementUnit`` (default ``s``), and one ``Channel`` element per channel
with an optional ``Name``. Lengths are converted to one unit (the X axis'), as ImageJ keeps one unit per image.
The XML comes from an untrusted file: its size is bounded and Python's expat (≥ 2.4) refuses entity-expansion
bombs; a document that does not parse is treated as absent (the pixels are still read).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

MAX_XML_BYTES = 16 << 20
# length units → micrometres (OME UnitsLength symbols, and the spellings ImageJ writes)
TO_MICRONS = {"pm": 1e-6, "Å": 1e-4, "nm": 1e-3, "µm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0,
              "μm": 1.0, "mm": 1e3, "cm": 1e4, "m": 1e6}
# time units → seconds
TO_SECONDS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _positive(v: str | None) -> float | None:
    try:
        x = float(v) if v is not None else None
    except ValueError:
        return None
    return x if x is not None and math.isfinite(x) and x > 0 else None


def parse_ome(xml: str | bytes | None) -> dict:
    """``{"pixel_size": {"X": .., "Y": .., "Z": ..}, "unit": str, "time_interval": float, "time_unit": str,
    "channel_names": [..]}`` of the first OME image (keys only for what the XML says)."""
    if not xml or len(xml) > MAX_XML_BYTES:
        return {}
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return {}
    pixels = next((el for el in root.iter() if _local(el.tag) == "Pixels"), None)
    if pixels is None:
        return {}
    out: dict = {}
    sizes = {a: _positive(pixels.get(f"PhysicalSize{a}")) for a in "XYZ"}
    units = {a: pixels.get(f"PhysicalSize{a}Unit") or "µm" for a in "XYZ"}
    known = {a: v for a, v in sizes.items() if v is not None and units[a] in TO_MICRONS}
    if known:
        unit = units["X"] if "X" in known else units[next(iter(known))]
        out["unit"] = unit
        out["pixel_size"] = {a: v * TO_MICRONS[units[a]] / TO_MICRONS[unit] for a, v in known.items()}
    dt = _positive(pixels.get("TimeIncrement"))
    if dt is not None:
        out["time_interval"] = dt
        out["time_unit"] = pixels.get("TimeIncrementUnit") or "s"
    names = [ch.get("Name") for ch in pixels if _local(ch.tag) == "Channel"]
    if names and all(isinstance(n, str) and n for n in names):
        out["channel_names"] = names
    return out


def ome_metadata(axes: str, pixel_size: dict[str, float], unit: str | None, time_interval: float | None,
                 time_unit: str | None, channel_names: list[str] | None, n_channels: int) -> dict:
    """The ``metadata`` argument of ``tifffile.imwrite(..., ome=True)`` for an image with ``axes``."""
    md: dict = {"axes": axes}
    u = unit if unit in TO_MICRONS else None
    for a in "XYZ":
        if a in pixel_size and a in axes:
            md[f"PhysicalSize{a}"] = float(pixel_size[a])
            md[f"PhysicalSize{a}Unit"] = "µm" if u in (None, "um", "micron", "microns", "μm") else u
    if time_interval and "T" in axes:
        md["TimeIncrement"] = float(time_interval)
        md["TimeIncrementUnit"] = time_unit if time_unit in TO_SECONDS else "s"
    if channel_names and len(channel_names) == n_channels:
        md["Channel"] = {"Name": list(channel_names)}
    return md
