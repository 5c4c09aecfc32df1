"""Restoration throughput and peak memory of the CARE default networks, tiled vs untiled, per engine.

    python benchmarks/predict_throughput.py [--quick] [--engines keras,onnxruntime,tensorflow]

Sizes: a 2048x2048 2D image and a 64x512x512 3D stack (``--quick``: 1024^2 and 32x256x256). Each case runs
in a fresh subprocess so its peak resident memory (VmHWM; ru_maxrss would carry the parent's over exec) is its
own. Also reports the runtime's overhead over one bare engine call on the same padded input, and the achieved
GFLOP/s (network FLOPs per voxel x voxels per second). Prints a table and writes
``benchmarks/results/predict_throughput.json``.
Weights are random: throughput does not depend on their values.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CARE_BRIDGE_NO_PROGRESS", "1")

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def make_model_dir(root: Path, axes: str) -> Path:
    """A CARE-default network (depth 2, 32 filters, kernel 5/3) with random weights as a model folder."""
    import keras

    from care_bridge.models import CareConfig
    from care_bridge.models.folder import write_model_folder
    from care_bridge.models.unet import build_unet

    d = root / f"care_default_{axes}"
    if d.exists():
        return d
    cfg = CareConfig(axes=axes, name=f"care_default_{axes.lower()}")
    keras.utils.set_random_seed(0)
    return write_model_folder(d, cfg, build_unet(cfg), provenance={"data": {"description": "random weights (benchmark)"}})


def one_case(source: str, engine: str, shape: tuple[int, ...], n_tiles: str, repeats: int) -> dict:
    """Run in a subprocess: load, warm up, time ``repeats`` restorations and one bare engine call."""
    import numpy as np
    from side_by_side import peak_rss_mb

    from care_bridge.frontend import load_restorer
    from care_bridge.models.flops import unet_flops_per_voxel
    from care_bridge.models import CareConfig

    r = load_restorer(source, "auto" if engine == "keras" else engine)
    axes = r.info.axes
    x = np.random.default_rng(0).poisson(20, shape).astype(np.float32)
    nt = None if n_tiles == "auto" else tuple(int(v) for v in n_tiles.split(","))
    r.restore(x, axes, n_tiles=nt)  # warm-up (graph building, onnxruntime planning)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = r.restore(x, axes, n_tiles=nt)
        times.append(time.perf_counter() - t0)
    # the bare engine on one tile of the same plan: runtime overhead = restore time / (tiles x bare tile time)
    from care_bridge.tiling import plan_tiles, read_block

    plan = plan_tiles(shape, res.n_tiles, r.info.halo, r.info.step, pad_halo=False)  # the runtime's border rule
    block = read_block(x[..., None], plan.tiles[0].read)[None].astype(np.float32)
    r.engine.run(block)
    bare = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r.engine.run(block)
        bare.append(time.perf_counter() - t0)
    cfg_path = Path(source)
    cfg = CareConfig(axes=axes) if not (cfg_path / "config.yaml").exists() else CareConfig.load(cfg_path)
    fpv = unet_flops_per_voxel(cfg)
    t = float(np.median(times))
    mvox = float(np.prod(shape)) / 1e6
    return {
        "engine": res.engine, "shape": list(shape), "n_tiles": list(res.n_tiles), "seconds": t,
        "megavoxels_per_s": mvox / t, "gflops_per_s": fpv * mvox * 1e6 / t / 1e9,
        "bare_engine_seconds": float(np.median(bare)),
        "runtime_overhead": t / (float(np.median(bare)) * len(plan.tiles)) - 1,
        "peak_rss_mb": peak_rss_mb(),
        "flops_per_voxel": fpv,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--engines", default="keras,onnxruntime,tensorflow")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        print(json.dumps(one_case(**json.loads(a.case))))
        return 0
    sizes = {"YX": (1024, 1024) if a.quick else (2048, 2048), "ZYX": (32, 256, 256) if a.quick else (64, 512, 512)}
    # 64x512x512 untiled would need > 20 GB for the default 3D net: its fewest tiles here are 1x2x2
    tiles = {"YX": ["1,1", "auto"], "ZYX": ["1,1,1" if a.quick else "1,2,2", "auto"]}
    work = Path(tempfile.mkdtemp(prefix="cb_bench_"))
    rows = []
    for axes, shape in sizes.items():
        model_dir = make_model_dir(work, axes)
        sources = {"keras": str(model_dir)}
        wanted = a.engines.split(",")
        if any(e != "keras" for e in wanted):
            from care_bridge.export import export_bundle

            t0 = time.perf_counter()
            bundle = export_bundle(model_dir, work / f"{axes}.zip")
            export_s = time.perf_counter() - t0
            rows.append({"engine": "export+validate", "shape": list(shape), "seconds": export_s})
            for e in wanted:
                if e != "keras":
                    sources[e] = str(bundle)
        for e in wanted:
            for nt in tiles[axes]:
                case = json.dumps({"source": sources[e], "engine": e, "shape": shape, "n_tiles": nt, "repeats": a.repeats})
                p = subprocess.run([sys.executable, __file__, "--case", case], capture_output=True, text=True)
                if p.returncode:
                    rows.append({"engine": e, "shape": list(shape), "n_tiles": nt, "error": p.stderr.strip().splitlines()[-1:]})
                else:
                    rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
                print_row(rows[-1])
                write_results(rows)  # after every case, so an interrupted run keeps what it measured
    write_results(rows)
    print(f"\nwritten to {RESULTS / 'predict_throughput.json'}")
    return 0


def write_results(rows: list[dict]) -> None:
    RESULTS.mkdir(exist_ok=True)
    out = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
           "rows": rows}
    (RESULTS / "predict_throughput.json").write_text(json.dumps(out, indent=2))


def print_row(r: dict) -> None:
    if "error" in r:
        print(f"{r['engine']:<12} {str(r['shape']):<16} ERROR {r['error']}")
    elif "megavoxels_per_s" not in r:
        print(f"{r['engine']:<16} {str(r['shape']):<16} {r['seconds']:8.1f} s")
    else:
        ov = r["runtime_overhead"]
        print(f"{r['engine']:<12} {str(r['shape']):<16} tiles {'x'.join(map(str, r['n_tiles'])):<7} "
              f"{r['seconds']:7.2f} s {r['megavoxels_per_s']:7.2f} MVox/s {r['gflops_per_s']:7.1f} GFLOP/s "
              f"peak {r['peak_rss_mb']:7.0f} MB" + f"  runtime overhead {ov * 100:+.1f}%")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
