"""Parsing every user option of a restoration, once, for every front end.

Each function takes what a user typed (a CLI argument, an ImageJ macro option, a KNIME dialog string) and
returns the typed value or raises :class:`CareBridgeError` with one line naming the option and the fix.
:func:`restore_options` builds the whole :class:`RestoreOptions` from a mapping of such strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..describe import ReadoutRequest
from ..describe.readouts import DEFAULT_LEVEL, DEFAULT_SAMPLES, MAX_SAMPLES, READOUT_NAMES
from ..errors import CareBridgeError

ENGINES = ("auto", "onnxruntime", "tensorflow", "openvino", "torch")
PRECISIONS = ("fp32", "bf16", "fp16")
_PRECISION_SPELLINGS = {
    "fp32": "fp32", "float32": "fp32", "f32": "fp32", "32": "fp32", "single": "fp32",
    "bf16": "bf16", "bfloat16": "bf16",
    "fp16": "fp16", "float16": "fp16", "f16": "fp16", "16": "fp16", "half": "fp16",
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
MIN_MEMORY_BUDGET = 1 << 20

TileSpec = int | tuple[int, ...] | None


def parse_n_tiles(text: object) -> TileSpec:
    """Tiles per spatial axis as a user may type them.

    ``auto`` (or empty) → None: chosen from the memory budget; ``none`` → 1: no tiling; one number (``4``) →
    that int, which the runtime spreads over Y and X (4 → 2×2); several numbers separated by commas, spaces or
    ``x``, optionally in brackets (``2,2``, ``1,4,4``, ``2x2``, ``[2 2]``, ``(2, 2)``) → a tuple, one per axis.
    Ints and sequences (from Python) pass through checked.
    """
    if text is None:
        return None
    if isinstance(text, bool):
        raise CareBridgeError(f"n_tiles={text!r} is not understood; give auto, none, 4 or 2,2")
    if isinstance(text, int):
        return _positive((text,), text)[0]
    if isinstance(text, (tuple, list)):
        vals = _positive(tuple(text), text)
        return vals[0] if len(vals) == 1 else vals
    s = str(text).strip().lower()
    s = s[1:-1].strip() if len(s) >= 2 and s[0] + s[-1] in ("[]", "()") else s
    if s in ("", "auto", "automatic"):
        return None
    if s == "none":
        return 1
    if not re.fullmatch(r"\d+(?:\s*[,x]\s*\d+|\s+\d+)*", s):
        raise CareBridgeError(f"n_tiles={text!r} is not understood; give auto, none, one number (4) or one per "
                              "spatial axis (2,2 or 1,4,4)")
    vals = _positive(tuple(int(p) for p in re.findall(r"\d+", s)), text)
    return vals[0] if len(vals) == 1 else vals


def _positive(vals: tuple, original: object) -> tuple[int, ...]:
    if not vals or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in vals):
        raise CareBridgeError(f"n_tiles={original!r} must be whole numbers from 1 to 4096, e.g. 4 or 2,2")
    if len(vals) > 3:
        raise CareBridgeError(f"n_tiles={original!r} has {len(vals)} values; give at most one per spatial axis (Z, Y, X)")
    return tuple(int(v) for v in vals)


def parse_memory_budget(text: object) -> float | None:
    """Working memory of a whole restoration (image, outputs and tiles; see ``Restorer.restore``): ``512M``, ``2G``, ``1.5e9`` (bytes), ``2GB``/``2GiB`` (binary units), ``auto``
    or empty → None (the runtime's default: tiles get 512 MiB). At least 1 MiB."""
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        s = str(text).strip().lower().replace(" ", "")
        if s in ("", "auto", "default"):
            return None
        m = re.fullmatch(r"(\d+(?:\.\d*)?(?:e\d+)?)([kmgt]?)(?:i?b)?", s)
        if not m:
            raise CareBridgeError(f"memory budget {text!r} is not understood; give a size like 512M or 2G")
        value = float(m[1]) * _UNITS[m[2]]
    if not value >= MIN_MEMORY_BUDGET or value == float("inf"):
        raise CareBridgeError(f"memory budget {text!r} is too small or invalid; give at least 1M (e.g. 512M)")
    return value


def parse_engine(text: object) -> str:
    """``auto`` (default), ``onnxruntime``, ``tensorflow``, ``openvino`` or ``torch`` (also ``pytorch``,
    ``torchscript``; case-insensitive)."""
    s = str(text or "auto").strip().lower()
    s = {"pytorch": "torch", "torchscript": "torch"}.get(s, s)
    if s not in ENGINES:
        raise CareBridgeError(f"engine {text!r} is unknown; choose one of {', '.join(ENGINES)}")
    return s


def parse_precision(text: object) -> str:
    """The engine's arithmetic: ``fp32`` (default; also empty, ``default``, ``float32``), ``bf16`` (``bfloat16``:
    OpenVINO on a CPU with bf16 instructions) or ``fp16`` (``float16``, ``half``: a GPU); case-insensitive.
    Never anything but fp32 unless asked: the faster precisions change the output (README, Performance)."""
    s = str(text if text is not None else "").strip().lower()
    if s in ("", "default"):
        return "fp32"
    if s not in _PRECISION_SPELLINGS:
        raise CareBridgeError(f"precision {text!r} is unknown; choose fp32 (default), bf16 (CPU with bf16 "
                              "instructions) or fp16 (GPU)")
    return _PRECISION_SPELLINGS[s]


def parse_training_precision(text: object) -> str:
    """The arithmetic of training: ``fp32`` (default; also empty, ``default``, ``float32``) or ``bf16``
    (``bfloat16``: mixed precision, :func:`care_bridge.models.unet.build_unet`); case-insensitive. ``fp16`` is
    refused: float16 training needs loss scaling, which care_bridge does not do."""
    s = parse_precision(text)
    if s not in ("fp32", "bf16"):
        raise CareBridgeError(f"training precision {text!r} is not available; choose fp32 (default) or bf16 (mixed "
                              "precision on a CPU with bf16 instructions or a GPU)")
    return s


def parse_bool(text: object, name: str = "option") -> bool:
    """``true``/``false`` in the spellings a macro or dialog may use (``1``/``0``, ``yes``/``no``, ``on``/``off``)."""
    if isinstance(text, bool):
        return text
    s = str(text if text is not None else "").strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise CareBridgeError(f"{name}={text!r} is not understood; give true or false")


def parse_axes(text: object) -> str | None:
    """Axes of the input as typed (``zyx`` → ``ZYX``); empty → None (from the file, else from the model)."""
    s = str(text or "").strip().upper()
    if not s or s == "AUTO":
        return None
    if not re.fullmatch(r"[STCZYX]+", s) or len(set(s)) != len(s):
        raise CareBridgeError(f"axes {text!r} are not understood; use the letters S, T, C, Z, Y, X once each, e.g. ZYX")
    return s


def parse_suffix(text: object) -> str:
    """A file-name suffix added before the extension (``-CARE``); no path separators."""
    s = str(text or "")
    if any(c in s for c in "/\\\0") or s.strip() != s:
        raise CareBridgeError(f"suffix {text!r} may not contain path separators or surrounding spaces")
    return s


def parse_readouts(text: object) -> tuple[str, ...]:
    """Reliability readouts as typed: names from :data:`READOUT_NAMES` separated by commas or spaces
    (``std,disagreement``, ``interval samples``), ``none`` or empty for none; returned in canonical order."""
    if isinstance(text, (list, tuple, set, frozenset)):
        parts = [str(p).strip().lower() for p in text]
    else:
        parts = [p for p in re.split(r"[,\s;]+", str(text or "").strip().lower()) if p]
    parts = [p for p in parts if p != "none"]
    unknown = [p for p in parts if p not in READOUT_NAMES]
    if unknown:
        raise CareBridgeError(f"readout {unknown[0]!r} is unknown; choose from {', '.join(READOUT_NAMES)} "
                              "(comma-separated), or none")
    return tuple(n for n in READOUT_NAMES if n in parts)


def parse_level(text: object) -> float:
    """The central interval's level: ``0.9``, ``90%`` or ``90`` (percent when above 1); empty: 0.9."""
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "auto", "default")):
        return DEFAULT_LEVEL
    s = str(text).strip()
    try:
        v = float(s.rstrip("%"))
    except ValueError:
        raise CareBridgeError(f"level {text!r} is not a number; give e.g. 0.9 or 90%") from None
    if s.endswith("%") or v > 1:
        v /= 100.0
    if not 0.0 < v < 1.0:
        raise CareBridgeError(f"level {text!r} must lie strictly between 0 and 1 (e.g. 0.9 or 90%)")
    return v


