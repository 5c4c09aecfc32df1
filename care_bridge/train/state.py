"""Resumable training state: optimizer variables and counters saved atomically after every epoch.

Stored as ``train_state.json`` (epoch, best validation loss, learning rate, the validation split's settings and
the position in the stream of training patches) and ``optimizer_state.npz`` (plain
arrays, loaded with ``allow_pickle=False``), so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import CareBridgeError

STATE_JSON = "train_state.json"
OPTIMIZER_NPZ = "optimizer_state.npz"


def save_state(model_dir: Path, optimizer, *, epoch: int, best_val_loss: float, extra: dict | None = None) -> None:
    """``extra``: more of the run to keep for ``--resume`` (the validation split, the patches seen so far)."""
    tmp = model_dir / f".{OPTIMIZER_NPZ}.part"
    with open(tmp, "wb") as f:
        np.savez(f, **{f"v{i:04d}": np.asarray(v) for i, v in enumerate(optimizer.variables)})
    os.replace(tmp, model_dir / OPTIMIZER_NPZ)
    state = {"epoch": int(epoch), "best_val_loss": float(best_val_loss),
             "learning_rate": float(np.asarray(optimizer.learning_rate)), **(extra or {})}
    tmp = model_dir / f".{STATE_JSON}.part"
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, model_dir / STATE_JSON)


def load_state(model_dir: Path) -> dict | None:
    p = model_dir / STATE_JSON
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise CareBridgeError(f"{p} is corrupt ({e}); delete it to start training afresh") from e


def restore_optimizer(model_dir: Path, optimizer, trainable_variables) -> None:
    p = model_dir / OPTIMIZER_NPZ
    if not p.is_file():
        return
    optimizer.build(trainable_variables)
    with np.load(p, allow_pickle=False) as d:
        arrays = [d[k] for k in sorted(d.files)]
    if len(arrays) != len(optimizer.variables):
        raise CareBridgeError(f"{p} does not fit this network's optimizer; delete it to resume without it")
    for var, arr in zip(optimizer.variables, arrays):
        if tuple(var.shape) != arr.shape:
            raise CareBridgeError(f"{p} does not fit this network's optimizer; delete it to resume without it")
        var.assign(arr)
