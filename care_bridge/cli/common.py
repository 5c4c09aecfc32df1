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
