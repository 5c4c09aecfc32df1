"""Helpers shared by the sub-commands: a tiny command record, option parsing, axes guessing."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass



@dataclass(frozen=True)
class Command:
    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]

    def register(self, sub) -> None:
        p = sub.add_parser(self.name, help=self.help, description=self.description,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        self.add_arguments(p)
        p.set_defaults(func=self.run)


def int_tuple(text: str) -> tuple[int, ...]:
    """'64,64' or '16x64x64' → (64, 64) / (16, 64, 64)."""
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 64,64, got {text!r}") from None


def n_tiles_arg(text: str):
    if text.lower() == "auto":
        return None
    t = int_tuple(text)
    return t[0] if len(t) == 1 else t


def bytes_arg(text: str) -> float:
    """'512M', '2G', '1.5e9' → bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().rstrip("b")
    try:
        if t and t[-1] in units:
            return float(t[:-1]) * units[t[-1]]
        return float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size like 512M or 2G, got {text!r}") from None
