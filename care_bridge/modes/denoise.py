"""Denoising (CARE's main mode): a U-Net maps low-SNR to high-SNR images of the same geometry."""

from __future__ import annotations

from dataclasses import dataclass

from ..describe.model_info import ModeParams
from .base import NETWORK_PROCEDURE, UNET, UNET_HALO, Mode, Ref, network_geometry_of


@dataclass(frozen=True)
class DenoiseParams(ModeParams):
    """``planewise``: a 2D model may be applied to every Z plane of a stack."""

    mode = "denoise"
    planewise: bool = False


MODE = Mode(
    name="denoise",
    summary="low → high SNR, same geometry (registered pairs)",
    params=DenoiseParams,
    geometry=network_geometry_of,
    procedure=NETWORK_PROCEDURE,
    network=UNET,
    halo=UNET_HALO,
    data=Ref("care_bridge.data.patches", "create_patches"),
    baseline=Ref("care_bridge.evaluate.baselines", "gaussian"),
)
