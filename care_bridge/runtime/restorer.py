"""``Restorer``: a loaded network (its :class:`ModelInfo` and an engine) that restores numpy images by running
its mode's procedure (:mod:`care_bridge.modes` names it; :mod:`.procedures` implements it)."""

from __future__ import annotations

import numpy as np

from ..axes import check_axes
from ..describe import ModelInfo, ReadoutRequest, Restoration
from ..modes import get_mode
from ..resources import available_memory
from .engines import Engine
from .pipeline import TileCounts, tile_budget, whole_image_bytes
from .readouts import NO_READOUTS


class Restorer:
    """Thin state: the network's description and the engine that runs it."""

    def __init__(self, info: ModelInfo, engine: Engine, *, source: str = ""):
        self.info = info
        self.engine = engine
        self.source = source
        self.mode = get_mode(info.mode)

    def __repr__(self) -> str:
        return f"Restorer({self.info.name!r}, axes={self.info.axes!r}, engine={self.engine.name!r})"

    def restore(self, image: np.ndarray, axes: str, *, n_tiles: TileCounts = None,
                memory_budget: float | None = None, progress: bool = False,
                readouts: ReadoutRequest = NO_READOUTS) -> Restoration:
        """Restore ``image`` with axes ``axes`` (e.g. ``"YX"``, ``"ZYX"``, ``"CYX"``, ``"TZCYX"``) by the
        mode's procedure: plain tiled prediction, or e.g. isotropic rotate-restore-combine.

        ``n_tiles``: an int (spread over Y and X), one count per spatial axis (the network's; for isotropic
        restoration the image's Z, Y, X), or None to choose from the memory left for tiles: ``memory_budget`` is
        the working memory of the whole restoration (the image, its outputs and the tiles, see
        :meth:`memory_needed`); without it, tiles get 1 GiB and the image must fit the available memory.
        ``readouts``: the reliability readouts to compute as well (probabilistic and ensemble models; see
        :class:`~care_bridge.describe.ReadoutRequest`), returned as ``Restoration.readouts``.
        """
        image = np.asarray(image)
        whole = self.memory_needed(image.shape, axes, image.dtype, readouts)
        tiles = tile_budget(self.info, whole, memory_budget, available_memory())
        proc = self.mode.procedure.load()
        return proc(self, image, axes, n_tiles=n_tiles, memory_budget=tiles, progress=progress,
                    readouts=readouts)

    def memory_needed(self, shape: tuple[int, ...], axes: str, dtype, readouts: ReadoutRequest = NO_READOUTS) -> int:
        """Estimated bytes a restoration of an image (``shape``/``axes``/``dtype``, not yet read) holds besides its
        tiles (:func:`~care_bridge.runtime.pipeline.whole_image_bytes`); front ends check it before decoding."""
        axes = check_axes(axes, len(shape))
        geometry = self.mode.geometry(self.info, axes, tuple(shape))
        return whole_image_bytes(self.info, geometry, tuple(shape), axes, np.dtype(dtype).itemsize, readouts)
