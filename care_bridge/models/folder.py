"""A care_bridge model folder: ``config.yaml``, ``weights_best.weights.h5``, ``weights_last.weights.h5``,
``history.csv``, ``training_curve.png``, ``provenance.json``."""

from __future__ import annotations

from pathlib import Path

from ..errors import CareBridgeError
from .config import CareConfig

WEIGHTS = {"best": "weights_best.weights.h5", "last": "weights_last.weights.h5"}
PROVENANCE = "provenance.json"
HISTORY = "history.csv"
CURVE = "training_curve.png"


def weights_path(model_dir: str | Path, which: str = "best") -> Path:
    p = Path(model_dir) / WEIGHTS[which]
    if not p.is_file():
        raise CareBridgeError(f"no {WEIGHTS[which]} in {model_dir}; train the model first (care-bridge train)")
    return p


def load_model(model_dir: str | Path, *, which: str = "best"):
    """(config, keras.Model) with the architecture rebuilt from ``config.yaml`` and weights loaded.

    Weights files hold tensors only (HDF5), nothing executable, so loading never runs code from the folder.
    """
    from .factory import build_network

    config = CareConfig.load(model_dir)
    model = build_network(config)
    path = weights_path(model_dir, which)
    try:
        model.load_weights(path)
    except Exception as e:  # keras raises ValueError/OSError for mismatches and corrupt files
        raise CareBridgeError(f"cannot load {path} into the network of config.yaml ({e}); re-train or fix") from e
    return config, model


def write_model_folder(model_dir: str | Path, config: CareConfig, model, *, provenance: dict | None = None) -> Path:
    """Write a model folder for an already built network (e.g. random weights for benchmarks, or an imported
    one): ``config.yaml``, the same weights as best and last, and ``provenance.json``."""
    import json

    d = Path(model_dir)
    d.mkdir(parents=True, exist_ok=True)
    config.save(d)
    model.save_weights(d / WEIGHTS["best"])
    model.save_weights(d / WEIGHTS["last"])
    (d / PROVENANCE).write_text(json.dumps(provenance or {}, indent=2))
    return d
