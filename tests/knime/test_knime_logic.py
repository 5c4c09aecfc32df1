"""care_bridge.knime_nodes: the table-in/table-out functions behind the KNIME nodes (no KNIME needed).

A fake restorer (output = 2 x input) isolates the table logic: bad rows, overwrite rules, cancellation.
The real runtime is exercised in test_identity.py.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from care_bridge import knime_nodes as kn
from care_bridge.errors import CareBridgeError
from care_bridge.frontend.options import RestoreOptions as Contract
from care_bridge.io import read_image


def _table(paths) -> pd.DataFrame:
    return pd.DataFrame({kn.IMAGE_COLUMN: [str(p) for p in paths]})


def test_resolve_path_relative_absolute_and_workflow_url(tmp_path):
    data = tmp_path / "wf" / "data"
    assert kn.resolve_path("images", data) == (data / "images").resolve()
    assert kn.resolve_path(str(tmp_path / "x"), None) == (tmp_path / "x").resolve()
    assert kn.resolve_path("knime://knime.workflow/data/m.zip", data) == (data / "m.zip").resolve()
    for bad in ("", "knime://knime.mountpoint/x"):
        with pytest.raises(CareBridgeError):
            kn.resolve_path(bad, data)
    with pytest.raises(CareBridgeError, match="relative"):
        kn.resolve_path("images", None)


def test_parse_n_tiles_is_the_contracts():
    assert kn.parse_n_tiles("auto") is None and kn.parse_n_tiles("") is None
    assert kn.parse_n_tiles("2,2") == (2, 2) and kn.parse_n_tiles("1x4x4") == (1, 4, 4)
    assert kn.parse_n_tiles("4") == 4  # one number: spread over Y and X by the runtime, as in the CLI and Fiji
    for bad in ("two", "0,2", "2,-1"):
        with pytest.raises(CareBridgeError):
            kn.parse_n_tiles(bad)


def test_list_images_sorted_and_paired(tmp_path, make_tiffs):
    low = make_tiffs(tmp_path / "low", 3)
    make_tiffs(tmp_path / "high", 3)
    (tmp_path / "low" / "notes.txt").write_text("x")
    df = kn.list_images(tmp_path / "low", target_folder=tmp_path / "high")
    assert list(df[kn.IMAGE_COLUMN]) == [str(p.resolve()) for p in low]
    assert [Path(p).name for p in df[kn.TARGET_COLUMN]] == [p.name for p in low]
    (tmp_path / "high" / low[1].name).unlink()
    with pytest.raises(CareBridgeError, match="no file of the same name"):
        kn.list_images(tmp_path / "low", target_folder=tmp_path / "high")
    with pytest.raises(CareBridgeError, match="does not exist"):
        kn.list_images(tmp_path / "missing")
    with pytest.raises(CareBridgeError, match="no files match"):
        kn.list_images(tmp_path / "low", pattern="*.png")


def test_restore_table_writes_outputs_and_keeps_input_columns(tmp_path, tiffs, fake_restorer):
    df = _table(tiffs)
    df["extra"] = [1, 2, 3]
    df.index = ["a", "b", "c"]
    out = kn.restore_table(df, fake_restorer, tmp_path / "out")
    assert list(out.columns) == [kn.IMAGE_COLUMN, "extra", *kn.RESTORE_COLUMNS]
    assert list(out.index) == ["a", "b", "c"]
    assert (out["restore_status"] == "ok").all() and out["restore_error"].isna().all()
    assert (out["restore_seconds"] > 0).all() and out[kn.SCALE_COLUMN].isna().all()
    for src, dst in zip(tiffs, out[kn.RESTORED_COLUMN]):
        assert Path(dst).name == src.name
        np.testing.assert_array_equal(tifffile.imread(dst), fake_restorer.restore(read_image(src)[0], "YX").image)


def test_bad_rows_get_an_error_and_the_others_go_on(tmp_path, tiffs, fake_restorer, make_tiffs):
    (tmp_path / "in" / "broken.tif").write_bytes(b"not a tiff at all")
    stack = make_tiffs(tmp_path / "in3d", 1, shape=(4, 16, 16), prefix="vol")[0]  # 3D: does not fit a 2D model
    rows = [tiffs[0], tmp_path / "in" / "missing.tif", tmp_path / "in" / "broken.tif", stack, tiffs[1]]
    df = _table(rows)
    df.loc[len(df)] = [None]
    out = kn.restore_table(df, fake_restorer, tmp_path / "out")
    assert list(out["restore_status"]) == ["ok", "error", "error", "error", "ok", "error"]
    errors = out["restore_error"].tolist()
    assert "does not exist" in errors[1] and "TIFF" in errors[2] and "expects 1 channel" in errors[3] and "empty" in errors[5]
    assert all("\n" not in e for e in errors if e)
    assert out[kn.RESTORED_COLUMN].isna().tolist() == [False, True, True, True, False, True]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.tif")) == sorted([tiffs[0].name, tiffs[1].name])


def test_fail_on_error_stops_at_the_first_bad_row(tmp_path, tiffs, fake_restorer):
    df = _table([tiffs[0], tmp_path / "missing.tif", tiffs[1]])
    with pytest.raises(CareBridgeError, match=r"row 2 .*does not exist"):
        kn.restore_table(df, fake_restorer, tmp_path / "out", kn.RestoreOptions(fail_on_error=True))
    assert [p.name for p in (tmp_path / "out").glob("*.tif")] == [tiffs[0].name]


def test_never_overwrites_a_file_the_node_did_not_write(tmp_path, tiffs, fake_restorer):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    foreign = out_dir / tiffs[0].name
    foreign.write_bytes(b"precious")
    for overwrite in (False, True):
        out = kn.restore_table(_table(tiffs), fake_restorer, out_dir, kn.RestoreOptions(restore=Contract(overwrite=overwrite)))
        assert out["restore_status"].tolist() == ["error", "ok", "ok"]
        assert foreign.read_bytes() == b"precious"
        assert ("not written by this node" if overwrite else "already exists") in out["restore_error"][0]


def test_overwrite_replaces_only_own_unchanged_outputs(tmp_path, tiffs, fake_restorer):
    out_dir = tmp_path / "out"
    kn.restore_table(_table(tiffs), fake_restorer, out_dir)
    manifest = json.loads((out_dir / kn.MANIFEST_NAME).read_text())
    assert sorted(manifest["files"]) == sorted(p.name for p in tiffs)
    again = kn.restore_table(_table(tiffs), fake_restorer, out_dir)
    assert (again["restore_status"] == "error").all()  # no overwrite: refused
    (out_dir / tiffs[2].name).write_bytes(b"edited by a person")  # no longer what the node wrote
    again = kn.restore_table(_table(tiffs), fake_restorer, out_dir, kn.RestoreOptions(restore=Contract(overwrite=True)))
    assert again["restore_status"].tolist() == ["ok", "ok", "error"]
    assert (out_dir / tiffs[2].name).read_bytes() == b"edited by a person"


def test_inputs_and_duplicate_names_are_protected(tmp_path, tiffs, fake_restorer, make_tiffs):
    same_dir = kn.restore_table(_table(tiffs), fake_restorer, tiffs[0].parent, kn.RestoreOptions(restore=Contract(overwrite=True)))
    assert (same_dir["restore_status"] == "error").all() and "inputs" in same_dir["restore_error"][0]
    twin = make_tiffs(tmp_path / "other", 1)[0]  # same name as tiffs[0], another folder
    out = kn.restore_table(_table([tiffs[0], twin]), fake_restorer, tmp_path / "out")
    assert out["restore_status"].tolist() == ["ok", "error"] and "unique" in out["restore_error"][1]


def test_suffix_axes_tiles_and_progress_are_passed_on(tmp_path, tiffs, fake_restorer):
    seen = []
    opts = kn.RestoreOptions(restore=Contract(suffix="_care", n_tiles=(2, 2), axes="YX"))
    out = kn.restore_table(_table(tiffs), fake_restorer, tmp_path / "out", opts, progress=lambda f, m: seen.append(f))
    assert all(Path(p).name.endswith("_care.tif") for p in out[kn.RESTORED_COLUMN])
    assert {c[1:] for c in fake_restorer.calls} == {("YX", (2, 2))}
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_probabilistic_model_fills_the_scale_column(tmp_path, tiffs, probabilistic_restorer):
    out = kn.restore_table(_table(tiffs), probabilistic_restorer, tmp_path / "out")
    for src, sp in zip(tiffs, out[kn.SCALE_COLUMN]):
        assert Path(sp).name == src.stem + "_scale.tif"
        image, _ = read_image(src)
        want = probabilistic_restorer.restore(image, "YX").scale
        np.testing.assert_array_equal(tifffile.imread(sp), want)


def test_cancellation_stops_between_rows_and_keeps_the_manifest(tmp_path, tiffs, fake_restorer):
    checks = iter([False, True])
    with pytest.raises(RuntimeError, match="cancelled"):
        kn.restore_table(_table(tiffs), fake_restorer, tmp_path / "out", cancelled=lambda: next(checks))
    manifest = json.loads((tmp_path / "out" / kn.MANIFEST_NAME).read_text())
    assert list(manifest["files"]) == [tiffs[0].name]


def test_table_level_problems_fail_before_any_work(tmp_path, tiffs, fake_restorer):
    with pytest.raises(CareBridgeError, match="no column"):
        kn.restore_table(pd.DataFrame({"x": ["a"]}), fake_restorer, tmp_path / "out")
    clash = _table(tiffs).assign(restore_status="old")
    with pytest.raises(CareBridgeError, match="already has column"):
        kn.restore_table(clash, fake_restorer, tmp_path / "out")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CareBridgeError, match="cannot be created"):
        kn.restore_table(_table(tiffs), fake_restorer, blocker / "out")
    assert not fake_restorer.calls


def test_model_table_checks(tmp_path):
    with pytest.raises(CareBridgeError, match="CARE Bundle Reader"):
        kn.bundle_from_model_table(pd.DataFrame({"x": [1]}))
    z = tmp_path / "m.zip"
    z.write_bytes(b"abc")
    row = {"bundle_path": str(z), "bundle_sha256": hashlib.sha256(z.read_bytes()).hexdigest()}
    assert kn.bundle_from_model_table(pd.DataFrame([row])) == z
    with pytest.raises(CareBridgeError, match="exactly one"):
        kn.bundle_from_model_table(pd.DataFrame([row, row]))
    z.write_bytes(b"abd")
    with pytest.raises(CareBridgeError, match="changed"):
        kn.bundle_from_model_table(pd.DataFrame([row]))
    z.unlink()
    with pytest.raises(CareBridgeError, match="does not exist"):
        kn.bundle_from_model_table(pd.DataFrame([row]))


def test_load_restorer_refuses_missing_bundle_and_unknown_engine(tmp_path):
    with pytest.raises(CareBridgeError, match="does not exist"):
        kn.load_restorer(tmp_path / "nope.zip")
    with pytest.raises(CareBridgeError, match="engine"):
        kn.load_restorer(tmp_path / "nope.zip", engine="cuda")


def test_evaluate_table_scores_rows_and_marks_bad_ones(tmp_path, make_tiffs):
    gt = make_tiffs(tmp_path / "gt", 3, seed=1)
    pred = make_tiffs(tmp_path / "pred", 2, seed=2)
    df = pd.DataFrame({kn.RESTORED_COLUMN: [str(gt[0]), str(pred[1]), str(tmp_path / "none.tif")],
                       kn.TARGET_COLUMN: [str(g) for g in gt]})
    out = kn.evaluate_table(df)
    assert out["evaluate_status"].tolist() == ["ok", "ok", "error"]
    assert out["nrmse"][0] == pytest.approx(0.0, abs=1e-7) and out["ssim"][0] == pytest.approx(1.0)
    assert 0 < out["nrmse"][1] and np.isfinite(out["psnr"][1]) and out["ssim"][1] < 1
    assert np.isnan(out.loc[2, list(kn.METRIC_COLUMNS)].astype(float)).all()
    with pytest.raises(CareBridgeError, match="row 3"):
        kn.evaluate_table(df, fail_on_error=True)


def test_train_table_checks_before_training(tmp_path, tiffs):
    df = pd.DataFrame({kn.IMAGE_COLUMN: [str(tiffs[0])], kn.TARGET_COLUMN: [str(tiffs[1])]})
    with pytest.raises(CareBridgeError, match=r"\.zip"):
        kn.train_table(df, tmp_path / "model.bin")
    with pytest.raises(CareBridgeError, match="empty"):
        kn.train_table(df.iloc[:0], tmp_path / "m.zip")
    (tmp_path / "m.zip").write_bytes(b"someone else's")
    with pytest.raises(CareBridgeError, match="not written by this node"):
        kn.train_table(df, tmp_path / "m.zip", overwrite=True)


def test_train_table_parses_and_checks_the_training_precision_before_any_work(tmp_path, tiffs, monkeypatch):
    """The trainer dialog's Precision is `care-bridge train --precision`: the same parser and hardware check,
    refused before patches are made or anything is written."""
    import care_bridge.train.precision as precision

    df = pd.DataFrame({kn.IMAGE_COLUMN: [str(tiffs[0])], kn.TARGET_COLUMN: [str(tiffs[1])]})
    out, work = tmp_path / "out", tmp_path / "work"
    out.mkdir()
    work.mkdir()
    with pytest.raises(CareBridgeError, match="training precision 'fp16'"):
        kn.train_table(df, out / "m.zip", kn.TrainSettings(precision="fp16"), work_dir=work)
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda cpuinfo=None: [])
    monkeypatch.setattr(precision, "_gpu_count", lambda: 0)
    with pytest.raises(CareBridgeError, match="bf16 instructions"):
        kn.train_table(df, out / "m.zip", kn.TrainSettings(precision="BF16"), work_dir=work)
    assert list(out.iterdir()) == [] and list(work.iterdir()) == []


def test_arrow_table_declares_the_types_of_all_empty_columns(tmp_path, tiffs, fake_restorer):
    # KNIME moves tables as Arrow; an inferred column without any value is Arrow's null type, a "void" column in
    # KNIME (knime/knime-python, org.knime.python3.arrow/.../knime/_arrow/_backend.py: pa.null() -> voidSpec).
    import pyarrow as pa

    out = kn.restore_table(_table(tiffs), fake_restorer, tmp_path / "out")  # every row ok, not probabilistic
    assert out["restore_error"].isna().all() and out[kn.SCALE_COLUMN].isna().all()
    assert pa.types.is_null(pa.Table.from_pandas(out)["restore_error"].type)  # what inference alone gives
    t = kn.arrow_table(out)
    types = dict(zip(t.schema.names, t.schema.types))
    assert t.schema.names[0] == kn.ROW_ID_COLUMN and t.column(0).to_pylist() == ["Row0", "Row1", "Row2"]
    assert types[kn.SCALE_COLUMN] == types["restore_error"] == types["restore_status"] == pa.string()
    assert types["restore_seconds"] == pa.float64()
    assert t.column(kn.SCALE_COLUMN).null_count == len(tiffs)

    empty = kn.arrow_table(pd.DataFrame({c: [] for c in (*kn.MODEL_COLUMNS, *kn.EVALUATE_COLUMNS)}))
    assert empty.num_rows == 0 and not any(pa.types.is_null(x) for x in empty.schema.types)
    et = dict(zip(empty.schema.names, empty.schema.types))
    assert et["n_channel_in"] == pa.int64() and et["probabilistic"] == pa.bool_() and et["ssim"] == pa.float64()
    other = kn.arrow_table(pd.DataFrame({"note": [None, None], "count": [1, 2]}, index=["a", "b"]))
    assert other.schema.types[1:] == [pa.string(), pa.int64()] and other.column(0).to_pylist() == ["a", "b"]


def test_arrow_table_keeps_the_input_columns_and_row_ids_as_they_came():
    import pyarrow as pa

    base = pa.table({kn.ROW_ID_COLUMN: pa.array(["r7", "r9"]), kn.IMAGE_COLUMN: pa.array(["a.tif", "b.tif"]),
                     "plate": pa.array([3, None], pa.int32()), "empty": pa.array([None, None], pa.float32())})
    df = base.drop_columns([kn.ROW_ID_COLUMN]).to_pandas()
    df["restore_error"] = [None, None]
    t = kn.arrow_table(df, base)
    assert t.schema.names == [kn.ROW_ID_COLUMN, kn.IMAGE_COLUMN, "plate", "empty", "restore_error"]
    assert t.schema.types[:4] == base.schema.types and t.schema.types[4] == pa.string()
    assert t.column(0).to_pylist() == ["r7", "r9"] and t.column("plate").to_pylist() == [3, None]
    with pytest.raises(CareBridgeError, match="rows"):
        kn.arrow_table(df.iloc[:1], base)
    with pytest.raises(CareBridgeError, match="RowID"):
        kn.arrow_table(df, base.drop_columns([kn.ROW_ID_COLUMN]))
