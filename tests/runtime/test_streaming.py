"""Frame-by-frame restoration (issue #12): the same bits as the in-memory restoration, OME-Zarr in and out, a
local Dask cluster of several worker processes, and resuming a run killed mid-way, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from care_bridge.errors import CareBridgeError
import tifffile

from care_bridge.cli.main import main
from care_bridge.io import read_image
from care_bridge.io.frames import open_frames

zarr = pytest.importorskip("zarr", reason="OME-Zarr needs the io extra (pip install 'care_bridge[io]')")
CLI = [sys.executable, "-m", "care_bridge.cli.main"]


@pytest.fixture
def timelapse(tmp_path) -> Path:
    rng = np.random.default_rng(7)
    a = (rng.poisson(50, (5, 2, 40, 44)) + 40 * (np.indices((5, 2, 40, 44)).sum(0) % 6)).astype(np.uint16)
    p = tmp_path / "tl.tif"
    tifffile.imwrite(p, a[:, None], imagej=True, resolution=(10.0, 10.0),  # T Z=1 C Y X
                     metadata={"axes": "TZCYX", "finterval": 2.0, "unit": "micron"})
    return p


def _predict(bundle: Path, src: Path, out: Path, *extra: str) -> None:
    assert main(["predict", "--bundle", str(bundle), "--input", str(src), "--output", str(out), "--quiet",
                 *extra]) == 0


def test_frame_by_frame_equals_in_memory_and_keeps_metadata(onnx_bundle, timelapse, tmp_path):
    bundle = onnx_bundle("2d")
    _predict(bundle, timelapse, tmp_path / "mem.tif", "--channels", "1,0")
    _predict(bundle, timelapse, tmp_path / "stream.tif", "--channels", "1,0", "--stream")
    (m, mm), (s, sm) = read_image(tmp_path / "mem.tif"), read_image(tmp_path / "stream.tif")
    assert m.shape == (5, 2, 40, 44) and mm.axes == "TCYX"
    assert np.array_equal(m.view(np.uint32), s.view(np.uint32))
    assert sm.pixel_size == pytest.approx({"X": 0.1, "Y": 0.1}) and sm.time_interval == 2.0 and sm.axes == "TCYX"
    assert not list(tmp_path.glob(".*partial*")), "the partial store was not removed"


def test_ome_zarr_out_and_in(onnx_bundle, timelapse, tmp_path):
    bundle = onnx_bundle("2d")
    _predict(bundle, timelapse, tmp_path / "mem.tif", "--channels", "0")
    _predict(bundle, timelapse, tmp_path / "out.zarr", "--channels", "0")
    group = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    ms = dict(group.attrs)["multiscales"][0]
    assert ms["version"] == "0.4" and [a["name"] for a in ms["axes"]] == ["t", "c", "y", "x"]
    assert ms["axes"][2] == {"name": "y", "type": "space", "unit": "micrometer"}
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == pytest.approx([2.0, 1.0, 0.1, 0.1])
    level0 = np.asarray(group["0"])
    mem = read_image(tmp_path / "mem.tif")[0]
    assert np.array_equal(level0[:, 0], mem)
    # the store is an input too: restored again, frame by frame, to a TIFF
    reader = open_frames(tmp_path / "out.zarr")
    assert reader.axes == "TCYX" and reader.meta.time_interval == 2.0 and reader.meta.unit == "µm"
    _predict(bundle, tmp_path / "out.zarr", tmp_path / "again.tif")
    again, meta = read_image(tmp_path / "again.tif")
    assert again.shape == (5, 40, 44) and meta.pixel_size == pytest.approx({"X": 0.1, "Y": 0.1})


def test_a_larger_store_has_lower_resolution_levels(onnx_bundle, tmp_path):
    src = tmp_path / "big.tif"
    tifffile.imwrite(src, np.random.default_rng(1).random((2, 260, 270)).astype(np.float32), imagej=True,
                     metadata={"axes": "TYX"})
    _predict(onnx_bundle("2d"), src, tmp_path / "o.zarr")
    g = zarr.open_group(str(tmp_path / "o.zarr"), mode="r")
    shapes = [g[str(k)].shape for k in range(3)]
    assert shapes == [(2, 260, 270), (2, 130, 135), (2, 65, 67)]
    lvl0, lvl1 = np.asarray(g["0"], np.float64), np.asarray(g["1"], np.float64)
    assert np.allclose(lvl1[1, 3, 4], lvl0[1, 6:8, 8:10].mean(), atol=1e-5)  # mean of 2x2, derived by hand


def test_a_local_dask_cluster_gives_the_same_bits(onnx_bundle, timelapse, tmp_path):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    bundle = onnx_bundle("2d")
    _predict(bundle, timelapse, tmp_path / "one.tif", "--channels", "0,1", "--stream")
    _predict(bundle, timelapse, tmp_path / "dask.tif", "--channels", "0,1", "--workers", "2")
    a, b = read_image(tmp_path / "one.tif")[0], read_image(tmp_path / "dask.tif")[0]
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32))


def test_bad_stores_and_leftovers_are_one_line(onnx_bundle, timelapse, tmp_path, capsys):
    bundle = onnx_bundle("2d")
    plain = tmp_path / "plain.zarr"
    zarr.open_group(str(plain), mode="w").create_array("0", shape=(2, 8, 8), dtype="f4")
    out = tmp_path / "o.tif"
    assert main(["predict", "--bundle", str(bundle), "--input", str(plain), "--output", str(out), "--quiet"]) == 2
    assert "not OME-Zarr" in capsys.readouterr().err
    (tmp_path / ".o.tif.partial.zarr").mkdir()
    assert main(["predict", "--bundle", str(bundle), "--input", str(timelapse), "--output", str(out), "--channels",
                 "0", "--stream", "--quiet"]) == 2
    assert "--resume" in capsys.readouterr().err and not out.exists()


def test_a_killed_run_resumes_without_recomputing_finished_frames(onnx_bundle, tmp_path):
    bundle = onnx_bundle("2d")
    src = tmp_path / "long.tif"
    tifffile.imwrite(src, (np.random.default_rng(2).random((40, 256, 256)) * 1000).astype(np.uint16), imagej=True,
                     metadata={"axes": "TYX"})
    out = tmp_path / "out.zarr"
    part = tmp_path / ".out.zarr.partial.zarr"
    args = ["predict", "--bundle", str(bundle), "--input", str(src), "--output", str(out), "--n-tiles", "32,32",
            "--quiet"]
    env = dict(os.environ, CARE_BRIDGE_NO_PROGRESS="1")
    p = subprocess.Popen(CLI + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def done() -> list[int]:
        try:
            runs = json.loads((part / "care_bridge_progress.json").read_text())["done"]  # [first, last] runs
            return [i for a, b in runs for i in range(a, b + 1)]
        except (OSError, ValueError, KeyError):
            return []

    t0 = time.monotonic()
    while len(done()) < 3 and p.poll() is None and time.monotonic() - t0 < 120:
        time.sleep(0.05)
    assert p.poll() is None, "the run ended before it could be killed; make it longer"
    p.send_signal(signal.SIGKILL)
    p.wait()
    finished = done()
    assert 3 <= len(finished) < 40 and not out.exists()
    chunk = lambda root, i: root / "0" / str(i) / "0" / "0"  # noqa: E731 - level 0, frame i, one chunk
    stamps = {i: chunk(part, i).stat().st_mtime_ns for i in finished}
    r = subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "--resume" in r.stderr  # a leftover is never silently overwritten
    r = subprocess.run(CLI + args + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not part.exists() and out.is_dir()
    assert {i: chunk(out, i).stat().st_mtime_ns for i in finished} == stamps, "finished frames were recomputed"
    _predict(bundle, src, tmp_path / "ref.tif", "--n-tiles", "32,32")
    level0 = np.asarray(zarr.open_array(str(out / "0"), mode="r"))
    assert np.array_equal(level0.view(np.uint32), read_image(tmp_path / "ref.tif")[0].view(np.uint32))


def test_resume_refuses_a_partial_result_of_another_job(onnx_bundle, timelapse, tmp_path, capsys):
    from care_bridge.io.frames import ZarrFrameWriter
    from care_bridge.io import ImageMeta

    out = tmp_path / "o.tif"
    ZarrFrameWriter(tmp_path / ".o.tif.partial.zarr", (5, 40, 44), "TYX", meta=ImageMeta(), job={"input": "other"})
    assert main(["predict", "--bundle", str(onnx_bundle("2d")), "--input", str(timelapse), "--output", str(out),
                 "--channels", "0", "--resume", "--quiet"]) == 2
    assert "another job" in capsys.readouterr().err


def test_a_single_ifd_imagej_stack_is_read_one_frame_at_a_time(tmp_path):
    """ImageJ hyperstacks over 4 GB have one IFD (tifffile's truncate=True writes the same layout small): frames
    are read at their byte offset, not by decoding the whole series (found by benchmarks/streaming.py)."""
    a = np.arange(8 * 32 * 40, dtype=np.uint16).reshape(8, 32, 40)
    p = tmp_path / "one_ifd.tif"
    tifffile.imwrite(p, a, imagej=True, truncate=True, metadata={"axes": "TYX"})
    with tifffile.TiffFile(p) as tf:
        assert len(tf.pages) == 1  # the layout under test
    with open_frames(p) as reader:
        assert reader.axes == "TYX"
        for t in (0, 3, 7):
            assert np.array_equal(reader.read(t), a[t])


def test_progress_is_recorded_as_runs():
    from care_bridge.io.frames import _expand, _ranges

    assert _ranges({0, 1, 2, 5, 7, 8}) == [[0, 2], [5, 5], [7, 8]]
    assert _expand([[0, 2], [5, 5], [7, 8]]) == {0, 1, 2, 5, 7, 8}
    assert _expand("junk") == set() and _expand([[3, 1], ["a", 2]]) == set()


def test_a_worker_killed_mid_run_does_not_change_the_result(onnx_bundle, tmp_path):
    """A LocalCluster worker process killed with SIGKILL mid-run: its frames are recomputed elsewhere (dask
    reschedules them), the output is the same bits as the single-process restoration."""
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    psutil = pytest.importorskip("psutil")
    bundle = onnx_bundle("2d")
    src = tmp_path / "long.tif"
    tifffile.imwrite(src, (np.random.default_rng(3).random((120, 256, 256)) * 1000).astype(np.uint16), imagej=True,
                     metadata={"axes": "TYX"})
    out = tmp_path / "dask.tif"
    env = dict(os.environ, CARE_BRIDGE_NO_PROGRESS="1")
    p = subprocess.Popen(CLI + ["predict", "--bundle", str(bundle), "--input", str(src), "--output", str(out),
                                "--n-tiles", "32,32", "--workers", "2", "--quiet"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    progress = tmp_path / ".dask.tif.partial.zarr" / "care_bridge_progress.json"

    def done() -> int:
        try:
            return sum(b - a + 1 for a, b in json.loads(progress.read_text())["done"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def workers() -> list:  # the LocalCluster's worker processes (multiprocessing spawn children)
        try:
            return [c for c in psutil.Process(p.pid).children(recursive=True) if "spawn_main" in " ".join(c.cmdline())]
        except psutil.Error:
            return []

    t0 = time.monotonic()
    while (done() < 5 or not workers()) and p.poll() is None and time.monotonic() - t0 < 120:
        time.sleep(0.05)
    assert p.poll() is None and workers(), "no worker process to kill; make the run longer"
    assert done() < 120
    workers()[-1].kill()
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    _predict(bundle, src, tmp_path / "ref.tif", "--n-tiles", "32,32")
    assert np.array_equal(read_image(out)[0].view(np.uint32), read_image(tmp_path / "ref.tif")[0].view(np.uint32))


def test_a_zeiss_czi_file_restores_like_the_same_pixels_as_tiff(onnx_bundle, tmp_path):
    """A real CZI (written with Zeiss' libCZI writer, pylibCZIrw) is read through bioio: axes, pixel sizes and
    channel names from its metadata, pixels frame by frame; the restoration equals that of the same pixels in an
    ImageJ TIFF, and the output (OME-TIFF by default) keeps the metadata."""
    pytest.importorskip("bioio_czi", reason="the vendor extra is not installed")
    pyczi = pytest.importorskip("pylibCZIrw.czi")
    a = (np.random.default_rng(5).random((3, 2, 40, 44)) * 1000).astype(np.uint16)  # T C Y X
    czi = tmp_path / "cells.czi"
    with pyczi.create_czi(str(czi), exist_ok=True) as doc:
        for t in range(3):
            for c in range(2):
                doc.write(data=a[t, c][..., None], plane={"T": t, "C": c, "Z": 0})
        # libCZI's scaling is in metres (0.1 µm, 0.5 µm); bioio reports micrometres
        doc.write_metadata(document_name="cells", channel_names={0: "GFP", 1: "DAPI"}, scale_x=1e-7, scale_y=1e-7,
                           scale_z=5e-7)
    reader = open_frames(czi)
    assert reader.axes == "TCYX" and reader.shape == (3, 2, 40, 44)
    assert reader.meta.pixel_size == pytest.approx({"X": 0.1, "Y": 0.1}) and reader.meta.channel_names == ["GFP", "DAPI"]
    assert np.array_equal(reader.read(1), a[1])
    tif = tmp_path / "cells.tif"
    tifffile.imwrite(tif, a[:, None], imagej=True, metadata={"axes": "TZCYX"})
    bundle = onnx_bundle("2d")
    _predict(bundle, czi, tmp_path / "from_czi.tif", "--channels", "1")
    _predict(bundle, tif, tmp_path / "from_tif.tif", "--channels", "1")
    x, m = read_image(tmp_path / "from_czi.tif")
    y, _ = read_image(tmp_path / "from_tif.tif")
    assert np.array_equal(x.view(np.uint32), y.view(np.uint32))
    assert m.format == "ome-tiff" and m.channel_names == ["DAPI"] and m.pixel_size == pytest.approx({"X": 0.1, "Y": 0.1})


def test_resume_refuses_frames_of_a_bundle_replaced_at_the_same_path(onnx_bundle, timelapse, tmp_path, capsys,
                                                                      monkeypatch):
    """The job record holds the bundle's sha256, not only its path: new weights under the old name would mix two
    models' frames in one result."""
    import shutil
    import zipfile

    from care_bridge.frontend import stream

    bundle = tmp_path / "model.zip"
    shutil.copy(onnx_bundle("2d"), bundle)
    out = tmp_path / "o.zarr"
    args = ["predict", "--bundle", str(bundle), "--input", str(timelapse), "--output", str(out), "--channels", "0",
            "--quiet"]
    real_write = stream.ZarrFrameWriter.write

    def write_then_fail(self, i, frame):
        real_write(self, i, frame)
        if len(self.done) >= 2:
            raise CareBridgeError("disk full (simulated)")

    monkeypatch.setattr(stream.ZarrFrameWriter, "write", write_then_fail)
    assert main(args) == 2 and (tmp_path / ".o.zarr.partial.zarr").is_dir()
    monkeypatch.undo()
    with zipfile.ZipFile(bundle, "a") as z:  # same path, other bytes (an extra file the rdf does not name)
        z.writestr("notes.txt", "retrained")
    capsys.readouterr()
    assert main(args + ["--resume"]) == 2
    assert "another job" in capsys.readouterr().err and not out.exists()
