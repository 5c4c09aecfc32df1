"""CARE's restoration modes, one file each, registered here.

=============  ====================================  =====================  ========================
mode           network                               runtime procedure      output geometry
=============  ====================================  =====================  ========================
denoise        U-Net                                 network                same
isotropic      2D U-Net on XZ/YZ slices              isotropic              Z ×factor (k → k·f)
upsampling     Z interpolation + 3D U-Net            network                Z ×factor
projection     3D softmax projection + 2D U-Net      network                Z removed
tubules        U-Net on simulated structures         network                same
granules       (same)                                network                same
bioimageio     a third-party bundle's network        network                bioimage.io axis scale
=============  ====================================  =====================  ========================

Adding a mode: one file declaring a :class:`Mode` (typed params, geometry, references to its network builder,
halo, runtime procedure, data generator and baseline), plus one line in :data:`MODES`. Importing this package
imports no framework, runtime or training code.
"""

from __future__ import annotations

from ..errors import CareBridgeError
from . import bioimageio, denoise, isotropic, projection, subdiffraction, upsampling
from .base import Mode, Ref

MODES: dict[str, Mode] = {
    m.name: m
    for m in (denoise.MODE, isotropic.MODE, upsampling.MODE, projection.MODE, subdiffraction.TUBULES,
              subdiffraction.GRANULES, bioimageio.MODE)
}
TRAINABLE = tuple(n for n in MODES if n != "bioimageio")


def get_mode(name: str) -> Mode:
    """The :class:`Mode` called ``name``; unknown names are a one-line error listing the known ones."""
    try:
        return MODES[str(name)]
    except KeyError:
        raise CareBridgeError(f"unknown mode {name!r}; known modes: {', '.join(MODES)}") from None


__all__ = ["MODES", "TRAINABLE", "Mode", "Ref", "get_mode"]
