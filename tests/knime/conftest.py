"""Fixtures for the KNIME tests: the test doubles of KNIME's Python API go first on ``sys.path``.

``doubles/knime`` is a TEST DOUBLE of KNIME's ``knime`` package (see its docstrings); the real one only exists
inside KNIME's Python environment. The extension module and the workflow builder are loaded from
``knime_workflows/``, which is not an installed package.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXTENSION_DIR = ROOT / "knime_workflows" / "care_bridge_knime"
sys.path.insert(0, str(HERE / "doubles"))
if str(EXTENSION_DIR) not in sys.path:
    sys.path.insert(1, str(EXTENSION_DIR))

import knime  # noqa: E402

assert "doubles" in Path(knime.__file__).parts, "the KNIME test double must shadow any real knime package"


@pytest.fixture(scope="session")
def knext():
    import knime.extension as knext

    return knext


@pytest.fixture(scope="session")
def ext(knext):
    """The shipped extension module, imported against the knime.extension test double."""
    return importlib.import_module("care_bridge_nodes")


@pytest.fixture(scope="session")
def builder():
    spec = importlib.util.spec_from_file_location("build_workflows", ROOT / "knime_workflows" / "build_workflows.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["build_workflows"] = mod
    spec.loader.exec_module(mod)
    return mod


class RecordingRestorer:
    """A real runtime Restorer (a tiny ONNX bundle, tests/onnx_bundles.py) that also records each call's
    ``(image shape, axes, n_tiles)``: the table logic runs against the real runtime, not a stand-in."""

    def __init__(self, restorer):
        self._restorer = restorer
        self.calls: list = []

    def __getattr__(self, name):  # info, mode, engine, source: the real restorer's
        return getattr(self._restorer, name)

    def restore(self, image, axes, **kwargs):
        self.calls.append((image.shape, axes, kwargs.get("n_tiles")))
        return self._restorer.restore(image, axes, **kwargs)


@pytest.fixture
def fake_restorer(onnx_bundle):
    """The recording real restorer of the plain 2D ONNX bundle (name kept from the old test double)."""
    from care_bridge import runtime

    return RecordingRestorer(runtime.load(onnx_bundle("2d"), engine="onnxruntime"))


@pytest.fixture
def probabilistic_restorer(onnx_bundle):
    from care_bridge import runtime

    return RecordingRestorer(runtime.load(onnx_bundle("2d_probabilistic"), engine="onnxruntime"))


def write_tiffs(folder: Path, n: int, shape=(32, 32), seed: int = 0, prefix: str = "img") -> list[Path]:
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        p = folder / f"{prefix}{i:03d}.tif"
        tifffile.imwrite(p, rng.integers(0, 1000, size=shape).astype(np.uint16))
        paths.append(p)
    return paths


@pytest.fixture
def tiffs(tmp_path):
    return write_tiffs(tmp_path / "in", 3)


@pytest.fixture
def make_tiffs():
    """``make_tiffs(folder, n, shape=…, seed=…)`` writes ``n`` uint16 TIFFs and returns their paths."""
    return write_tiffs
