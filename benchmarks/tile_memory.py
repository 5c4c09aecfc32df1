"""Working memory of one tile per engine, measured, against the estimate the automatic tiling uses
(:func:`care_bridge.runtime.pipeline.bytes_per_voxel`).

    python benchmarks/tile_memory.py [--engines onnxruntime,openvino:fp32,openvino:bf16,tensorflow] [--dims 2,3]

The CARE default networks (csbdeep's defaults: depth 2, 32 filters, kernel 5 in 2D / 3 in 3D; random weights,
imported with ``care-bridge import-csbdeep``). Each (engine, tile) runs in its own process: load the bundle, run
one small tile (engine start-up, kernels), then — with the input tile already allocated — take the resident
memory as the baseline, reset the peak (``/proc/self/clear_refs``), run the engine once on the tile and read the
peak (``VmHWM``). Working memory per voxel = (peak - baseline) / tile voxels: what the first tile of a
restoration costs (later tiles of the same shape reuse it). Linux only. Writes
``benchmarks/results/tile_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TILES = {2: [(512, 512), (1024, 1024), (1536, 1536)], 3: [(16, 128, 128), (32, 192, 192), (32, 256, 256)]}
WARM = {2: (64, 64), 3: (8, 32, 32)}


def _status(key: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def one_case(bundle: str, engine: str, precision: str, tile: list[int]) -> dict:
    import gc

    import numpy as np

    from care_bridge import runtime
    from care_bridge.runtime.pipeline import bytes_per_voxel

    r = runtime.load(bundle, engine=engine, precision=precision)
    nd = len(tile)
    rng = np.random.default_rng(0)
    r.engine.run(rng.random((1, *WARM[nd], 1), dtype=np.float32))
    x = rng.random((1, *tile, 1), dtype=np.float32)
    gc.collect()
    base = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident size
    r.engine.run(x)
    peak = _status("VmHWM")
    vox = int(np.prod(tile))
    return {"engine": engine, "precision": precision, "tile": tile, "voxels": vox, "baseline_mb": base / 2**20,
            "delta_mb": (peak - base) / 2**20, "bytes_per_voxel": (peak - base) / vox,
            "estimate_generic": bytes_per_voxel(r.info), "estimate_engine": bytes_per_voxel(r.info, engine=r.engine)}


def make_bundles(work: Path, dims: list[int]) -> dict[int, str]:
    from csbdeep_side_by_side import make_csbdeep_model

    from care_bridge.export.csbdeep_import import import_csbdeep

    out = {}
    for nd in dims:
        axes = "YX" if nd == 2 else "ZYX"
        d = work / axes
        d.mkdir(parents=True, exist_ok=True)
        out[nd] = str(import_csbdeep(make_csbdeep_model(d, axes), d / "imported.zip"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default="onnxruntime,openvino:fp32,openvino:bf16,tensorflow")
    ap.add_argument("--dims", default="2,3")
    ap.add_argument("--bundle2d", help="reuse an imported 2D bundle")
    ap.add_argument("--bundle3d", help="reuse an imported 3D bundle")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        print(json.dumps(one_case(**json.loads(a.case))))
        return 0
    dims = [int(v) for v in a.dims.split(",")]
    given = {2: a.bundle2d, 3: a.bundle3d}
    missing = [nd for nd in dims if not given[nd]]
    bundles = {nd: given[nd] for nd in dims if given[nd]}
    if missing:
        bundles.update(make_bundles(Path(tempfile.mkdtemp(prefix="cb_tilemem_")), missing))
    rows = []
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'engine':<16} {'tile':<14} {'baseline':>9} {'tile memory':>12} {'B/voxel':>8} {'estimate':>9} "
          f"{'generic':>8}")
    for nd in dims:
        for spec in a.engines.split(","):
            engine, _, precision = spec.partition(":")
            for tile in TILES[nd]:
                case = {"bundle": bundles[nd], "engine": engine, "precision": precision or "fp32", "tile": list(tile)}
                p = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True,
                                   text=True)
                if p.returncode:
                    print(f"{spec:<16} {'x'.join(map(str, tile)):<14} ERROR {p.stderr.strip().splitlines()[-1:]}")
                    continue
                row = json.loads(p.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(f"{spec:<16} {'x'.join(map(str, tile)):<14} {row['baseline_mb']:7.0f} MB "
                      f"{row['delta_mb']:9.0f} MB {row['bytes_per_voxel']:8.0f} {row['estimate_engine']:9.0f} "
                      f"{row['estimate_generic']:8.0f}", flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "tile_memory.json").write_text(json.dumps(
        {"args": vars(a), "cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
