"""PNG figures: side-by-side image panels (covers, before/after, examples) and atomic saving."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .atomic import atomic_path


def save_figure(fig, path: str | Path) -> Path:
    """Save a matplotlib figure as PNG atomically (temp file + rename), without a timestamp/software tag so
    the same figure gives the same bytes; closes the figure."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
    return path


def save_panels(
    path: str | Path,
    panels: Sequence[tuple[str, np.ndarray]],
    *,
    title: str = "",
    panel_size: tuple[float, float] = (3.2, 3.6),
    percentiles: tuple[float, float] = (0.5, 99.8),
    dpi: int = 80,
    fontsize: int = 8,
) -> Path:
    """One panel per ``(caption, "YX" image)`` side by side, each shown with its own percentile range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    fig, axs = plt.subplots(1, n, figsize=(panel_size[0] * n, panel_size[1]), dpi=dpi, squeeze=False)
    for ax, (cap, img) in zip(axs[0], panels):
        img = np.asarray(img, np.float32)
        lo, hi = np.percentile(img, percentiles)
        ax.imshow(img, cmap="magma", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
        ax.set_title(cap, fontsize=fontsize)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=fontsize + 2)
    fig.tight_layout(rect=(0, 0, 1, 0.9) if title else None)
    return save_figure(fig, path)
