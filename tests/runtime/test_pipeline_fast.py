"""The runtime's pipeline with engines whose receptive field is known exactly: a numpy engine (no framework)
and tiny ONNX bundles. Tiling never changes the result when the halo covers the receptive field, and does when
it does not — for every procedure, isotropic included."""

from __future__ import annotations

import numpy as np
import pytest

from care_bridge import runtime
from care_bridge.describe import ModelInfo
from care_bridge.errors import CareBridgeError
from care_bridge.modes.denoise import DenoiseParams
from care_bridge.runtime import Restorer


class ShiftSumEngine:
    """y = x + sum over offsets d in [-r, r]^2 of w_d * x(p + d), zero outside the block; offsets are added in a
    fixed order, so each output pixel's arithmetic does not depend on where the block starts. Receptive-field
    radius: exactly r."""

    name = "numpy"

    def __init__(self, r: int, seed: int = 0):
        self.r = r
        self.w = np.random.default_rng(seed).normal(0, 0.3, (2 * r + 1, 2 * r + 1)).astype(np.float32)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        b, h, w, c = x.shape
        r = self.r
        p = np.zeros((b, h + 2 * r, w + 2 * r, c), np.float32)
        p[:, r:r + h, r:r + w] = x
        y = x.astype(np.float32).copy()
        for i in range(2 * r + 1):
            for j in range(2 * r + 1):
                y += self.w[i, j] * p[:, i:i + h, j:j + w]
        return [y]


def _restorer(r: int, halo: int) -> Restorer:
    info = ModelInfo(name="numpy", axes="YX", n_channel_in=1, n_channel_out=1, halo=(halo, halo), step=(4, 4),
                     mode="denoise", procedure=DenoiseParams())
    return Restorer(info, ShiftSumEngine(r))


@pytest.mark.parametrize("tiles", [(2, 2), (3, 5), 4, (1, 7)])
def test_tiled_equals_untiled_bit_for_bit_when_the_halo_covers_the_receptive_field(tiles):
    x = np.random.default_rng(1).poisson(30, (61, 77)).astype(np.uint16)
    r = _restorer(r=3, halo=4)
    full = r.restore(x, "YX", n_tiles=1).image
    tiled = r.restore(x, "YX", n_tiles=tiles).image
    assert np.array_equal(full.view(np.uint32), tiled.view(np.uint32))


def test_a_halo_smaller_than_the_receptive_field_shows_seams():
    x = np.random.default_rng(1).poisson(30, (61, 77)).astype(np.uint16)
    r = _restorer(r=6, halo=4)
    assert np.abs(r.restore(x, "YX", n_tiles=1).image - r.restore(x, "YX", n_tiles=(3, 3)).image).max() > 1e-3


def test_automatic_tiles_from_a_small_memory_budget_are_exact():
    x = np.random.default_rng(2).random((200, 180)).astype(np.float32)
    r = _restorer(r=2, halo=4)
    res = r.restore(x, "YX", memory_budget=2 * 2**20)
    assert res.n_tiles != (1, 1)
    assert np.array_equal(res.image, r.restore(x, "YX", n_tiles=1).image)


def test_one_number_spreads_over_y_and_x_as_in_every_front_end():
    r = _restorer(r=1, halo=4)
    assert r.restore(np.ones((64, 64), np.float32), "YX", n_tiles=4).n_tiles == (2, 2)
    with pytest.raises(CareBridgeError, match="n_tiles needs 2 values"):
        r.restore(np.ones((64, 64), np.float32), "YX", n_tiles=(1, 2, 2))


@pytest.mark.parametrize("tiles", [(1, 2, 2), (2, 2, 2), (2, 1, 3), 4])
def test_isotropic_tiled_equals_untiled(onnx_bundle, tiles):
    """Regression: isotropic bundles refused n_tiles=(1, 2, 2) although predict --help offered 1,4,4, and had no
    tiled-equals-untiled test. Tiles count the stack's (Z, Y, X)."""
    r = runtime.load(onnx_bundle("isotropic"), engine="onnxruntime")
    x = np.random.default_rng(3).poisson(40, (6, 40, 44)).astype(np.float32)
    full = r.restore(x, "ZYX", n_tiles=1)
    assert full.image.shape == (21, 40, 44)  # (6 - 1) * 4 + 1 planes
    tiled = r.restore(x, "ZYX", n_tiles=tiles)
    assert np.abs(full.image - tiled.image).max() <= 1e-5 * np.abs(full.image).max()
    expected = {4: (1, 2, 2)}.get(tiles, tiles)
    assert tiled.n_tiles == expected
    with pytest.raises(CareBridgeError, match="n_tiles needs 3 values"):
        r.restore(x, "ZYX", n_tiles=(2, 2))


def test_isotropic_channels_and_time_are_handled(onnx_bundle):
    r = runtime.load(onnx_bundle("isotropic"))
    x = np.random.default_rng(4).random((2, 3, 20, 24)).astype(np.float32)
    res = r.restore(x, "TZYX")
    assert res.image.shape == (2, 9, 20, 24) and res.axes == "TZYX"
    np.testing.assert_array_equal(res.image[1], r.restore(x[1], "ZYX").image)
