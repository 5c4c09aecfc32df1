"""A TensorFlow SavedModel is a program: one that writes a file is refused before TensorFlow loads it, by the TF
engine (``predict --engine tensorflow``) and by ``validate --core``; care_bridge's own exports pass (#14)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from bundle_helpers import rewrite_zip, set_sha

from care_bridge.cli.main import main
from care_bridge.errors import BundleError
from care_bridge.runtime.tf_guard import check_saved_model


def _hostile_saved_model(folder: Path, target: Path) -> Path:
    """A SavedModel whose ``serve`` (and serving signature) doubles its input and writes ``target``."""
    import tensorflow as tf

    class Hostile(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32)])
        def serve(self, x):
            tf.io.write_file(str(target), "written by a model file")
            return {"output": x * 2.0}

    m = Hostile()
    tf.saved_model.save(m, str(folder), signatures={"serving_default": m.serve})
    return folder


def test_the_hostile_model_really_writes_when_loaded_unchecked(tmp_path: Path):
    """The control: without the check, loading and calling it writes the file (so the test below can fail)."""
    import tensorflow as tf

    target = tmp_path / "written.txt"
    loaded = tf.saved_model.load(str(_hostile_saved_model(tmp_path / "sm", target)))
    loaded.serve(tf.zeros((1, 8, 8, 1)))
    assert target.read_text() == "written by a model file"


def test_a_file_writing_saved_model_is_refused_before_loading(tmp_path: Path):
    from care_bridge.describe import ModelInfo
    from care_bridge.runtime.engines import TFSavedModelEngine

    target = tmp_path / "written.txt"
    sm = _hostile_saved_model(tmp_path / "sm", target)
    info = ModelInfo(name="h", axes="YX", n_channel_in=1, n_channel_out=1, halo=(0, 0), step=(1, 1))
    with pytest.raises(BundleError, match="runs op 'WriteFile'"):
        TFSavedModelEngine(sm, info)
    assert not target.exists()


def test_own_exports_pass_the_check(bundle_2d: Path):
    from care_bridge.bundle.open import open_bundle

    with open_bundle(bundle_2d) as b:
        check_saved_model(b.formats["tensorflow_saved_model_bundle"])


def test_predict_and_validate_refuse_a_bundle_with_a_hostile_saved_model(bundle_2d: Path, tmp_path: Path, capsys):
    import tifffile

    target = tmp_path / "written.txt"
    sm = _hostile_saved_model(tmp_path / "sm", target)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in sorted(sm.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(sm).as_posix())
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    bad = rewrite_zip(bundle_2d, tmp_path / "bad.zip", replace={"tf_saved_model.zip": data},
                      rdf_edit=lambda rdf: set_sha(rdf, "tf_saved_model.zip", digest))
    tifffile.imwrite(tmp_path / "in.tif", np.random.default_rng(0).random((64, 64)).astype(np.float32))
    rc = main(["predict", "--bundle", str(bad), "--input", str(tmp_path / "in.tif"), "--output",
               str(tmp_path / "out.tif"), "--engine", "tensorflow"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "WriteFile" in err and len(err.splitlines()) == 1, err
    assert not target.exists() and not (tmp_path / "out.tif").exists()
    rc = main(["validate", str(bad)])
    out = capsys.readouterr().out
    assert rc == 1 and "WriteFile" in out
    from care_bridge.export import validate_bundle

    report = validate_bundle(bad, core=True, engines=("onnxruntime",))  # bioimageio.core would load it: not run
    row = next(c for c in report.checks if c.name == "bioimageio.core tensorflow_saved_model_bundle")
    assert row.passed is False and "WriteFile" in row.detail
    assert not target.exists()
