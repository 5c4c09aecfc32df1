"""Overhead of the Fiji front end: a 50×1024×1024 stack restored by the plain runtime, the hosted path
(Python hosts ImageJ; pixels move in memory) and the standalone path (ImageJ → temporary TIFF → care-bridge CLI
→ TIFF → ImageJ), in the same run on the same machine. Target: hosted ≤ 10 % over the plain runtime.

    python benchmarks/fiji_overhead.py [--bundle B.zip] [--shape 50,1024,1024] [--engine onnxruntime]

Without --bundle a tiny 2D bundle is trained and exported first (needs the training extras); a 2D bundle restores
the stack as a time-lapse, frame by frame. Times are wall clock of what a user waits for after starting CARE
Restore on an open image (hosted: pixels to numpy, runtime, result ImagePlus; standalone: temporary TIFF, CLI
start-up and bundle load, result TIFF opened), in interleaved rounds so that background load hits all paths
alike; median and best are reported. Writes benchmarks/results/fiji_overhead.json. Needs an X server or
``xvfb-run``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "fiji_overhead.json"
DRIVER = REPO / "tests" / "fiji" / "helpers" / "restore_file.ijm"

# Workers answer one timed run per "go" line on stdin, so the three paths can be interleaved round by round
# (on a shared machine, background load then hits all of them alike).
_PLAIN_WORKER = r"""
import sys, time, tifffile
from care_bridge import runtime
from care_bridge.io import read_image
src, bundle, engine, n_tiles = sys.argv[1:5]
nt = None if n_tiles == "auto" else tuple(int(v) for v in n_tiles.split(","))
img, meta = read_image(src)
r = runtime.load(bundle, engine=engine)
r.restore(img, meta.axes, n_tiles=nt)  # warm-up
print("READY", flush=True)
for _ in sys.stdin:
    t = time.perf_counter()
    r.restore(img, meta.axes, n_tiles=nt)
    print("ELAPSED", 1000 * (time.perf_counter() - t), flush=True)
"""

_HOSTED_WORKER = r"""
import os, sys
from care_bridge.fiji.host import run_macro
macro, args = sys.argv[1], sys.argv[2]
run_macro(macro, args)  # warm-up: loads the bundle; prints REPLY and ELAPSED, which the parent skips
print("READY", flush=True)
for _ in sys.stdin:
    run_macro(macro, args)  # the driver prints "ELAPSED <ms>" (its own clock around CARE Restore)
    sys.stdout.flush()
sys.stdout.flush(); os._exit(0)
"""


class Worker:
    """A child process that times one run per request."""

    def __init__(self, cmd: list[str]):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, cwd=REPO)
        self._until("READY")

    def _until(self, prefix: str) -> str:
        lines = []
        for line in self.p.stdout:
            lines.append(line)
            if line.startswith(prefix):
                return line
        raise SystemExit("worker failed:\n" + "".join(lines) + self.p.stderr.read())

    def run(self) -> float:
        self.p.stdin.write("go\n")
        self.p.stdin.flush()
        return float(self._until("ELAPSED").split()[1]) / 1000

    def close(self) -> None:
        self.p.stdin.close()
        self.p.wait(timeout=60)


def _bundle(arg: str | None, work: Path) -> Path:
    if arg:
        return Path(arg)
    sys.path.insert(0, str(REPO / "tests"))
    import conftest as tc  # the lead's tiny-model recipe (tests/conftest.py)

    from care_bridge.export import export_bundle

    model = tc.train_tiny("2d", work)
    return export_bundle(model, work / "2d.zip")


def _timed_driver(work: Path) -> Path:
    """tests/fiji/helpers/restore_file.ijm, timing only the CARE Restore call (not ImageJ's start-up, opening
    the input or saving the result) with the macro's own clock."""
    macro = work / "timed.ijm"
    macro.write_text(DRIVER.read_text().replace(
        'reply = runMacro(o("restore", ""), pass);',
        't0 = getTime(); reply = runMacro(o("restore", ""), pass); print("ELAPSED " + (getTime() - t0));'))
    return macro


def _args(src: Path, out: Path, bundle: Path, engine: str, n_tiles: str, via: str) -> str:
    cli = Path(sys.executable).parent / "care-bridge"
    return (f"in=[{src}] out=[{out}] restore=[{REPO / 'fiji_macros' / 'CARE_Restore.ijm'}] bundle=[{bundle}] "
            f"engine=[{engine}] n_tiles=[{n_tiles}] via=[{via}] cli=[{cli}]")


