"""The ``Mode`` record: everything that makes one of CARE's restoration modes what it is, declared in one place.

A mode file (``denoise.py``, ``isotropic.py``, …) declares its typed procedure parameters and output geometry
as code here, and names the parts that live in higher layers — the network builder and halo (training side),
the runtime procedure, the data generator and the baseline — as :class:`Ref`\\ s, which the layer that needs
a part resolves when it needs it. That keeps the import graph a tree: the runtime reads a mode's geometry and
procedure without importing training code, and training reads a mode's network without importing the runtime.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..describe.geometry import AxisGeometry, network_geometry
from ..describe.model_info import ModelInfo, ModeParams

Geometry = Callable[[ModelInfo, str, tuple[int, ...]], dict[str, AxisGeometry]]


@dataclass(frozen=True)
class Ref:
    """A function in another layer, by module and attribute (``Ref("care_bridge.models.unet", "build_unet")``);
    :meth:`load` imports it. ``tests/modes`` checks that every mode's references resolve to callables."""

    module: str
    attr: str

    def load(self) -> Callable[..., Any]:
        return getattr(importlib.import_module(self.module), self.attr)

    def __str__(self) -> str:
        return f"{self.module}:{self.attr}"


@dataclass(frozen=True)
class Mode:
    """One restoration mode.

    ``params``: its typed procedure parameters; ``geometry(info, axes, shape)``: the output's size and pixel
    spacing per spatial axis of an image with ``axes``/``shape``; ``procedure``: the runtime procedure
    (``fn(restorer, image, axes, *, n_tiles, memory_budget, progress) -> Restoration``); ``network``: the Keras
    builder (``fn(CareConfig) -> keras.Model``); ``halo``: ``fn(CareConfig) -> halo per axis``; ``data``: how
    training pairs are made; ``baseline``: the classical method it is compared with (the last four are None
    for a mode that is not trained here). ``loop_z``: whether a 2D
    network of this mode accepts a Z axis (and runs on it as its procedure says).
    """

    name: str
    summary: str
    params: type[ModeParams]
    geometry: Geometry
    procedure: Ref
    network: Ref | None
    halo: Ref | None
    data: Ref | None
    baseline: Ref | None
    net_axes: tuple[str, ...] = ("YX", "ZYX")
    loop_z: bool = False

    def parse_params(self, data: Any, *, where: str = "procedure") -> ModeParams:
        return self.params.from_dict(data, where=where)


NETWORK_PROCEDURE = Ref("care_bridge.runtime.procedures.network", "restore_network")
UNET = Ref("care_bridge.models.unet", "build_unet")
UNET_HALO = Ref("care_bridge.models.receptive_field", "unet_halo")


def network_geometry_of(info: ModelInfo, axes: str, shape: tuple[int, ...]) -> dict[str, AxisGeometry]:
    """The geometry of modes whose network does everything (sizes scaled by the bioimage.io axis scale)."""
    return network_geometry(axes, tuple(shape), info.axes, tuple(info.scale or ()), info.output_spatial_axes)
