"""Benchmark of the reliability readouts (issue #10): does the ensemble disagreement D flag out-of-distribution
input, and are the intervals calibrated? Prints a table and writes JSON (``--json``).

    .venv/bin/python benchmarks/reliability.py --json benchmarks/results/reliability.json

The experiment (care_bridge/pipelines/reliability.py): five probabilistic U-Nets trained on simulated filaments
at 20 photons; held-out filaments, an image whose right half holds granules, filaments at 2 photons. No
reference implementation has ensemble disagreement or calibration (CSBDeep has only the probabilistic head), so
the comparison is in-distribution vs out-of-distribution and before vs after recalibration.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

from care_bridge.pipelines.reliability import QUICK, Settings, run, table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--work", type=Path, default=Path("out/bench_reliability"))
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    s = QUICK if args.quick else Settings(members=args.members)
    result = run(args.work / ("quick" if args.quick else f"m{s.members}"), s)
    result["machine"] = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    print(table(result))
    print(f"(ensemble of {s.members} built in {result['build_seconds']:.0f} s on {os.cpu_count()} cores)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
