"""The examples' figure: input | restoration | ground truth (and a baseline), with metrics in the titles."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_panels(path: str | Path, panels: list[tuple[str, np.ndarray]], *, title: str = "") -> Path:
    """Write a PNG with one grey-scale panel per ``(caption, "YX" image)``, each scaled to its own
    0.5/99.8 percentiles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), squeeze=False)
    for ax, (cap, img) in zip(axs[0], panels):
        img = np.asarray(img, np.float32)
        lo, hi = np.percentile(img, [0.5, 99.8])
        ax.imshow(img, cmap="magma", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(cap, fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9) if title else None)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
