"""Shared fixtures: tiny real networks, trained for a few steps on generated data, and their bundles.

Everything is cached per test session, so the suite trains each kind of tiny model once.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CARE_BRIDGE_NO_PROGRESS", "1")
# as the runtime's TF engine does (runtime/engines.py): TF is imported here by training before any engine runs
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tiny_models import train_tiny  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """``tiny_model(kind) -> Path`` of a trained model folder (kinds: see KINDS)."""
    root = tmp_path_factory.mktemp("tiny_models")
    cache: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in cache:
            cache[kind] = train_tiny(kind, root)
        return cache[kind]

    return get


@pytest.fixture(scope="session")
def tiny_bundle(tiny_model, tmp_path_factory):
    """``tiny_bundle(kind) -> Path`` of an exported bioimage.io bundle (.zip) of a tiny trained model."""
    from care_bridge.bundle import export_bundle

    root = tmp_path_factory.mktemp("tiny_bundles")
    cache: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in cache:
            cache[kind] = export_bundle(tiny_model(kind), root / f"{kind}.zip")
        return cache[kind]

    return get