def parse_n_samples(text: object) -> int:
    """Draws per pixel for the ``samples`` readout: a whole number from 1 to 1000; empty: 16."""
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "auto", "default")):
        return DEFAULT_SAMPLES
    s = str(text).strip()
    if isinstance(text, bool) or not re.fullmatch(r"\d+", s) or not 1 <= int(s) <= MAX_SAMPLES:
        raise CareBridgeError(f"n_samples={text!r} must be a whole number from 1 to {MAX_SAMPLES}")
    return int(s)


def readout_request(names: tuple[str, ...], level: object = None, n_samples: object = None) -> ReadoutRequest:
    """The runtime's :class:`ReadoutRequest` for parsed readout names and the typed level / sample count."""
    return ReadoutRequest(std="std" in names, disagreement="disagreement" in names, interval="interval" in names,
                          level=parse_level(level), samples=parse_n_samples(n_samples) if "samples" in names else 0)


OUTPUT_FORMATS = ("auto", "imagej", "ome-tiff", "ome-zarr")
DTYPES = ("float32", "input")


def parse_output_format(text: object) -> str:
    """The output file's convention: ``auto`` (or empty: the input's, an ImageJ hyperstack for a plain TIFF;
    a ``.zarr`` output path means OME-Zarr), ``imagej``, ``ome-tiff`` (also ``ome``, ``ome.tif``), ``ome-zarr``
    (also ``zarr``)."""
    s = str(text).strip().lower().replace("_", "-") if text is not None else ""
    s = {"": "auto", "ome": "ome-tiff", "ome.tif": "ome-tiff", "ome.tiff": "ome-tiff", "ometiff": "ome-tiff",
         "tif": "imagej", "tiff": "imagej", "ij": "imagej", "zarr": "ome-zarr", "omezarr": "ome-zarr",
         "ome.zarr": "ome-zarr"}.get(s, s)
    if s not in OUTPUT_FORMATS:
        raise CareBridgeError(f"output format {text!r} is unknown; choose auto, imagej, ome-tiff or ome-zarr")
    return s


