"""What the side-by-side benchmarks share: timing one program on one input (in its own subprocess) and the table
that compares every program with the first (the reference)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def time_calls(predict, shape: tuple[int, ...], repeats: int) -> dict:
    """Median time of ``predict(x)`` on a fixed Poisson image of ``shape`` after one warm-up call, and the
    process's peak RSS."""
    import numpy as np

    x = np.random.default_rng(0).poisson(20, shape).astype(np.float32)
    predict(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predict(x)
        times.append(time.perf_counter() - t0)
    return {"seconds": sorted(times)[len(times) // 2], "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory (MB). Linux: ``VmHWM`` of this address space — ``ru_maxrss`` is
    carried over ``execve``, so a case's subprocess would report its parent's peak (here the parent that built
    the TensorFlow model, 1.6 GB) whenever that is higher."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sgemm_ceiling_gflops(n: int = 4096, repeats: int = 3) -> float:
    """This machine's practical float32 ceiling (GFLOP/s): the best of ``repeats`` numpy ``n x n`` matmuls on all
    cores (numpy's BLAS), run in a fresh process so no other framework's threads compete."""
    code = ("import numpy as np,time;a=np.random.rand(%d,%d).astype(np.float32);b=a.copy();a@b;t=[]\n"
            "for _ in range(%d):\n s=time.perf_counter();a@b;t.append(time.perf_counter()-s)\n"
            "print(2*%d**3/min(t)/1e9)") % (n, n, repeats, n)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(p.stdout.strip())


def run_cases(script: str, cases: list[tuple[str, dict]], voxels: float,
              flops_per_voxel: float | None = None, ceiling_gflops: float | None = None) -> list[dict]:
    """Run ``script --case JSON`` once per case, each in its own process; print one row per case (time, MVox/s
    for ``voxels``, GFLOP/s when ``flops_per_voxel`` is given and its fraction of ``ceiling_gflops``
    (:func:`sgemm_ceiling_gflops`), ratio to the first case that ran, peak RSS) and return the rows."""
    rows = []
    for name, case in cases:
        p = subprocess.run([sys.executable, script, "--case", json.dumps(case)], capture_output=True, text=True)
        row = {"program": name, **(json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0
                                   else {"error": p.stderr.strip().splitlines()[-1:]})}
        rows.append(row)
        if "error" in row:
            print(f"{name:<46} ERROR {row['error']}")
            continue
        ref = next(r for r in rows if "seconds" in r)  # the first case that ran (csbdeep untiled may not fit)
        ratio = ref["seconds"] / row["seconds"]
        row["megavoxels_per_s"] = voxels / 1e6 / row["seconds"]
        row["ratio_to_first"], row["ratio_to"] = ratio, ref["program"]
        gflops = ""
        if flops_per_voxel:
            row["gflops_per_s"] = flops_per_voxel * voxels / row["seconds"] / 1e9
            gflops = f"{row['gflops_per_s']:6.1f} GFLOP/s  "
            if ceiling_gflops:
                row["fraction_of_sgemm"] = row["gflops_per_s"] / ceiling_gflops
                gflops += f"{100 * row['fraction_of_sgemm']:4.0f}% sgemm  "
        print(f"{name:<46} {row['seconds']:7.2f} s  {row['megavoxels_per_s']:5.2f} MVox/s  {gflops}"
              f"x{ratio:4.2f} vs {ref['program'].split()[0]}  peak {row['peak_rss_mb']:6.0f} MB", flush=True)
    return rows
