"""Fixed-size inputs and bundles without a declared halo are tiled so that the result is the untiled one (#13).

- A fixed size (step 0, CAREamics exports 128x128): every tile has exactly that shape, tiles overlap by the halo,
  the last one is shifted back inside the (padded) image, a smaller image is padded. Compared with the same
  network declared with free sizes and run untiled.
- No declared halo: the receptive field is measured once on the engine (one line on stderr says so) and used as
  the overlap; tiled equals untiled within 1e-5 of the output's range (measured: bit-identical with ONNX Runtime).
"""

from __future__ import annotations

import numpy as np
import pytest

from care_bridge import runtime
from care_bridge.runtime.pipeline import measure_halo

from zoo_bundles import UNET_RADIUS, write_v05

NONE = [{"id": "ensure_dtype", "kwargs": {"dtype": "float32"}}]  # raw intensities: statistics play no part


def _image(shape, seed=5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(np.float32)


class Recorder:
    """Wraps an engine and records the spatial shape of every call."""

    def __init__(self, engine):
        self.engine, self.name, self.shapes = engine, engine.name, []

    def run(self, x):
        self.shapes.append(x.shape[1:-1])
        return self.engine.run(x)


def _recording(folder):
    r = runtime.load(folder)
    r.engine = Recorder(r.engine)
    return r


def _rel(a, b) -> float:
    return float(np.abs(a - b).max() / (b.max() - b.min()))


@pytest.mark.parametrize("kind", ["conv2", "unet"])
@pytest.mark.parametrize("shape", [(100, 130), (20, 30), (48, 48), (49, 97)])
def test_fixed_size_tiles_have_that_size_and_equal_the_free_size_network_untiled(tmp_path, kind, shape):
    fixed = _recording(write_v05(tmp_path / "fixed", kind=kind, size=48, halo=8, pre=NONE))
    free = runtime.load(write_v05(tmp_path / "free", kind=kind, size=(32, 8), halo=8, pre=NONE))
    img = _image(shape)
    res = fixed.restore(img, "YX")
    assert set(fixed.engine.shapes) == {(48, 48)}  # exactly the declared size, also for a smaller image
    ref = free.restore(img, "YX", n_tiles=1).image
    assert res.image.shape == shape
    np.testing.assert_allclose(res.image, ref, rtol=0, atol=1e-6 * float(ref.max() - ref.min()))
    assert res.n_tiles == tuple(-(-s // 32) if s > 32 else 1 for s in shape)  # cores of 48 - 2 * 8


def test_fixed_size_counts_follow_the_size_not_n_tiles(tmp_path):
    fixed = runtime.load(write_v05(tmp_path / "fixed", size=48, halo=8, pre=NONE))
    img = _image((100, 130))
    a, b = fixed.restore(img, "YX", n_tiles=1), fixed.restore(img, "YX", n_tiles=(7, 2))
    assert a.n_tiles == b.n_tiles == (4, 5)
    np.testing.assert_array_equal(a.image, b.image)


@pytest.mark.parametrize("kind, step, n_tiles", [("unet", 2, (3, 3)), ("unet", 2, (2, 5)), ("conv2", 8, (4, 3))])
def test_a_bundle_without_halo_tiles_like_untiled(tmp_path, capsys, kind, step, n_tiles):
    folder = write_v05(tmp_path / "nohalo", kind=kind, size=(16, step), halo=0, pre=NONE)
    r = runtime.load(folder)
    img = _image((150, 170))
    untiled = r.restore(img, "YX", n_tiles=1)
    assert capsys.readouterr().err == ""  # one tile: nothing measured
    tiled = r.restore(img, "YX", n_tiles=n_tiles)
    assert tiled.n_tiles == n_tiles
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "declares no halo" in err and "receptive field" in err
    assert _rel(tiled.image, untiled.image) <= 1e-5
    np.testing.assert_array_equal(tiled.image, untiled.image)  # measured so with ONNX Runtime
    halo = r.engine.measured_halo
    radius = UNET_RADIUS if kind == "unet" else 2
    assert all(h % step == 0 and 0 < h <= -(-radius // step) * step for h in halo), halo
    r.restore(img, "YX", n_tiles=n_tiles)
    assert capsys.readouterr().err == ""  # measured once per engine


def test_the_measured_field_covers_the_true_one(tmp_path):
    """Shrinking the overlap below the measured field changes the result; the measured field does not."""
    from care_bridge.tiling import plan_tiles

    folder = write_v05(tmp_path / "nohalo", kind="unet", size=(16, 2), halo=0, pre=NONE)
    r = runtime.load(folder)
    halo = measure_halo(r.engine, r.info)
    img = _image((1, 96, 96, 1))
    full = r.engine.run(img)[0]

    def tiled(h):
        out = np.empty_like(full)
        for t in plan_tiles((96, 96), (3, 3), h, (2, 2), pad_halo=False).tiles:
            y = r.engine.run(np.ascontiguousarray(img[(0, *(slice(a, b) for a, b in t.read))][None]))[0]
            out[(0, *t.write)] = y[(0, *t.crop)]
        return out

    np.testing.assert_array_equal(tiled(halo), full)
    assert np.abs(tiled(tuple(h - 2 for h in halo)) - full).max() > 1e-4


def test_automatic_tiles_of_a_bundle_without_halo(tmp_path, capsys):
    r = runtime.load(write_v05(tmp_path / "nohalo", kind="unet", size=(16, 2), halo=0, pre=NONE))
    img = _image((300, 260))
    untiled = r.restore(img, "YX", n_tiles=1)
    auto = r.restore(img, "YX", memory_budget=64 << 20)  # small: several tiles
    assert np.prod(auto.n_tiles) > 1
    np.testing.assert_array_equal(auto.image, untiled.image)
    assert "declares no halo" in capsys.readouterr().err


@pytest.mark.parametrize("shape", [(128, 160), (40, 50), (130, 70)])
def test_fixed_size_without_halo_like_careamics(tmp_path, capsys, shape):
    """CAREamics' case: fixed 64x64, no halo. Tiled with the measured field, it equals the free-size network run
    untiled where the padding to the pooling grid agrees (sizes that are multiples of 16 here), and within 1e-5
    of the range inside the image's border band elsewhere."""
    fixed = _recording(write_v05(tmp_path / "fixed", kind="unet", size=64, halo=0, pre=NONE))
    free = runtime.load(write_v05(tmp_path / "free", kind="unet", size=(16, 16), halo=0, pre=NONE))
    img = _image(shape)
    res = fixed.restore(img, "YX")
    assert set(fixed.engine.shapes) == {(64, 64)}
    ref = free.restore(img, "YX", n_tiles=1).image
    if all(s % 16 == 0 for s in shape):
        np.testing.assert_array_equal(res.image, ref)
    else:
        band = max(fixed.engine.engine.measured_halo) if hasattr(fixed.engine.engine, "measured_halo") else 16
        inner = tuple(slice(0, s - band) for s in shape)
        assert _rel(res.image[inner], ref[inner]) <= 1e-5


def test_a_pointwise_network_without_halo_measures_zero(tmp_path):
    """A network whose output pixel depends on its own input pixel only: no overlap is needed, none is used."""
    import onnx
    from onnx import TensorProto, helper

    folder = write_v05(tmp_path / "pw", halo=0, pre=NONE)
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    g = helper.make_graph([helper.make_node("Mul", ["raw", "two"], ["restored"])], "double",
                          [helper.make_tensor_value_info("raw", TensorProto.FLOAT, ["n", 1, "h", "w"])],
                          [helper.make_tensor_value_info("restored", TensorProto.FLOAT, ["n", 1, "h", "w"])], [two])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, folder / "model.onnx")
    import yaml

    from zoo_bundles import sha

    rdf = yaml.safe_load((folder / "rdf.yaml").read_text())
    rdf["weights"]["onnx"]["sha256"] = sha(folder / "model.onnx")
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    r = runtime.load(folder)
    img = _image((64, 80))
    res = r.restore(img, "YX", n_tiles=(2, 2))
    assert r.engine.measured_halo == (0, 0)
    np.testing.assert_array_equal(res.image, 2 * img)


def test_a_careamics_style_description_fixed_sizes_in_and_out(tmp_path):
    """As CAREamics 0.x writes it (its bmz export code, read): input and output axes with the same fixed integer
    size, no halo, a singleton channel named 'channel', fixed_zero_mean_unit_variance along the channel axis in and
    its inverse out. Read and tiled like the free-size network run untiled."""
    import yaml

    mean, std = 120.0, 35.0
    pre = [{"id": "fixed_zero_mean_unit_variance", "kwargs": {"mean": [mean], "std": [std], "axis": "channel"}}]
    post = [{"id": "fixed_zero_mean_unit_variance", "kwargs": {"mean": [-mean / (std + 1e-6)],
                                                               "std": [1 / (std + 1e-6) - 1e-6], "axis": "channel"}}]
    folder = write_v05(tmp_path / "careamics", kind="unet", size=64, halo=0, pre=pre, post=post)
    rdf = yaml.safe_load((folder / "rdf.yaml").read_text())
    for t in rdf["inputs"] + rdf["outputs"]:
        t["axes"][1]["channel_names"] = ["channel"]
    for ax in rdf["outputs"][0]["axes"][2:]:
        ax["size"] = 64
        ax.pop("halo", None)
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    free = runtime.load(write_v05(tmp_path / "free", kind="unet", size=(16, 16), halo=0, pre=pre, post=post))
    r = runtime.load(folder)
    assert (r.info.step, r.info.min_size, r.info.halo) == ((0, 0), (64, 64), (0, 0))
    img = np.random.default_rng(2).gamma(3.0, 40.0, (160, 128)).astype(np.float32)
    res, ref = r.restore(img, "YX"), free.restore(img, "YX", n_tiles=1).image
    assert np.prod(res.n_tiles) > 1
    assert _rel(res.image, ref) <= 1e-5
