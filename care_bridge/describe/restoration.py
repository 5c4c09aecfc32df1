"""What a restoration returns (the runtime makes it; front ends read it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Restoration:
    """Result of ``Restorer.restore``: ``image`` (float32, axes ``axes``), the Laplace ``scale`` of a
    probabilistic model (same axes) or None, the engine that ran and the tiles used per spatial axis of the
    network's view of the image."""

    image: np.ndarray
    axes: str
    scale: np.ndarray | None
    engine: str
    n_tiles: tuple[int, ...]
