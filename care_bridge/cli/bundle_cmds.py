"""Sub-commands around bioimage.io bundles: export, validate, inspect, import-csbdeep."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import Command


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", type=Path, help="care_bridge model folder (from 'care-bridge train')")
    p.add_argument("--out", required=True, type=Path, help="bundle to write (.zip)")
    p.add_argument("--author", action="append", dest="authors", metavar="NAME",
                   help="author name (repeat for several; default: the current user)")
    p.add_argument("--license", default="CC-BY-4.0", help="SPDX license id of the weights (default CC-BY-4.0)")
    p.add_argument("--weights", default=None, metavar="LIST",
                   help="weight formats besides Keras (always written), comma-separated: onnx, tensorflow "
                        "(default: both; probabilistic models: onnx). For deepImageJ give --weights onnx: its JDLL "
                        "prefers a TensorFlow SavedModel when there is one and loads it with TF 2.10, which cannot "
                        "read a SavedModel written by TF 2.21")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle")


WEIGHT_NAMES = {"onnx": "onnx", "tensorflow": "tensorflow_saved_model_bundle",
                "tensorflow_saved_model_bundle": "tensorflow_saved_model_bundle", "savedmodel": "tensorflow_saved_model_bundle",
                "keras": "keras_v3", "keras_v3": "keras_v3"}


def parse_weight_formats(text: str | None) -> tuple[str, ...] | None:
    """``--weights onnx,tensorflow`` → bioimage.io weight format names (None: the default set)."""
    from ..errors import CareBridgeError

    if text is None or not text.strip():
        return None
    names = [t.strip().lower() for t in text.replace(" ", ",").split(",") if t.strip()]
    bad = [n for n in names if n not in WEIGHT_NAMES]
    if bad:
        raise CareBridgeError(f"--weights {bad[0]!r} is unknown; choose from onnx, tensorflow (Keras is always written)")
    return tuple(dict.fromkeys(["keras_v3"] + [WEIGHT_NAMES[n] for n in names]))


def _export(args) -> int:
    from ..export import export_bundle

    authors = [{"name": n} for n in args.authors] if args.authors else None
    formats = parse_weight_formats(args.weights)
    extra = {"weight_formats": formats} if formats is not None else {}
    out = export_bundle(args.model_dir, args.out, overwrite=args.overwrite, authors=authors,
                        license=args.license, **extra)
    print(f"bundle written to {out} (passed bioimageio.core test_model for every weight format)")
    return 0


EXPORT = Command(
    "export", "export a model folder as a bioimage.io bundle (.zip)",
    "Write a self-contained bioimage.io model bundle (spec 0.5): ONNX, TensorFlow SavedModel and Keras\n"
    "weights, scale_range preprocessing with the model's percentiles, CARE's output de-normalization under\n"
    "config.care_bridge, tiling (min/step sizes, halo), test tensors, cover, documentation, provenance.\n"
    "The bundle is refused unless bioimageio.core's test_model passes for every weight format.",
    _export_args, _export,
)


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path, help="bundle (.zip or unpacked folder)")
    p.add_argument("--consumer", choices=["care_bridge", "deepimagej"], default="care_bridge",
                   help="'deepimagej': check statically what deepImageJ (Fiji) can run and what it would lose")


def _validate(args) -> int:
    if args.consumer == "deepimagej":
        from ..bundle import open_bundle
        from ..bundle.deepimagej import check_deepimagej, format_deepimagej_report

        with open_bundle(args.bundle) as bundle:  # verifies the files first; the check itself is static
            report = check_deepimagej(bundle.rdf)
        print(format_deepimagej_report(report))
        return 0 if report.ok else 1
    from ..export import validate_bundle

    report = validate_bundle(args.bundle)
    print(report.render())
    return 0 if report.ok else 1


VALIDATE = Command(
    "validate", "check a bundle: schema and reproduction of its test tensors per weight format",
    "Validate a bundle against the bioimage.io schema and reproduce its test output from its test input\n"
    "with every weight format this installation can run; prints a pass/fail table. Exit status 1 on failure.",
    _validate_args, _validate,
)


def _inspect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path, help="bundle (.zip or unpacked folder)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _inspect(args) -> int:
    if args.json:
        from ..bundle import inspect_bundle

        print(json.dumps(inspect_bundle(args.bundle), indent=2, default=str))
    else:
        from ..frontend import describe_bundle_text

        print(describe_bundle_text(args.bundle))
    return 0


INSPECT = Command(
    "inspect", "show what a bundle is: task, axes, sizes, halo, normalization, weights, provenance",
    "Describe a bundle without running it.", _inspect_args, _inspect,
)


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("csbdeep_dir", type=Path, help="CSBDeep model folder (config.json + weights_best.h5)")
    p.add_argument("--out", required=True, type=Path, help="bundle to write (.zip)")
    p.add_argument("--overwrite", action="store_true")


def _import(args) -> int:
    from ..export import import_csbdeep

    out = import_csbdeep(args.csbdeep_dir, args.out, overwrite=args.overwrite)
    print(f"bundle written to {out}")
    return 0


IMPORT_CSBDEEP = Command(
    "import-csbdeep", "convert a CSBDeep (CARE) model folder into a bundle",
    "Convert a model folder written by the CSBDeep package (config.json + weights_best.h5) into a\n"
    "care_bridge bundle that predicts what CSBDeep predicts.",
    _import_args, _import,
)

COMMANDS = [EXPORT, VALIDATE, INSPECT, IMPORT_CSBDEEP]
