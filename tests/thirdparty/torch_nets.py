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
