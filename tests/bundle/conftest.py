"""Fixtures for the bundle tests: tiny real CARE networks (random weights), exported once per session.

Each model folder is what the trainer writes (config.yaml, weights_best.weights.h5, provenance.json); the
networks are tiny (depth 1, 4 filters) so that the whole export, including bioimageio.core.test_model for
every weight format, takes seconds on 2 CPU cores.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from care_bridge.models import CareConfig  # noqa: E402

from bundle_helpers import make_model_folder  # noqa: E402


@pytest.fixture(scope="session")
def model_2d(tmp_path_factory) -> Path:
    cfg = CareConfig(name="tiny 2d", unet_depth=1, unet_n_first=4, pixel_size={"Y": 0.1, "X": 0.1})
    return make_model_folder(tmp_path_factory.mktemp("m2d") / "model", cfg)


@pytest.fixture(scope="session")
def bundle_2d(model_2d, tmp_path_factory) -> Path:
    """2D bundle exported with the real bioimageio.core.test_model for all three weight formats."""
    from care_bridge.export import export_bundle

    out = tmp_path_factory.mktemp("b2d") / "tiny2d.zip"
    validation = {"dataset": "held-out synthetic pairs", "n_images": 4,
                  "metrics": {"nrmse": {"input": 0.31, "care": 0.12}, "psnr": {"input": 18.2, "care": 26.5}}}
    return export_bundle(model_2d, out, authors=[{"name": "Test Author", "affiliation": "Lab"}],
                         validation=validation)


@pytest.fixture(scope="session")
def model_prob(tmp_path_factory) -> Path:
    cfg = CareConfig(name="tiny prob", unet_depth=1, unet_n_first=4, n_channel_in=2, n_channel_out=2,
                     probabilistic=True)
    return make_model_folder(tmp_path_factory.mktemp("mprob") / "model", cfg, seed=1)


@pytest.fixture(scope="session")
def bundle_prob(model_prob, tmp_path_factory) -> Path:
    from care_bridge.export import export_bundle

    return export_bundle(model_prob, tmp_path_factory.mktemp("bprob") / "prob.zip")


@pytest.fixture(scope="session")
def model_3d(tmp_path_factory) -> Path:
    cfg = CareConfig(name="tiny 3d", axes="ZYX", unet_depth=1, unet_n_first=4, unet_pool=(1, 2, 2),
                     pixel_size={"Z": 0.5, "Y": 0.1, "X": 0.1})
    return make_model_folder(tmp_path_factory.mktemp("m3d") / "model", cfg, seed=2)


