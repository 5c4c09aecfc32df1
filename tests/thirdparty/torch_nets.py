"""The networks of :mod:`zoo_bundles` in plain PyTorch (same weights), saved as TorchScript (scripted or traced),
and TorchScript files that do more than compute (for the guard's tests). Imports torch: use only after
``pytest.importorskip("torch")``."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from zoo_bundles import weights


class Conv2(nn.Module):
    def __init__(self, c_in: int):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(c_in, 4, 3, padding=1), nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c2(torch.relu(self.c1(x)))


class UNet(nn.Module):
    def __init__(self, c_in: int):
        super().__init__()
        self.c1, self.c2, self.c3 = (nn.Conv2d(c_in, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1),
                                     nn.Conv2d(8, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = torch.relu(self.c1(x))
        s2 = torch.relu(self.c2(F.max_pool2d(s1, 2)))
        return self.c3(torch.cat([s1, F.interpolate(s2, scale_factor=2.0, mode="nearest")], 1))


def network(kind: str, c_in: int = 1) -> nn.Module:
    net = (Conv2 if kind == "conv2" else UNet)(c_in)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in weights(kind, c_in).items()})
    return net.eval()


def save_torchscript(path: Path, kind: str, c_in: int = 1, how: str = "script") -> Path:
    net = network(kind, c_in)
    m = torch.jit.script(net) if how == "script" else torch.jit.trace(net, torch.zeros(1, c_in, 32, 32))
    m.save(str(path))
    return path


class ReadsAFile(nn.Module):
    """Adds the bytes of a file it reads to its output (torch.from_file compiles into a scripted forward)."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.from_file(self.path, False, 8, dtype=torch.uint8)
        return x + t.to(torch.float32).sum()


