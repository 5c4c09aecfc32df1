"""``datagen --mode {isotropic,upsampling,projection,tubules,granules}`` streams: the patch file is written source
by source (isotropic: chunk by chunk) and holds exactly what the in-memory generators return; memory stays
bounded by one source's patches; an error on the way leaves nothing."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from care_bridge.cli.main import main
from care_bridge.data import modes as datamodes, patch_store, patch_stream
from care_bridge.data.patch_store import PatchFileWriter, open_patch_file
from care_bridge.data.patches import normalize_with_image_percentiles, percentile_levels
from care_bridge.errors import CareBridgeError
from care_bridge.io import write_image
from care_bridge.pipelines import isotropic as iso, projection as pr, subdiffraction as sd, upsampling as up


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("CARE_BRIDGE_NO_PROGRESS", "1")


def _aniso():
    return iso.simulate_anisotropic(iso.synthetic_isotropic_volume((12, 48, 40), seed=1), factor=2, sigma_z_px=2,
                                    photons=20)


def _datagen(tmp_path, *argv) -> patch_store.PatchFile:
    out = tmp_path / "p.npz"
    assert main(["datagen", *map(str, argv), "--out", str(out)]) == 0
    return open_patch_file(out, mmap=False)


def _same(pf, X, Y, info):
    assert np.array_equal(pf.X, X) and np.array_equal(pf.Y, Y)
    assert pf.sources.dtype == np.int32 and np.array_equal(pf.sources, info["source"])
    for k, v in info.items():
        if k in pf.meta:
            assert pf.meta[k] == json.loads(json.dumps(v.tolist() if isinstance(v, np.ndarray) else v)), k


# ---------------------------------------------------------------------------------------- the same patches
def test_chunked_normalization_is_cares_formula_patch_by_patch():
    """Percentiles of the whole image once, rows normalized chunk by chunk: each patch equals
    (v - p_lo) / (p_hi - p_lo + eps) with its own levels' percentiles of the image, per channel."""
    from care_bridge.data.patches import image_percentiles, normalize_rows
    from care_bridge.normalize import DEFAULT_EPS

    rng = np.random.default_rng(0)
    img = rng.gamma(2.0, 10.0, (9, 11, 2)).astype(np.float32)
    A = rng.gamma(2.0, 10.0, (7, 4, 5, 2)).astype(np.float32)
    levels = percentile_levels(7, rng)
    B = A.copy()
    lo, hi = image_percentiles(img, levels)
    for rows in (slice(0, 3), slice(3, 7)):  # chunk by chunk
        part = B[rows]
        normalize_rows(part, lo[rows], hi[rows])
        B[rows] = part
    for i in range(7):
        for c in range(2):
            p_lo, p_hi = np.percentile(img[..., c].astype(np.float64), levels[i])
            expect = (A[i, ..., c] - np.float32(p_lo)) / np.float32(p_hi - p_lo + DEFAULT_EPS)
            assert np.allclose(B[i, ..., c], expect, rtol=1e-6, atol=1e-6)
    whole = A.copy()
    normalize_with_image_percentiles(whole, whole.copy(), img, img, levels)
    assert np.array_equal(B, whole)


@pytest.mark.parametrize("augment", [True, False])
def test_isotropic_chunks_do_not_change_the_patches(augment):
    args = dict(factor=2.5, psf=iso.axial_kernel(1.5), patch_shape=(16, 12), n_patches=40, seed=3, augment=augment)
    whole = iso.isotropic_data_stream(_aniso(), "ZYX", **args, chunk_bytes=1 << 30)
    one_by_one = iso.isotropic_data_stream(_aniso(), "ZYX", **args, chunk_bytes=1)
    batches = list(one_by_one)
    assert len(batches) == 40 and [b.rows.tolist() for b in batches] == [[i] for i in range(40)]
    (b,) = list(whole)
    assert np.array_equal(np.concatenate([c.X for c in batches]), b.X)
    assert np.array_equal(np.concatenate([c.Y for c in batches]), b.Y)
    assert np.array_equal(np.concatenate([c.source for c in batches]), b.source)
    assert whole.info == one_by_one.info


