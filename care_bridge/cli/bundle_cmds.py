"""Sub-commands around bioimage.io bundles: export, validate, inspect, import-csbdeep."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import Command


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", type=Path, help="care_bridge model folder (from 'care-bridge train')")
    p.add_argument("--out", required=True, type=Path, help="bundle to write (.zip)")
    p.add_argument("--author", action="append", dest="authors", metavar="NAME[;GITHUB][;AFFIL][;ORCID]",
                   help="author: a name, optionally with GitHub user, affiliation and ORCID separated by ';' "
                        "(repeat for several; default: 'care_bridge user')")
    p.add_argument("--maintainer", action="append", dest="maintainers", metavar="NAME;GITHUB[;AFFIL][;ORCID]",
                   help="maintainer (who answers questions on bioimage.io; needs a GitHub user; repeatable)")
    p.add_argument("--description", default=None, metavar="TEXT",
                   help="one or two sentences on what the model restores (default: generated from the config)")
    p.add_argument("--tag", action="append", dest="tags", metavar="TAG",
                   help="tag added to care_bridge's own (sample, organism, modality, ...; repeatable)")
    p.add_argument("--cite", action="append", metavar="TEXT;DOI-OR-URL",
                   help="citation added after the CARE paper, e.g. 'Doe et al. 2026;10.5281/zenodo.123' (repeatable)")
    p.add_argument("--git-repo", default=None, metavar="URL", help="code/data repository of this model")
    p.add_argument("--test-image", type=Path, default=None, metavar="TIFF",
                   help="an image from your data (axes of the model, + C): the test tensors and the cover are made "
                        "from its center (at most 256 per axis) instead of a synthetic image")
    p.add_argument("--sample-image", type=Path, default=None, metavar="TIFF",
                   help="an image from your data shown to people: written with the network's output as the rdf's "
                        "sample_tensor (TIFF, center, at most 512 per axis)")
    p.add_argument("--check-zoo", action="store_true",
                   help="after writing, run bioimageio.spec's stricter checks offline and print what a bioimage.io "
                        "curator would ask for, one line each (exit status 1 when something is missing)")
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
    from ..export.metadata import parse_export_metadata

    # every option is checked before anything heavy is imported or run
    meta = parse_export_metadata(
        authors=args.authors, maintainers=args.maintainers, description=args.description, tags=args.tags,
        cite=args.cite, git_repo=args.git_repo, sample_image=args.sample_image, test_image=args.test_image,
    )
    formats = parse_weight_formats(args.weights)
    extra = {"weight_formats": formats} if formats is not None else {}
    extra.update(meta.export_kwargs())
    from ..export import export_bundle

    out = export_bundle(args.model_dir, args.out, overwrite=args.overwrite, license=args.license, **extra)
    print(f"bundle written to {out} (passed bioimageio.core test_model for every weight format)")
    if args.check_zoo:
        return _print_zoo(out)
    return 0


def _print_zoo(bundle) -> int:
    from ..export.zoo import check_zoo

    report = check_zoo(bundle)
    print(report.render())
    return 0 if report.ok else 1


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
    p.add_argument("--zoo", action="store_true",
                   help="run bioimageio.spec's stricter checks offline and print what a bioimage.io curator would "
                        "ask for (maintainers, git repo, sample tensors, cover, ...), one line each; exit 1 if any")


def _validate(args) -> int:
    if args.zoo:
        return _print_zoo(args.bundle)
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
