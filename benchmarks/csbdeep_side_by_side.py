"""care_bridge vs. the csbdeep package, the same network on the same input in the same run.

    python benchmarks/csbdeep_side_by_side.py [--size 2048] [--n-tiles 3]

csbdeep builds its default 2D CARE network (depth 2, 32 filters, kernel 5; random weights) and saves it as a
CSBDeep model folder; ``care-bridge import-csbdeep`` turns that into a bundle; then each program restores the same
image with the same tiling, each in its own subprocess (so TensorFlow state and peak memory are separate).
Prints a table and writes ``benchmarks/results/csbdeep_side_by_side.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent


def make_csbdeep_model(root: Path) -> Path:
    from csbdeep.models import CARE, Config

    cfg = Config("YX", n_channel_in=1, n_channel_out=1, unet_n_depth=2, unet_n_first=32, unet_kern_size=5,
                 train_tensorboard=False)
    model = CARE(cfg, "csbdeep_default", basedir=str(root))
    model.keras_model.save_weights(str(root / "csbdeep_default" / "weights_best.h5"))
    return root / "csbdeep_default"


def _time_restoration(predict, size: int, repeats: int) -> dict:
    """Median time of ``predict(x)`` on a fixed Poisson image after one warm-up call, and peak RSS."""
    import numpy as np

    x = np.random.default_rng(0).poisson(20, (size, size)).astype(np.float32)
    predict(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predict(x)
        times.append(time.perf_counter() - t0)
    return {"seconds": sorted(times)[len(times) // 2], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_csbdeep(model_dir: str, size: int, n_tiles: int, repeats: int) -> dict:
    from csbdeep.models import CARE

    model = CARE(None, Path(model_dir).name, basedir=str(Path(model_dir).parent))
    return _time_restoration(lambda x: model.predict(x, "YX", n_tiles=(n_tiles, n_tiles)), size, repeats)


def run_care_bridge(bundle: str, engine: str, size: int, n_tiles: int, repeats: int) -> dict:
    from care_bridge import runtime

    r = runtime.load(bundle, engine=engine)
    tiles = None if n_tiles == 0 else (n_tiles, n_tiles)  # 0: care_bridge's default (automatic from the budget)
    return _time_restoration(lambda x: r.restore(x, "YX", n_tiles=tiles), size, repeats)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--n-tiles", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        c = json.loads(a.case)
        fn = run_csbdeep if c.pop("program") == "csbdeep" else run_care_bridge
        print(json.dumps(fn(**c)))
        return 0
    work = Path(tempfile.mkdtemp(prefix="cb_csb_"))
    model_dir = make_csbdeep_model(work)
    from care_bridge.export.csbdeep_import import import_csbdeep

    bundle = import_csbdeep(model_dir, work / "imported.zip")
    common = {"size": a.size, "n_tiles": a.n_tiles, "repeats": a.repeats}
    cases = [("csbdeep 0.8.2 (CARE.predict)", {"program": "csbdeep", "model_dir": str(model_dir), **common})]
    for e in ("onnxruntime", "tensorflow"):
        cases.append((f"care_bridge ({e})", {"program": "care_bridge", "bundle": str(bundle), "engine": e, **common}))
    cases.append(("care_bridge default (onnxruntime, auto tiles)",
                  {"program": "care_bridge", "bundle": str(bundle), "engine": "onnxruntime", **common, "n_tiles": 0}))
    rows = []
    print(f"{a.size}x{a.size}, {a.n_tiles}x{a.n_tiles} tiles, CARE default 2D network")
    for name, case in cases:
        p = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True)
        row = {"program": name, **(json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0
                                   else {"error": p.stderr.strip().splitlines()[-1:]})}
        rows.append(row)
        if "error" in row:
            print(f"{name:<46} ERROR {row['error']}")
        else:
            mvox = a.size * a.size / 1e6 / row["seconds"]
            ratio = rows[0]["seconds"] / row["seconds"] if "seconds" in rows[0] else float("nan")
            print(f"{name:<46} {row['seconds']:7.2f} s  {mvox:5.2f} MVox/s  x{ratio:4.2f} vs csbdeep  "
                  f"peak {row['peak_rss_mb']:6.0f} MB")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "csbdeep_side_by_side.json").write_text(json.dumps({"args": vars(a), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
