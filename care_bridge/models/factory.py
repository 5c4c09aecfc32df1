"""One entry point for every network a :class:`CareConfig` can describe, and its tile halo.

``build_network(config)`` dispatches on ``config.mode``: ``upsampling`` → :mod:`.upsampling` (3D U-Net behind a
Z-upsampling front), ``projection`` → :mod:`.projection` (3D attention projection + 2D U-Net), everything else
(denoise, isotropic, tubules, granules) → the plain CARE U-Net of :mod:`.unet`. This module imports no
TensorFlow: the halo functions are used by the runtime, the builders import Keras lazily.
"""

from __future__ import annotations

import math

from ..errors import CareBridgeError
from .config import CareConfig
from .receptive_field import receptive_field_radius

OWN_NETWORK_MODES = ("upsampling", "projection")
PROJECTION_DEFAULTS = {"output_layout": "byxc", "axis": "Z", "proj_depth": 1, "proj_n_first": 8}


def _ceil_to(v: int, m: int) -> int:
    return -(-int(v) // int(m)) * int(m)


def unet_config(config: CareConfig, **changes) -> CareConfig:
    """A plain (``mode="denoise"``) U-Net configuration derived from ``config`` with ``changes`` applied."""
    data = config.model_dump()
    data.update({"mode": "denoise", "procedure": {}, "probabilistic": False, "loss": None})
    data.update(changes)
    return CareConfig.from_dict(data, source=f"sub-network of {config.name}")


def upsampling_factor(config: CareConfig) -> int:
    """The integer Z upsampling factor of an ``upsampling`` network (``procedure["factor"]``)."""
    f = config.procedure.get("factor")
    if f is None or not float(f).is_integer() or int(f) < 1:
        raise CareBridgeError(f"upsampling needs procedure.factor, an integer >= 1, got {f!r}")
    if config.axes != "ZYX":
        raise CareBridgeError(f"upsampling networks are 3D (axes ZYX), got {config.axes}")
    scale = [float(v) for v in config.procedure.get("scale", [f, 1, 1])]
    if scale != [float(f), 1.0, 1.0]:
        raise CareBridgeError(f"upsampling procedure.scale must be [{f}, 1, 1], got {scale}")
    return int(f)


def projection_parts(config: CareConfig) -> tuple[CareConfig, CareConfig]:
    """(front, unet2d) configurations of a ``projection`` network.

    front: a 3D U-Net (pool 1 along Z, 3x3x3 kernels, ``proj_depth`` levels, ``proj_n_first`` filters) that
    outputs one logit per voxel; unet2d: the CARE U-Net on the projected ``"YX"`` image.
    """
    proc = {**PROJECTION_DEFAULTS, **config.procedure}
    if config.axes != "ZYX":
        raise CareBridgeError(f"projection networks take ZYX stacks (axes ZYX), got {config.axes}")
    if proc["output_layout"] != "byxc" or proc["axis"] != "Z":
        raise CareBridgeError("projection supports only the Z axis with output_layout 'byxc'")
    if config.unet_pool[0] != 1:
        raise CareBridgeError(f"projection needs unet_pool 1 along Z (Z is never pooled), got {config.unet_pool}")
    depth = int(proc["proj_depth"])
    if not 1 <= depth <= config.unet_depth:
        raise CareBridgeError(f"proj_depth must be between 1 and unet_depth ({config.unet_depth}), got {depth}")
    front = unet_config(config, name="projection_front", axes="ZYX", n_channel_out=1, unet_residual=False,
                        unet_depth=depth, unet_n_first=int(proc["proj_n_first"]), unet_kern_size=3,
                        unet_pool=(1, *config.unet_pool[1:]), unet_last_activation="linear")
    unet2d = unet_config(config, name="denoise_2d", axes="YX", unet_pool=tuple(config.unet_pool[1:]))
    return front, unet2d


def check_network_config(config: CareConfig) -> None:
    """Raise :class:`CareBridgeError` if ``config`` cannot describe a network of its mode."""
    if config.mode in OWN_NETWORK_MODES and config.probabilistic:
        raise CareBridgeError(f"probabilistic output is not supported for mode {config.mode!r}; train without it")
    if config.mode == "upsampling":
        upsampling_factor(config)
    elif config.mode == "projection":
        projection_parts(config)


def build_network(config: CareConfig):
    """A fresh, uncompiled Keras model for ``config`` (input ``"S" + axes + "C"``)."""
    check_network_config(config)
    if config.mode == "upsampling":
        from .upsampling import build_upsampling_net

        return build_upsampling_net(config)
    if config.mode == "projection":
        from .projection import build_projection_net

        return build_projection_net(config)
    from .unet import build_unet

    return build_unet(config)


def network_receptive_field_radius(config: CareConfig) -> tuple[int, ...]:
    """Receptive-field radius per axis of ``config.axes``, in *input* pixels, for every mode.

    upsampling: the U-Net runs on the Z-upsampled grid; its radius ``r`` there covers ``ceil(r / f)`` input
    planes, plus one for the linear interpolation between neighbouring planes. projection: front radius plus
    2D U-Net radius in Y/X; Z is 0 as a stack is never split along Z (it is projected as a whole).
    """
    if config.mode == "upsampling":
        f = upsampling_factor(config)
        r = receptive_field_radius(unet_config(config))
        return (math.ceil(r[0] / f) + 1, *r[1:])
    if config.mode == "projection":
        front, unet2d = projection_parts(config)
        rf, ru = receptive_field_radius(front), receptive_field_radius(unet2d)
        return (0, rf[1] + ru[0], rf[2] + ru[1])
    return receptive_field_radius(config)


def network_halo(config: CareConfig) -> tuple[int, ...]:
    """Tile halo per axis (input pixels): :func:`network_receptive_field_radius` rounded up to the step."""
    return tuple(_ceil_to(r, s) for r, s in zip(network_receptive_field_radius(config), config.step))