def parse_dtype(text: object) -> str:
    """The output's pixel type: ``float32`` (default) or ``input`` (the input's type; integers rounded half to
    even and clipped to the type's range)."""
    s = str(text).strip().lower() if text is not None else ""
    s = {"": "float32", "float": "float32", "f32": "float32", "same": "input", "keep": "input"}.get(s, s)
    if s not in DTYPES:
        raise CareBridgeError(f"dtype {text!r} is unknown; choose float32 or input (the input's pixel type)")
    return s


def parse_channels(text: object) -> tuple[int, ...] | None:
    """Channels to restore one by one with a single-channel model: ``0,2`` / ``0 2`` / ``[0 2]`` (0-based, in
    the image's channel order); empty or ``all``: every channel when the model takes one, else the model's own
    channel use."""
    if text is None:
        return None
    if isinstance(text, (list, tuple)):
        vals = tuple(text)
    else:
        s = str(text).strip().lower()
        s = s[1:-1].strip() if len(s) >= 2 and s[0] + s[-1] in ("[]", "()") else s
        if s in ("", "all", "auto"):
            return None
        if not re.fullmatch(r"\d+(?:\s*[, ]\s*\d+)*", s):
            raise CareBridgeError(f"channels={text!r} is not understood; give channel numbers from 0, e.g. 0,2")
        vals = tuple(int(v) for v in re.findall(r"\d+", s))
    if not vals or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 4096 for v in vals) \
            or len(set(vals)) != len(vals):
        raise CareBridgeError(f"channels={text!r} must be distinct channel numbers from 0, e.g. 0,2")
    return tuple(int(v) for v in vals)


@dataclass(frozen=True)
class RestoreOptions:
    """The options of a restoration, typed, as every front end passes them to :mod:`.jobs`."""

    engine: str = "auto"
    precision: str = "fp32"
    n_tiles: TileSpec = None
    memory_budget: float | None = None
    axes: str | None = None
    overwrite: bool = False
    suffix: str = ""
    readouts: ReadoutRequest = ReadoutRequest()
    planewise: bool = False
    channels: tuple[int, ...] | None = None
    output_format: str = "auto"
    dtype: str = "float32"


OPTION_KEYS = ("engine", "precision", "n_tiles", "memory_budget", "axes", "overwrite", "suffix", "readouts", "level",
               "n_samples", "planewise", "channels", "output_format", "dtype")


def restore_options(values: Mapping[str, object]) -> RestoreOptions:
    """:class:`RestoreOptions` from a mapping of typed-in strings (ImageJ macro options, KNIME settings);
    missing keys take the defaults; keys outside :data:`OPTION_KEYS` are ignored by design (a front end may
    carry its own, e.g. ``bundle`` or ``via``)."""
    return RestoreOptions(
        engine=parse_engine(values.get("engine")),
        precision=parse_precision(values.get("precision")),
        n_tiles=parse_n_tiles(values.get("n_tiles")),
        memory_budget=parse_memory_budget(values.get("memory_budget")),
        axes=parse_axes(values.get("axes")),
        overwrite=parse_bool(values.get("overwrite"), "overwrite"),
        suffix=parse_suffix(values.get("suffix")),
        readouts=readout_request(parse_readouts(values.get("readouts")), values.get("level"),
                                 values.get("n_samples")),
        planewise=parse_bool(values.get("planewise"), "planewise"),
        channels=parse_channels(values.get("channels")),
        output_format=parse_output_format(values.get("output_format")),
        dtype=parse_dtype(values.get("dtype")),
    )