def test_isotropic_file_equals_the_in_memory_data(tmp_path):
    a = _aniso()
    write_image(tmp_path / "a.tif", a, "ZYX")
    pf = _datagen(tmp_path, "--mode", "isotropic", "--input", tmp_path / "a.tif", "--factor", "2.5",
                  "--psf-sigma-z", "2", "--patch-shape", "16,12", "--n-patches", "30", "--seed", "4")
    X, Y, info = iso.make_isotropic_data(a, "ZYX", factor=2.5, psf=iso.axial_kernel(2), patch_shape=(16, 12),
                                         n_patches=30, seed=4)
    _same(pf, X, Y, info)
    assert pf.meta["network"]["procedure"]["factor"] == info["effective_factor"]


def test_upsampling_file_equals_the_in_memory_data(tmp_path):
    pf = _datagen(tmp_path, "--mode", "upsampling", "--synthetic", "3", "--shape", "16,32,32", "--factor", "2",
                  "--patch-shape", "8,16,16", "--n-patches", "7", "--seed", "2")
    stacks = [iso.synthetic_isotropic_volume((16, 32, 32), seed=2 + k) for k in range(3)]
    X, Y, info = up.make_upsampling_data(stacks, factor=2, patch_shape=(8, 16, 16), n_patches=7, seed=2)
    _same(pf, X, Y, info)
    assert pf.sources.tolist() == [0, 0, 0, 1, 1, 2, 2] and len(info["foreground_fraction"]) == 3


def test_projection_file_equals_the_in_memory_data(tmp_path):
    pf = _datagen(tmp_path, "--mode", "projection", "--synthetic", "3", "--shape", "8,32,32",
                  "--patch-shape", "8,32,32", "--n-patches", "3", "--seed", "5")
    X, Y, info = pr.make_projection_data(3, (8, 32, 32), photons=5.0, seed=5)
    _same(pf, X, Y, info)
    # the stream simulates every stack twice (once to reach the levels): the replay draws what one pass draws
    raw_X, _, raw = datamodes.projection_training_pairs(3, (8, 32, 32), photons=5.0, rng=np.random.default_rng(5))
    assert np.array_equal(info["heights"], raw["heights"])
    assert all(np.corrcoef(X[i].ravel(), raw_X[i].ravel())[0, 1] > 0.999999 for i in range(3))


@pytest.mark.parametrize("mode, augment, patch", [("tubules", True, (16, 16)), ("granules", False, (16, 32))])
def test_subdiffraction_file_equals_the_in_memory_data_in_draw_order(tmp_path, mode, augment, patch):
    pf = _datagen(tmp_path, "--mode", mode, "--synthetic", "3", "--shape", "48,64", "--patch-shape",
                  "%d,%d" % patch, "--n-patches", "11", "--seed", "6", *([] if augment else ["--no-augment"]))
    X, Y, info = sd.make_subdiffraction_data(mode, 3, (48, 64), photons=50.0, patch_shape=patch, n_patches=11,
                                             seed=6, augment=augment)
    _same(pf, X, Y, info)
    # made image by image, written in draw order: patch i is image i mod 3's
    assert pf.sources.tolist() == [i % 3 for i in range(11)]


def test_generator_at_draws_again_what_the_generator_drew():
    rng = np.random.default_rng(1)
    rng.poisson(3.0, 5)
    state = rng.bit_generator.state
    first = (rng.poisson(7.5, 100), rng.normal(size=3), rng.integers(0, 13, 4))
    g = patch_stream.generator_at(rng, state)
    again = (g.poisson(7.5, 100), g.normal(size=3), g.integers(0, 13, 4))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


# ---------------------------------------------------------------------------------------- rows, all or nothing
def test_writer_puts_batches_at_their_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(patch_store, "_COPY_CHUNK", 3 * 4 * 2 * 4)  # several gathered chunks
    X = np.arange(10 * 4 * 2, dtype=np.float32).reshape(10, 4, 2, 1)
    with PatchFileWriter(tmp_path / "p.npz") as w:
        for j in range(3):
            rows = np.arange(j, 10, 3)
            w.append(X[rows], -X[rows], j, rows=rows)
        w.commit("SYXC", {})
    pf = open_patch_file(tmp_path / "p.npz")
    assert np.array_equal(pf.X, X) and np.array_equal(pf.Y, -X)
    assert pf.sources.tolist() == [i % 3 for i in range(10)]


