"""Where results go and what they are called, for every front end."""

from __future__ import annotations

from pathlib import Path

RESULT_SUFFIX = "-CARE"  # title of a restored image shown in ImageJ: <input title>-CARE
TIFF_SUFFIXES = (".tif", ".tiff")
_TIFF_EXTS = (".ome.tiff", ".ome.tif", ".tiff", ".tif")


def scale_path(output: str | Path) -> Path:
    """Where a probabilistic model's Laplace scale goes: ``OUT_scale.tif`` beside ``OUT.tif``."""
    p = Path(output)
    return p.with_name(p.stem + "_scale" + (p.suffix or ".tif"))


def readout_path(output: str | Path, name: str, ext: str = "") -> Path:
    """Where a readout goes beside ``OUT.tif``: ``OUT_<name>.tif`` (``OUT_std.tif``, ``OUT_lower90.tif``,
    ``OUT_samples.tif``); ``ext`` replaces the extension (the samples' ``.gif`` preview)."""
    p = Path(output)
    return p.with_name(f"{p.stem}_{name}{ext or p.suffix or '.tif'}")


def readout_title(title: str, name: str) -> str:
    """Title of a readout image in ImageJ: ``<result title>_<name>`` (``cells-CARE_disagreement``)."""
    return f"{title}_{name}"


def output_path(out_dir: str | Path, image: str | Path, suffix: str = "") -> Path:
    """Where the restoration of ``image`` goes when restoring into a folder (``care-bridge predict DIR``, the
    CARE Restore Folder macro, the KNIME Restorer): its own name with ``suffix`` before the extension;
    non-TIFF names get ``.tif``."""
    image = Path(image)
    ext = image.suffix if image.suffix.lower() in TIFF_SUFFIXES else ".tif"
    stem = image.name[: -len(image.suffix)] if image.suffix else image.name
    return Path(out_dir) / f"{stem}{suffix}{ext}"


def result_title(title: str, suffix: str = RESULT_SUFFIX) -> str:
    """``cells.tif`` → ``cells-CARE``: an image title without a TIFF extension, plus ``suffix`` (the macros
    apply the same rule in ``resultTitle``; a test holds them together)."""
    t = str(title)
    for ext in _TIFF_EXTS:
        if t.lower().endswith(ext):
            t = t[: -len(ext)]
            break
    return t + suffix
