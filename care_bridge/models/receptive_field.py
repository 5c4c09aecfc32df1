"""Receptive field (halo) of a CARE U-Net, computed from its architecture.

A stack of layers has receptive-field radius ``r = sum_l (k_l - 1) / 2 * j_l`` over convolutions and
``(p - 1) * j_l`` over pooling, where ``j_l`` is the product of the strides (pool sizes) before layer ``l``
(the "jump"; Araujo et al., Distill 2019, doi:10.23915/distill.00021). For the U-Net the longest path runs
down the encoder, through the bottleneck and up the decoder; upsampling halves the jump again. Output pixels
farther than ``r`` input pixels from a tile's edge are not influenced by what lies beyond it, so a tile halo
of ``r`` makes tiled and untiled prediction equal.
"""

from __future__ import annotations

import math

from .config import CareConfig
from .parts import projection_parts, unet_config, upsampling_factor


def receptive_field_radius(config: CareConfig) -> tuple[int, ...]:
    """Receptive-field radius in input pixels, per spatial axis of ``config.axes``."""
    radii = []
    k = config.unet_kern_size
    c = config.unet_n_conv_per_depth
    d = config.unet_depth
    for p in config.unet_pool:
        r = 0
        jump = 1
        for _ in range(d):  # encoder: c convs at this scale, then pooling
            r += c * (k - 1) // 2 * jump
            r += (p - 1) * jump
            jump *= p
        r += c * (k - 1) // 2 * jump  # bottleneck
        for _ in range(d):  # decoder: upsample, then c convs at the finer scale
            jump //= p
            r += c * (k - 1) // 2 * jump
        radii.append(r)  # final 1x1 convolution adds nothing
    return tuple(radii)


def _ceil_to(v: int, m: int) -> int:
    return -(-int(v) // int(m)) * int(m)


def unet_halo(config: CareConfig) -> tuple[int, ...]:
    """Tile halo per axis of a plain U-Net: the receptive-field radius rounded up to the divisibility step
    (pool ** depth), so that tiles stay aligned to the pooling grid."""
    return tuple(_ceil_to(r, s) for r, s in zip(receptive_field_radius(config), config.step))


def upsampling_receptive_field_radius(config: CareConfig) -> tuple[int, ...]:
    """Receptive-field radius (input pixels) of an upsampling network: the U-Net runs on the Z-upsampled grid;
    its radius ``r`` there covers ``ceil(r / f)`` input planes, plus one for the linear interpolation between
    neighbouring planes."""
    f = upsampling_factor(config)
    r = receptive_field_radius(unet_config(config))
    return (math.ceil(r[0] / f) + 1, *r[1:])


def projection_receptive_field_radius(config: CareConfig) -> tuple[int, ...]:
    """Receptive-field radius (input pixels) of a projection network: front radius plus 2D U-Net radius in
    Y/X; Z is 0 as a stack is never split along Z (it is projected as a whole)."""
    front, unet2d = projection_parts(config)
    rf, ru = receptive_field_radius(front), receptive_field_radius(unet2d)
    return (0, rf[1] + ru[0], rf[2] + ru[1])


def upsampling_halo(config: CareConfig) -> tuple[int, ...]:
    """Tile halo of an upsampling network: its radius rounded up to the step."""
    return tuple(_ceil_to(r, s) for r, s in zip(upsampling_receptive_field_radius(config), config.step))


def projection_halo(config: CareConfig) -> tuple[int, ...]:
    """Tile halo of a projection network: its radius rounded up to the step."""
    return tuple(_ceil_to(r, s) for r, s in zip(projection_receptive_field_radius(config), config.step))


def halo(config: CareConfig) -> tuple[int, ...]:
    """Tile halo per axis (input pixels) of ``config``'s network, by the rule its mode declares
    (:attr:`care_bridge.modes.Mode.halo`); stored in the bundle at export."""
    from ..modes import get_mode

    return tuple(get_mode(config.mode).halo.load()(config))
