import dataclasses

import numpy as np
import pytest

from care_bridge.errors import CareBridgeError
from care_bridge.models import CareConfig, halo, receptive_field_radius


def test_config_defaults_follow_care():
    c2, c3 = CareConfig(), CareConfig(axes="ZYX")
    assert (c2.unet_depth, c2.unet_n_first, c2.unet_kern_size, c3.unet_kern_size) == (2, 32, 5, 3)
    assert c2.unet_residual and c2.loss == "mae" and c2.step == (4, 4)
    assert CareConfig(probabilistic=True).loss == "laplace"
    assert CareConfig(n_channel_out=2).unet_residual is False


def test_unknown_and_invalid_keys_name_the_key(tmp_path):
    with pytest.raises(CareBridgeError, match="unknown key 'unet_dpeth'"):
        CareConfig.from_dict({"unet_dpeth": 3})
    with pytest.raises(CareBridgeError, match="unet_depth"):
        CareConfig.from_dict({"unet_depth": 0})
    (tmp_path / "config.yaml").write_text("axes: YX\nbogus: 1\n")
    with pytest.raises(CareBridgeError, match="bogus"):
        CareConfig.load(tmp_path)


def test_config_roundtrip_rebuilds_the_same_network(tmp_path):
    from care_bridge.models.unet import build_unet

    c = CareConfig(axes="ZYX", unet_n_first=4, probabilistic=True)
    c.save(tmp_path)
    c2 = CareConfig.load(tmp_path)
    assert c2 == c
    m1, m2 = build_unet(c), build_unet(c2)
    assert [w.shape for w in m1.weights] == [w.shape for w in m2.weights]
    assert m1.output.shape[-1] == 2  # Laplace mean + scale


def test_receptive_field_by_hand_for_the_default_2d_net():
    # depth 2, kernel 5, 2 convs per level, pool 2: encoder 2*2*1 + 1 + 2*2*2 + 2, bottleneck 2*2*4,
    # decoder 2*2*2 + 2*2*1  → 4 + 1 + 8 + 2 + 16 + 8 + 4 = 43
    assert receptive_field_radius(CareConfig()) == (43, 43)
    assert halo(CareConfig()) == (44, 44)


@pytest.mark.parametrize("cfg", [dict(unet_depth=1, unet_kern_size=3), dict(unet_depth=2, unet_kern_size=5)])
def test_receptive_field_bounds_the_measured_gradient_support(cfg):
    import keras
    import tensorflow as tf

    from care_bridge.models.unet import build_unet

    c = CareConfig(unet_n_first=4, **cfg)
    keras.utils.set_random_seed(3)
    m = build_unet(c)
    n = 128
    x = tf.Variable(np.random.default_rng(0).random((1, n, n, 1)).astype(np.float32))
    with tf.GradientTape() as tape:
        y = m(x)[0, n // 2, n // 2, 0]
    g = np.abs(tape.gradient(y, x).numpy()[0, ..., 0])
    ys, xs = np.nonzero(g)
    measured = max(np.abs(ys - n // 2).max(), np.abs(xs - n // 2).max())
    r = receptive_field_radius(c)[0]
    assert measured <= r
    assert measured >= r - c.step[0]  # the formula is tight, not just an upper bound


def test_tiling_with_the_computed_halo_is_exact_and_a_smaller_halo_is_not():
    import keras

    from care_bridge.models.unet import build_unet
    from care_bridge.models.info import info_from_config
    from care_bridge.models.keras_engine import KerasEngine
    from care_bridge.runtime import Restorer

    c = CareConfig(unet_n_first=4, unet_depth=2, unet_kern_size=3)
    keras.utils.set_random_seed(0)
    m = build_unet(c)
    info = info_from_config(c)
    x = np.random.default_rng(0).random((101, 93)).astype(np.float32) * 50
    full = Restorer(info, KerasEngine(m, info)).restore(x, "YX", n_tiles=1).image
    tiled = Restorer(info, KerasEngine(m, info)).restore(x, "YX", n_tiles=(3, 4)).image
    assert np.abs(full - tiled).max() <= 1e-5
    small = dataclasses.replace(info, halo=(4, 4))
    bad = Restorer(small, KerasEngine(m, small)).restore(x, "YX", n_tiles=(3, 4)).image
    assert np.abs(full - bad).max() > 1e-3


def test_flops_per_voxel_by_hand():
    from care_bridge.models.flops import unet_flops_per_voxel

    c = CareConfig(unet_depth=1, unet_kern_size=3, unet_n_first=2)
    # encoder 2·9·1·2 + 2·9·2·2 = 108; bottleneck at 1/4 resolution (2·9·2·4 + 2·9·4·2)/4 = 72;
    # decoder on the concatenation (2+2 channels) 2·9·4·2 + 2·9·2·2 = 216; 1x1 output 2·2·1 = 4 → 400
    assert unet_flops_per_voxel(c) == 400
