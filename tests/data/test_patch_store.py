"""Patch files: an uncompressed .npz that any NumPy reads and care_bridge memory-maps; written image by image
and atomically; every declared shape checked against the file before mapping; older compressed files still open."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from care_bridge.data import patch_store
from care_bridge.data.patch_store import PatchFileWriter, PatchRows, open_patch_file, write_patch_file
from care_bridge.data.patches import create_patches, load_patches, save_patches
from care_bridge.errors import CareBridgeError


def _arrays(n=12, size=8):
    X = np.arange(n * size * size, dtype=np.float32).reshape(n, size, size, 1)
    return X, -X, np.repeat(np.arange(n // 3, dtype=np.int32), 3)


def test_written_files_are_memory_mapped_and_plain_npz(tmp_path):
    X, Y, src = _arrays()
    save_patches(tmp_path / "p.npz", X, Y, "YX", {"source_names": list("abcd")}, sources=src)
    pf = open_patch_file(tmp_path / "p.npz")
    assert pf.mapped and isinstance(pf.X, np.memmap) and isinstance(pf.Y, np.memmap)
    np.testing.assert_array_equal(pf.X, X)
    np.testing.assert_array_equal(pf.Y, Y)
    assert pf.axes == "SYXC" and pf.sources.tolist() == src.tolist() and pf.meta["source_names"] == list("abcd")
    with zipfile.ZipFile(tmp_path / "p.npz") as zf:  # stored members: what makes mapping possible
        assert {zi.compress_type for zi in zf.infolist()} == {zipfile.ZIP_STORED}
    with np.load(tmp_path / "p.npz", allow_pickle=False) as d:  # any NumPy still reads it
        np.testing.assert_array_equal(d["X"], X)
        assert json.loads(str(d["report"]))["source_names"] == list("abcd")


def test_older_compressed_files_load_into_memory(tmp_path):
    X, Y, src = _arrays()
    with open(tmp_path / "old.npz", "wb") as f:
        np.savez_compressed(f, X=X, Y=Y, axes=np.array("SYXC"), report=np.array("{}"), source=src)
    pf = open_patch_file(tmp_path / "old.npz")
    assert not pf.mapped and not isinstance(pf.X, np.memmap)
    np.testing.assert_array_equal(pf.X, X)
    a = load_patches(tmp_path / "old.npz", validation_fraction=0.25, seed=1)
    save_patches(tmp_path / "new.npz", X, Y, "YX", {}, sources=src)
    b = load_patches(tmp_path / "new.npz", validation_fraction=0.25, seed=1)
    for u, v in zip(a[:4], b[:4]):  # the same split and patches from either format
        np.testing.assert_array_equal(u, v)


def test_a_compressed_file_that_cannot_fit_is_refused_in_one_line(tmp_path, monkeypatch):
    X, Y, _ = _arrays()
    with open(tmp_path / "old.npz", "wb") as f:
        np.savez_compressed(f, X=X, Y=Y, axes=np.array("SYXC"))
    monkeypatch.setattr(patch_store, "available_memory", lambda: 1000)
    with pytest.raises(CareBridgeError, match=r"compressed and its patches need 6\.0 KiB in memory, 1000 B"):
        open_patch_file(tmp_path / "old.npz")


def test_lazy_split_reads_rows_of_the_map(tmp_path):
    X, Y, src = _arrays()
    save_patches(tmp_path / "p.npz", X, Y, "YX", {}, sources=src)
    Xt, Yt, Xv, Yv, _, meta = load_patches(tmp_path / "p.npz", validation_fraction=0.25, seed=2, lazy=True)
    assert all(isinstance(a, PatchRows) for a in (Xt, Yt, Xv, Yv))
    assert isinstance(Xt.base, np.memmap) and len(Xt) + len(Xv) == 12 and Xt.shape == (len(Xt), 8, 8, 1)
    eager = load_patches(tmp_path / "p.npz", validation_fraction=0.25, seed=2)
    for lazy, arr in zip((Xt, Yt, Xv, Yv), eager[:4]):
        np.testing.assert_array_equal(np.asarray(lazy), arr)
    np.testing.assert_array_equal(Xv.take([1, 0]), eager[2][[1, 0]])


def test_truncated_file_is_one_line(tmp_path):
    X, Y, src = _arrays(n=30, size=16)
    save_patches(tmp_path / "p.npz", X, Y, "YX", {}, sources=src)
    data = (tmp_path / "p.npz").read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 100):
        (tmp_path / "t.npz").write_bytes(data[:cut])
        with pytest.raises(CareBridgeError, match="damaged or truncated") as e:
            open_patch_file(tmp_path / "t.npz")
        assert "\n" not in str(e.value)


def test_a_header_declaring_more_than_the_file_holds_is_refused_before_mapping(tmp_path):
    X, Y, _ = _arrays()
    save_patches(tmp_path / "p.npz", X, Y, "YX", {})
    with zipfile.ZipFile(tmp_path / "p.npz") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    at = members["X.npy"].index(b"'shape': (12, 8, 8, 1)")  # X.npy's header, the same length, 1000x the patches
    members["X.npy"] = members["X.npy"][:at] + b"'shape': (12000,8,8,1)" + members["X.npy"][at + 22:]
    with zipfile.ZipFile(tmp_path / "big.npz", "w", zipfile.ZIP_STORED) as zf:  # a well-formed archive
        for n, b in members.items():
            zf.writestr(n, b)
    with pytest.raises(CareBridgeError, match=r"X\.npy declares \(12000, 8, 8, 1\) float32 .* but stores 3072"):
        open_patch_file(tmp_path / "big.npz")


def test_writer_streams_images_to_disk_and_commits_atomically(tmp_path):
    X, Y, _ = _arrays()
    with PatchFileWriter(tmp_path / "p.npz") as w:
        for i in range(4):
            w.append(X[3 * i:3 * i + 3], Y[3 * i:3 * i + 3], i)
            assert not (tmp_path / "p.npz").exists()  # nothing at the output before the commit
        assert len(list(tmp_path.glob(".p.npz.*.part"))) == 2  # the two spill files, hidden beside it
        w.commit("SYXC", {"k": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]
    pf = open_patch_file(tmp_path / "p.npz")
    np.testing.assert_array_equal(pf.X, X)
    np.testing.assert_array_equal(pf.Y, Y)
    assert pf.sources.tolist() == np.repeat(np.arange(4), 3).tolist() and pf.meta == {"k": 1}
    with pytest.raises(CareBridgeError, match="cannot join"), PatchFileWriter(tmp_path / "q.npz") as w:
        w.append(X, Y, 0)
        w.append(X[:, :4], Y[:, :4], 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]  # an error leaves nothing behind


def test_create_patches_writes_the_mappable_format(tmp_path):
    rng = np.random.default_rng(0)
    pairs = [(f"i{k}.tif", rng.random((32, 32)).astype(np.float32), rng.random((32, 32)).astype(np.float32))
             for k in range(3)]
    rep = create_patches(iter(pairs), "YX", (8, 8), 5, tmp_path / "p.npz", threshold=0.0, progress=False)
    pf = open_patch_file(tmp_path / "p.npz")
    assert pf.mapped and pf.X.shape == (rep.n_patches, 8, 8, 1) and pf.sources.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]


def test_projection_targets_may_drop_the_z_axis(tmp_path):
    X = np.zeros((4, 4, 8, 8, 1), np.float32)
    write_patch_file(tmp_path / "p.npz", X, X[:, 0], "SZYXC", {})
    Xt, Yt, *_ = load_patches(tmp_path / "p.npz", validation_fraction=0.25)
    assert Xt.ndim == 5 and Yt.ndim == 4
