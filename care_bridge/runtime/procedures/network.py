"""The plain procedure: the network on the image, tiled (:func:`care_bridge.runtime.pipeline.apply_network`)."""

from __future__ import annotations

from ...describe import ReadoutRequest, Restoration
from ..pipeline import apply_network
from ..readouts import NO_READOUTS


def restore_network(restorer, image, axes: str, *, n_tiles=None, memory_budget=None,
                    progress: bool = False, readouts: ReadoutRequest = NO_READOUTS,
                    planewise: bool = False) -> Restoration:
    """Restore ``image`` (any axes the network allows) with ``restorer``'s network; a 2D model whose
    procedure declares ``planewise``, or asked to (``planewise``), also runs on every Z plane of a stack."""
    loop_z = planewise or bool(getattr(restorer.info.procedure, "planewise", False))
    return apply_network(restorer.engine, restorer.info, image, axes, n_tiles=n_tiles,
                         memory_budget=memory_budget, progress=progress, loop_z=loop_z, readouts=readouts)
