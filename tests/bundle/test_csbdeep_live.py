"""Against the real ``csbdeep`` package (a test dependency): CSBDeep trains a model now, in a subprocess, and
care_bridge's imported bundle, run through care_bridge's runtime, predicts what CSBDeep's ``CARE.predict``
predicts (inside the image; at the border CSBDeep pads by reflection to the network's divisibility, care_bridge
symmetrically by the halo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from care_bridge import runtime
from care_bridge.export.csbdeep_import import import_csbdeep

SCRIPT = Path(__file__).parent / "data" / "make_csbdeep_fixtures.py"


@pytest.fixture(scope="module")
def csbdeep_models(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("csbdeep_live")
    env = os.environ | {"CSBDEEP_LARGE_TEST_IMAGES": "1"}
    p = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    return out


@pytest.mark.parametrize("case", ["csbdeep_2d", "csbdeep_3d"])
def test_bundle_from_a_freshly_trained_csbdeep_model_matches_csbdeep(csbdeep_models, case, tmp_path):
    src = csbdeep_models / case
    bundle = import_csbdeep(src, tmp_path / f"{case}.zip")
    x, expected = np.load(src / "input.npy"), np.load(src / "prediction.npy")
    axes = json.loads((src / "fixture.json").read_text())["axes"]
    r = runtime.load(bundle, engine="onnxruntime")
    y = r.restore(x, axes, n_tiles=1).image
    assert y.shape == expected.shape
    # pixels farther than the receptive field from every border see the same data in both programs
    rf = dict(zip(r.info.axes, r.info.halo))
    inner = tuple(slice(rf[a], -rf[a]) if a in rf else slice(None) for a in axes)
    assert y[inner].size > 0
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(y[inner], expected[inner], rtol=0, atol=1e-5 * scale)
