"""The PyTorch engine (``care_bridge[torch]``, ``--engine torch``): TorchScript bundles made here from plain
PyTorch modules run through the same runtime and front ends, agree with the ONNX weights, tile like untiled, and
a TorchScript file that does more than compute is refused before it runs (#13). ``pytorch_state_dict`` weights
whose architecture is a file in the bundle are refused by name (test_state_dict_engine.py runs known ones).

Needs PyTorch (``pip install 'care_bridge[torch]'``); skipped without it."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from care_bridge import runtime
from care_bridge.errors import BundleError, CareBridgeError

from zoo_bundles import sha, write_v04, write_v05

torch = pytest.importorskip("torch")

from torch_nets import (CountsCalls, Prints, ReadsAFile, RunsWhenLoaded, network, save_scripted,  # noqa: E402
                        save_torchscript)

NONE = [{"id": "ensure_dtype", "kwargs": {"dtype": "float32"}}]


def _image(shape, seed=11) -> np.ndarray:
    return np.random.default_rng(seed).gamma(2.0, 40.0, shape).astype(np.float32)


@pytest.mark.parametrize("how", ["script", "trace"])
@pytest.mark.parametrize("kind", ["conv2", "unet"])
def test_a_torchscript_bundle_restores_like_its_onnx_twin_and_tiles_like_untiled(tmp_path, kind, how):
    pt = save_torchscript(tmp_path / "model.pt", kind, 1, how)
    ts = write_v05(tmp_path / "ts", kind=kind, size=(32, 8), halo=8, weights_file=pt)
    ox = write_v05(tmp_path / "onnx", kind=kind, size=(32, 8), halo=8)
    r = runtime.load(ts)  # auto: the only runnable weights are torchscript
    assert r.engine.name == "torch"
    img = _image((90, 110))
    untiled = r.restore(img, "YX", n_tiles=1)
    assert untiled.engine == "torch"
    ref = runtime.load(ox).restore(img, "YX", n_tiles=1).image
    span = float(ref.max() - ref.min())
    assert np.abs(untiled.image - ref).max() <= 1e-5 * span  # two frameworks: float rounding apart
    for n in ((2, 2), (3, 4)):
        tiled = r.restore(img, "YX", n_tiles=n)
        np.testing.assert_array_equal(tiled.image, untiled.image)  # bit-identical per engine (measured)


def test_torch_engine_on_a_bundle_without_halo_and_a_04_bundle(tmp_path, capsys):
    pt = save_torchscript(tmp_path / "model.pt", "unet")
    nohalo = runtime.load(write_v05(tmp_path / "nohalo", kind="unet", size=(16, 2), halo=0, pre=NONE,
                                    weights_file=pt), engine="torch")
    img = _image((120, 96))
    a, b = nohalo.restore(img, "YX", n_tiles=1), nohalo.restore(img, "YX", n_tiles=(3, 2))
    assert "measured on the torch engine" in capsys.readouterr().err
    # not bit-identical: PyTorch's convolutions round the narrower border tiles differently in the last bit
    # (measured <= 3.2e-8 of the range); the stated bound is 1e-6
    assert float(np.abs(a.image - b.image).max()) <= 1e-6 * float(a.image.max() - a.image.min())
    v04 = runtime.load(write_v04(tmp_path / "v04", kind="unet", size=(32, 8), halo=8, weights_file=pt))
    v05 = runtime.load(write_v05(tmp_path / "v05", kind="unet", size=(32, 8), halo=8, weights_file=pt))
    np.testing.assert_array_equal(v04.restore(img, "YX").image, v05.restore(img, "YX").image)


def test_engine_torch_from_the_command_line(tmp_path, capsys):
    import tifffile

    from care_bridge.cli.main import main
    from care_bridge.frontend.options import parse_engine

    assert parse_engine("PyTorch") == parse_engine("torchscript") == "torch"
    ts = write_v05(tmp_path / "ts", kind="conv2", weights_file=save_torchscript(tmp_path / "m.pt", "conv2"))
    onnx_too = write_v05(tmp_path / "both", kind="conv2")
    tifffile.imwrite(tmp_path / "in.tif", _image((40, 48)))
    for bundle, out in ((ts, "a.tif"), (onnx_too, "b.tif")):
        rc = main(["predict", "--bundle", str(bundle), "--input", str(tmp_path / "in.tif"), "--output",
                   str(tmp_path / out), "--engine", "onnxruntime" if bundle == onnx_too else "torch"])
        assert rc == 0
    assert "engine torch" in capsys.readouterr().out
    a, b = tifffile.imread(tmp_path / "a.tif"), tifffile.imread(tmp_path / "b.tif")
    assert np.abs(a - b).max() <= 1e-5 * float(b.max() - b.min())
    rc = main(["predict", "--bundle", str(onnx_too), "--input", str(tmp_path / "in.tif"), "--output",
               str(tmp_path / "c.tif"), "--engine", "torch"])
    assert rc == 2 and "no weights for it" in capsys.readouterr().err


def _bundle_with(tmp_path, pt) -> object:
    return write_v05(tmp_path / pt.stem, kind="conv2", pre=NONE, weights_file=pt)


def test_a_torchscript_that_reads_a_file_is_refused_before_it_runs(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"\x7f" * 8)
    pt = save_scripted(tmp_path / "reads.pt", ReadsAFile(str(secret)))
    # control: run unchecked, the model does read the file into its output
    m = torch.jit.load(str(pt), map_location="cpu")
    assert float(m(torch.zeros(1, 1, 4, 4))[0, 0, 0, 0]) == 8 * 0x7F
    with pytest.raises(BundleError, match=r"runs 'aten::from_file'.*not a pure numeric") as e:
        runtime.load(_bundle_with(tmp_path, pt))
    assert "\n" not in str(e.value)


def test_a_torchscript_that_prints_or_keeps_state_is_refused(tmp_path, capfd):
    pt = save_scripted(tmp_path / "prints.pt", Prints())
    torch.jit.load(str(pt))(torch.zeros(1, 1, 2, 2))  # control: it prints
    assert "a line from the model" in capfd.readouterr().out
    with pytest.raises(BundleError, match=r"prim::Print"):
        runtime.load(_bundle_with(tmp_path, pt))
    with pytest.raises(BundleError, match=r"prim::SetAttr"):
        runtime.load(_bundle_with(tmp_path, save_scripted(tmp_path / "counts.pt", CountsCalls())))
    assert "a line" not in capfd.readouterr().out


def test_a_torchscript_with_code_that_runs_when_loaded_is_refused_before_loading(tmp_path, capfd):
    pt = save_scripted(tmp_path / "setstate.pt", RunsWhenLoaded())
    torch.jit.load(str(pt))  # control: loading alone runs its code
    assert "printed while loading" in capfd.readouterr().out
    with pytest.raises(BundleError, match=r"__setstate__"):
        runtime.load(_bundle_with(tmp_path, pt))
    assert "printed while loading" not in capfd.readouterr().out


def test_a_file_that_is_not_torchscript_is_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x04not a zip, maybe a pickle" * 10)
    with pytest.raises(BundleError, match="not a TorchScript archive") as e:
        runtime.load(_bundle_with(tmp_path, bad))
    assert "\n" not in str(e.value)
    plain = tmp_path / "state.pt"
    torch.save(network("conv2").state_dict(), plain)  # torch.save's zip: a pickle, no code/
    with pytest.raises(BundleError, match="not a TorchScript archive"):
        runtime.load(_bundle_with(tmp_path, plain))


def test_pytorch_state_dict_weights_with_an_architecture_file_are_refused_by_name(tmp_path):
    folder = write_v05(tmp_path / "sd", kind="conv2")
    torch.save(network("conv2").state_dict(), folder / "weights.pt")
    (folder / "unet.py").write_text("import os\nclass Net:\n    pass\n")
    rdf = yaml.safe_load((folder / "rdf.yaml").read_text())
    rdf["weights"] = {"pytorch_state_dict": {
        "source": "weights.pt", "sha256": sha(folder / "weights.pt"), "pytorch_version": "2.13",
        "architecture": {"source": "unet.py", "callable": "Net", "sha256": sha(folder / "unet.py"), "kwargs": {}}}}
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    for engine in ("auto", "torch"):
        with pytest.raises(CareBridgeError, match="architecture is Python code in a file.*never runs") as e:
            runtime.load(folder, engine=engine)
        assert "\n" not in str(e.value)


def test_validate_runs_torchscript_weights_like_the_onnx_twin(tmp_path):
    """`care-bridge validate` runs TorchScript weights (a row per weight format, not "no engine here"): the twin
    bundles' test tensors are what the bundles produce, so both pass."""
    from care_bridge.export.validate import validate_bundle

    pt = save_torchscript(tmp_path / "model.pt", "conv2", 1, "script")
    rows = {}
    for name, extra in (("torchscript", {"weights_file": pt}), ("onnx", {})):
        report = validate_bundle(write_v05(tmp_path / name, kind="conv2", size=(32, 8), halo=8, **extra))
        rows[name] = next(c for c in report.checks if c.name == f"reproduce {name}")
    assert rows["torchscript"].passed and rows["onnx"].passed, (rows["torchscript"].detail, rows["onnx"].detail)
