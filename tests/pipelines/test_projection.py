"""Joint surface projection + denoising: 3D low-SNR stack -> restored 2D surface image, trained end to end,
beating the max projection of the noisy stack; Z is never tiled."""

from __future__ import annotations

import numpy as np
import pytest

from care_bridge.frontend import load_restorer
from care_bridge.data import modes as datamodes
from care_bridge.errors import CareBridgeError
from care_bridge.pipelines import projection as pr

SHAPE = (16, 64, 64)


@pytest.fixture(scope="module")
def proj_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("proj") / "model"
    pr.train_projection(24, SHAPE, out, photons=5, epochs=5, steps_per_epoch=20, batch_size=4, unet_n_first=8)
    return out


@pytest.fixture(scope="module")
def held_out():
    X, Y, _ = datamodes.projection_training_pairs(2, SHAPE, photons=5, rng=np.random.default_rng(99))
    return X[..., 0], Y[..., 0]


def test_projection_beats_max_projection(proj_model, held_out):
    r = load_restorer(proj_model)
    assert r.info.output_layout == "byxc" and r.info.halo[0] == 0
    for stack, truth in zip(*held_out):
        res = r.restore(stack, "ZYX")
        assert res.axes == "YX" and res.image.shape == SHAPE[1:]
        m = pr.evaluate_projection(res.image, pr.projection_baseline(stack), truth)
        assert m["ssim"]["care"] > m["ssim"]["baseline"] + 0.2
        assert m["nrmse"]["care"] < 0.6 * m["nrmse"]["baseline"]


def test_projection_tiled_equals_untiled(proj_model, held_out):
    r = load_restorer(proj_model)
    stack = held_out[0][0]
    whole = r.restore(stack, "ZYX", n_tiles=(1, 1, 1))
    tiled = r.restore(stack, "ZYX", n_tiles=(4, 2, 2))  # Z cannot be split: it stays 1
    assert tiled.n_tiles[0] == 1
    np.testing.assert_allclose(tiled.image, whole.image, atol=1e-5)


def test_projection_model_refuses_a_2d_image(proj_model):
    with pytest.raises(CareBridgeError, match="Z"):
        load_restorer(proj_model).restore(np.ones((64, 64), np.float32), "YX")


def test_projection_config_needs_unpooled_z():
    from care_bridge.models.config import CareConfig
    from care_bridge.models.factory import check_network_config

    with pytest.raises(CareBridgeError, match="pool"):
        check_network_config(CareConfig(mode="projection", axes="ZYX", procedure={"output_layout": "byxc"}))
    with pytest.raises(CareBridgeError, match="probabilistic"):
        check_network_config(pr.projection_config(probabilistic=True))
