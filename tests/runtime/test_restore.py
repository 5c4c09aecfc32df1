import numpy as np
import pytest

from care_bridge import runtime
from care_bridge.frontend import load_restorer
from care_bridge.errors import CareBridgeError


@pytest.fixture(scope="module")
def r2d(tiny_model):
    return load_restorer(tiny_model("2d"))


def test_tiled_equals_untiled_for_odd_sizes(r2d):
    x = np.random.default_rng(0).poisson(20, (75, 331)).astype(np.uint16)
    a = r2d.restore(x, "YX", n_tiles=1)
    b = r2d.restore(x, "YX", n_tiles=(2, 3))
    # automatic tiling from a small budget, the whole restoration's: the image and its output, plus room for a
    # tile larger than the smallest possible one but smaller than the untiled image
    from care_bridge.runtime.pipeline import bytes_per_voxel

    bpv = bytes_per_voxel(r2d.info)
    smallest = np.prod([m + 2 * h for m, h in zip(r2d.info.min_size, r2d.info.halo)]) * bpv
    untiled = x.size * bpv  # care_bridge networks: no halo padding beyond the image
    assert smallest < untiled
    c = r2d.restore(x, "YX", memory_budget=r2d.memory_needed(x.shape, "YX", x.dtype) + (smallest + untiled) / 2)
    assert a.image.shape == x.shape and a.image.dtype == np.float32
    assert c.n_tiles != (1, 1)
    assert np.abs(a.image - b.image).max() <= 1e-5
    assert np.abs(a.image - c.image).max() <= 1e-5


def test_output_is_in_the_input_intensity_range(r2d):
    rng = np.random.default_rng(1)
    x = (rng.random((64, 64)) * 10 + 1000).astype(np.float32)
    y = r2d.restore(x, "YX").image
    # de-normalization maps back with the input's percentiles: values land near 1000, not near 0..1
    assert 900 < np.median(y) < 1100


def test_time_axis_is_looped_frame_by_frame(r2d):
    rng = np.random.default_rng(2)
    x = rng.poisson(10, (3, 40, 44)).astype(np.float32)
    out = r2d.restore(x, "TYX").image
    assert out.shape == x.shape
    np.testing.assert_array_equal(out[1], r2d.restore(x[1], "YX").image)


@pytest.mark.parametrize(
    "shape,axes,needle",
    [
        ((8, 32, 32), "ZYX", "2D model"),
        ((32, 32), "ZY", "needs axes 'YX'"),
        ((2, 32, 32), "CYX", "expects 1 channel"),
        ((32, 32), "YXX", "twice"),
        ((0, 32), "YX", "empty"),
    ],
)
def test_bad_axes_and_shapes_give_clear_errors(r2d, shape, axes, needle):
    with pytest.raises(CareBridgeError, match=needle):
        r2d.restore(np.ones(shape, np.float32), axes)


def test_nan_pixels_are_refused(r2d):
    x = np.ones((32, 32), np.float32)
    x[3, 4] = np.nan
    with pytest.raises(CareBridgeError, match="NaN"):
        r2d.restore(x, "YX")


def test_input_is_never_modified(r2d):
    x = np.random.default_rng(3).random((48, 48)).astype(np.float32)
    before = x.copy()
    r2d.restore(x, "YX", n_tiles=(2, 2))
    np.testing.assert_array_equal(x, before)


def test_3d_multichannel_and_probabilistic(tiny_model):
    r3 = load_restorer(tiny_model("3d"))
    x = np.random.default_rng(4).random((11, 37, 29)).astype(np.float32)
    a, b = r3.restore(x, "ZYX", n_tiles=1).image, r3.restore(x, "ZYX", n_tiles=(2, 2, 2)).image
    assert a.shape == x.shape and np.abs(a - b).max() <= 1e-5

    rc = load_restorer(tiny_model("2d_multichannel"))
    xc = np.random.default_rng(5).random((40, 2, 36)).astype(np.float32)  # channels in the middle: "YCX"
    out = rc.restore(xc, "YCX")
    assert out.axes == "YCX" and out.image.shape == xc.shape

    rp = load_restorer(tiny_model("2d_probabilistic"))
    res = rp.restore(np.random.default_rng(6).random((40, 40)).astype(np.float32) * 100, "YX", n_tiles=(2, 2))
    assert res.scale is not None and res.scale.shape == (40, 40) and (res.scale > 0).all()


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(CareBridgeError, match="does not exist"):
        runtime.load(tmp_path / "nope.zip")
