"""Hostile and broken training inputs (issue #14): patch files and interrupted model folders, through the real
``care-bridge train`` command. Each must end with exit status 2 and one line naming the file and the fix, leave
the patch file unchanged, and create no model folder (or leave the existing one as it was)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from care_bridge.cli.main import main

pytestmark = pytest.mark.tf


def _good_arrays(n: int = 12) -> dict:
    rng = np.random.default_rng(0)
    x = rng.random((n, 16, 16, 1)).astype(np.float32)
    return {"X": x, "Y": x * 0.5, "axes": np.array("SYXC"), "report": np.array(json.dumps({}))}


def _npz(path: Path, arrays: dict, *, pickle: bool = False) -> Path:
    buf = io.BytesIO()
    if pickle:
        np.savez(buf, **arrays, allow_pickle=True)
    else:
        np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    return path


def _truncated(path: Path) -> Path:
    _npz(path, _good_arrays())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _pickled(path: Path) -> Path:
    arrays = _good_arrays()
    arrays["report"] = np.array([{"evil": "object"}], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    return path


def _with(update: dict) -> callable:
    def make(path: Path) -> Path:
        arrays = _good_arrays()
        arrays.update(update)
        return _npz(path, {k: v for k, v in arrays.items() if v is not None})
    return make


def _nan(path: Path) -> Path:
    arrays = _good_arrays()
    arrays["X"][3, 4, 5, 0] = np.nan
    return _npz(path, arrays)


CASES = [
    ("patches_truncated", _truncated, r"patch|npz|corrupt|cannot"),
    ("patches_pickled_object", _pickled, r"pickle|object"),
    ("patches_missing_targets", _with({"Y": None}), r"\bY\b|missing|patch"),
    ("patches_shapes_disagree", _with({"Y": np.zeros((11, 16, 16, 1), np.float32)}), r"shape|patch|number"),
    ("patches_nan", _nan, r"NaN|finite"),
    ("patches_not_a_zip", lambda p: (p.write_bytes(b"plain text, not a patch file"), p)[1], r"patch|npz|cannot"),
    ("patches_wrong_axes", _with({"axes": np.array("SQXC")}), r"axes"),
    ("patches_report_not_a_mapping", _with({"report": np.array("[1, 2]")}), r"pair up|patch"),
    ("patches_text_arrays", _with({"X": np.array(["a"] * 12)}), r"pair up|patch"),
]


@pytest.mark.parametrize("name,make,expect", CASES, ids=[c[0] for c in CASES])
def test_broken_patch_file_is_one_line(name, make, expect, tmp_path, capsys):
    import re

    data = make(tmp_path / "patches.npz")
    before = hashlib.sha256(data.read_bytes()).hexdigest()
    model = tmp_path / "model"
    rc = main(["train", "--data", str(data), "--out", str(model), "--epochs", "1", "--steps-per-epoch", "1",
               "--quiet"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(err) == 1 and err[0].startswith("care-bridge: error: "), err
    assert re.search(expect, err[0], re.IGNORECASE), err[0]
    assert hashlib.sha256(data.read_bytes()).hexdigest() == before
    assert not model.exists() or not any(model.iterdir()), "a half-made model folder was left"


def test_resume_with_a_corrupt_train_state_is_one_line(tiny_model, tmp_path, capsys):
    m = tmp_path / "m"
    shutil.copytree(tiny_model("2d"), m)
    (m / "train_state.json").write_text('{"epoch": 3, "truncat')
    before = {p.name: p.read_bytes() for p in m.iterdir() if p.is_file()}
    patches = next(Path(tiny_model("2d")).parent.glob("2d_patches.npz"))
    rc = main(["train", "--data", str(patches), "--out", str(m), "--resume", "--quiet"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(err) == 1 and "train_state.json" in err[0], err
    assert {p.name: p.read_bytes() for p in m.iterdir() if p.is_file()} == before
