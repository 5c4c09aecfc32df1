"""Readouts through the runtime: identical tiled or not, consistent with the numerics, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from care_bridge import laplace_mixture as lm
from care_bridge import runtime
from care_bridge.describe import ReadoutRequest
from care_bridge.errors import CareBridgeError

ALL = ReadoutRequest(std=True, disagreement=True, interval=True, level=0.8, samples=3, members=True)
CASES = {"2d_ensemble": ("YX", (44, 52), 4), "3d_ensemble": ("ZYX", (8, 36, 40), (1, 2, 2)),
         "2d_probabilistic": ("YX", (40, 48), (2, 3))}


def _image(shape, seed=0):
    return (np.random.default_rng(seed).poisson(40, shape) + 20 * (np.indices(shape).sum(0) % 5)).astype(np.float32)


@pytest.mark.parametrize("kind", list(CASES))
def test_readouts_are_identical_tiled_or_not(kind, onnx_bundle):
    axes, shape, tiles = CASES[kind]
    r = runtime.load(onnx_bundle(kind))
    req = ALL if r.info.ensemble > 1 else ReadoutRequest(std=True, interval=True, samples=3, members=True)
    a = r.restore(_image(shape), axes, n_tiles=1, readouts=req)
    b = r.restore(_image(shape), axes, n_tiles=tiles, readouts=req)
    assert b.n_tiles != a.n_tiles
    names = [n for n, _, _ in a.readouts.images()]
    assert names == [n for n in ("std", "disagreement", f"lower{80 if req is ALL else 90}",
                                  f"upper{80 if req is ALL else 90}", "samples") if n != "disagreement"
                     or r.info.ensemble > 1]
    for (n, x, _), (_, y, _) in zip(a.readouts.images(), b.readouts.images()):
        assert x.dtype == np.float32 and np.array_equal(x, y), n
    assert np.array_equal(a.readouts.members, b.readouts.members)


def test_readouts_follow_from_the_members(onnx_bundle):
    """The runtime's readouts are the mixture of the members it reports (image units)."""
    r = runtime.load(onnx_bundle("2d_ensemble"))
    res = r.restore(_image((40, 44)), "YX", readouts=ALL)
    mu, b = res.readouts.members, res.readouts.member_scales
    assert mu.shape == (3, 40, 44)
    np.testing.assert_allclose(res.image, mu.mean(axis=0), rtol=1e-5, atol=1e-3)  # the graph's Mean node
    np.testing.assert_allclose(res.readouts.std, lm.mixture_std(mu, b), rtol=1e-5)
    lo, hi = lm.central_interval(mu, b, 0.8)
    np.testing.assert_allclose(res.readouts.lower, lo, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(res.readouts.upper, hi, rtol=1e-4, atol=1e-3)
    d = res.readouts.disagreement
    assert 0 <= d.min() and d.max() <= 1 and d.std() > 0
    assert res.readouts.samples.shape == (3, 40, 44) and res.scale is None


def test_isotropic_probabilistic_readouts_come_from_the_combined_laplace(onnx_bundle, tmp_path):
    """The isotropic procedure's readouts (a probabilistic isotropic bundle made from the tiny ONNX net)."""
    import sys
    from dataclasses import replace

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    from onnx_bundles import KINDS, write_bundle

    KINDS["isotropic_probabilistic"] = replace(KINDS["isotropic"], probabilistic=True)
    try:
        r = runtime.load(write_bundle("isotropic_probabilistic", tmp_path))
    finally:
        del KINDS["isotropic_probabilistic"]
    x = _image((4, 24, 28))
    res = r.restore(x, "ZYX", readouts=ReadoutRequest(std=True, interval=True, samples=2))
    assert res.image.shape == (13, 24, 28) == res.readouts.std.shape
    np.testing.assert_allclose(res.readouts.std, np.sqrt(2.0) * res.scale, rtol=1e-5)  # one Laplace: 2 b^2
    np.testing.assert_allclose(res.readouts.upper - res.image, res.scale * np.log(10.0), rtol=1e-3, atol=1e-3)
    tiled = r.restore(x, "ZYX", n_tiles=(1, 2, 2), readouts=ReadoutRequest(std=True, interval=True, samples=2))
    for (n, u, _), (_, v, _) in zip(res.readouts.images(), tiled.readouts.images()):
        assert np.array_equal(u, v), n


@pytest.mark.parametrize("kind,req,axes,shape,message", [
    ("2d", ReadoutRequest(std=True), "YX", (32, 32), "probabilistic or ensemble"),
    ("2d_probabilistic", ReadoutRequest(disagreement=True), "YX", (32, 32), "needs an ensemble"),
    ("2d_ensemble", ReadoutRequest(samples=2), "TYX", (2, 32, 32), "already has a T axis"),
])
def test_readouts_a_model_cannot_give_are_one_line_errors(kind, req, axes, shape, message, onnx_bundle):
    r = runtime.load(onnx_bundle(kind))
    with pytest.raises(CareBridgeError, match=message):
        r.restore(_image(shape), axes, readouts=req)


@pytest.mark.parametrize("kw", [{"level": 0.0}, {"level": 1.0}, {"level": 1.2}, {"samples": -1}, {"samples": 1001}])
def test_bad_requests_are_refused(kw):
    with pytest.raises(CareBridgeError):
        ReadoutRequest(**kw)


@pytest.mark.parametrize("kind,axes,shape", [("2d", "TYX", (7, 40, 44)), ("isotropic", "ZYX", (6, 36, 40)),
                                             ("2d_ensemble", "TYX", (5, 36, 40))])
def test_batching_samples_per_engine_call_changes_no_bit(kind, axes, shape, onnx_bundle, monkeypatch):
    """Frames (and the isotropic procedure's slices) share engine calls; the result is the one-by-one result."""
    import care_bridge.runtime.pipeline as pipeline

    r = runtime.load(onnx_bundle(kind))
    req = ReadoutRequest(std=True, disagreement=True, interval=True) if r.info.ensemble > 1 else ReadoutRequest()
    x = _image(shape)
    calls = []
    run = r.engine.run
    monkeypatch.setattr(r.engine, "run", lambda b: calls.append(b.shape[0]) or run(b))
    single = r.restore(x, axes, readouts=req)
    assert max(calls) == 1  # a CPU engine: one sample per call
    calls.clear()
    monkeypatch.setattr(r.engine, "max_batch", 32, raising=False)  # as a GPU engine batches
    batched = r.restore(x, axes, readouts=req)
    assert max(calls) > 1
    monkeypatch.setattr(pipeline, "MAX_BATCH", 1)
    calls.clear()
    single = r.restore(x, axes, readouts=req)
    assert max(calls) == 1
    assert np.array_equal(batched.image, single.image)
    for (n, u, _), (_, v, _) in zip(batched.readouts.images(), single.readouts.images()):
        assert np.array_equal(u, v), n


def test_runtime_load_names_a_model_or_ensemble_folder(tmp_path):
    for name in ("config.yaml", "ensemble.yaml"):
        d = tmp_path / name.split(".")[0]
        d.mkdir()
        (d / name).write_text("schema_version: 1\n")
        with pytest.raises(CareBridgeError, match="model folder, not a bundle"):
            runtime.load(d)


def test_a_third_party_bundle_without_halo_is_never_tiled():
    """Tiles of a network with an undeclared receptive field would show seams: untiled, or a one-line error."""
    from care_bridge.describe import ModelInfo
    from care_bridge.modes import MODES
    from care_bridge.runtime.pipeline import choose_tiles

    info = ModelInfo(name="t", axes="YX", n_channel_in=1, n_channel_out=1, halo=(0, 0), step=(8, 8),
                     mode="bioimageio", procedure=MODES["bioimageio"].params())
    assert choose_tiles(info, (4096, 4096), None, 2**20) == (1, 1)
    with pytest.raises(CareBridgeError, match="declares no halo"):
        choose_tiles(info, (4096, 4096), (2, 2), None)
    halo = ModelInfo(name="t", axes="YX", n_channel_in=1, n_channel_out=1, halo=(8, 8), step=(8, 8),
                     mode="bioimageio", procedure=MODES["bioimageio"].params())
    assert choose_tiles(halo, (4096, 4096), None, 2**20) != (1, 1)


def test_an_input_the_onnx_weights_refuse_is_one_line(onnx_bundle):
    r = runtime.load(onnx_bundle("2d"))
    with pytest.raises(CareBridgeError, match=r"refused an input of shape \[1, 32, 32, 3\]") as e:
        r.engine.run(np.zeros((1, 32, 32, 3), np.float32))  # three channels for a one-channel network
    assert "\n" not in str(e.value)
