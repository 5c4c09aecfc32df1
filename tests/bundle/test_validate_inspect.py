"""validate_bundle reproduces the test tensors with every engine; inspect_bundle describes a bundle."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bundle_helpers import rewrite_zip, set_sha
from test_open import make_third_party_bundle

from care_bridge.bundle import inspect_bundle
from care_bridge.export import export_bundle, validate_bundle
from care_bridge.bundle.inspect import render_inspection
from care_bridge.export.validate import render_report


def test_good_bundle_passes_every_check_including_bioimageio_core(bundle_2d: Path):
    report = validate_bundle(bundle_2d, core=True)
    rows = {c.name: c.passed for c in report.checks}
    assert rows == {
        "open": True, "schema": True,
        "reproduce keras_v3": True, "reproduce onnx": True, "reproduce tensorflow_saved_model_bundle": True,
        "bioimageio.core keras_v3": True, "bioimageio.core onnx": True,
        "bioimageio.core tensorflow_saved_model_bundle": True,
    }
    assert report.passed
    table = render_report(report)
    assert "overall: PASS" in table and "FAIL" not in table


def test_swapped_weights_with_matching_sha256_fail_reproduction(bundle_2d: Path, model_prob, tmp_path: Path,
                                                                 model_2d: Path):
    # other weights of the same architecture: export the same config with different random weights
    from bundle_helpers import make_model_folder

    from care_bridge.models import CareConfig

    other = make_model_folder(tmp_path / "other", CareConfig.load(model_2d), seed=7)
    other_zip = export_bundle(other, tmp_path / "other.zip", run_core_tests=False)
    with zipfile.ZipFile(other_zip) as zf:
        onnx = zf.read("weights.onnx")
    digest = hashlib.sha256(onnx).hexdigest()
    bad = rewrite_zip(bundle_2d, tmp_path / "swapped.zip", replace={"weights.onnx": onnx},
                      rdf_edit=lambda r: set_sha(r, "weights.onnx", digest))
    report = validate_bundle(bad)
    rows = {c.name: c for c in report.checks}
    assert rows["open"].passed and rows["schema"].passed
    assert rows["reproduce onnx"].passed is False and "max abs diff" in rows["reproduce onnx"].detail
    assert rows["reproduce tensorflow_saved_model_bundle"].passed
    assert not report.passed
    assert "overall: FAIL" in render_report(report)


def test_tampered_bundle_fails_at_open(bundle_2d: Path, tmp_path: Path):
    bad = rewrite_zip(bundle_2d, tmp_path / "t.zip", replace={"weights.onnx": b"garbage"})
    report = validate_bundle(bad)
    assert [c.name for c in report.checks] == ["open"]
    assert report.checks[0].passed is False and "sha256" in report.checks[0].detail
    assert not report.passed


def test_third_party_bundle_validates(tmp_path: Path):
    report = validate_bundle(make_third_party_bundle(tmp_path / "tp"))
    rows = {c.name: c.passed for c in report.checks}
    assert rows == {"open": True, "schema": True, "reproduce onnx": True}, render_report(report)


def test_schema_errors_are_reported(tmp_path: Path):
    folder = make_third_party_bundle(tmp_path / "tp", edit=lambda r: r.update(license="not-a-license"))
    rows = {c.name: c for c in validate_bundle(folder).checks}
    assert rows["schema"].passed is False and "license" in rows["schema"].detail


def test_inspect_describes_the_bundle(bundle_2d: Path, model_2d: Path):
    from care_bridge.models import CareConfig, halo

    cfg = CareConfig.load(model_2d)
    d = inspect_bundle(bundle_2d)
    assert d["producer"] == "care_bridge" and d["mode"] == "denoise" and d["task"] == "image restoration"
    assert d["axes"] == "YX" and d["input_layout"] == "byxc"
    assert d["halo"] == list(halo(cfg)) and d["step"] == list(cfg.step)
    assert d["normalization"]["percentiles"] == [cfg.percentile_low, cfg.percentile_high]
    assert d["normalization"]["output"]["kind"] == "input_percentiles_affine"
    assert set(d["weights"]) == {"keras_v3", "onnx", "tensorflow_saved_model_bundle"}
    assert all(w["bytes"] > 0 for w in d["weights"].values())
    assert d["provenance"]["n_patches"] == 128
    assert d["validation"]["metrics"]["nrmse"]["care"] == 0.12
    text = render_inspection(d)
    assert "halo" in text and "Y=" in text and "onnx" in text


def test_inspect_third_party(tmp_path: Path):
    d = inspect_bundle(make_third_party_bundle(tmp_path / "tp"))
    assert d["producer"] == "third-party" and d["input_layout"] == "bcyx" and d["validation"] is None
    assert "bcyx" in render_inspection(d)


@pytest.mark.parametrize("right", [True, False])
def test_third_party_preprocessing_is_reproduced_not_skipped(tmp_path: Path, right: bool):
    """A bundle whose preprocessing is not CARE's (here scale_linear x3, then the net doubles): validate runs it
    with the runtime's ops and compares; wrong test tensors fail instead of being skipped (issue #13)."""
    import hashlib

    import yaml
    from test_open import make_third_party_bundle

    folder = make_third_party_bundle(tmp_path / "tp", pre=[{"id": "scale_linear", "kwargs": {"gain": 3.0, "offset": 0.0}}])
    x = np.load(folder / "in.npy")
    np.save(folder / "out.npy", (6 if right else 5) * x)
    rdf = yaml.safe_load((folder / "rdf.yaml").read_text())
    rdf["outputs"][0]["test_tensor"]["sha256"] = hashlib.sha256((folder / "out.npy").read_bytes()).hexdigest()
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
    report = validate_bundle(folder)
    row = next(c for c in report.checks if c.name == "reproduce onnx")
    assert row.passed is right, row.detail
    assert report.passed is right
