import numpy as np
import pytest

from care_bridge.axes import check_axes, move_axes
from care_bridge.errors import CareBridgeError
from care_bridge.normalize import apply_denormalization, apply_normalization, normalize_percentile, percentile_stats


def test_check_axes_accepts_and_uppercases():
    assert check_axes("zyx", 3) == "ZYX"


@pytest.mark.parametrize("axes,ndim,needle", [("YXQ", 3, "unknown letter"), ("YYX", 3, "twice"), ("YX", 3, "3 dimensions")])
def test_check_axes_errors_name_the_problem(axes, ndim, needle):
    with pytest.raises(CareBridgeError, match=needle):
        check_axes(axes, ndim)


def test_move_axes_adds_and_drops_singletons():
    x = np.arange(24).reshape(2, 3, 4)
    y = move_axes(x, "CYX", "YXC")
    assert y.shape == (3, 4, 2) and y[1, 2, 1] == x[1, 1, 2]
    z = move_axes(x[0], "YX", "TZYXC")
    assert z.shape == (1, 1, 3, 4, 1)
    with pytest.raises(CareBridgeError, match="cannot be dropped"):
        move_axes(x, "CYX", "YX")


def test_percentile_normalization_matches_hand_computation():
    # 0..100: the 2nd and 99.8th percentiles (linear interpolation) are 2.0 and 99.8 exactly
    x = np.arange(101, dtype=np.float32)
    y = normalize_percentile(x, low=2, high=99.8, eps=0.0 + 1e-12)
    assert y[2] == pytest.approx(0.0, abs=1e-6)
    assert y[50] == pytest.approx((50 - 2) / 97.8, rel=1e-6)


def test_per_channel_stats_and_denormalization_roundtrip():
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(100, 5, (20, 20)), rng.normal(1000, 50, (20, 20))], axis=-1).astype(np.float32)
    st = percentile_stats(x, channel_axis=-1, low=1, high=99, eps=0.0)
    assert st.low[0] == pytest.approx(np.percentile(x[..., 0], 1))
    assert st.high[1] == pytest.approx(np.percentile(x[..., 1], 99))
    xn = apply_normalization(x, st)
    back = apply_denormalization(xn.copy(), st)
    np.testing.assert_allclose(back, x, rtol=1e-5)


def test_nan_and_bad_percentiles_are_refused():
    with pytest.raises(CareBridgeError, match="NaN"):
        percentile_stats(np.array([1.0, np.nan]))
    with pytest.raises(CareBridgeError, match="low < high"):
        percentile_stats(np.ones(4), low=50, high=10)
