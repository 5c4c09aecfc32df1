"""open_bundle: ModelInfo from care_bridge bundles and from third-party spec-0.5 bundles (channels first)."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from care_bridge.bundle import open_bundle
from care_bridge.models.info import info_from_config
from care_bridge.errors import BundleError
from care_bridge.models import CareConfig, halo


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def make_third_party_bundle(folder: Path, *, pre=None, post=None, edit=None) -> Path:
    """A minimal bioimage.io 0.5 bundle as other tools write it: ONNX, axes b,c,y,x, output = 2 * input."""
    import onnx
    from onnx import TensorProto, helper

    folder.mkdir(parents=True)
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["raw", "two"], ["doubled"])],
        "double",
        [helper.make_tensor_value_info("raw", TensorProto.FLOAT, ["n", 1, "h", "w"])],
        [helper.make_tensor_value_info("doubled", TensorProto.FLOAT, ["n", 1, "h", "w"])],
        [two],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, folder / "model.onnx")
    x = np.random.default_rng(0).normal(size=(1, 1, 32, 40)).astype(np.float32)
    np.save(folder / "in.npy", x)
    np.save(folder / "out.npy", 2 * x)
    (folder / "README.md").write_text("# doubler\n\n## Validation\n\nnone\n")
    rdf = {
        "format_version": "0.5.4",
        "type": "model",
        "name": "doubler model",
        "description": "multiplies by two",
        "authors": [{"name": "Someone Else"}],
        "cite": [{"text": "a paper", "doi": "10.1038/s41592-018-0216-7"}],
        "license": "MIT",
        "documentation": "README.md",
        "inputs": [{
            "id": "raw",
            "axes": [{"type": "batch"}, {"type": "channel", "channel_names": ["c0"]},
                     {"type": "space", "id": "y", "size": {"min": 16, "step": 8}},
                     {"type": "space", "id": "x", "size": {"min": 16, "step": 8}}],
            "test_tensor": {"source": "in.npy", "sha256": _sha(folder / "in.npy")},
            "preprocessing": pre if pre is not None else [{"id": "ensure_dtype", "kwargs": {"dtype": "float32"}}],
        }],
        "outputs": [{
            "id": "doubled",
            "axes": [{"type": "batch"}, {"type": "channel", "channel_names": ["c0"]},
                     {"type": "space", "id": "y", "halo": 4, "size": {"tensor_id": "raw", "axis_id": "y"}},
                     {"type": "space", "id": "x", "halo": 4, "size": {"tensor_id": "raw", "axis_id": "x"}}],
            "test_tensor": {"source": "out.npy", "sha256": _sha(folder / "out.npy")},
            "postprocessing": post or [],
        }],
        "weights": {"onnx": {"source": "model.onnx", "sha256": _sha(folder / "model.onnx"), "opset_version": 17}},
    }
    if edit:
        edit(rdf)
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
    return folder


def test_care_bundle_info_equals_the_model_folder_info(bundle_2d: Path, model_2d: Path):
    cfg = CareConfig.load(model_2d)
    with open_bundle(bundle_2d) as b:
        expected = info_from_config(cfg, description=b.rdf["description"])
        assert b.info == expected
        assert b.info.halo == halo(cfg) and b.info.step == cfg.step
        assert b.info.pixel_size == {"Y": 0.1, "X": 0.1}
        assert b.info.denormalize == "input_percentiles"
        assert CareConfig.from_dict(b.care_bridge["network"]) == cfg  # kept for retraining; the runtime never parses it
        assert set(b.formats) == {"keras_v3", "onnx", "tensorflow_saved_model_bundle"}
        assert (b.formats["tensorflow_saved_model_bundle"] / "saved_model.pb").is_file()
        assert b.test_inputs[0].shape == b.test_outputs[0].shape == (1, 64, 64, 1)
        root = b.root
    assert not root.exists()


def test_unpacked_folder_opens_like_the_zip(bundle_2d: Path, tmp_path: Path):
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(bundle_2d) as zf:
        zf.extractall(folder)  # trusted: our own bundle
    with open_bundle(folder) as b, open_bundle(bundle_2d) as z:
        assert b.info == z.info
    assert folder.is_dir()  # never deletes a folder it did not create


def test_third_party_channels_first_bundle(tmp_path: Path):
    from care_bridge.runtime.engines import make_engine

    folder = make_third_party_bundle(tmp_path / "tp")
    with open_bundle(folder) as b:
        info = b.info
        assert (info.axes, info.input_layout, info.output_layout) == ("YX", "bcyx", "bcyx")
        assert (info.step, info.min_size, info.halo, info.scale) == ((8, 8), (16, 16), (4, 4), (1.0, 1.0))
        assert (info.input_name, info.output_names) == ("raw", ("doubled",))
        assert info.denormalize == "none" and b.care_bridge is None
        x = b.runtime_tensor(b.test_inputs[0])
        assert x.shape == (1, 32, 40, 1)
        (y,) = make_engine("onnxruntime", b.formats, info).run(x)
        np.testing.assert_allclose(y, b.runtime_tensor(b.test_outputs[0], output=True), atol=1e-6)


def test_third_party_processing_ops_are_copied(tmp_path: Path):
    pre = [{"id": "scale_range", "kwargs": {"axes": ["y", "x"], "min_percentile": 1.0, "max_percentile": 99.0}}]
    post = [{"id": "sigmoid"}]
    with open_bundle(make_third_party_bundle(tmp_path / "tp", pre=pre, post=post)) as b:
        assert b.info.preprocessing == tuple({"id": p["id"], "kwargs": p.get("kwargs", {})} for p in pre)
        assert b.info.postprocessing == ({"id": "sigmoid", "kwargs": {}},)


def test_upsampling_scale_and_halo_in_input_pixels(tmp_path: Path):
    def edit(rdf):
        for ax in rdf["outputs"][0]["axes"][2:]:
            ax["scale"] = 0.5  # output pixels half the size: 2x upsampling
            ax["halo"] = 6

    with open_bundle(make_third_party_bundle(tmp_path / "tp", edit=edit)) as b:
        assert b.info.scale == (2.0, 2.0)
        assert b.info.halo == (3, 3)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda r: r["outputs"][0].update(postprocessing=[{"id": "stardist_postprocessing", "kwargs": {}}]),
         "processing op 'stardist_postprocessing'"),
        (lambda r: r["inputs"][0].update(preprocessing=[{"id": "custom", "kwargs": {}}]), "processing op 'custom'"),
        (lambda r: r["inputs"].append(dict(r["inputs"][0], id="second")), "2 inputs"),
        (lambda r: r["inputs"][0]["axes"].insert(1, {"type": "time", "size": {"min": 1, "step": 1}}),
         "time axis"),
        (lambda r: r["inputs"][0]["axes"][2].update(size={"tensor_id": "raw", "axis_id": "x"}),
         "sizes referencing another tensor"),
        (lambda r: r["outputs"][0]["axes"][2].update(size=64), "only sizes referencing the input"),
        (lambda r: r["inputs"][0]["preprocessing"].append(
            {"id": "scale_range", "kwargs": {"reference_tensor": "other"}}), "cross-tensor"),
    ],
)
def test_unsupported_third_party_features_are_named(tmp_path: Path, edit, match):
    with pytest.raises(BundleError, match=match):
        open_bundle(make_third_party_bundle(tmp_path / "tp", edit=edit))


def test_remote_weights_are_not_fetched(tmp_path: Path):
    def edit(rdf):
        rdf["weights"]["torchscript"] = {"source": "https://example.org/w.pt", "pytorch_version": "2.0"}

    with open_bundle(make_third_party_bundle(tmp_path / "tp", edit=edit)) as b:
        assert set(b.formats) == {"onnx"}


def test_third_party_zip_bundle(tmp_path: Path):
    folder = make_third_party_bundle(tmp_path / "tp")
    zpath = Path(shutil.make_archive(str(tmp_path / "tp_bundle"), "zip", folder))
    with open_bundle(zpath) as b:
        assert b.info.input_layout == "bcyx"
