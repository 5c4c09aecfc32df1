"""What a restoration returns (the runtime makes it; front ends read it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .readouts import Readouts


@dataclass
class Restoration:
    """Result of ``Restorer.restore``: ``image`` (float32, axes ``axes``), the Laplace ``scale`` of a
    probabilistic model (same axes) or None, the engine that ran, the tiles used per spatial axis of the
    network's view of the image, and the requested reliability :class:`Readouts` (empty unless asked for).
    An ensemble's ``image`` is the mixture mean."""

    image: np.ndarray
    axes: str
    scale: np.ndarray | None
    engine: str
    n_tiles: tuple[int, ...]
    readouts: Readouts = field(default_factory=Readouts)
