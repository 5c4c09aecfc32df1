"""Isotropic reconstruction (Weigert et al., Nature Methods 2018, doi:10.1038/s41592-018-0216-7): a 2D network
trained on lateral slices blurred and subsampled like the axial direction restores the XZ and YZ slices of a Z
stack upsampled by ``factor``; both estimates are combined voxel-wise."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..describe.geometry import AxisGeometry
from ..describe.model_info import ModelInfo, ModeParams
from .base import UNET, UNET_HALO, Mode, Ref

COMBINATIONS = ("geometric", "mean")


@dataclass(frozen=True)
class IsotropicParams(ModeParams):
    """``factor``: Z step over lateral pixel size (>= 1); ``combine``: ``geometric`` (CSBDeep's default,
    ``sqrt(max(u1, 0) max(u2, 0))``) or ``mean`` of the XZ- and YZ-slice estimates."""

    mode = "isotropic"
    factor: float = 1.0
    combine: str = "geometric"
    slices: tuple[str, ...] = ("ZX", "ZY")
    z_interpolation: str = "linear"

    def __post_init__(self) -> None:
        if not math.isfinite(self.factor) or self.factor < 1:
            raise ValueError(f"isotropic factor must be a finite number >= 1, got {self.factor}")
        if self.combine not in COMBINATIONS:
            raise ValueError(f"unknown isotropic combination {self.combine!r}; choose one of {', '.join(COMBINATIONS)}")
        if tuple(self.slices) != ("ZX", "ZY") or self.z_interpolation != "linear":
            raise ValueError("isotropic restoration uses slices ZX, ZY and linear Z interpolation only")


def upsampled_planes(nz: int, factor: float) -> int:
    """Planes of a stack of ``nz`` planes upsampled by ``factor``: input plane ``k`` lands on plane ``k f``,
    so the last input plane is plane ``(nz - 1) f`` and there are ``round((nz - 1) f) + 1``."""
    return int(round((nz - 1) * factor)) + 1


def isotropic_geometry(info: ModelInfo, axes: str, shape: tuple[int, ...]) -> dict[str, AxisGeometry]:
    """Z: :func:`upsampled_planes` planes, spacing ``1 / factor`` of the input's; Y, X unchanged."""
    f = float(info.procedure.factor) if isinstance(info.procedure, IsotropicParams) else 1.0
    out = {}
    for a, n in zip(axes, shape):
        if a == "Z":
            out[a] = AxisGeometry(upsampled_planes(n, f), 1.0 / f)
        elif a in "YX":
            out[a] = AxisGeometry(int(n), 1.0)
    return out


MODE = Mode(
    name="isotropic",
    summary="anisotropic Z stack → isotropic stack (2D network on XZ/YZ slices)",
    params=IsotropicParams,
    geometry=isotropic_geometry,
    procedure=Ref("care_bridge.runtime.procedures.isotropic", "restore_isotropic"),
    network=UNET,
    halo=UNET_HALO,
    data=Ref("care_bridge.pipelines.isotropic", "make_isotropic_data"),
    baseline=Ref("care_bridge.pipelines.isotropic", "isotropic_baseline"),
    net_axes=("YX",),
    loop_z=True,
)
