"""Peak memory and throughput of frame-by-frame restoration of time-lapses larger than the memory budget,
in one process and on a local Dask cluster (issue #12).

    python benchmarks/streaming.py [--sizes 0.5,2] [--big] [--memory-budget 256M] [--frame 1024]

For each size a synthetic uint16 time-lapse (TYX, ``--frame``² pixels per frame; 0.5 GiB = 256 frames of 1024²)
is written to disk frame by frame (``tifffile.imwrite`` from a generator with shape and dtype given; the whole
array is never in memory), then restored by ``care-bridge predict`` in a fresh process per configuration:

- ``single``: one process, ``--stream``;
- ``workers=1`` / ``workers=2``: a LocalCluster of 1 / 2 worker processes (``--workers N``).

The network is deliberately tiny (the 2D ONNX bundle of the tests, ``tests/onnx_bundles.py``: two 3×3
convolutions, 4 hidden channels) so a 2 GiB run takes about two minutes on two cores: what is measured is the
streaming machinery (reading, normalization, tiling, the partial Zarr store, finishing the TIFF, Dask), not a
network's arithmetic. Peak RSS is that of the whole process tree (the CLI, and the Dask nanny and worker
processes it starts), sampled with psutil every 0.2 s: the largest sum over the tree (an upper bound: shared
library pages count once per process) and the largest single process. Without psutil only the largest single
process is known (``getrusage(RUSAGE_CHILDREN)``). "frames MVox/s" is the steady state: frames recorded per second
in the partial store's progress record, from the first sample with two or more frames done (after start-up, the
client's frame 0 and a cluster's start) to the last (before finishing the output).
The outputs of all configurations of a size must be byte-identical (sha256 of the output file).

``--big`` adds 8 GiB. ImageJ hyperstacks over 4 GiB are written as a single IFD (ImageJ cannot read BigTIFF), a
layout the frame reader reads whole for every frame; inputs over 4 GiB are therefore written as tifffile's
"shaped" BigTIFF (``--input-format`` overrides). Prints a table and writes ``benchmarks/results/streaming.json``.
Run it on an otherwise idle machine (check ``uptime``); the work folder needs about 5× the largest size free.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
GIB = 2**30
CONFIGS = {"single": ["--stream"], "workers=1": ["--workers", "1"], "workers=2": ["--workers", "2"]}
TIFF_4GB = 2**32 - 2**25  # tifffile's limit for a classic TIFF


# ------------------------------------------------------------------------------------------------- input data
def tiny_bundle(work: Path) -> Path:
    """The tests' tiny 2D ONNX bundle (built with onnx.helper; no TensorFlow)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from onnx_bundles import write_bundle

    return write_bundle("2d", work, name="tiny_2d")


