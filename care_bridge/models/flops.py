"""Arithmetic cost of a CARE U-Net per input voxel (multiply-adds counted as 2 FLOPs), from the architecture."""

from __future__ import annotations

import math

from .config import CareConfig


def unet_flops_per_voxel(config: CareConfig) -> float:
    """FLOPs per input voxel of :func:`~care_bridge.models.unet.build_unet` (convolutions only; pooling,
    upsampling, concatenation and activations are negligible)."""
    nd, k, c, d, n0 = config.ndim, config.unet_kern_size, config.unet_n_conv_per_depth, config.unet_depth, config.unet_n_first
    kv = k**nd
    pool = math.prod(config.unet_pool)
    total = 0.0
    cin = config.n_channel_in
    skips = []
    for n in range(d):  # encoder
        frac = 1.0 / pool**n
        for _ in range(c):
            total += 2 * kv * cin * n0 * 2**n * frac
            cin = n0 * 2**n
        skips.append(cin)
    frac = 1.0 / pool**d
    for i in range(c):  # bottleneck
        cout = n0 * 2**d if i < c - 1 else n0 * 2 ** max(0, d - 1)
        total += 2 * kv * cin * cout * frac
        cin = cout
    for n in reversed(range(d)):  # decoder
        frac = 1.0 / pool**n
        cin = cin + skips[n]
        for i in range(c):
            cout = n0 * 2**n if i < c - 1 else n0 * 2 ** max(0, n - 1)
            total += 2 * kv * cin * cout * frac
            cin = cout
    n_out = config.n_channel_out * (2 if config.probabilistic else 1)
    total += 2 * cin * n_out
    return total