class Prints(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        print("a line from the model")
        return x


class CountsCalls(nn.Module):
    """Changes its own state from call to call: its output depends on how many tiles ran before."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x * float(self.calls)


class RunsWhenLoaded(nn.Module):
    """Its ``__setstate__`` runs inside torch.jit.load."""

    def __init__(self):
        super().__init__()
        self.w = torch.ones(1)

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
        print("a line printed while loading")
        self.w = state[0]
        self.training = state[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.w


def save_scripted(path: Path, module: nn.Module) -> Path:
    torch.jit.script(module).save(str(path))
    return path


class _Block(nn.Module):
    """Two 3x3 convolutions, each followed by (batch norm and) ReLU: CAREamics' ``Conv_Block``, whose module
    names (``conv1``, ``conv2``, ``batch_norm1``, ``batch_norm2``) the state dict keeps."""

    def __init__(self, conv, bn, c_in: int, c_out: int, mid: int, groups: int, use_bn: bool):
        super().__init__()
        self.use_bn = use_bn
        self.conv1, self.conv2 = conv(c_in, mid, 3, padding=1, groups=groups), conv(mid, c_out, 3, padding=1,
                                                                                     groups=groups)
        self.batch_norm1, self.batch_norm2 = bn(mid), bn(c_out)

    def forward(self, x):
        x = self.conv1(x)
        x = torch.relu(self.batch_norm1(x) if self.use_bn else x)
        x = self.conv2(x)
        return torch.relu(self.batch_norm2(x) if self.use_bn else x)


class _Holder(nn.Module):
    pass


class CareamicsStyleUNet(nn.Module):
    """The test's own transcription of CAREamics' ``careamics.models.unet.UNet`` (the network CAREamics exports as
    ``pytorch_state_dict``): same module tree and state-dict keys (``encoder.encoder_blocks.<2n>``,
    ``decoder.bottleneck``, ``decoder.decoder_blocks.<2n+1>``, ``final_conv``), max-pooling (N2V2: max-pool stride 1
    and a [1, 2, 1] blur with stride 2), bilinear/trilinear upsampling, skips interleaved per channel group, 1x1
    output convolution, optional residual and final activation. CAREamics itself does not install beside
    torch 2.13; care_bridge's own implementation (runtime/torch_architectures.py) is compared with this one."""

    def __init__(self, conv_dims: int = 2, in_channels: int = 1, num_classes: int = 1, depth: int = 2,
                 num_channels_init: int = 8, use_batch_norm: bool = True, n2v2: bool = False,
                 independent_channels: bool = True, residual: bool = False, final_activation: str = "None"):
        super().__init__()
        conv, bn = getattr(nn, f"Conv{conv_dims}d"), getattr(nn, f"BatchNorm{conv_dims}d")
        g = in_channels if independent_channels else 1
        self.dims, self.g, self.n2v2, self.depth, self.residual = conv_dims, g, n2v2, depth, residual
        self.final = {"None": nn.Identity(), "Sigmoid": nn.Sigmoid(), "ReLU": nn.ReLU()}[final_activation]
        self.encoder, self.decoder = _Holder(), _Holder()
        enc = []
        for n in range(depth):
            c = num_channels_init * 2 ** n * g
            enc += [_Block(conv, bn, in_channels if n == 0 else c // 2, c, c, g, use_batch_norm), nn.Identity()]
        self.encoder.encoder_blocks = nn.ModuleList(enc)
        top = num_channels_init * g * 2 ** (depth - 1)
        self.decoder.bottleneck = _Block(conv, bn, top, top, 2 * top, g, use_batch_norm)
        dec = []
        for n in range(depth):
            c = num_channels_init * 2 ** (depth - n - 1) * g
            last = n == depth - 1
            c_out = c if last else c // 2
            c_in = c if (n2v2 and last) else 2 * c
            dec += [nn.Identity(), _Block(conv, bn, c_in, c_out, c_out * (1 if last else 2), g, use_batch_norm)]
        self.decoder.decoder_blocks = nn.ModuleList(dec)
        self.final_conv = conv(num_channels_init * g, num_classes, 1, groups=g)

    def _pool(self, x):
        if not self.n2v2:
            return (F.max_pool2d if self.dims == 2 else F.max_pool3d)(x, 2)
        x = (F.max_pool2d if self.dims == 2 else F.max_pool3d)(x, 2, stride=1)
        k = torch.tensor([1.0, 2.0, 1.0])
        k = k[:, None] * k[None] if self.dims == 2 else k[:, None, None] * k[None, :, None] * k[None, None]
        k = (k / k.sum()).expand(x.shape[1], 1, *k.shape)
        return (F.conv2d if self.dims == 2 else F.conv3d)(x, k, padding=1, stride=2, groups=x.shape[1])

    def _cat(self, a, b):
        a, b = a.chunk(self.g, 1), b.chunk(self.g, 1)
        return torch.cat([t for pair in zip(a, b) for t in pair], 1)

    def forward(self, x):
        skips, h = [], x
        for n in range(self.depth):
            h = self.encoder.encoder_blocks[2 * n](h)
            skips.append(h)
            h = self._pool(h)
        h = self.decoder.bottleneck(h)
        mode = "bilinear" if self.dims == 2 else "trilinear"
        for n in range(self.depth):
            h = F.interpolate(h, scale_factor=2.0, mode=mode, align_corners=False)
            if not (self.n2v2 and n == self.depth - 1):
                h = self._cat(h, skips[-1 - n])
            h = self.decoder.decoder_blocks[2 * n + 1](h)
        y = self.final_conv(h)
        return self.final(y + x if self.residual else y)


def careamics_style_unet(seed: int = 0, **kwargs) -> CareamicsStyleUNet:
    """The network with PyTorch's initial weights (seeded) and random batch-norm statistics and affine parameters
    (so that they matter), in eval mode."""
    torch.manual_seed(seed)
    net = CareamicsStyleUNet(**kwargs)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if "batch_norm" in name and t.dtype.is_floating_point:
                t.copy_(torch.rand_like(t) + 0.5 if name.endswith(("running_var", "weight"))
                        else torch.randn_like(t) * 0.1)
        net.eval()
        # outputs of unit spread (PyTorch's initial weights make them ~1e-2): differences are then visible to
        # validate's absolute tolerance
        y = net(torch.rand((1, net.encoder.encoder_blocks[0].conv1.in_channels) + (64,) * net.dims))
        net.final_conv.weight /= y.std()
        net.final_conv.bias /= y.std()
    return net


def careamics_kwargs(**kwargs) -> dict:
    """The rdf's kwargs as CAREamics writes them (``UNetConfig.model_dump()``)."""
    kw = {"architecture": "UNet", "conv_dims": 2, "num_classes": 1, "in_channels": 1, "depth": 2,
          "num_channels_init": 8, "residual": False, "final_activation": "None", "n2v2": False,
          "independent_channels": True, "use_batch_norm": True}
    kw.update(kwargs)
    return kw
