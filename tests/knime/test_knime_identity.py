"""KNIME outputs are bit-identical to ``care-bridge predict`` on the same files, for every kind of tiny bundle.

Three KNIME routes are compared byte for byte with the CLI's output files: the plain table function, the
extension nodes (Bundle Reader → Restorer, on the knime.extension TEST DOUBLE) and the stock Python Script
node's script (on the knime.scripting.io TEST DOUBLE). Uses the session fixture ``tiny_bundle`` (tests/conftest.py).

The in-process routes use onnxruntime, the engine of the extension's runtime-only environment. TensorFlow is
checked in a fresh process, as KNIME runs a node: in a process that has trained a model (this test session)
TF's SavedModel output differs from a fresh process's by ~4e-6 (measured), which is the process's history,
not the node's doing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from knime_knwf_reader import run_script, script_of_python_workflow

from care_bridge import knime_nodes as kn
from care_bridge.frontend.options import RestoreOptions

SHAPES = {"2d": (52, 40), "3d": (12, 36, 28), "2d_multichannel": (2, 48, 40), "2d_probabilistic": (44, 56)}
CLI = Path(sys.executable).with_name("care-bridge")


def _inputs(folder: Path, shape, n: int = 2) -> list[Path]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    paths = []
    for i in range(n):
        p = folder / f"cell{i}.tif"
        tifffile.imwrite(p, rng.poisson(20 + 30 * rng.random(shape)).astype(np.uint16))
        paths.append(p)
    return paths


def _cli(bundle: Path, inp: Path, out: Path, *extra: str) -> list[Path]:
    r = subprocess.run([str(CLI), "predict", "--bundle", str(bundle), "--input", str(inp), "--output", str(out),
                        "--quiet", *extra], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return sorted(out.glob("*.tif"))


def _same_files(expected: list[Path], folder: Path) -> None:
    got = sorted(folder.glob("*.tif"))
    assert [p.name for p in got] == [p.name for p in expected]
    for a, b in zip(expected, got):
        assert tifffile.imread(a).dtype == np.float32
        assert a.read_bytes() == b.read_bytes(), f"{b.name} differs from the CLI's output"


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_knime_routes_are_bit_identical_to_the_cli(kind, tiny_bundle, tmp_path, knext, ext, monkeypatch):
    bundle = tiny_bundle(kind)
    inputs = _inputs(tmp_path / "in", SHAPES[kind])
    expected = _cli(bundle, tmp_path / "in", tmp_path / "cli", "--engine", "onnxruntime")
    assert len(expected) == (4 if kind == "2d_probabilistic" else 2)

    table = kn.list_images(tmp_path / "in")
    out = kn.restore_table(table, kn.load_restorer(bundle, engine="onnxruntime"), tmp_path / "plain")
    assert (out["restore_status"] == "ok").all(), out["restore_error"].tolist()
    assert out[kn.SCALE_COLUMN].notna().all() == (kind == "2d_probabilistic")
    _same_files(expected, tmp_path / "plain")

    reader = knext.double_nodes["care_bundle_reader"].factory()
    knext.double_inject(reader, {"bundle": str(bundle), "engine": "onnxruntime"})
    model_spec = reader.configure(knext.ConfigurationContext())
    ctx = knext.ExecutionContext(workflow_dir=str(tmp_path / "wf"))
    model = reader.execute(ctx)
    assert model.schema == model_spec  # names and types: configure promised what execute delivers
    assert model.to_pandas()["probabilistic"].iloc[0] == (kind == "2d_probabilistic")
    restorer = knext.double_nodes["care_restorer"].factory()
    knext.double_inject(restorer, {"output_folder": str(tmp_path / "ext"), "engine": "onnxruntime"})
    images = knext.Table.from_pandas(table)
    spec = restorer.configure(knext.ConfigurationContext(), images.schema, model.schema)
    assert restorer.execute(ctx, images, model).schema == spec
    _same_files(expected, tmp_path / "ext")

    script, variables = script_of_python_workflow()
    monkeypatch.chdir(tmp_path)
    df = run_script(script, variables | {"care_input_folder": "in", "care_bundle": str(bundle),
                                         "care_output_folder": "script", "care_engine": "onnxruntime"})
    assert (df["restore_status"] == "ok").all()
    _same_files(expected, tmp_path / "script")


TF_ROUTE = """
import sys
from care_bridge import knime_nodes as kn
table = kn.list_images(sys.argv[2])
out = kn.restore_table(table, kn.load_restorer(sys.argv[1], engine="tensorflow"), sys.argv[3])
assert (out["restore_status"] == "ok").all(), out["restore_error"].tolist()
"""


def test_tensorflow_engine_in_a_fresh_process_matches_the_cli(tiny_bundle, tmp_path):
    bundle = tiny_bundle("2d")
    _inputs(tmp_path / "in", SHAPES["2d"])
    expected = _cli(bundle, tmp_path / "in", tmp_path / "cli", "--engine", "tensorflow")
    r = subprocess.run([sys.executable, "-c", TF_ROUTE, str(bundle), str(tmp_path / "in"), str(tmp_path / "node")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    _same_files(expected, tmp_path / "node")


def test_engine_and_tiles_options_match_the_cli(tiny_bundle, tmp_path):
    bundle = tiny_bundle("2d")
    _inputs(tmp_path / "in", (64, 64), n=1)
    expected = _cli(bundle, tmp_path / "in", tmp_path / "cli", "--engine", "onnxruntime", "--n-tiles", "2,2")
    opts = kn.RestoreOptions(restore=RestoreOptions(n_tiles=kn.parse_n_tiles("2,2")))
    out = kn.restore_table(kn.list_images(tmp_path / "in"), kn.load_restorer(bundle, engine="onnxruntime"),
                           tmp_path / "plain", opts)
    assert (out["restore_status"] == "ok").all()
    _same_files(expected, tmp_path / "plain")


def test_an_image_that_does_not_fit_the_model_is_a_row_error(tiny_bundle, tmp_path):
    bundle = tiny_bundle("2d_multichannel")  # wants 2 channels
    good = _inputs(tmp_path / "good", SHAPES["2d_multichannel"], n=1)
    bad = tmp_path / "bad.tif"
    tifffile.imwrite(bad, np.zeros((3, 48, 40), np.uint16), imagej=True, metadata={"axes": "CYX"})
    df = pd.DataFrame({kn.IMAGE_COLUMN: [str(bad), str(good[0])]})
    out = kn.restore_table(df, kn.load_restorer(bundle), tmp_path / "out")
    assert out["restore_status"].tolist() == ["error", "ok"]
    assert out["restore_error"][0] and "\n" not in out["restore_error"][0]
