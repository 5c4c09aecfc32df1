"""``Restorer``: a loaded network (its :class:`ModelInfo` and an engine) that restores numpy images by running
its mode's procedure (:mod:`care_bridge.modes` names it; :mod:`.procedures` implements it)."""

from __future__ import annotations

import numpy as np

from ..axes import check_axes
from ..describe import ModelInfo, ReadoutRequest, Restoration
from ..errors import CareBridgeError
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
                readouts: ReadoutRequest = NO_READOUTS, planewise: bool = False,
                channels: tuple[int, ...] | None = None) -> Restoration:
        """Restore ``image`` with axes ``axes`` (e.g. ``"YX"``, ``"ZYX"``, ``"CYX"``, ``"TZCYX"``) by the
        mode's procedure: plain tiled prediction, or e.g. isotropic rotate-restore-combine.

        ``n_tiles``: an int (spread over Y and X), one count per spatial axis (the network's; for isotropic
        restoration the image's Z, Y, X), or None to choose from the memory left for tiles: ``memory_budget`` is
        the working memory of the whole restoration (the image, its outputs and the tiles, see
        :meth:`memory_needed`); without it, tiles get 512 MiB and the image must fit the available memory.
        ``readouts``: the reliability readouts to compute as well (probabilistic and ensemble models; see
        :class:`~care_bridge.describe.ReadoutRequest`), returned as ``Restoration.readouts``.
        ``planewise``: run a 2D model on every Z plane of a stack (each plane normalized on its own, as a 2D
        image). ``channels``: run a single-channel model on each of these channels of a multi-channel image, one
        after the other (each normalized on its own); the result has these channels, in this order.
        """
        image = np.asarray(image)
        axes = check_axes(axes, image.ndim)
        if channels is not None:
            return self._per_channel(image, axes, channels, n_tiles=n_tiles, memory_budget=memory_budget,
                                     progress=progress, readouts=readouts, planewise=planewise)
        whole = self.memory_needed(image.shape, axes, image.dtype, readouts)
        tiles = tile_budget(self.info, whole, memory_budget, available_memory())
        proc = self.mode.procedure.load()
        extra = {}
        if planewise:
            if len(self.info.axes) != 2 or self.mode.procedure.attr != "restore_network":
                raise CareBridgeError(f"plane-wise restoration runs a 2D model on every Z plane; this is a "
                                      f"{self.info.axes} {self.info.mode} model (drop --planewise)")
            extra["planewise"] = True
        return proc(self, image, axes, n_tiles=n_tiles, memory_budget=tiles, progress=progress,
                    readouts=readouts, **extra)

    def _per_channel(self, image: np.ndarray, axes: str, channels: tuple[int, ...], **options) -> Restoration:
        if "C" not in axes:
            raise CareBridgeError(f"channels {list(channels)} were chosen but the image has no C axis (axes {axes}); "
                                  "add C to the axes or drop the channel choice")
        if self.info.n_channel_in != 1:
            raise CareBridgeError(f"restoring chosen channels one by one needs a single-channel model; this one takes "
                                  f"{self.info.n_channel_in} channels together (drop the channel choice)")
        c_axis, n_c = axes.index("C"), image.shape[axes.index("C")]
        bad = [c for c in channels if c >= n_c]
        if bad:
            raise CareBridgeError(f"channel {bad[0]} does not exist: the image has {n_c} channel(s), numbered from 0")
        rest = axes.replace("C", "")
        parts = [self.restore(np.take(image, c, axis=c_axis), rest, channels=None, **options) for c in channels]
        first = parts[0]
        if "C" in first.axes:
            raise CareBridgeError("this model gives several output channels per input channel; restore the "
                                  "channels without choosing them")
        # the restored channels go where C was, relative to the axes the output kept
        pos = sum(1 for a in axes[:c_axis] if a in first.axes)
        out_axes = first.axes[:pos] + "C" + first.axes[pos:]

        def stack(arrays, stacked: bool = False):
            if arrays[0] is None:
                return None
            return np.ascontiguousarray(np.stack(arrays, axis=pos + int(stacked)))

        ro = first.readouts
        fields = {f: stack([getattr(r.readouts, f) for r in parts], f in ("samples", "members", "member_scales"))
                  for f in ("std", "disagreement", "lower", "upper", "samples", "members", "member_scales")}
        readouts = type(ro)(level=ro.level, **fields)
        return Restoration(stack([r.image for r in parts]), out_axes, stack([r.scale for r in parts]), first.engine,
                           first.n_tiles, readouts)

    def memory_needed(self, shape: tuple[int, ...], axes: str, dtype, readouts: ReadoutRequest = NO_READOUTS) -> int:
        """Estimated bytes a restoration of an image (``shape``/``axes``/``dtype``, not yet read) holds besides its
        tiles (:func:`~care_bridge.runtime.pipeline.whole_image_bytes`); front ends check it before decoding."""
        axes = check_axes(axes, len(shape))
        geometry = self.mode.geometry(self.info, axes, tuple(shape))
        return whole_image_bytes(self.info, geometry, tuple(shape), axes, np.dtype(dtype).itemsize, readouts)
