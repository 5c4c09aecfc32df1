"""The reliability readouts a restoration can return besides the image (CARE paper, Fig. 5): what a caller
asks for (:class:`ReadoutRequest`) and what comes back (:class:`Readouts`). The numerics are in
:mod:`care_bridge.laplace_mixture`; the runtime computes them tile by tile."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CareBridgeError
from ..laplace_mixture import check_level

READOUT_NAMES = ("std", "disagreement", "interval", "samples")
DEFAULT_LEVEL = 0.9
DEFAULT_SAMPLES = 16
MAX_SAMPLES = 1000


@dataclass(frozen=True)
class ReadoutRequest:
    """Which readouts to compute. ``std``: the predictive standard deviation (image units); ``disagreement``:
    the ensemble disagreement D in [0, 1]; ``interval``: the central interval at ``level`` (lower and upper
    bounds); ``samples``: that many draws per pixel (the paper's "uncertainty video"), reproducible from
    ``seed``; ``members``: each member's Laplace mean and scale (Python API: figures, calibration; a single
    probabilistic network is one member)."""

    std: bool = False
    disagreement: bool = False
    interval: bool = False
    level: float = DEFAULT_LEVEL
    samples: int = 0
    seed: int = 0
    members: bool = False

    def __post_init__(self) -> None:
        check_level(self.level)
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or not 0 <= self.samples <= MAX_SAMPLES:
            raise CareBridgeError(f"samples={self.samples!r} must be a whole number from 0 to {MAX_SAMPLES}")

    @property
    def any(self) -> bool:
        return bool(self.std or self.disagreement or self.interval or self.samples or self.members)

    @property
    def names(self) -> tuple[str, ...]:
        """The requested readouts in :data:`READOUT_NAMES` order."""
        on = {"std": self.std, "disagreement": self.disagreement, "interval": self.interval,
              "samples": self.samples > 0}
        return tuple(n for n in READOUT_NAMES if on[n])

    @property
    def image_fields(self) -> tuple[str, ...]:
        """The :class:`Readouts` images this request fills, in :data:`IMAGE_FIELDS` order (``interval`` gives
        ``lower`` and ``upper``)."""
        on = {"std": self.std, "disagreement": self.disagreement, "lower": self.interval, "upper": self.interval,
              "samples": self.samples > 0}
        return tuple(f for f in IMAGE_FIELDS if on[f])


# the images front ends write, in this order; "samples" has a leading draw axis
IMAGE_FIELDS = ("std", "disagreement", "lower", "upper", "samples")


def level_tag(level: float) -> str:
    """``0.9`` → ``"90"``, ``0.975`` → ``"97.5"``: the level in file names and titles (``lower90``)."""
    return f"{level * 100:.6g}"


def image_name(field: str, level: float) -> str:
    """The name of a readout image in file names, titles and columns' files: ``std``, ``lower90``, ..."""
    return f"{field}{level_tag(level)}" if field in ("lower", "upper") else field


@dataclass
class Readouts:
    """Readouts of one restoration, each with the restored image's axes (``samples`` and ``members`` add a
    leading axis: the draw or the member); None when not requested."""

    std: np.ndarray | None = None
    disagreement: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    level: float = DEFAULT_LEVEL
    samples: np.ndarray | None = None
    members: np.ndarray | None = None
    member_scales: np.ndarray | None = None

    def images(self) -> list[tuple[str, np.ndarray, bool]]:
        """``(name, array, stacked)`` for every computed readout, in a fixed order, as front ends write them:
        ``std``, ``disagreement``, ``lower<level>``, ``upper<level>``, ``samples`` (``stacked``: a leading
        draw axis)."""
        return [(image_name(f, self.level), getattr(self, f), f == "samples") for f in IMAGE_FIELDS
                if getattr(self, f) is not None]
