"""Axial upsampling: a 3D network whose output has the input's Z size times the factor, beating linear
interpolation; tiled prediction equals untiled with a scale != 1."""

from __future__ import annotations

import numpy as np
import pytest

from care_bridge.frontend import load_restorer
from care_bridge.errors import CareBridgeError
from care_bridge.pipelines import isotropic as iso, upsampling as up

FACTOR = 4


@pytest.fixture(scope="module")
def up_model(tmp_path_factory):
    stacks = [iso.synthetic_isotropic_volume((32, 48, 48), seed=s) for s in range(2)]
    out = tmp_path_factory.mktemp("up") / "model"
    up.train_upsampling(stacks, out, factor=FACTOR, patch_shape=(16, 32, 32), n_patches=64, epochs=5,
                        steps_per_epoch=20, batch_size=4, unet_n_first=8)
    return out


def test_upsampling_beats_linear_interpolation(up_model):
    gt = iso.synthetic_isotropic_volume((32, 64, 64), seed=9)
    x = gt[::FACTOR]
    r = load_restorer(up_model)
    assert r.info.scale == (4.0, 1.0, 1.0)
    res = r.restore(x, "ZYX")
    assert res.image.shape == (x.shape[0] * FACTOR, 64, 64)
    m = up.evaluate_upsampling(res.image, up.upsampling_baseline(x, FACTOR), gt)
    assert m["ssim"]["care"] > m["ssim"]["baseline"] + 0.02
    assert m["nrmse"]["care"] < m["nrmse"]["baseline"]


def test_tiled_equals_untiled_with_z_scale(up_model):
    x = iso.synthetic_isotropic_volume((48, 64, 64), seed=3)[::FACTOR]
    r = load_restorer(up_model)
    whole = r.restore(x, "ZYX", n_tiles=(1, 1, 1))
    tiled = r.restore(x, "ZYX", n_tiles=(2, 2, 2))
    assert tiled.n_tiles == (2, 2, 2)
    np.testing.assert_allclose(tiled.image, whole.image, atol=1e-5)


@pytest.mark.parametrize("factor", [0, 0.5, 2.5])
def test_bad_factor_is_refused(factor, tmp_path):
    with pytest.raises(CareBridgeError):
        up.train_upsampling([np.ones((16, 32, 32), np.float32)], tmp_path / "m", factor=factor)
    assert not (tmp_path / "m").exists()


def test_stack_thinner_than_patch_is_refused(tmp_path):
    with pytest.raises(CareBridgeError, match="smaller than the patch"):
        up.train_upsampling([np.random.default_rng(0).random((8, 32, 32))], tmp_path / "m", factor=2,
                            patch_shape=(16, 32, 32))
    assert not (tmp_path / "m").exists()
