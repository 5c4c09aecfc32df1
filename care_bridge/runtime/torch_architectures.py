"""The networks of ``pytorch_state_dict`` weights that care_bridge builds itself, from its own code.

A ``pytorch_state_dict`` entry names its architecture as Python (a module and callable, or a file in the bundle);
importing either would run code the bundle chose, so neither is ever imported. :mod:`care_bridge.bundle.
architectures` checks the name against the allow-list and the kwargs (pure Python); this module builds the
network from re-implementations whose parameter names and numerics follow the published source, after bounding
its parameter count on PyTorch's ``meta`` device (which allocates nothing), and loads the tensors read by
:mod:`.state_dict_reader` with ``strict=True`` (names and shapes checked first: one-line errors).

Known:

- ``careamics.models.unet.UNet`` — what CAREamics exports to bioimage.io (``ArchitectureFromLibraryDescr`` with
  ``kwargs = UNetConfig.model_dump()``): encoder of ``Conv_Block`` (two 3x3(x3) convolutions, batch norm,
  ReLU) and 2x max-pooling (N2V2: max-pool with stride 1, then a 3x3 binomial blur with stride 2), a bottleneck
  block with doubled intermediate channels, a decoder of bilinear/trilinear 2x upsampling, channel-interleaved
  skip concatenation (groups = input channels with ``independent_channels``; N2V2 drops the top skip), a 1x1
  output convolution, optional residual and final activation. Re-implemented from CAREamics 0.3.5
  (``src/careamics/models/unet/unet.py`` and ``layers.py``, BSD-3-Clause); the module tree (``encoder.
  encoder_blocks.<i>.conv1``, ``decoder.bottleneck``, ``decoder.decoder_blocks.<i>``, ``final_conv``), hence the
  state_dict keys, is the same, so ``load_state_dict(strict=True)`` takes CAREamics' file unchanged. CAREamics'
  own package cannot be installed beside care_bridge's pinned PyTorch (2.13; CAREamics 0.3.5 resolves to a
  torchvision that pins torch 2.11), so the equivalence was checked once against its source (see the README).

Importing this module does not import PyTorch; :func:`build_network` and :func:`load_weights` do.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from ..bundle.architectures import ARCHITECTURES, Architecture, architecture_known, resolve_architecture
from ..errors import BundleError

__all__ = ["ARCHITECTURES", "Architecture", "MAX_PARAMETERS", "architecture_known", "build_network", "load_weights",
           "resolve_architecture"]

MAX_PARAMETERS = 256_000_000  # 1 GiB of float32: CAREamics' largest U-Nets (depth 5, 96 filters) hold ~30 M


# ---- building (imports PyTorch) ----------------------------------------------------------------------------------

def build_network(arch: Architecture, where: str = "pytorch_state_dict"):
    """The ``torch.nn.Module`` of ``arch`` on the CPU, in eval mode, with PyTorch's initial weights; its parameter
    count is checked against :data:`MAX_PARAMETERS` on the ``meta`` device first."""
    import torch

    build = _BUILDERS[arch.key]
    with torch.device("meta"):
        n = sum(p.numel() for p in build(**arch.kw()).parameters())
    if n > MAX_PARAMETERS:
        raise BundleError(f"{where}: architecture {arch.key} with these kwargs has {n} parameters, over the limit of "
                          f"{MAX_PARAMETERS}; refused")
    return build(**arch.kw()).eval()


def load_weights(module, tensors: dict, arch: Architecture, where: str = "pytorch_state_dict") -> None:
    """Load ``tensors`` (name → numpy array, :func:`..state_dict_reader.read_state_dict`) into ``module`` with
    ``strict=True``; missing or unexpected names and shape mismatches are one-line errors naming the kwargs."""
    import numpy as np
    import torch

    want = module.state_dict()
    missing = [k for k in want if k not in tensors]
    extra = [k for k in tensors if k not in want]
    fix = f"the weights do not match {arch.key} with kwargs {arch.kw()}"
    if missing or extra:
        what = (f"lack {len(missing)} tensor(s) it needs (first {missing[0]!r})" if missing else
                f"hold {len(extra)} tensor(s) it does not have (first {extra[0][:60]!r})")
        raise BundleError(f"{where}: the weights {what}; {fix} (fix the rdf's kwargs)")
    for k, t in want.items():
        if tuple(tensors[k].shape) != tuple(t.shape):
            raise BundleError(f"{where}: tensor {k!r} has shape {list(tensors[k].shape)}, the architecture needs "
                              f"{list(t.shape)}; {fix} (fix the rdf's kwargs)")
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}
    with torch.no_grad():
        module.load_state_dict(state, strict=True)


@functools.cache
def _careamics_unet_classes():
    """CAREamics' UNet, re-implemented (see the module docstring); defined on first use so that importing this
    module does not import PyTorch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def layer(kind: str, dims: int):
        return getattr(nn, f"{kind}{dims}d")

    class ConvBlock(nn.Module):
        # CAREamics' Conv_Block: both batch norms exist (and are in the state dict) even when unused
        def __init__(self, dims, c_in, c_out, mult=1, groups=1, dropout=0.0, use_batch_norm=False):
            super().__init__()
            self.use_batch_norm = use_batch_norm
            mid = c_out * mult
            self.conv1 = layer("Conv", dims)(c_in, mid, kernel_size=3, padding=1, groups=groups)
            self.conv2 = layer("Conv", dims)(mid, c_out, kernel_size=3, padding=1, groups=groups)
            self.batch_norm1 = layer("BatchNorm", dims)(mid)
            self.batch_norm2 = layer("BatchNorm", dims)(c_out)
            self.dropout = layer("Dropout", dims)(dropout) if dropout > 0 else None
            self.activation = nn.ReLU()

        def forward(self, x):
            x = self.conv1(x)
            if self.use_batch_norm:
                x = self.batch_norm1(x)
            x = self.activation(x)
            x = self.conv2(x)
            if self.use_batch_norm:
                x = self.batch_norm2(x)
            x = self.activation(x)
            return self.dropout(x) if self.dropout is not None else x

    class MaxBlurPool(nn.Module):
        # N2V2: max-pool (stride 1) then a normalized binomial [1, 2, 1]^dims blur with stride 2, per channel;
        # the kernel is not part of the state dict (CAREamics registers it non-persistent)
        def __init__(self, dims, max_pool_size=2):
            super().__init__()
            self.dims, self.max_pool_size = dims, max_pool_size
            k = torch.tensor([1.0, 2.0, 1.0])
            kernel = k[:, None] * k[None, :] if dims == 2 else k[:, None, None] * k[None, :, None] * k[None, None, :]
            self.register_buffer("kernel", kernel / kernel.sum(), persistent=False)

        def forward(self, x):
            c = int(x.size(1))
            kernel = self.kernel.to(dtype=x.dtype).repeat((c,) + (1,) * (self.dims + 1))
            pool, conv = (F.max_pool2d, F.conv2d) if self.dims == 2 else (F.max_pool3d, F.conv3d)
            x = pool(x, kernel_size=self.max_pool_size, padding=0, stride=1)
            return conv(x, kernel, padding=1, stride=2, groups=c)

    class Encoder(nn.Module):
        def __init__(self, dims, c_in, depth, init, use_batch_norm, dropout, pool_kernel, n2v2, groups):
            super().__init__()
            self.pooling = (layer("MaxPool", dims)(kernel_size=pool_kernel) if not n2v2
                            else MaxBlurPool(dims, pool_kernel))
            blocks = []
            for n in range(depth):
                c_out = init * 2 ** n * groups
                blocks += [ConvBlock(dims, c_in if n == 0 else c_out // 2, c_out, groups=groups, dropout=dropout,
                                     use_batch_norm=use_batch_norm), self.pooling]
            self.encoder_blocks = nn.ModuleList(blocks)

        def forward(self, x):
            skips = []
            for m in self.encoder_blocks:
                x = m(x)
                if isinstance(m, ConvBlock):
                    skips.append(x)
            return x, skips

    class Decoder(nn.Module):
        def __init__(self, dims, depth, init, use_batch_norm, dropout, n2v2, groups):
            super().__init__()
            self.n2v2, self.groups = n2v2, groups
            up = nn.Upsample(scale_factor=2, mode="bilinear" if dims == 2 else "trilinear")
            c = init * groups * 2 ** (depth - 1)
            self.bottleneck = ConvBlock(dims, c, c, mult=2, groups=groups, dropout=dropout,
                                        use_batch_norm=use_batch_norm)
            blocks: list = []
            for n in range(depth):
                c_in = init * 2 ** (depth - n - 1) * groups
                c_out = c_in // 2 if n != depth - 1 else c_in
                if not (n2v2 and n == depth - 1):
                    c_in *= 2  # the skip connection is concatenated
                blocks += [up, ConvBlock(dims, c_in, c_out, mult=2 if n != depth - 1 else 1, groups=groups,
                                         dropout=dropout, use_batch_norm=use_batch_norm)]
            self.decoder_blocks = nn.ModuleList(blocks)

        def forward(self, x, skips):
            skips = skips[::-1]
            x = self.bottleneck(x)
            for i, m in enumerate(self.decoder_blocks):
                x = m(x)
                if isinstance(m, nn.Upsample) and not (self.n2v2 and i // 2 == len(skips) - 1):
                    x = self._interleave(x, skips[i // 2])
            return x

        def _interleave(self, a, b):
            # group g of a, then group g of b, for every group (CAREamics' channel order)
            g = self.groups
            m, n = a.shape[1] // g, b.shape[1] // g
            return torch.cat([t for i in range(g) for t in (a[:, i * m:(i + 1) * m], b[:, i * n:(i + 1) * n])], 1)

    activations = {"None": nn.Identity, "Sigmoid": nn.Sigmoid, "Softmax": lambda: nn.Softmax(dim=1),
                   "Tanh": nn.Tanh, "ReLU": nn.ReLU, "LeakyReLU": nn.LeakyReLU, "ELU": nn.ELU}

    class UNet(nn.Module):
        def __init__(self, conv_dims, num_classes, in_channels, depth, num_channels_init, use_batch_norm, dropout,
                     pool_kernel, residual, final_activation, n2v2, independent_channels):
            super().__init__()
            groups = in_channels if independent_channels else 1
            self.encoder = Encoder(conv_dims, in_channels, depth, num_channels_init, use_batch_norm, dropout,
                                   pool_kernel, n2v2, groups)
            self.decoder = Decoder(conv_dims, depth, num_channels_init, use_batch_norm, dropout, n2v2, groups)
            self.final_conv = layer("Conv", conv_dims)(num_channels_init * groups, num_classes, kernel_size=1,
                                                       groups=groups)
            self.residual = residual
            self.final_activation = activations[final_activation]()

        def forward(self, x):
            y = self.final_conv(self.decoder(*self.encoder(x)))
            if self.residual:
                y = y + x
            return self.final_activation(y)

    return UNet


def _careamics_unet(**kw):
    return _careamics_unet_classes()(**kw)


_BUILDERS: dict[str, Callable[..., Any]] = {"careamics.models.unet.UNet": _careamics_unet}
