"""Sub-diffraction structures (CARE's synthetic tubules and granules): a 2D U-Net trained on simulated
widefield acquisitions → the unblurred structures; same geometry as the input."""

from __future__ import annotations

from dataclasses import dataclass

from ..describe.model_info import ModeParams
from .base import NETWORK_PROCEDURE, UNET, UNET_HALO, Mode, Ref, network_geometry_of


@dataclass(frozen=True)
class SubdiffractionParams(ModeParams):
    """What the network was trained to produce (documentation carried into the bundle)."""

    mode = "tubules"
    target: str = "unblurred synthetic structures"
    psf: str = "care_bridge.data.imaging.default_psf(2)"


def _mode(structure: str) -> Mode:
    return Mode(
        name=structure,
        summary=f"widefield image → unblurred {structure} (trained on simulated data)",
        params=SubdiffractionParams,
        geometry=network_geometry_of,
        procedure=NETWORK_PROCEDURE,
        network=UNET,
        halo=UNET_HALO,
        data=Ref("care_bridge.pipelines.subdiffraction", "make_subdiffraction_data"),
        baseline=Ref("care_bridge.pipelines.subdiffraction", "richardson_lucy"),
        net_axes=("YX",),
    )


TUBULES = _mode("tubules")
GRANULES = _mode("granules")
