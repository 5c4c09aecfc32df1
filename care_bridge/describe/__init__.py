"""The neutral description layer: what a network is and what a restoration returns.

Nothing here executes a network or imports a framework, the runtime, training code or pydantic: the bundle
reader, the runtime, the exporters and every front end share these types.
"""

from .geometry import AxisGeometry, network_geometry
from .model_info import ModelInfo, ModeParams
from .readouts import ReadoutRequest, Readouts
from .restoration import Restoration

__all__ = ["AxisGeometry", "ModeParams", "ModelInfo", "ReadoutRequest", "Readouts", "Restoration", "network_geometry"]
