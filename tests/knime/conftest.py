"""Fixtures for the KNIME tests: the test doubles of KNIME's Python API go first on ``sys.path``.

``doubles/knime`` is a TEST DOUBLE of KNIME's ``knime`` package (see its docstrings); the real one only exists
inside KNIME's Python environment. The extension module and the workflow builder are loaded from
``knime_workflows/``, which is not an installed package.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
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


@dataclass
class FakeInfo:
    probabilistic: bool = False
    axes: str = "YX"
    n_channel_in: int = 1
    scale: tuple = (1.0, 1.0)
    output_spatial_axes: str = "YX"


@dataclass
class FakeResult:
    image: np.ndarray
    axes: str
    scale: np.ndarray | None = None
    engine: str = "fake"
    n_tiles: tuple = (1, 1)


@dataclass
class FakeRestorer:
    """Stands in for a runtime Restorer where the table logic, not the network, is under test:
    output = 2 * input. A 3D image "does not fit" a 2D model, as with the real runtime."""

    info: FakeInfo = field(default_factory=FakeInfo)
    calls: list = field(default_factory=list)

    @property
    def mode(self):  # the real mode record: its geometry calibrates the output, as for a real Restorer
        from care_bridge.modes import get_mode

        return get_mode("denoise")

    def restore(self, image, axes, *, n_tiles=None, memory_budget=None, progress=False):
        from care_bridge.errors import CareBridgeError

        self.calls.append((image.shape, axes, n_tiles))
        if len(axes) != len(self.info.axes):
            raise CareBridgeError(f"image axes {axes} do not fit the model's {self.info.axes}")
        out = 2 * image.astype(np.float32)
        return FakeResult(out, axes, out / 4 if self.info.probabilistic else None)


@pytest.fixture
def fake_restorer():
    return FakeRestorer()


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
