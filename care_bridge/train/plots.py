"""Training-curve PNG from ``history.csv``."""

from __future__ import annotations

import csv
from pathlib import Path


def read_history(path: Path) -> dict[str, list[float]]:
    cols: dict[str, list[float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for k, v in row.items():
                try:
                    cols.setdefault(k, []).append(float(v))
                except (TypeError, ValueError):
                    pass
    return cols


def plot_training_curve(history_csv: Path, out_png: Path) -> Path:
    """Loss and validation loss per epoch (log scale when positive), learning rate on a twin axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = read_history(history_csv)
    ep = [e + 1 for e in h.get("epoch", [])]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for key, style in (("loss", "-"), ("val_loss", "--")):
        if key in h:
            ax.plot(ep, h[key], style, label=key.replace("_", " "))
    if all(v > 0 for k in ("loss", "val_loss") for v in h.get(k, [1])):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(loc="upper right")
    key = "learning_rate" if "learning_rate" in h else ("lr" if "lr" in h else None)
    if key:
        ax2 = ax.twinx()
        ax2.plot(ep, h[key], ":", color="gray")
        ax2.set_ylabel("learning rate", color="gray")
    ax.set_title("CARE training")
    fig.tight_layout()
    from ..io.figures import save_figure

    return save_figure(fig, out_png)