def write_timelapse(path: Path, n_frames: int, side: int, fmt: str) -> None:
    """A uint16 TYX time-lapse written frame by frame: a smooth pattern drifting along X plus one of 8 fixed
    noise fields, so frames differ and nothing larger than a frame is ever in memory."""
    import tifffile

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    pattern = (400 * (1 + np.sin(23 * xx) * np.cos(17 * yy))
               + 800 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.4) ** 2) / 0.02))
    noise = [rng.poisson(30, (side, side)).astype(np.uint16) for _ in range(8)]

    def frames():
        for t in range(n_frames):
            yield np.roll(pattern, 3 * t, axis=1).astype(np.uint16) + noise[t % 8]

    shape, kw = (n_frames, side, side), {}
    if fmt == "imagej":
        kw = dict(imagej=True, resolution=(10.0, 10.0), metadata={"axes": "TYX", "finterval": 1.0, "unit": "micron"})
    elif fmt == "ome":
        kw = dict(ome=True, metadata={"axes": "TYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1})
    else:  # tifffile's "shaped" TIFF (axes in its JSON description); BigTIFF when over 4 GiB
        kw = dict(metadata={"axes": "TYX"}, bigtiff=n_frames * side * side * 2 > TIFF_4GB)
    tmp = path.with_name(path.name + ".part")
    tifffile.imwrite(tmp, frames(), shape=shape, dtype=np.uint16, **kw)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------- measuring a run
class TreeSampler:
    """Samples the RSS of a process and all its descendants every ``interval`` seconds (psutil), and the number
    of frames recorded done in a partial store's progress file."""

    def __init__(self, pid: int, progress: Path, interval: float = 0.2):
        import psutil

        self.psutil, self.root = psutil, psutil.Process(pid)
        self.progress, self.interval = progress, interval
        self.peak_tree = self.peak_single = self.peak_main = 0
        self.max_procs = 0
        self.frames: list[tuple[float, int]] = []  # (time, frames done) whenever the count changes
        self.t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        try:
            procs = [self.root] + self.root.children(recursive=True)
        except self.psutil.Error:
            return
        rss = []
        for p in procs:
            try:
                rss.append(p.memory_info().rss)
            except self.psutil.Error:
                rss.append(0)
        self.peak_main = max(self.peak_main, rss[0])
        self.peak_tree = max(self.peak_tree, sum(rss))
        self.peak_single = max(self.peak_single, max(rss))
        self.max_procs = max(self.max_procs, len(procs))
        try:
            done = len(json.loads((self.progress / "care_bridge_progress.json").read_text())["done"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        if not self.frames or self.frames[-1][1] != done:
            self.frames.append((time.perf_counter() - self.t0, done))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_config(cmd: list[str], progress: Path, timeout: float) -> dict:
    """Run ``cmd`` in its own process group; its wall time, the peak RSS of its process tree, its frame rate."""
    env = dict(os.environ, CARE_BRIDGE_NO_PROGRESS="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        sampler = TreeSampler(proc.pid, progress)
    except ImportError:
        sampler = None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the run's own process group (the CLI and its Dask processes)
        out, err = proc.communicate()
        err += f"\ntimed out after {timeout:.0f} s"
    seconds = time.perf_counter() - t0
    row: dict = {"seconds": seconds, "returncode": proc.returncode}
    if proc.returncode:
        row["error"] = (err.strip().splitlines() or ["?"])[-1]
    if sampler is not None:
        sampler.stop()
        row |= {"peak_rss_tree_mb": sampler.peak_tree / 2**20,
                "peak_rss_single_process_mb": sampler.peak_single / 2**20,
                "peak_rss_main_mb": sampler.peak_main / 2**20, "max_processes": sampler.max_procs,
                "rss_measure": "psutil, sum over the process tree, every 0.2 s"}
        # steady state: from the first sample with 2+ frames done (frame 0 is restored by the client before the
        # loop or the cluster starts) to the last one
        f = [(t, n) for t, n in sampler.frames if n >= 2]
        if len(f) >= 2 and f[-1][1] > f[0][1]:
            row["frames_phase"] = {"first_done_s": f[0][0], "last_done_s": f[-1][0], "frames": f[-1][1] - f[0][1]}
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child so far (KiB on Linux)
        row |= {"peak_rss_single_process_mb": peak, "rss_measure": "getrusage(RUSAGE_CHILDREN): largest process"}
    return row


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(2**24):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="0.5,2", help="input sizes in GiB, comma-separated (default 0.5,2)")
    ap.add_argument("--big", action="store_true", help="add 8 GiB")
    ap.add_argument("--frame", type=int, default=1024, help="frame side in pixels (default 1024)")
    ap.add_argument("--memory-budget", default="256M", help="passed to care-bridge predict (default 256M)")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="subset of " + ",".join(CONFIGS))
    ap.add_argument("--input-format", choices=["auto", "imagej", "ome", "shaped"], default="auto",
                    help="auto: ImageJ hyperstack up to 4 GiB, tifffile's shaped BigTIFF above")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run (default 1800)")
    a = ap.parse_args()
    sizes = [float(s) for s in a.sizes.split(",") if s.strip()] + ([8.0] if a.big else [])
    configs = [c.strip() for c in a.configs.split(",")]
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        ap.error(f"unknown configs {sorted(unknown)}; choose from {list(CONFIGS)}")
    work = a.work or Path(tempfile.mkdtemp(prefix="cb_stream_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    bundle = tiny_bundle(work)
    rows: list[dict] = []
    t_start = time.perf_counter()
    print(f"work folder {work}; {os.cpu_count()} CPUs; memory budget {a.memory_budget}; load {os.getloadavg()}")
    print_header()
    try:
        for gib in sizes:
            side = a.frame
            n_frames = max(2, round(gib * GIB / (side * side * 2)))
            nbytes = n_frames * side * side * 2
            fmt = a.input_format
            if fmt == "auto":
                fmt = "imagej" if nbytes <= TIFF_4GB else "shaped"
            src = work / f"timelapse_{gib:g}GiB_{fmt}.tif"
            if not src.exists():
                t0 = time.perf_counter()
                write_timelapse(src, n_frames, side, fmt)
                print(f"  (wrote {src.name}: {n_frames}×{side}×{side} uint16, {nbytes / GIB:.2f} GiB, {fmt}, "
                      f"in {time.perf_counter() - t0:.0f} s)")
            ref_hash = None
            for name in configs:
                out = work / f"restored_{gib:g}GiB.tif"
                part = out.with_name(f".{out.name}.partial.zarr")
                for p in (out, part):
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                cmd = [sys.executable, "-m", "care_bridge.cli.main", "predict", "--bundle", str(bundle),
                       "--input", str(src), "--output", str(out), "--memory-budget", a.memory_budget, "--quiet",
                       *CONFIGS[name]]
                load = os.getloadavg()[0]
                row = {"size_gib": gib, "input_bytes": nbytes, "shape": [n_frames, side, side], "input_format": fmt,
                       "config": name, "command": " ".join(cmd[2:]), "load_before": load}
                row |= run_config(cmd, part, a.timeout)
                mvox = n_frames * side * side / 1e6
                row["megavoxels_per_s"] = mvox / row["seconds"]
                fp = row.get("frames_phase")
                if fp and fp["last_done_s"] > fp["first_done_s"]:
                    span = fp["last_done_s"] - fp["first_done_s"]
                    row["frames_megavoxels_per_s"] = fp["frames"] * side * side / 1e6 / span
                peak = row.get("peak_rss_tree_mb", row.get("peak_rss_single_process_mb"))
                row["rss_over_input"] = peak * 2**20 / nbytes
                if not row.get("returncode") and out.exists():
                    row["output_bytes"] = out.stat().st_size
                    digest = sha256(out)
                    ref_hash = ref_hash or digest
                    row["output_sha256"], row["same_output_as_first_config"] = digest, digest == ref_hash
                rows.append(row)
                print_row(row)
                write_results(rows, a, time.perf_counter() - t_start)  # after every run: an interruption keeps it
                out.unlink(missing_ok=True)
                shutil.rmtree(part, ignore_errors=True)
            if not a.keep:
                src.unlink(missing_ok=True)
    finally:
        if not a.keep and a.work is None:
            shutil.rmtree(work, ignore_errors=True)
    summarize(rows)
    write_results(rows, a, time.perf_counter() - t_start)
    print(f"\nwritten to {RESULTS / 'streaming.json'}")
    return 0 if all(not r.get("returncode") for r in rows) else 1


def summarize(rows: list[dict]) -> None:
    """The issue's targets: peak RSS flat in the input size (and under 2 GB); each cluster configuration's
    throughput within 10 % of the single process's on the same cores."""
    print()
    for name in dict.fromkeys(r["config"] for r in rows):
        peaks = [(r["size_gib"], r.get("peak_rss_tree_mb")) for r in rows
                 if r["config"] == name and not r.get("returncode")]
        if len(peaks) >= 2 and all(p for _, p in peaks):
            print(f"{name:<10} peak RSS {' → '.join(f'{p:.0f} MB ({s:g} GiB)' for s, p in peaks)}: "
                  f"largest/smallest {max(p for _, p in peaks) / min(p for _, p in peaks):.2f}, "
                  f"under 2 GB: {all(p * 2**20 < 2e9 for _, p in peaks)}")
    for r in rows:
        single = next((s for s in rows if s["size_gib"] == r["size_gib"] and s["config"] == "single"
                       and not s.get("returncode")), None)
        if single and r is not single and not r.get("returncode"):
            ratio = r["megavoxels_per_s"] / single["megavoxels_per_s"]
            fr = (r.get("frames_megavoxels_per_s") or 0) / (single.get("frames_megavoxels_per_s") or float("inf"))
            print(f"{r['size_gib']:g} GiB {r['config']:<10} throughput vs single: {ratio:.2f} overall, {fr:.2f} "
                  f"frames phase (same {os.cpu_count()} cores)")


def write_results(rows: list[dict], a, seconds: float) -> None:
    RESULTS.mkdir(exist_ok=True)
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        mem = None
    versions = {}
    for mod in ("numpy", "tifffile", "zarr", "dask", "distributed", "onnxruntime", "psutil"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    out = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "memory_bytes": mem,
                       "python": platform.python_version(), "load_now": os.getloadavg()},
           "versions": versions, "network": "tests/onnx_bundles.py '2d': two 3x3 convolutions, 4 hidden channels",
           "options": {"sizes": a.sizes, "big": a.big, "frame": a.frame, "memory_budget": a.memory_budget},
           "total_seconds": seconds, "rows": rows}
    (RESULTS / "streaming.json").write_text(json.dumps(out, indent=2))


def print_header() -> None:
    print(f"{'size':>8} {'config':<10} {'seconds':>8} {'MVox/s':>7} {'frames MVox/s':>13} {'peak RSS':>9} "
          f"{'largest proc':>12} {'RSS/input':>9} {'procs':>5} {'same output':>11}")


def print_row(r: dict) -> None:
    if r.get("returncode"):
        print(f"{r['size_gib']:>5g} GiB {r['config']:<10} ERROR (exit {r['returncode']}): {r.get('error')}")
        return
    tree = r.get("peak_rss_tree_mb")
    print(f"{r['size_gib']:>5g} GiB {r['config']:<10} {r['seconds']:8.1f} {r['megavoxels_per_s']:7.2f} "
          f"{r.get('frames_megavoxels_per_s', float('nan')):13.2f} "
          f"{(f'{tree:.0f} MB' if tree else '?'):>9} {r['peak_rss_single_process_mb']:9.0f} MB "
          f"{r['rss_over_input']:9.3f} {r.get('max_processes', '?'):>5} "
          f"{str(r.get('same_output_as_first_config')):>11}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