def _xvfb(cmd: list[str]) -> list[str]:
    return cmd if os.environ.get("DISPLAY") else ["xvfb-run", "-a", *cmd]


def _standalone_once(src: Path, bundle: Path, engine: str, n_tiles: str, work: Path) -> float:
    """A fresh ImageJ, as a user's Fiji calling the CLI (which starts Python and loads the bundle each time)."""
    jar = os.environ.get("CARE_BRIDGE_IJ_JAR", "/usr/share/java/ij.jar")
    res = work / "standalone.tif"
    cmd = _xvfb(["java", "-jar", jar, "-batch", str(_timed_driver(work)),
                 _args(src, res, bundle, engine, n_tiles, "standalone")])
    p = subprocess.run(cmd, capture_output=True, text=True)
    ms = [ln for ln in p.stdout.splitlines() if ln.startswith("ELAPSED ")]
    if not ms or "REPLY image=" not in p.stdout:
        raise SystemExit(f"standalone run failed:\n{p.stdout}\n{p.stderr}")
    res.unlink(missing_ok=True)
    return float(ms[0].split()[1]) / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", help="default: train and export a tiny 2D bundle first")
    ap.add_argument("--shape", default="50,1024,1024")
    ap.add_argument("--engine", default="onnxruntime")
    ap.add_argument("--n-tiles", default="2,2", help="tiles per spatial axis of the bundle, or auto")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    shape = tuple(int(v) for v in a.shape.split(","))
    import tifffile

    from care_bridge import runtime

    with tempfile.TemporaryDirectory(prefix="fiji_overhead_") as tmp:
        work = Path(tmp)
        bundle = _bundle(a.bundle, work)
        info = runtime.load(bundle, engine=a.engine).info
        # a 2D bundle restores a stack of 50 planes as a time-lapse (T), frame by frame
        axes = "ZYX" if "Z" in info.axes or info.procedure.get("planewise") else "TYX"
        img = (np.random.default_rng(0).poisson(50, shape) * 10).astype(np.uint16)
        src = work / "stack.tif"
        tifffile.imwrite(src, img, imagej=True, metadata={"axes": axes})
        del img
        plain = Worker([sys.executable, "-c", _PLAIN_WORKER, str(src), str(bundle), a.engine, a.n_tiles])
        hosted = Worker(_xvfb([sys.executable, "-c", _HOSTED_WORKER, str(_timed_driver(work)),
                               _args(src, work / "hosted.tif", bundle, a.engine, a.n_tiles, "hosted")]))
        _standalone_once(src, bundle, a.engine, a.n_tiles, work)  # warms the page cache
        times: dict[str, list[float]] = {"plain": [], "hosted": [], "standalone": []}
        for _ in range(a.repeats):  # interleaved rounds
            times["plain"].append(plain.run())
            times["hosted"].append(hosted.run())
            times["standalone"].append(_standalone_once(src, bundle, a.engine, a.n_tiles, work))
        plain.close()
        hosted.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    print(f"Fiji overhead: {a.shape} uint16 as {axes}, bundle {Path(bundle).name}, engine {a.engine}, "
          f"n_tiles {a.n_tiles}, {a.repeats} interleaved rounds, {os.cpu_count()} CPUs")
    print(f"{'path':<12}{'median s':>10}{'overhead':>10}{'best s':>9}{'overhead':>10}")
    for k in times:
        print(f"{k:<12}{med[k]:>10.2f}{100 * (med[k] / med['plain'] - 1):>9.1f}%"
              f"{best[k]:>9.2f}{100 * (best[k] / best['plain'] - 1):>9.1f}%")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "shape": list(shape), "axes": axes, "engine": a.engine, "n_tiles": a.n_tiles, "repeats": a.repeats,
        "seconds": times, "median_s": med, "best_s": best,
        "overhead_pct_median": {k: 100 * (med[k] / med["plain"] - 1) for k in med},
        "overhead_pct_best": {k: 100 * (best[k] / best["plain"] - 1) for k in best},
        "target_hosted_pct": 10.0,
        "timed": "plain: Restorer.restore on the array; hosted/standalone: the CARE Restore macro call inside "
                 "ImageJ (image already open; includes pixel transfer or TIFF write/CLI start/TIFF read, and "
                 "creating the result image), not ImageJ's own start",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
