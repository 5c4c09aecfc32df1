"""Helpers of the bundle tests (plain functions; the fixtures are in conftest.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import yaml

from care_bridge.models import CareConfig
from zip_edit import rewrite_zip  # noqa: F401 - re-exported for the bundle tests

PROVENANCE = {
    "data": "synthetic blobs, Poisson + Gaussian noise",
    "n_patches": 128,
    "epochs": 2,
    "final_loss": 0.1,
    "final_val_loss": 0.12,
    "versions": {"keras": "3.15.1"},
    "date": "2026-01-02T03:04:05",
}


def make_model_folder(path: Path, config: CareConfig, *, seed: int = 0) -> Path:
    """A care_bridge model folder with a freshly built network whose weights are random but non-trivial."""
    import keras

    from care_bridge.models.unet import build_unet

    from care_bridge.models.folder import write_model_folder

    keras.utils.set_random_seed(seed)
    model = build_unet(config)
    rng = np.random.default_rng(seed)
    # perturb biases too, so a residual network is not close to the identity
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in model.get_weights()])
    return write_model_folder(path, config, model, provenance=PROVENANCE)


def read_rdf(bundle: Path) -> dict:
    with zipfile.ZipFile(bundle) as zf:
        return yaml.safe_load(zf.read("rdf.yaml"))


def set_sha(rdf: dict, source: str, digest: str) -> None:
    """Set the sha256 of every rdf entry whose source is ``source``."""

    def walk(node):
        if isinstance(node, dict):
            if node.get("source") == source and "sha256" in node:
                node["sha256"] = digest
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(rdf)
