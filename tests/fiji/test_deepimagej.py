"""Static deepImageJ compatibility check (care_bridge.bundle.deepimagej)."""

import zipfile

import yaml

from care_bridge.bundle.deepimagej import check_deepimagej, format_deepimagej_report


def _rdf(**over):
    axes = [{"type": "batch"}, {"type": "space", "id": "y"}, {"type": "space", "id": "x"},
            {"type": "channel", "channel_names": ["c0"]}]
    rdf = {
        "weights": {"onnx": {}, "tensorflow_saved_model_bundle": {}, "keras_v3": {}},
        "inputs": [{"id": "input", "axes": axes,
                    "preprocessing": [{"id": "scale_range", "kwargs": {}}]}],
        "outputs": [{"id": "output", "axes": axes}],
        "config": {"care_bridge": {"output_denormalization": {"kind": "input_percentiles_affine",
                                                              "formula": "y = y_n * (p_high - p_low) + p_low"},
                                   "probabilistic": False}},
    }
    rdf.update(over)
    return rdf


def test_care_bundle_passes_and_reports_the_lost_denormalization():
    rep = check_deepimagej(_rdf())
    assert rep.ok and rep.usable_weights == ["onnx", "tensorflow_saved_model_bundle"]
    assert any("de-normalization" in x for x in rep.losses)
    assert any("keras_v3" in n for n in rep.notes)
    table = format_deepimagej_report(rep)
    assert "verdict" in table and "OK" in table and "loses" in table


def test_keras_only_bundle_fails():
    rep = check_deepimagej(_rdf(weights={"keras_hdf5": {}}))
    assert not rep.ok and "no weight format deepImageJ runs" in rep.errors[0]


def test_unsupported_op_and_time_axis_fail():
    rdf = _rdf()
    rdf["outputs"][0]["postprocessing"] = [{"id": "scale_mean_variance"}]
    rdf["inputs"][0]["axes"] = [{"type": "time"}] + rdf["inputs"][0]["axes"]
    rep = check_deepimagej(rdf)
    assert not rep.ok
    assert any("scale_mean_variance" in e for e in rep.errors) and any("axes 't'" in e for e in rep.errors)


def test_spec_04_string_axes_and_probabilistic_scale():
    rdf = _rdf(inputs=[{"name": "input", "axes": "byxc", "preprocessing": [{"name": "scale_range"}]}])
    rdf["config"]["care_bridge"]["probabilistic"] = True
    rep = check_deepimagej(rdf)
    assert rep.ok and any("scale output" in x for x in rep.losses)


def test_exported_bundles_pass(tiny_bundle):
    for kind in ("2d", "2d_probabilistic"):
        with zipfile.ZipFile(tiny_bundle(kind)) as zf:
            rdf = yaml.safe_load(zf.read("rdf.yaml"))
        rep = check_deepimagej(rdf)
        assert rep.ok, format_deepimagej_report(rep)
