"""Surface projection: a 3D front computes per-voxel weights, a softmax over Z projects the stack to one plane,
and a 2D U-Net restores it (output layout ``byxc``: Z is gone)."""

from __future__ import annotations

from dataclasses import dataclass

from ..describe.model_info import ModeParams
from .base import Mode, Ref, network_geometry_of


@dataclass(frozen=True)
class ProjectionParams(ModeParams):
    """``proj_depth``/``proj_n_first``: depth and filters of the 3D front; the projection is along ``axis`` Z
    and the output layout is ``byxc``."""

    mode = "projection"
    output_layout: str = "byxc"
    axis: str = "Z"
    proj_depth: int = 1
    proj_n_first: int = 8
    projection: str = "softmax over Z of per-voxel logits, weighted sum"

    def __post_init__(self) -> None:
        if self.output_layout != "byxc" or self.axis != "Z":
            raise ValueError("projection supports only the Z axis with output_layout 'byxc'")
        if self.proj_depth < 1 or self.proj_n_first < 1:
            raise ValueError("proj_depth and proj_n_first must be >= 1")

    def network_output_layout(self) -> str | None:
        return self.output_layout


MODE = Mode(
    name="projection",
    summary="Z stack → restored projection of its surface (3D front + 2D U-Net)",
    params=ProjectionParams,
    geometry=network_geometry_of,
    procedure=Ref("care_bridge.runtime.procedures.network", "restore_network"),
    network=Ref("care_bridge.models.projection", "build_projection_net"),
    halo=Ref("care_bridge.models.receptive_field", "projection_halo"),
    data=Ref("care_bridge.pipelines.projection", "make_projection_data"),
    baseline=Ref("care_bridge.pipelines.projection", "projection_baseline"),
    net_axes=("ZYX",),
)
