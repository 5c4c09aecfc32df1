"""Registered low/high-SNR training pairs from two folders of TIFF files matched by name."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..axes import check_axes
from ..errors import CareBridgeError
from ..io import read_image

TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class PairFiles:
    name: str
    low: Path
    high: Path


def _tiffs(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise CareBridgeError(f"folder {folder} does not exist; give a folder of TIFF files")
    return {p.name: p for p in sorted(folder.iterdir()) if p.suffix.lower() in TIFF_SUFFIXES and p.is_file()}


def find_pairs(low_dir: str | Path, high_dir: str | Path) -> list[PairFiles]:
    """Match TIFFs in ``low_dir`` and ``high_dir`` by file name; every file must have its partner."""
    low, high = _tiffs(Path(low_dir)), _tiffs(Path(high_dir))
    if not low:
        raise CareBridgeError(f"no TIFF files (*.tif, *.tiff) in {low_dir}")
    only_low, only_high = sorted(set(low) - set(high)), sorted(set(high) - set(low))
    if only_low or only_high:
        parts = []
        if only_low:
            parts.append(f"{len(only_low)} low file(s) without a high partner (e.g. {only_low[0]})")
        if only_high:
            parts.append(f"{len(only_high)} high file(s) without a low partner (e.g. {only_high[0]})")
        raise CareBridgeError("; ".join(parts) + "; pairs are matched by identical file names")
    return [PairFiles(n, low[n], high[n]) for n in sorted(low)]


def read_pair(pair: PairFiles, axes: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one pair; check that ``axes`` fits both arrays and that their shapes agree."""
    x, _ = read_image(pair.low)
    y, _ = read_image(pair.high)
    ax = check_axes(axes)
    for arr, p in ((x, pair.low), (y, pair.high)):
        if arr.ndim != len(ax):
            raise CareBridgeError(
                f"{p.name} has {arr.ndim} dimensions {arr.shape} but axes {axes!r} have {len(ax)}; fix --axes"
            )
    if x.shape != y.shape:
        raise CareBridgeError(
            f"pair {pair.name}: low shape {x.shape} differs from high shape {y.shape}; pairs must be registered"
        )
    return x, y


def iter_pairs(low_dir: str | Path, high_dir: str | Path, axes: str) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield ``(name, low, high)`` one pair at a time (the dataset is never held in memory at once)."""
    for pair in find_pairs(low_dir, high_dir):
        x, y = read_pair(pair, axes)
        yield pair.name, x, y
