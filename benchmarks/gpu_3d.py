"""GPU benchmark (issue #15): restore a 100x1024x1024 stack with the CARE default 3D network (depth 2, 32
filters, kernel 3; random weights) through care_bridge's runtime on a GPU, and print the time.

    python benchmarks/gpu_3d.py                      # needs onnxruntime-gpu (CUDA/TensorRT execution providers)
    python benchmarks/gpu_3d.py --bundle care3d.zip  # reuse an exported bundle (export needs the train extra)
    python benchmarks/gpu_3d.py --quick              # 16x128x128 on whatever is there (a smoke run on a CPU)

Target (issue #15): under 1 s on an H100/H200 (the CARE paper: under 20 s on a GTX 1080). Prints the execution
providers actually used, so a CPU fallback cannot pass for a GPU result. Writes
``benchmarks/results/gpu_3d.json``. Not run here: this project's CI machines have no GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CARE_BRIDGE_NO_PROGRESS", "1")
HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, help="a 3D bundle (default: export the CARE default 3D net first)")
    ap.add_argument("--shape", default="100,1024,1024")
    ap.add_argument("--n-tiles", default="auto", help="as for care-bridge predict")
    ap.add_argument("--memory-budget", default="16G", help="per tile; a GPU has room for few, large tiles")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    import numpy as np

    from care_bridge import runtime
    from care_bridge.frontend import parse_memory_budget, parse_n_tiles

    shape = (16, 128, 128) if a.quick else tuple(int(v) for v in a.shape.split(","))
    bundle = a.bundle
    if bundle is None:
        import sys

        sys.path.insert(0, str(HERE))
        from predict_throughput import make_model_dir

        from care_bridge.export import export_bundle

        work = Path(tempfile.mkdtemp(prefix="cb_gpu_"))
        bundle = export_bundle(make_model_dir(work, "ZYX"), work / "care3d.zip", run_core_tests=False)
    r = runtime.load(bundle, engine="onnxruntime")
    x = np.random.default_rng(0).poisson(20, shape).astype(np.float32)
    kw = dict(n_tiles=parse_n_tiles(a.n_tiles), memory_budget=parse_memory_budget(a.memory_budget))
    res = r.restore(x, "ZYX", **kw)  # warm-up: session planning, CUDA context, TensorRT engine build
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        res = r.restore(x, "ZYX", **kw)
        times.append(time.perf_counter() - t0)
    t = float(np.median(times))
    providers = list(getattr(r.engine, "providers", []))
    row = {"shape": list(shape), "seconds": t, "megavoxels_per_s": float(np.prod(shape)) / 1e6 / t,
           "n_tiles": list(res.n_tiles), "providers": providers, "times": times}
    print(f"{'x'.join(map(str, shape))}: {t:.3f} s (median of {a.repeats}), {row['megavoxels_per_s']:.1f} MVox/s, "
          f"tiles {'x'.join(map(str, res.n_tiles))}, providers {providers}")
    if providers and providers[0] == "CPUExecutionProvider":
        print("note: ONNX Runtime ran on the CPU (no CUDA/TensorRT provider in this onnxruntime build)")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "gpu_3d.json").write_text(json.dumps(row, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
