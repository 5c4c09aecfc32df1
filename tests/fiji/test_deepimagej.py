"""Static deepImageJ compatibility check (care_bridge.bundle.deepimagej).

The expectations come from deepImageJ's and JDLL's code (deepimagej/deepimagej-plugin at c84362b: deepImageJ 3.1 on
JDLL 0.6.1; bioimage-io/JDLL at 98d3be2): ``ModelWeight.java`` (weights in a ``HashMap`` keyed
``<format>_v<version>``), ``BioimageIoModelJava.createBioimageioModel`` (the first entry with an installed engine
is used), ``RunnerAdapter`` (``pytorch_state_dict`` through JDLL's Python environment), ``availableDLVersions.json``
/ ``supportedVersions.json`` (TF <= 2.10.1, ONNX Runtime 1.3.1-1.13.1 by opset 6-18), the transformations'
setters, and ``BioimageIoModelJava.getTileMaker`` (preprocessing on the whole input before tiling).
"""

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from care_bridge.bundle.deepimagej import (check_deepimagej, format_deepimagej_report, jdll_version,
                                           jdll_weight_order)

ASSETS = Path(__file__).resolve().parents[2] / "care_bridge" / "assets"
ONNX = {"source": "weights.onnx", "opset_version": 17}
TF = {"source": "tf_saved_model.zip", "tensorflow_version": "2.21.0"}
KERAS = {"source": "weights.keras", "keras_version": "3.15.1"}


