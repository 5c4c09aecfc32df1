"""The examples' figure: input | restoration | ground truth (and a baseline), with metrics in the titles."""

from __future__ import annotations

from ..io.figures import save_panels

__all__ = ["save_panels"]
