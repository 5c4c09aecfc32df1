"""Shared fixtures and the test tiers.

Fixtures: tiny real networks trained for a few steps on generated data and their exported bundles
(``tiny_model``/``tiny_bundle``, need TensorFlow), and tiny ONNX bundles built without TensorFlow
(``onnx_bundle``, see onnx_bundles.py). Everything is cached per test session.

Tiers (pytest markers, see pyproject.toml): ``tf`` (trains or runs TensorFlow; set automatically for tests using
``tiny_model``/``tiny_bundle``), ``export`` (exports bundles with bioimageio.core checks), ``imagej`` (runs ImageJ;
set for tests/fiji and the Fiji parts of the matrix), ``slow``. ``make test-fast`` deselects tf, export and slow.
Collection imports no TensorFlow (tests/test_layers.py checks it).
"""

from __future__ import annotations

import os
import shutil

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CARE_BRIDGE_NO_PROGRESS", "1")
# as the runtime's TF engine does (runtime/engines.py): TF is imported here by training before any engine runs
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tiny_models import train_tiny  # noqa: E402

TF_FIXTURES = {"tiny_model", "tiny_bundle"}
# folders whose tests train or export Keras networks (module-local fixtures); the rest is TF-free unless it uses
# a fixture of TF_FIXTURES
TF_FOLDERS = {"bundle", "pipelines", "train", "models", "cli"}
EXPORT_FOLDERS = {"bundle", "pipelines", "cli"}


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        parts = Path(str(item.fspath)).resolve().relative_to(here).parts
        folder = parts[0] if len(parts) > 1 else ""
        if names & TF_FIXTURES or folder in TF_FOLDERS:
            item.add_marker(pytest.mark.tf)
        if "tiny_bundle" in names or folder in EXPORT_FOLDERS:
            item.add_marker(pytest.mark.export)
        if "imagej_tools" in names or folder == "fiji":
            item.add_marker(pytest.mark.imagej)


def pytest_collection_finish(session):
    import sys

    if os.environ.get("CARE_BRIDGE_ASSERT_NO_TF_AT_COLLECTION") == "1":
        heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
        assert not heavy, f"collecting the tests imported {heavy}"
        print("collected without TensorFlow")


@pytest.fixture(scope="session")
def onnx_bundle(tmp_path_factory):
    """``onnx_bundle(kind) -> Path`` of a tiny ONNX bundle made without TensorFlow (kinds: onnx_bundles.KINDS)."""
    from onnx_bundles import write_bundle

    root = tmp_path_factory.mktemp("onnx_bundles")
    cache: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in cache:
            cache[kind] = write_bundle(kind, root)
        return cache[kind]

    return get


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
    from care_bridge.export import export_bundle

    root = tmp_path_factory.mktemp("tiny_bundles")
    cache: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in cache:
            cache[kind] = export_bundle(tiny_model(kind), root / f"{kind}.zip")
        return cache[kind]

    return get


@pytest.fixture(scope="session")
def imagej_tools() -> None:
    """Skip (with the reason) when ImageJ, a JRE or xvfb-run is missing — but fail under CI=true, where
    .ci/run installs them and a skip would hide a broken front end."""
    missing = [n for n in ("java", "xvfb-run") if shutil.which(n) is None]
    ij_jar = os.environ.get("CARE_BRIDGE_IJ_JAR", "/usr/share/java/ij.jar")
    if not Path(ij_jar).is_file():
        missing.append(ij_jar)
    if missing:
        why = f"missing {missing}: apt-get install -y imagej default-jre-headless xvfb xauth"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
