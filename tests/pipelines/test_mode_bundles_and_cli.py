"""Mode models through bundles and the CLI: each mode's network exports to a bioimage.io bundle that passes
``bioimageio.core.test_model`` (run by ``export_bundle``) and restores through the runtime like its model folder;
``datagen --mode`` writes a patch file from which ``train`` builds the mode's network."""

from __future__ import annotations

import numpy as np
import pytest

from care_bridge import runtime
from care_bridge.frontend import load_restorer
from care_bridge.export import export_bundle
from care_bridge.pipelines import isotropic as iso, projection as pr, upsampling as up


def _tiny(mode, out):
    kw = dict(epochs=1, steps_per_epoch=2, batch_size=2, unet_n_first=4)
    if mode == "isotropic":
        a = iso.simulate_anisotropic(iso.synthetic_isotropic_volume((24, 48, 48), seed=1), factor=2, sigma_z_px=2)
        iso.train_isotropic(a, "ZYX", out, factor=2, psf=iso.axial_kernel(2), patch_shape=(32, 32), n_patches=8,
                            **kw)
        return a
    if mode == "upsampling":
        up.train_upsampling([iso.synthetic_isotropic_volume((32, 48, 48), seed=0)], out, factor=2,
                            patch_shape=(16, 32, 32), n_patches=8, **kw)
        return iso.synthetic_isotropic_volume((16, 48, 48), seed=4)
    pr.train_projection(4, (8, 64, 64), out, **kw)
    return np.random.default_rng(0).poisson(5, (8, 64, 64)).astype(np.float32)


@pytest.mark.parametrize("mode", ["isotropic", "upsampling", "projection"])
def test_mode_exports_validates_and_restores_like_the_model_folder(mode, tmp_path):
    image = _tiny(mode, tmp_path / "model")
    bundle = export_bundle(tmp_path / "model", tmp_path / f"{mode}.zip")  # runs bioimageio.core.test_model
    from_folder = load_restorer(tmp_path / "model").restore(image, "ZYX")
    from_bundle = runtime.load(bundle, engine="onnxruntime").restore(image, "ZYX")
    assert from_bundle.axes == from_folder.axes and from_bundle.image.shape == from_folder.image.shape
    np.testing.assert_allclose(from_bundle.image, from_folder.image, rtol=1e-3, atol=1e-3 * np.ptp(image))


def test_cli_datagen_mode_then_train_builds_the_mode_network(tmp_path):
    from care_bridge.cli.main import main
    from care_bridge.io import write_image
    from care_bridge.models import CareConfig

    a = iso.simulate_anisotropic(iso.synthetic_isotropic_volume((24, 48, 48), seed=1), factor=2, sigma_z_px=2)
    write_image(tmp_path / "aniso.tif", a, "ZYX")
    assert main(["datagen", "--mode", "isotropic", "--input", str(tmp_path / "aniso.tif"), "--factor", "2",
                 "--psf-sigma-z", "2", "--patch-shape", "32,32", "--n-patches", "8",
                 "--out", str(tmp_path / "p.npz")]) == 0
    assert main(["train", "--data", str(tmp_path / "p.npz"), "--out", str(tmp_path / "m"), "--epochs", "1",
                 "--steps-per-epoch", "1", "--batch-size", "2", "--filters", "4", "--quiet"]) == 0
    cfg = CareConfig.load(tmp_path / "m")
    assert cfg.mode == "isotropic" and cfg.procedure["factor"] == 2.0
    assert main(["predict", "--model", str(tmp_path / "m"), "--input", str(tmp_path / "aniso.tif"),
                 "--output", str(tmp_path / "iso.tif"), "--axes", "ZYX", "--quiet"]) == 0
    from care_bridge.io import read_image

    out, _ = read_image(tmp_path / "iso.tif")
    assert out.shape == ((a.shape[0] - 1) * 2 + 1, 48, 48)


def test_cli_datagen_mode_errors_write_nothing(tmp_path, capsys):
    from care_bridge.cli.main import main

    rc = main(["datagen", "--mode", "projection", "--patch-shape", "16,32,32", "--n-patches", "8",
               "--out", str(tmp_path / "p.npz")])
    assert rc == 2 and "--synthetic" in capsys.readouterr().err
    assert not (tmp_path / "p.npz").exists()
