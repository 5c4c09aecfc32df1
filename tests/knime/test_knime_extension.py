"""The shipped KNIME extension module (care_bridge_nodes.py) run against the knime.extension TEST DOUBLE.

What this checks: registration (ids, types, ports, icons, descriptions), configure (output schemas, clear errors
before any work) and execute (tables in, tables out, progress, warnings, cancellation). What it cannot check:
that KNIME itself loads the extension; see knime_workflows/README.md.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from care_bridge import knime_nodes as kn

IDS = {"care_image_lister", "care_bundle_reader", "care_restorer", "care_evaluator", "care_trainer"}


def _ctx(knext, tmp_path, **kw):
    return knext.ExecutionContext(workflow_dir=str(tmp_path / "wf"), **kw)


def _node(knext, ext, node_id, **settings):
    node = knext.double_nodes[node_id].factory()
    knext.double_inject(node, settings)
    return node


def test_all_nodes_register_with_ports_icons_and_descriptions(knext, ext):
    assert IDS <= set(knext.double_nodes)
    root = Path(ext.__file__).parent
    for node_id in IDS:
        rec = knext.double_nodes[node_id]
        assert rec.name.startswith("CARE ") and rec.category == "/community/care_bridge"
        assert (root / rec.icon_path).is_file() and (root / rec.icon_path).read_bytes()[:4] == b"\x89PNG"
        assert len(rec.cls.__doc__.split()) > 20
    recs = {i: knext.double_nodes[i] for i in IDS}
    ports = {i: ([p.name for p in r.input_ports], [p.name for p in r.output_ports]) for i, r in recs.items()}
    assert ports["care_restorer"] == (["Images", "Model"], ["Restored"])
    assert ports["care_bundle_reader"] == ([], ["Model"])
    assert ports["care_trainer"] == (["Pairs"], ["Model"])
    assert "train" in knext.double_nodes["care_trainer"].cls.__doc__
    assert all((root / c["icon"]).is_file() for c in knext.double_categories)


def test_parameters_validate_like_knime(knext, ext):
    node = _node(knext, ext, "care_trainer")
    with pytest.raises(ValueError):
        node.training.epochs = 0
    with pytest.raises(TypeError):
        node.overwrite = "yes"
    node.training.epochs = 3
    assert node.training.epochs == 3 and node.training.batch_size == 16


def test_lister_configure_and_execute(knext, ext, tmp_path, make_tiffs):
    make_tiffs(tmp_path / "wf" / "data" / "low", 2)
    make_tiffs(tmp_path / "wf" / "data" / "high", 2)
    node = _node(knext, ext, "care_image_lister", folder="low", target_folder="high")
    schema = node.configure(knext.ConfigurationContext())
    table = node.execute(_ctx(knext, tmp_path))
    assert schema.column_names == table.column_names == [kn.IMAGE_COLUMN, kn.TARGET_COLUMN]
    assert table.num_rows == 2
    missing = _node(knext, ext, "care_image_lister", folder=str(tmp_path / "nowhere"))
    with pytest.raises(knext.InvalidParametersError, match="does not exist"):
        missing.configure(knext.ConfigurationContext())


def test_bundle_reader_missing_bundle_fails_configure(knext, ext, tmp_path):
    node = _node(knext, ext, "care_bundle_reader", bundle=str(tmp_path / "nope.zip"))
    with pytest.raises(knext.InvalidParametersError, match="does not exist"):
        node.configure(knext.ConfigurationContext())
    relative = _node(knext, ext, "care_bundle_reader", bundle="nope.zip")
    assert relative.configure(knext.ConfigurationContext()).column_names == list(kn.MODEL_COLUMNS)
    with pytest.raises(RuntimeError, match="does not exist"):  # resolvable only once executing
        relative.execute(_ctx(knext, tmp_path))


def test_bundle_reader_wrong_bundle_fails_configure_with_one_line(knext, ext, tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip: no rdf.yaml
    node = _node(knext, ext, "care_bundle_reader", bundle=str(fake))
    with pytest.raises(knext.InvalidParametersError) as err:
        node.configure(knext.ConfigurationContext())
    assert "\n" not in str(err.value) and str(err.value)


def _images_schema(knext, *names):
    return knext.Schema.from_columns([knext.Column(knext.string(), n) for n in names])


def test_restorer_configure_schema_and_errors(knext, ext):
    node = _node(knext, ext, "care_restorer")
    model = ext._model_schema()
    out = node.configure(knext.ConfigurationContext(), _images_schema(knext, "id", kn.IMAGE_COLUMN), model)
    assert out.column_names == ["id", kn.IMAGE_COLUMN, *kn.RESTORE_COLUMNS]
    assert node.image_column == kn.IMAGE_COLUMN
    out.serialize()
    with pytest.raises(knext.InvalidParametersError, match="CARE model table"):
        node.configure(knext.ConfigurationContext(), _images_schema(knext, kn.IMAGE_COLUMN),
                       _images_schema(knext, "something"))
    with pytest.raises(knext.InvalidParametersError, match="already has"):
        node.configure(knext.ConfigurationContext(), _images_schema(knext, kn.IMAGE_COLUMN, "restore_status"), model)
    with pytest.raises(knext.InvalidParametersError, match="no string column"):
        _node(knext, ext, "care_restorer").configure(
            knext.ConfigurationContext(), knext.Schema([knext.double()], ["x"]), model)
    with pytest.raises(knext.InvalidParametersError, match="tiles"):
        _node(knext, ext, "care_restorer", n_tiles="2,x").configure(
            knext.ConfigurationContext(), _images_schema(knext, kn.IMAGE_COLUMN), model)


def _model_table(knext, bundle: Path):
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()  # computed here, not by the code under test
    row = {c: "" for c in kn.MODEL_COLUMNS} | {"bundle_path": str(bundle), "bundle_sha256": digest,
                                               "n_channel_in": 1, "n_channel_out": 1, "probabilistic": False}
    return knext.Table.from_pandas(pd.DataFrame([row]))


def test_restorer_execute_with_fake_runtime(knext, ext, tmp_path, tiffs, fake_restorer, monkeypatch):
    bundle = tmp_path / "m.zip"
    bundle.write_bytes(b"stand-in")
    monkeypatch.setattr(kn, "load_restorer", lambda path, engine="auto", **kw: fake_restorer)
    paths = [str(p) for p in tiffs] + [str(tmp_path / "x.tif")]
    images = knext.Table.from_pandas(pd.DataFrame({kn.IMAGE_COLUMN: paths}))
    node = _node(knext, ext, "care_restorer", output_folder="restored", suffix="_c")
    schema = node.configure(knext.ConfigurationContext(), images.schema, ext._model_schema())
    ctx = _ctx(knext, tmp_path)
    out = node.execute(ctx, images, _model_table(knext, bundle))
    assert out.column_names == schema.column_names
    df = out.to_pandas()
    assert df["restore_status"].tolist() == ["ok", "ok", "ok", "error"]
    assert all(Path(p).parent == tmp_path / "wf" / "data" / "restored" for p in df[kn.RESTORED_COLUMN][:3])
    assert ctx.double_warnings == ["1 of 4 rows failed; see the restore_error column"]
    assert ctx.double_progress[-1][0] == 1.0
    cancel = _ctx(knext, tmp_path, cancel_after=1)
    with pytest.raises(RuntimeError, match="cancelled"):
        _node(knext, ext, "care_restorer", output_folder="again").execute(cancel, images, _model_table(knext, bundle))


def test_restorer_fails_before_work_on_a_changed_or_missing_bundle(knext, ext, tmp_path, tiffs):
    bundle = tmp_path / "m.zip"
    bundle.write_bytes(b"v1")
    model = _model_table(knext, bundle)
    bundle.write_bytes(b"v2")
    images = knext.Table.from_pandas(pd.DataFrame({kn.IMAGE_COLUMN: [str(tiffs[0])]}))
    node = _node(knext, ext, "care_restorer", output_folder=str(tmp_path / "out"))
    with pytest.raises(RuntimeError, match="changed since it was read"):
        node.execute(_ctx(knext, tmp_path), images, model)
    bundle.unlink()
    with pytest.raises(RuntimeError, match="does not exist"):
        node.execute(_ctx(knext, tmp_path), images, model)
    assert not (tmp_path / "out").exists()


def test_evaluator_configure_and_execute(knext, ext, tmp_path, make_tiffs):
    a = make_tiffs(tmp_path / "a", 2)
    table = knext.Table.from_pandas(pd.DataFrame({kn.RESTORED_COLUMN: [str(p) for p in a],
                                                  kn.TARGET_COLUMN: [str(p) for p in a]}))
    node = _node(knext, ext, "care_evaluator")
    schema = node.configure(knext.ConfigurationContext(), table.schema)
    out = node.execute(_ctx(knext, tmp_path), table)
    assert out.column_names == schema.column_names == [kn.RESTORED_COLUMN, kn.TARGET_COLUMN, *kn.EVALUATE_COLUMNS]
    assert out.to_pandas()["ssim"].tolist() == pytest.approx([1.0, 1.0])


def test_trainer_configure_explains_the_train_extra(knext, ext, monkeypatch):
    schema = _images_schema(knext, kn.IMAGE_COLUMN, kn.TARGET_COLUMN)
    node = _node(knext, ext, "care_trainer")
    assert node.configure(knext.ConfigurationContext(), schema).column_names == list(kn.MODEL_COLUMNS)
    real = ext.importlib.util.find_spec
    monkeypatch.setattr(ext.importlib.util, "find_spec", lambda name: None if name == "tensorflow" else real(name))
    with pytest.raises(knext.InvalidParametersError, match=r"care_bridge\[train\]"):
        node.configure(knext.ConfigurationContext(), schema)


def test_output_tables_have_the_types_configure_declared_even_when_a_column_is_empty(
        knext, ext, tmp_path, tiffs, fake_restorer, monkeypatch):
    # Every row succeeds with a non-probabilistic bundle: restore_error and scale_path hold no value. Left to Arrow's
    # inference they would arrive in KNIME as "void" columns (knime/knime-python, knime/_arrow/_backend.py), unlike
    # the string columns configure declared; the nodes declare the Arrow types instead.
    bundle = tmp_path / "m.zip"
    bundle.write_bytes(b"stand-in")
    monkeypatch.setattr(kn, "load_restorer", lambda path, engine="auto", **kw: fake_restorer)
    images = knext.Table.from_pandas(pd.DataFrame({kn.IMAGE_COLUMN: [str(p) for p in tiffs]},
                                                  index=["first", "second", "third"]))
    node = _node(knext, ext, "care_restorer", output_folder="restored")
    schema = node.configure(knext.ConfigurationContext(), images.schema, ext._model_schema())
    out = node.execute(_ctx(knext, tmp_path), images, _model_table(knext, bundle))
    assert out.schema == schema  # names and types
    assert {c.name: c.ktype for c in out.schema}[kn.SCALE_COLUMN] == knext.string()
    assert out.to_pyarrow().column(kn.SCALE_COLUMN).null_count == len(tiffs)
    assert list(out.to_pandas().index) == ["first", "second", "third"]  # the input's RowIDs
    plain = knext.Table.from_pandas(pd.DataFrame({"restore_error": [None] * len(tiffs)}))  # the old way
    assert {c.name: c.ktype for c in plain.schema}["restore_error"] == knext.void()

    evaluator = _node(knext, ext, "care_evaluator", prediction_column=kn.IMAGE_COLUMN,
                      target_column=kn.RESTORED_COLUMN)
    espec = evaluator.configure(knext.ConfigurationContext(), out.schema)
    scored = evaluator.execute(_ctx(knext, tmp_path), out)
    assert scored.schema == espec and scored.to_pyarrow().column("evaluate_error").null_count == len(tiffs)


def test_source_nodes_output_the_types_they_declare(knext, ext, tmp_path, make_tiffs):
    make_tiffs(tmp_path / "wf" / "data" / "images", 2)
    lister = _node(knext, ext, "care_image_lister")
    assert lister.execute(_ctx(knext, tmp_path)).schema == lister.configure(knext.ConfigurationContext())
