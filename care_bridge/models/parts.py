"""Sub-network configurations of the composite modes (pure config arithmetic, no framework): the plain U-Net
inside an upsampling network and the two parts of a projection network."""

from __future__ import annotations

from ..errors import CareBridgeError
from ..modes.projection import ProjectionParams
from ..modes.upsampling import UpsamplingParams
from .config import CareConfig


def unet_config(config: CareConfig, **changes) -> CareConfig:
    """A plain (``mode="denoise"``) U-Net configuration derived from ``config`` with ``changes`` applied."""
    data = config.model_dump()
    data.update({"mode": "denoise", "procedure": {}, "probabilistic": False, "loss": None})
    data.update(changes)
    return CareConfig.from_dict(data, source=f"sub-network of {config.name}")


def upsampling_factor(config: CareConfig) -> int:
    """The integer Z upsampling factor of an ``upsampling`` network."""
    params = config.params
    if not isinstance(params, UpsamplingParams):
        raise CareBridgeError(f"{config.name} is a {config.mode} network, not an upsampling one")
    if config.axes != "ZYX":
        raise CareBridgeError(f"upsampling networks are 3D (axes ZYX), got {config.axes}")
    return int(params.factor)


def projection_parts(config: CareConfig) -> tuple[CareConfig, CareConfig]:
    """(front, unet2d) configurations of a ``projection`` network.

    front: a 3D U-Net (pool 1 along Z, 3x3x3 kernels, ``proj_depth`` levels, ``proj_n_first`` filters) that
    outputs one logit per voxel; unet2d: the CARE U-Net on the projected ``"YX"`` image.
    """
    params = config.params
    if not isinstance(params, ProjectionParams):
        raise CareBridgeError(f"{config.name} is a {config.mode} network, not a projection one")
    if config.axes != "ZYX":
        raise CareBridgeError(f"projection networks take ZYX stacks (axes ZYX), got {config.axes}")
    if config.unet_pool[0] != 1:
        raise CareBridgeError(f"projection needs unet_pool 1 along Z (Z is never pooled), got {config.unet_pool}")
    depth = int(params.proj_depth)
    if not 1 <= depth <= config.unet_depth:
        raise CareBridgeError(f"proj_depth must be between 1 and unet_depth ({config.unet_depth}), got {depth}")
    front = unet_config(config, name="projection_front", axes="ZYX", n_channel_out=1, unet_residual=False,
                        unet_depth=depth, unet_n_first=int(params.proj_n_first), unet_kern_size=3,
                        unet_pool=(1, *config.unet_pool[1:]), unet_last_activation="linear")
    unet2d = unet_config(config, name="denoise_2d", axes="YX", unet_pool=tuple(config.unet_pool[1:]))
    return front, unet2d
