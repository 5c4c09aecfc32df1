"""Third-party bioimage.io bundles: the network with the bundle's own pre/postprocessing, nothing around it."""

from __future__ import annotations

from dataclasses import dataclass

from ..describe.model_info import ModeParams
from .base import NETWORK_PROCEDURE, Mode, network_geometry_of


@dataclass(frozen=True)
class NoParams(ModeParams):
    mode = "bioimageio"


MODE = Mode(
    name="bioimageio",
    summary="a bioimage.io model from elsewhere, run as its rdf describes",
    params=NoParams,
    geometry=network_geometry_of,
    procedure=NETWORK_PROCEDURE,
    network=None,  # not trained here: the bundle brings its network and declares its halo
    halo=None,
    data=None,
    baseline=None,
)
