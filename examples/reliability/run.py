"""Reliability readouts (CARE paper, Fig. 5): an ensemble of five probabilistic networks trained on simulated
filaments, applied to held-out filaments, to an image whose right half holds granules (never seen in training)
and to filaments at a tenth of the photons. Prints the mean disagreement D per case and region, the correlation
of the pixel error with D, and the ECE before/after recalibration; writes the figures next to this file.

    .venv/bin/python examples/reliability/run.py            # ~10 min on 2 cores (five members)
    .venv/bin/python examples/reliability/run.py --quick    # two tiny members, a smoke run (~1 min)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from care_bridge.pipelines.reliability import QUICK, Settings, run, table

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="two tiny members and few steps (a smoke run)")
    p.add_argument("--work", type=Path, default=HERE.parents[1] / "examples" / "out" / "reliability")
    p.add_argument("--figures", type=Path, default=HERE, help="where the PNG figures go (default: next to this file)")
    args = p.parse_args()
    result = run(args.work / ("quick" if args.quick else "full"), QUICK if args.quick else Settings(),
                 figure_dir=args.figures)
    print(table(result))
    print("figures:", ", ".join(Path(f).name for f in result["figures"]))


if __name__ == "__main__":
    main()