def _rdf(weights=None, **over):
    axes = [{"type": "batch"}, {"type": "space", "id": "y"}, {"type": "space", "id": "x"},
            {"type": "channel", "channel_names": ["c0"]}]
    rdf = {
        "weights": weights if weights is not None else {"keras_v3": KERAS, "onnx": ONNX},
        "inputs": [{"id": "input", "axes": axes,
                    "preprocessing": [{"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},
                                      {"id": "scale_range", "kwargs": {"axes": ["y", "x"], "min_percentile": 2.0,
                                                                       "max_percentile": 99.8, "eps": 1e-6}}]}],
        "outputs": [{"id": "output", "axes": axes}],
        "config": {"care_bridge": {"output_denormalization": {"kind": "input_percentiles_affine",
                                                              "formula": "y = y_n * (p_high - p_low) + p_low"},
                                   "probabilistic": False}},
    }
    rdf.update(over)
    return rdf


def test_onnx_bundle_passes_and_reports_the_lost_denormalization():
    rep = check_deepimagej(_rdf())
    assert rep.ok and rep.weights_used == "onnx" and rep.usable_weights == ["onnx"]
    assert any("de-normalization" in x for x in rep.losses)
    assert any("keras_v3" in n for n in rep.notes)
    assert any("ONNX Runtime 1.12.1" in n and "IR version <= 8" in n for n in rep.notes)  # opset 17
    assert any("whole image before tiling" in n for n in rep.notes)
    table = format_deepimagej_report(rep)
    assert "verdict" in table and "OK" in table and "loses" in table and "JDLL 0.6.1" in table


def test_a_tf_2_21_savedmodel_next_to_onnx_is_what_jdll_would_load_and_it_probably_fails():
    # JDLL's HashMap puts "tensorflow_saved_model_bundle_v2.21.0" before "onnx_v17", whatever the rdf's order
    for weights in ({"keras_v3": KERAS, "onnx": ONNX, "tensorflow_saved_model_bundle": TF},
                    {"tensorflow_saved_model_bundle": TF, "onnx": ONNX}):
        assert jdll_weight_order(weights) == ["tensorflow_saved_model_bundle", "onnx"]
        rep = check_deepimagej(_rdf(weights))
        assert not rep.ok and rep.weights_used == "tensorflow_saved_model_bundle"
        (err,) = rep.errors
        assert "2.10.1" in err and "DisableCopyOnRead" in err and "should use the ONNX weights" in err
    older = check_deepimagej(_rdf({"onnx": ONNX, "tensorflow_saved_model_bundle": {"tensorflow_version": "2.10"}}))
    assert older.ok and older.weights_used in ("onnx", "tensorflow_saved_model_bundle")


def test_tf_only_older_tf_and_onnx_opsets():
    assert not check_deepimagej(_rdf({"tensorflow_saved_model_bundle": TF})).ok
    tf210 = check_deepimagej(_rdf({"tensorflow_saved_model_bundle": {"tensorflow_version": "2.10.1"}}))
    assert tf210.ok and tf210.weights_used == "tensorflow_saved_model_bundle"
    opset19 = check_deepimagej(_rdf({"onnx": {"opset_version": 19}}))
    assert not opset19.ok and any("opsets 6-18" in n for n in opset19.notes)
    assert jdll_version("onnx", {}) == "17"
    assert jdll_version("torchscript", {"pytorch_version": "2.5.1+cu121"}) == "2.5.1"


def test_pytorch_formats():
    sd = check_deepimagej(_rdf({"pytorch_state_dict": {"pytorch_version": "2.5.1"}}))
    assert sd.ok and sd.weights_used == "pytorch_state_dict" and any("pixi" in n for n in sd.notes)
    ts = check_deepimagej(_rdf({"torchscript": {"pytorch_version": "2.5.1"}, "pytorch_state_dict": {}}))
    assert ts.ok and ts.weights_used == "torchscript" and any("2.0.0" in n for n in ts.notes)


def test_keras_only_bundle_fails():
    rep = check_deepimagej(_rdf({"keras_hdf5": {}, "keras_v3": KERAS}))
    assert not rep.ok and "no weight format deepImageJ runs" in rep.errors[0]


def test_unsupported_op_unknown_kwarg_and_time_axis_fail():
    rdf = _rdf()
    rdf["outputs"][0]["postprocessing"] = [{"id": "scale_mean_variance"}, {"id": "binarize",
                                                                          "kwargs": {"threshold": [0.5], "axis": "c"}}]
    rdf["inputs"][0]["axes"] = [{"type": "time"}] + rdf["inputs"][0]["axes"]
    rep = check_deepimagej(rdf)
    assert not rep.ok
    assert any("scale_mean_variance" in e for e in rep.errors) and any("axes 't'" in e for e in rep.errors)
    assert any("binarize" in e and "axis" in e for e in rep.errors)


def test_reference_tensor_is_ignored_by_jdll():
    rdf = _rdf()
    rdf["inputs"][0]["preprocessing"][1]["kwargs"]["reference_tensor"] = "other"
    rep = check_deepimagej(rdf)
    assert rep.ok and any("reference_tensor" in x for x in rep.losses)


def test_spec_04_string_axes_and_probabilistic_scale():
    rdf = _rdf(inputs=[{"name": "input", "axes": "byxc", "preprocessing": [{"name": "scale_range"}]}])
    rdf["config"]["care_bridge"]["probabilistic"] = True
    rep = check_deepimagej(rdf)
    assert rep.ok and any("scale output" in x for x in rep.losses)


JAVA_ORDER = """
import java.util.*;
public class Order { public static void main(String[] a) {
  HashMap<String, String> m = new HashMap<>();
  for (String k : a) m.put(k, k);
  System.out.println(String.join(" ", m.keySet()));
}}
"""


def test_jdll_weight_order_is_java_hashmap_order(tmp_path):
    """The emulated iteration order equals a real java.util.HashMap's for the keys JDLL builds."""
    if not (shutil.which("javac") and shutil.which("java")):
        if os.environ.get("CI") == "true":
            pytest.fail("javac is needed (CI installs default-jdk-headless)")
        pytest.skip("no JDK")
    (tmp_path / "Order.java").write_text(JAVA_ORDER)
    subprocess.run(["javac", "Order.java"], cwd=tmp_path, check=True, timeout=120)
    cases = [
        {"keras_v3": KERAS, "onnx": ONNX, "tensorflow_saved_model_bundle": TF},
        {"onnx": {"opset_version": 18}, "torchscript": {"pytorch_version": "2.0.0"}, "pytorch_state_dict": {}},
        {"torchscript": {"pytorch_version": "1.13.1"}, "onnx": {"opset_version": 15},
         "tensorflow_saved_model_bundle": {"tensorflow_version": "2.10.1"},
         "keras_hdf5": {"tensorflow_version": "2.10"}, "tensorflow_js": {"tensorflow_version": "2.10"}},
    ]
    for weights in cases:
        keys = {f"{f}_v{jdll_version(f, weights[f]) or 'Unknown0'}": f for f in weights if f != "keras_v3"}
        out = subprocess.run(["java", "-cp", str(tmp_path), "Order", *keys], capture_output=True, text=True,
                             check=True, timeout=120).stdout.split()
        assert [keys[k] for k in out] == jdll_weight_order(weights)


def test_the_embedded_bundle_onnx_fits_jdll_onnx_runtime():
    """care_bridge's export (opset 17) runs on JDLL's ONNX Runtime 1.12.1: ONNX IR <= 8, default opset <= 17,
    ai.onnx.ml <= 3 (what ONNX Runtime 1.12 reads)."""
    onnx = pytest.importorskip("onnx")
    with zipfile.ZipFile(ASSETS / "demo_bundle.zip") as zf:
        rdf = yaml.safe_load(zf.read("rdf.yaml"))
        model = onnx.load_model_from_string(zf.read(rdf["weights"]["onnx"]["source"]))
    assert model.ir_version <= 8
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    assert opsets["ai.onnx"] == rdf["weights"]["onnx"]["opset_version"] == 17
    assert opsets.get("ai.onnx.ml", 0) <= 3 and set(opsets) <= {"ai.onnx", "ai.onnx.ml"}
    rep = check_deepimagej(rdf)
    assert rep.ok == ("tensorflow_saved_model_bundle" not in rdf["weights"])  # see the TF test above


def test_exported_bundles(tiny_bundle):
    for kind in ("2d", "2d_probabilistic"):
        with zipfile.ZipFile(tiny_bundle(kind)) as zf:
            rdf = yaml.safe_load(zf.read("rdf.yaml"))
        rep = check_deepimagej(rdf)
        if "tensorflow_saved_model_bundle" in rdf["weights"]:  # TF 2.21: JDLL would load it with TF 2.10.1
            assert not rep.ok and rep.weights_used == "tensorflow_saved_model_bundle", format_deepimagej_report(rep)
        else:
            assert rep.ok and rep.weights_used == "onnx", format_deepimagej_report(rep)
        onnx_only = dict(rdf, weights={k: v for k, v in rdf["weights"].items()
                                       if k != "tensorflow_saved_model_bundle"})
        assert check_deepimagej(onnx_only).ok, format_deepimagej_report(check_deepimagej(onnx_only))


def test_export_for_deepimagej_with_onnx_weights_only(tiny_model, tmp_path, capsys):
    """`care-bridge export --weights onnx`: no SavedModel for JDLL to prefer, so deepImageJ runs the ONNX weights;
    `validate --consumer deepimagej` says so through the real CLI."""
    from care_bridge.cli.main import main

    out = tmp_path / "dij.zip"
    assert main(["export", str(tiny_model("2d")), "--out", str(out), "--weights", "onnx"]) == 0
    with zipfile.ZipFile(out) as zf:
        rdf = yaml.safe_load(zf.read("rdf.yaml"))
    assert set(rdf["weights"]) == {"keras_v3", "onnx"}
    capsys.readouterr()
    assert main(["validate", str(out), "--consumer", "deepimagej"]) == 0
    assert main(["export", str(tiny_model("2d")), "--out", str(tmp_path / "x.zip"), "--weights", "pytorch"]) == 2
    assert "--weights 'pytorch' is unknown" in capsys.readouterr().err
