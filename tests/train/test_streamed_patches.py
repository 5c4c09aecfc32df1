"""Training from patch files larger than the memory: batches gathered from a memory map in a seeded per-pass
order (hand-checked), memory bounded by the batch, the same result as from memory, and a resumed run that
continues the order and keeps its validation split (``--validation-split``, checked by hand on the CLI)."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from care_bridge.data.patch_store import PatchRows, open_patch_file
from care_bridge.data.patches import save_patches
from care_bridge.train.batches import BatchStream, all_finite, pass_permutation

TINY = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4", "--filters", "4", "--depth", "1", "--quiet"]


def _cli(*args) -> int:
    from care_bridge.cli.main import main

    return main([str(a) for a in args])


def _one_line(capsys, needle: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("care-bridge:")]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------------------------------- the order
def test_each_pass_is_a_seeded_permutation_and_batches_run_across_passes():
    # 5 patches, batches of 2, seed 7: the stream is pass 0's permutation, then pass 1's, ...
    p0, p1 = pass_permutation(7, 5, 0), pass_permutation(7, 5, 1)
    assert sorted(p0) == sorted(p1) == [0, 1, 2, 3, 4] and p0.tolist() != p1.tolist()
    np.testing.assert_array_equal(p0, np.random.default_rng([7, 0]).permutation(5))
    s = BatchStream(np.zeros((5, 1)), np.zeros((5, 1)), batch_size=2, seed=7)
    stream = np.concatenate([p0, p1])
    assert [s.indices(j).tolist() for j in range(5)] == [stream[2 * j:2 * j + 2].tolist() for j in range(5)]
    assert s.indices(2).tolist() == [p0[4], p1[0]]  # the batch that spans two passes
    # the same seed gives the same batches; a resumed stream starts where the interrupted one stopped
    again = BatchStream(np.zeros((5, 1)), np.zeros((5, 1)), batch_size=2, seed=7, start=6)
    assert again.indices(0).tolist() == s.indices(3).tolist() == p1[1:3].tolist()
    other = BatchStream(np.zeros((5, 1)), np.zeros((5, 1)), batch_size=2, seed=8)
    assert [other.indices(j).tolist() for j in range(3)] != [s.indices(j).tolist() for j in range(3)]


def test_batches_gather_the_rows_of_a_subset_in_stream_order(tmp_path):
    X = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    save_patches(tmp_path / "p.npz", X, 2 * X, "YX", {})
    pf = open_patch_file(tmp_path / "p.npz")
    subset = np.array([9, 1, 4, 6, 0])  # the training rows of a split
    s = BatchStream(PatchRows(pf.X, subset), PatchRows(pf.Y, subset), batch_size=3, seed=0)
    xb, yb = s.batch(0)
    want = subset[pass_permutation(0, 5, 0)[:3]]
    assert xb.dtype == np.float32 and xb[:, 0, 0, 0].tolist() == want.tolist() and (yb == 2 * xb).all()


def test_a_batch_reads_the_batch_not_the_file(tmp_path):
    n = 20000  # 20000 patches of 16x16: 20 MiB per array on disk
    X = np.random.default_rng(0).random((n, 16, 16, 1), dtype=np.float32)
    save_patches(tmp_path / "p.npz", X, X, "YX", {})
    del X
    pf = open_patch_file(tmp_path / "p.npz")
    s = BatchStream(pf.X, pf.Y, batch_size=16, seed=0)
    s.batch(0)  # the pass's permutation: 8 bytes a patch, computed once per pass
    tracemalloc.start()
    for j in range(1, 20):
        xb, yb = s.batch(j)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    batch_bytes = 2 * 16 * 16 * 16 * 4  # X and Y of one batch: 32 KiB
    assert peak < 4 * batch_bytes + 64 * 1024, peak  # a few batches' worth, far from the 40 MiB of the file
    np.testing.assert_array_equal(xb, pf.X[s.indices(19)])
    # a whole pass over the file (the trainer's NaN check) does not pull the file into the resident set either:
    # rows are read with pread into a 64 MiB-bounded chunk, the pages stay in the page cache
    rss_file = _rss_file()
    assert all_finite(PatchRows(pf.X)) and all_finite(PatchRows(pf.Y), chunk_bytes=1 << 20)
    assert _rss_file() - rss_file < 8 << 20


def _rss_file() -> int:
    from pathlib import Path

    line = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("RssFile:"))
    return int(line.split()[1]) * 1024


# -------------------------------------------------------------------------------- validation split CLI
@pytest.fixture
def four_sources(tmp_path) -> Path:
    # 4 sources of 5 patches; every value of a patch is its row number, so a patch tells where it came from
    src = np.repeat(np.arange(4, dtype=np.int32), 5)
    X = np.broadcast_to(np.arange(20, dtype=np.float32)[:, None, None, None], (20, 8, 8, 1)).copy()
    save_patches(tmp_path / "p.npz", X, X.copy(), "YX", {"source_names": ["a", "b", "c", "d"]}, sources=src)
    return tmp_path / "p.npz"


def _spy(monkeypatch) -> list[dict]:
    from care_bridge.train import trainer

    calls = []

    def spy(config, X, Y, X_val, Y_val, out_dir, **kw):
        calls.append({"val": sorted(X_val[:, 0, 0, 0].astype(int).tolist()), "n_train": len(X), "split": kw["split"],
                      "seed": config.seed})
        return trainer.TrainResult(Path(out_dir), 1, 0.0, 0.0, 0.0)

    monkeypatch.setattr(trainer, "train", spy)
    return calls


@pytest.mark.parametrize("seed", [0, 5])
def test_validation_split_choices_select_the_patches_derived_by_hand(four_sources, tmp_path, monkeypatch, seed):
    calls = _spy(monkeypatch)
    base = ["train", "--data", four_sources, "--validation-fraction", "0.25", "--seed", seed, *TINY]
    assert _cli(*base, "--out", tmp_path / "s") == 0
    assert _cli(*base, "--out", tmp_path / "p", "--validation-split", "patch") == 0
    # source (default): the sources in the seed's random order, the first k held out with k*5 closest to 0.25*20
    # (k = 1): one whole source, its 5 rows
    first = int(np.random.default_rng(seed).permutation(np.arange(4))[0])
    assert calls[0]["val"] == list(range(5 * first, 5 * first + 5))
    assert calls[0]["split"] == {"by": "source", "fraction": 0.25, "seed": seed}
    # patch: round(0.25 * 20) = 5 random rows, the first of the seed's permutation of all 20
    assert calls[1]["val"] == sorted(np.random.default_rng(seed).permutation(20)[:5].tolist())
    assert calls[1]["split"] == {"by": "patch", "fraction": 0.25, "seed": seed} and calls[1]["n_train"] == 15


def test_ensemble_members_share_the_requested_split(four_sources, tmp_path, monkeypatch):
    calls = _spy(monkeypatch)
    assert _cli("train", "--data", four_sources, "--out", tmp_path / "e", "--ensemble", "2", "--seed", "3",
                "--validation-split", "patch", "--validation-fraction", "0.25", *TINY) == 0
    want = sorted(np.random.default_rng(3).permutation(20)[:5].tolist())  # the base seed's split, for both
    assert [c["val"] for c in calls] == [want, want] and [c["seed"] for c in calls] == [3, 4]
    assert {c["split"]["by"] for c in calls} == {"patch"}


def test_help_explains_the_split(capsys):
    with pytest.raises(SystemExit):
        _cli("train", "--help")
    out = " ".join(capsys.readouterr().out.split())
    assert "--validation-split {source,patch}" in out and "holds out whole source images" in out
    assert "Use patch only when" in out


# --------------------------------------------------------------------------------- real (tiny) training
def _patch_file(tmp_path) -> Path:
    from care_bridge.data.imaging import synthetic_pair
    from care_bridge.data.patches import create_patches

    rng = np.random.default_rng(0)
    pairs = [(f"{i}.tif", *synthetic_pair((48, 48), photons=5, rng=rng)) for i in range(3)]
    create_patches(iter(pairs), "YX", (16, 16), 8, tmp_path / "p.npz", progress=False)
    return tmp_path / "p.npz"


def _weights(model_dir: Path) -> list[np.ndarray]:
    import h5py

    out = []
    with h5py.File(model_dir / "weights_last.weights.h5", "r") as f:
        f.visititems(lambda name, obj: out.append(np.asarray(obj)) if isinstance(obj, h5py.Dataset) else None)
    return out


def test_streamed_and_in_memory_training_are_the_same_computation(tmp_path):
    from care_bridge.train import train_from_patch_file

    mapped = _patch_file(tmp_path)
    pf = open_patch_file(mapped)
    assert pf.mapped
    compressed = tmp_path / "compressed.npz"  # an older file: the same patches, loaded into memory
    with open(compressed, "wb") as f:
        np.savez_compressed(f, X=np.asarray(pf.X), Y=np.asarray(pf.Y), axes=np.array(pf.axes),
                            report=np.array(json.dumps(pf.meta)), source=pf.sources)
    assert not open_patch_file(compressed).mapped
    kw = dict(epochs=2, steps_per_epoch=3, batch_size=4, unet_n_first=4, unet_depth=1, progress=False, seed=1)
    a = train_from_patch_file(mapped, tmp_path / "a", **kw)
    b = train_from_patch_file(compressed, tmp_path / "b", **kw)
    assert (a.final_loss, a.final_val_loss) == (b.final_loss, b.final_val_loss)
    for u, v in zip(_weights(tmp_path / "a"), _weights(tmp_path / "b")):
        np.testing.assert_array_equal(u, v)
    state = json.loads((tmp_path / "a" / "train_state.json").read_text())
    assert state["patches_seen"] == 2 * 3 * 4 and state["validation_split"]["by"] == "source"


def test_resume_continues_the_order_and_keeps_the_split(tmp_path, capsys):
    data = _patch_file(tmp_path)
    common = ["--data", data, "--steps-per-epoch", "3", "--batch-size", "4", "--filters", "4", "--depth", "1",
              "--seed", "2", "--quiet"]
    assert _cli("train", *common, "--out", tmp_path / "whole", "--epochs", "2", "--validation-split", "patch") == 0
    assert _cli("train", *common, "--out", tmp_path / "cut", "--epochs", "1", "--validation-split", "patch") == 0
    assert _cli("train", *common, "--out", tmp_path / "cut", "--epochs", "2", "--resume") == 0  # split not repeated
    state = json.loads((tmp_path / "cut" / "train_state.json").read_text())
    assert state["validation_split"] == {"by": "patch", "fraction": 0.1, "seed": 2} and state["patches_seen"] == 24
    prov = json.loads((tmp_path / "cut" / "provenance.json").read_text())
    assert prov["data"]["validation_split"]["by"] == "patch"
    # the resumed run saw the batches the uninterrupted one saw in its second epoch: the same history, to the bit
    # (epoch, learning rate, loss, validation loss)
    assert (tmp_path / "cut" / "history.csv").read_text() == (tmp_path / "whole" / "history.csv").read_text()
    assert _cli("train", *common, "--out", tmp_path / "cut", "--epochs", "3", "--resume",
                "--validation-split", "source") == 2
    _one_line(capsys, "--validation-split source cannot change")
    assert _cli("train", *common, "--out", tmp_path / "cut", "--epochs", "3", "--resume",
                "--validation-fraction", "0.3") == 2
    _one_line(capsys, "--validation-fraction 0.3 cannot change")


def test_a_truncated_patch_file_is_one_line_and_exit_2(tmp_path, capsys):
    X = np.zeros((40, 16, 16, 1), np.float32)
    save_patches(tmp_path / "p.npz", X, X, "YX", {})
    data = (tmp_path / "p.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    assert _cli("train", "--data", tmp_path / "cut.npz", "--out", tmp_path / "m", *TINY) == 2
    _one_line(capsys, "is damaged or truncated")
    assert not (tmp_path / "m").exists()
