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
    return {"seconds": sorted(times)[len(times) // 2],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_cases(script: str, cases: list[tuple[str, dict]], voxels: float) -> list[dict]:
    """Run ``script --case JSON`` once per case, each in its own process; print one row per case (time, MVox/s
    for ``voxels``, ratio to the first case, peak RSS) and return the rows."""
    rows = []
    for name, case in cases:
        p = subprocess.run([sys.executable, script, "--case", json.dumps(case)], capture_output=True, text=True)
        row = {"program": name, **(json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0
                                   else {"error": p.stderr.strip().splitlines()[-1:]})}
        rows.append(row)
        if "error" in row:
            print(f"{name:<46} ERROR {row['error']}")
            continue
        ratio = rows[0]["seconds"] / row["seconds"] if "seconds" in rows[0] else float("nan")
        print(f"{name:<46} {row['seconds']:7.2f} s  {voxels / 1e6 / row['seconds']:5.2f} MVox/s  "
              f"x{ratio:4.2f} vs {rows[0]['program'].split()[0]}  peak {row['peak_rss_mb']:6.0f} MB")
    return rows
