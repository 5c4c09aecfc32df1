"""Receptive field (halo) of a CARE U-Net, computed from its architecture.

A stack of layers has receptive-field radius ``r = sum_l (k_l - 1) / 2 * j_l`` over convolutions and
``(p - 1) * j_l`` over pooling, where ``j_l`` is the product of the strides (pool sizes) before layer ``l``
(the "jump"; Araujo et al., Distill 2019, doi:10.23915/distill.00021). For the U-Net the longest path runs
down the encoder, through the bottleneck and up the decoder; upsampling halves the jump again. Output pixels
farther than ``r`` input pixels from a tile's edge are not influenced by what lies beyond it, so a tile halo
of ``r`` makes tiled and untiled prediction equal.
"""

from __future__ import annotations

from .config import CareConfig


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


def halo(config: CareConfig) -> tuple[int, ...]:
    """Tile halo per axis: the receptive-field radius rounded up to the divisibility step (pool ** depth),
    so that tiles stay aligned to the pooling grid."""
    if config.mode in ("upsampling", "projection"):
        from .factory import network_halo

        return network_halo(config)
    return tuple(-(-r // s) * s for r, s in zip(receptive_field_radius(config), config.step))
