"""Mode-specific restoration procedures built on :meth:`Restorer.apply_network` (e.g. isotropic
reconstruction: upsample Z, restore every XZ and YZ slice with the 2D network, combine).

``PROCEDURES`` maps ``ModelInfo.mode`` → ``fn(restorer, image, axes, *, n_tiles, memory_budget, progress)``
returning a :class:`~care_bridge.runtime.restore.Restoration`; modes not listed use the plain network.
"""

from __future__ import annotations

PROCEDURES: dict = {}
