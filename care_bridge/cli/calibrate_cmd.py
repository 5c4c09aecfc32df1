"""``care-bridge calibrate``: reliability curve, ECE and a recalibrated bundle from held-out pairs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import Command


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, type=Path, help="probabilistic or ensemble bundle (.zip)")
    p.add_argument("--low", required=True, type=Path, help="folder of held-out low-SNR (input) TIFFs")
    p.add_argument("--high", required=True, type=Path,
                   help="folder of the matching high-SNR (ground-truth) TIFFs, same file names; on the output's grid")
    p.add_argument("--axes", help="axes of the images if the files do not say (the network's axes, + C)")
    p.add_argument("--report", type=Path, default=None,
                   help="folder for calibration.png (the reliability diagram) and calibration.json "
                        "(default: beside --out, else ./calibration)")
    p.add_argument("--out", type=Path, default=None,
                   help="write a recalibrated copy of the bundle here (.zip): the fitted factor on every Laplace "
                        "scale, applied by every front end")
    p.add_argument("--n-tiles", default=None, metavar="TILES", help="tiles per spatial axis, as for predict")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out bundle")
    p.add_argument("--quiet", action="store_true", help="print only the summary line")


def _run(args) -> int:
    from ..export.recalibrate import calibrate, write_recalibrated_bundle, write_report
    from ..frontend import load_restorer, parse_n_tiles
    from ..io.atomic import check_output_path

    if args.out is not None:  # a bad output is named before minutes of prediction
        check_output_path(args.out, overwrite=args.overwrite)
    restorer = load_restorer(args.bundle)
    report, _ = calibrate(restorer, args.low, args.high, axes=args.axes, n_tiles=parse_n_tiles(args.n_tiles),
                          progress=not args.quiet and sys.stderr.isatty())
    folder = args.report or (args.out.with_suffix("").with_name(args.out.stem + "_calibration") if args.out
                             else Path("calibration"))
    files = write_report(report, folder)
    if not args.quiet:
        print(f"{'level':>6}  {'before':>7}  {'after':>7}")
        for lv, b, a in zip(report.levels, report.coverage_before, report.coverage_after):
            print(f"{lv:6.2f}  {b:7.3f}  {a:7.3f}")
    print(report.summary() + f"; report in {folder}")
    if args.out is not None:
        write_recalibrated_bundle(args.bundle, args.out, report, files, overwrite=args.overwrite)
        print(f"recalibrated bundle: {args.out} (config.care_bridge.calibration.factor {report.total_factor:.4g})")
    return 0


CALIBRATE = Command(
    "calibrate", "reliability curve and ECE on held-out pairs; write a recalibrated bundle",
    "Check how well a probabilistic or ensemble bundle's uncertainty matches reality on held-out pairs\n"
    "(Kuleshov et al. 2018; CARE paper Fig. 5): for each nominal level p, the fraction of ground-truth pixels\n"
    "inside the predicted central p-interval (a calibrated model gives p), and the expected calibration error\n"
    "(ECE: the mean |coverage - p| over p = 0.05 ... 0.95). Then fit one factor on every Laplace scale that\n"
    "minimises the ECE, plot the curve before and after (calibration.png, calibration.json), and with --out\n"
    "write a copy of the bundle that stores the factor: predict, Fiji and KNIME apply it to std, intervals and\n"
    "samples. The ground truth is compared in the network's units (normalized with the model's percentiles).",
    _args, _run,
)
