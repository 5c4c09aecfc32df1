"""Axial upsampling: a 3D network behind a fixed linear Z interpolation restores a stack sampled ``factor``
times more coarsely along Z (the output has ``factor`` times the input's planes)."""

from __future__ import annotations

from dataclasses import dataclass

from ..describe.model_info import ModeParams
from .base import Mode, Ref, network_geometry_of


@dataclass(frozen=True)
class UpsamplingParams(ModeParams):
    """``factor``: integer Z upsampling; ``scale``: the bioimage.io output/input size factor per axis
    (``[factor, 1, 1]``)."""

    mode = "upsampling"
    factor: int = 1
    scale: tuple[float, ...] = ()
    axis: str = "Z"
    input_plane_k_at_output_plane: str = "k * factor"

    def __post_init__(self) -> None:
        if self.factor < 1:
            raise ValueError(f"upsampling factor must be an integer >= 1, got {self.factor}")
        if not self.scale:
            object.__setattr__(self, "scale", (float(self.factor), 1.0, 1.0))
        if tuple(self.scale) != (float(self.factor), 1.0, 1.0) or self.axis != "Z":
            raise ValueError(f"upsampling scale must be [{self.factor}, 1, 1] along Z, got {list(self.scale)}")

    def size_factors(self, ndim: int) -> tuple[float, ...]:
        return tuple(float(v) for v in self.scale)


MODE = Mode(
    name="upsampling",
    summary="Z stack → stack with factor times the planes (3D network)",
    params=UpsamplingParams,
    geometry=network_geometry_of,
    procedure=Ref("care_bridge.runtime.procedures.network", "restore_network"),
    network=Ref("care_bridge.models.upsampling", "build_upsampling_net"),
    halo=Ref("care_bridge.models.receptive_field", "upsampling_halo"),
    data=Ref("care_bridge.pipelines.upsampling", "make_upsampling_data"),
    baseline=Ref("care_bridge.pipelines.upsampling", "upsampling_baseline"),
    net_axes=("ZYX",),
)