def test_writer_refuses_rows_that_are_not_each_row_once(tmp_path):
    X = np.zeros((2, 4, 4, 1), np.float32)
    with pytest.raises(CareBridgeError, match="each once"), PatchFileWriter(tmp_path / "p.npz") as w:
        w.append(X, X, 0, rows=[0, 2])
        w.append(X, X, 1, rows=[3, 3])
        w.commit("SYXC", {})
    assert list(tmp_path.iterdir()) == []


def test_an_error_midway_leaves_nothing(tmp_path, capsys):
    write_image(tmp_path / "a.tif", iso.synthetic_isotropic_volume((16, 32, 32), seed=0), "ZYX")
    write_image(tmp_path / "b.tif", np.ones((32, 32), np.float32), "YX")  # the second stack is 2D
    before = sorted(tmp_path.iterdir())
    rc = main(["datagen", "--mode", "upsampling", "--input", str(tmp_path / "a.tif"), str(tmp_path / "b.tif"),
               "--factor", "2", "--patch-shape", "8,16,16", "--n-patches", "6", "--out", str(tmp_path / "p.npz")])
    assert rc != 0 and "must be 3D" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == before  # no patch file, no spill file


# ---------------------------------------------------------------------------------------- bounded memory
def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


MIB = 1 << 20


@pytest.mark.parametrize("mode", ["isotropic", "upsampling", "projection", "tubules"])
def test_memory_is_bounded_by_one_source_not_by_all_patches(tmp_path, monkeypatch, mode):
    """numpy reports its arrays to tracemalloc: the peak of the whole generation (simulation, patches, writing)
    stays under a few times one source's patches (one chunk's for isotropic, one stack) plus a fixed headroom,
    while all the patches together weigh several times that bound."""
    monkeypatch.setattr(patch_store, "_COPY_CHUNK", 256 << 10)  # the archive is filled in 256 KiB copies
    out = tmp_path / "p.npz"
    common = ["--out", str(out), "--seed", "1"]
    if mode == "isotropic":  # one stack: chunks of 256 KiB of patches
        write_image(tmp_path / "a.tif", _aniso(), "ZYX")
        n, share = 8192, 256 << 10
        monkeypatch.setitem(iso.isotropic_data_stream.__kwdefaults__, "chunk_bytes", share)
        argv = ["--mode", "isotropic", "--input", str(tmp_path / "a.tif"), "--factor", "2", "--psf-sigma-z", "1",
                "--patch-shape", "16,16", "--n-patches", str(n)]
        total = n * 16 * 16 * 4 * 2
    elif mode == "upsampling":  # 16 synthetic stacks, made one at a time
        n, stacks = 2048, 16
        argv = ["--mode", "upsampling", "--synthetic", str(stacks), "--shape", "16,32,32", "--factor", "2",
                "--patch-shape", "8,16,16", "--n-patches", str(n), "--threshold", "0"]
        total = n * (4 + 8) * 16 * 16 * 4
        share = total // stacks
    elif mode == "projection":  # each stack is one source and one patch
        n = 64
        argv = ["--mode", "projection", "--synthetic", str(n), "--shape", "16,64,64", "--patch-shape", "16,64,64",
                "--n-patches", str(n)]
        total = n * (16 + 1) * 64 * 64 * 4
        share = total // n
    else:  # 16 simulated images, patches interleaved in the file
        n, images = 4096, 16
        argv = ["--mode", "tubules", "--synthetic", str(images), "--shape", "64,64", "--patch-shape", "32,32",
                "--n-patches", str(n)]
        total = n * 32 * 32 * 4 * 2
        share = total // images
    bound = 3 * share + 6 * MIB  # the headroom: simulation, draws, the writer's copies
    assert total > 2 * bound  # holding all the patches at once would break the bound
    peak = _peak(lambda: main(["datagen", *argv, *common]))
    assert out.is_file() and open_patch_file(out).X.nbytes + open_patch_file(out).Y.nbytes == total
    assert peak < bound, f"{mode}: peak {peak / MIB:.1f} MiB, bound {bound / MIB:.1f}, all patches {total / MIB:.1f}"
