"""Sub-commands of the CARE core: datagen, train, predict, evaluate."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import CareBridgeError
from .common import Command, int_tuple


# ---------------------------------------------------------------------------------------------- datagen
def _datagen_args(p: argparse.ArgumentParser) -> None:
    from .datagen_modes import MODES, add_mode_arguments

    p.add_argument("--mode", default="pairs", choices=["pairs", *MODES],
                   help="how training data is made: 'pairs' = registered low/high-SNR TIFF pairs (default); "
                        "isotropic/upsampling/projection/tubules/granules: the paper's other modes (see below)")
    p.add_argument("--low", type=Path, help="folder of low-SNR (input) TIFFs (mode pairs)")
    p.add_argument("--high", type=Path, help="folder of high-SNR (target) TIFFs, same file names (mode pairs)")
    p.add_argument("--axes", help="axes of the raw images, e.g. YX, ZYX, CYX, CZYX")
    p.add_argument("--patch-shape", required=True, type=int_tuple,
                   help="patch size per spatial axis, e.g. 64,64 or 16,64,64 (multiples of 4 for the default net)")
    p.add_argument("--n-patches", required=True, type=int, help="patches to sample per image")
    p.add_argument("--out", required=True, type=Path, help="output patch file (.npz)")
    p.add_argument("--normalization", choices=["image", "patch"], default="image",
                   help="image (default, CARE): each patch is normalized with the percentiles of its whole source "
                        "image (input and target each by their own), as prediction normalizes a whole image; "
                        "patch: each patch by its own percentiles (departs from CARE)")
    p.add_argument("--percentiles", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="fixed normalization percentiles (default: drawn per patch from [1, 3] and [99.5, 99.9], "
                        "as CSBDeep does; with --normalization patch: 2 99.8)")
    p.add_argument("--percentile-jitter", type=float, default=None,
                   help="with --percentiles: random jitter of the low percentile (+-J, the high one +-J/4) per patch")
    p.add_argument("--threshold", type=float, default=None,
                   help="foreground threshold: fraction of the 99.9th percentile the max-filtered target must reach "
                        "(default 0.4)")
    p.add_argument("--no-augment", action="store_true", help="no random flips/90-degree rotations in YX")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_mode_arguments(p)


def _datagen(args) -> int:
    if args.mode != "pairs":
        from .datagen_modes import run_mode

        return run_mode(args)
    if args.percentile_jitter is not None and args.percentiles is None:
        raise CareBridgeError("--percentile-jitter needs --percentiles LOW HIGH (sampled levels vary already)")
    missing = [f"--{n}" for n in ("low", "high", "axes") if getattr(args, n) is None]
    if missing:
        raise CareBridgeError(f"--mode pairs needs {', '.join(missing)}; give the two folders and their axes")
    from ..data.pairs import iter_pairs
    from ..data.patches import create_patches

    rep = create_patches(
        iter_pairs(args.low, args.high, args.axes), args.axes, args.patch_shape, args.n_patches, args.out,
        seed=args.seed, augment_flips=not args.no_augment,
        percentile_low=args.percentiles[0] if args.percentiles else None,
        percentile_high=args.percentiles[1] if args.percentiles else None,
        percentile_jitter=args.percentile_jitter or 0.0, normalization=args.normalization,
        threshold=0.4 if args.threshold is None else args.threshold, overwrite=args.overwrite,
        description=f"registered pairs from {args.low.name}/ and {args.high.name}/",
    )
    print(f"{rep.summary()}; written to {args.out}")
    return 0


DATAGEN = Command(
    "datagen", "make training patches from registered low/high-SNR image pairs",
    "Sample normalized training patches from two folders of registered TIFFs matched by file name.\n"
    "Patches are biased away from empty background, optionally flipped/rotated, normalized with the\n"
    "percentiles of their whole source image (CARE), and written (float32, uncompressed, so that 'train'\n"
    "memory-maps it) to one .npz file, image by image: memory holds one image's patches, the file appears\n"
    "whole at the end (its parts wait beside it as hidden files).\n"
    "Options that a --mode other than pairs does not use are refused. Reports how many candidate\n"
    "patches were rejected as background.",
    _datagen_args, _datagen,
)


# ------------------------------------------------------------------------------------------------ train
def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path,
                   help="patch file from 'care-bridge datagen' (.npz; read from disk batch by batch)")
    p.add_argument("--out", required=True, type=Path, help="model folder to create (or to continue with --resume)")
    p.add_argument("--epochs", type=int, help="number of epochs (default 100)")
    p.add_argument("--steps-per-epoch", type=int, help="batches per epoch (default 400)")
    p.add_argument("--batch-size", type=int, help="patches per batch (default 16)")
    p.add_argument("--learning-rate", type=float, help="Adam learning rate (default 4e-4)")
    p.add_argument("--probabilistic", action="store_true",
                   help="predict a per-pixel Laplace distribution (mean and scale), trained with its NLL")
    p.add_argument("--loss", choices=["mae", "mse", "laplace"], help="default mae (laplace when probabilistic)")
    p.add_argument("--depth", type=int, dest="unet_depth", help="U-Net depth (default 2)")
    p.add_argument("--filters", type=int, dest="unet_n_first", help="filters of the first level (default 32)")
    p.add_argument("--kernel-size", type=int, dest="unet_kern_size", help="default 5 in 2D, 3 in 3D")
    p.add_argument("--early-stopping", type=int, dest="early_stopping_patience", metavar="PATIENCE",
                   help="stop when the validation loss has not improved for PATIENCE epochs")
    p.add_argument("--validation-fraction", type=float, default=None,
                   help="share of the patches held out for validation (default 0.1; with --validation-split source "
                        "the whole sources closest to it, at least one)")
    p.add_argument("--validation-split", choices=["source", "patch"], default=None,
                   help="which patches validate (the validation loss drives early stopping, the learning-rate "
                        "schedule and the best checkpoint): source (default) holds out whole source images (for "
                        "isotropic data, whole planes), so no validation patch shares a pixel with a training patch "
                        "and the loss measures how the model does on images it never saw; patch holds out random "
                        "patches, which may overlap training patches cut from the same images, so the loss is "
                        "optimistic. "
                        "Use patch only when the file has one or two sources and a whole held-out image would take "
                        "too much of the data (with one source, source falls back to patch). An ensemble's members "
                        "share the split; --resume keeps the run's split and refuses another")
    p.add_argument("--seed", type=int, help="seed of weight initialization, shuffling and the validation split "
                   "(default 0); train with several seeds to know the noise before comparing models")
    p.add_argument("--precision", default=None, metavar="PREC",
                   help="arithmetic of training: fp32 (default) or bf16 (opt-in mixed precision: the U-Net body "
                        "computes in bfloat16, the weights, the output head and the loss stay float32; needs a CPU "
                        "with bf16 instructions, AVX512_BF16 or AMX, or a GPU; measured 4-5x the steps/s of fp32 "
                        "on such a CPU with the same restoration quality within seed noise, README: Training "
                        "speed). The exported bundle is float32 either way; --resume may change it")
    p.add_argument("--name", help="model name (default: the output folder's name)")
    p.add_argument("--ensemble", nargs="?", const=5, type=int, metavar="M",
                   help="train a deep ensemble of M probabilistic members (default 5) on the same data in different "
                        "random orders: member k uses seed SEED + k, all hold out the same validation patches")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint, "
                   "with the patch order where it stopped and the same validation patches (an ensemble: finished "
                   "members are skipped)")
    p.add_argument("--quiet", action="store_true", help="no progress display")


def _train(args) -> int:
    from ..frontend.options import parse_training_precision
    from ..models.ensemble import is_ensemble_folder
    from ..train import train_ensemble, train_from_patch_file

    overrides = {k: getattr(args, k) for k in ("epochs", "steps_per_epoch", "batch_size", "learning_rate",
                                                "loss", "unet_depth", "unet_n_first", "unet_kern_size",
                                                "early_stopping_patience", "seed")}
    if args.precision is not None:
        overrides["precision"] = parse_training_precision(args.precision)
    if not args.resume:
        overrides["probabilistic"] = args.probabilistic or None
        overrides["name"] = args.name or args.out.name
    t0 = time.time()
    if args.ensemble is not None or (args.resume and is_ensemble_folder(args.out)):
        ens = train_ensemble(args.data, args.out, members=args.ensemble, validation_fraction=args.validation_fraction,
                             validation_split=args.validation_split, resume=args.resume, progress=not args.quiet,
                             **overrides)
        done = "; ".join(f"{m}: {r.epochs_run} epochs, best validation loss {r.best_val_loss:.4g}"
                         for m, r in ens.trained.items())
        skipped = f"; already finished: {', '.join(ens.skipped)}" if ens.skipped else ""
        if not ens.trained:
            print(f"all {len(ens.members)} ensemble members in {ens.model_dir} had finished; nothing to train (give "
                  "more --epochs to train them longer)")
            return 0
        print(f"trained {len(ens.trained)} of {len(ens.members)} ensemble members in {time.time() - t0:.0f} s "
              f"({done}{skipped}); ensemble in {ens.model_dir}")
        return 0
    res = train_from_patch_file(args.data, args.out, validation_fraction=args.validation_fraction,
                                validation_split=args.validation_split, resume=args.resume, progress=not args.quiet,
                                **overrides)
    print(f"trained {res.epochs_run} epochs in {time.time() - t0:.0f} s: loss {res.final_loss:.4g}, "
          f"validation loss {res.final_val_loss:.4g} (best {res.best_val_loss:.4g}); model in {res.model_dir}")
    return 0


TRAIN = Command(
    "train", "train a CARE network on a patch file",
    "Train a U-Net (2D or 3D, from the patches' axes) with Adam, learning-rate reduction on plateau and\n"
    "optional early stopping. The model folder receives config.yaml, the best and last weights,\n"
    "history.csv, training_curve.png, provenance.json and resumable state (--resume continues).\n"
    "The patch file is memory-mapped and read one batch at a time (each pass over the patches in a random\n"
    "order fixed by --seed), so it may be larger than the memory; older compressed files are loaded whole.\n"
    "--ensemble M trains a deep ensemble (CARE's reliability analysis; Lakshminarayanan et al. 2017): OUT\n"
    "gets ensemble.yaml and M probabilistic model folders member_00/ ... (seeds SEED + k, one validation\n"
    "split); 'care-bridge export OUT' writes them as one bundle.",
    _train_args, _train,
)


# ---------------------------------------------------------------------------------------------- predict
def _predict_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--bundle", type=Path, help="bioimage.io bundle (.zip or unpacked folder)")
    src.add_argument("--model", type=Path, help="care_bridge model folder (runs in Keras)")
    p.add_argument("--input", required=True, help="TIFF file, folder of TIFFs, or glob pattern (quote it)")
    p.add_argument("--output", required=True, type=Path,
                   help="output TIFF (one input) or output folder (several inputs; same file names plus --suffix)")
    p.add_argument("--axes", help="axes of the input, e.g. YX, ZYX, CYX, TZYX (default: from the file/model)")
    p.add_argument("--n-tiles", default=None, metavar="TILES",
                   help="tiles per spatial axis: 'auto' (default: from --memory-budget), 'none' (one tile), one "
                        "number spread over Y and X (4 = 2x2), or one per axis: 2,2 / 1,4,4 / '2 2'. Isotropic "
                        "models count the stack's Z,Y,X")
    p.add_argument("--memory-budget", default=None, metavar="SIZE",
                   help="working memory of the whole restoration, e.g. 512M, 2G: the image, its outputs and the "
                        "tiles, which get what is left (an image that cannot fit is refused before it is decoded). "
                        "Default: tiles get 512M and the image must fit in the available memory")
    p.add_argument("--engine", default="auto", help="inference engine for bundles: auto (the fastest available "
                   "here), onnxruntime, tensorflow, openvino (pip install 'care_bridge[openvino]')")
    p.add_argument("--precision", default="fp32", metavar="PREC",
                   help="arithmetic of the network: fp32 (default), bf16 "
                        "(opt-in, OpenVINO on a CPU with bf16 instructions, e.g. AVX512_BF16/AMX: several times "
                        "faster; the output moves by up to 1e-2 of its range, measured 6e-3; README: Performance), "
                        "fp16 (opt-in, a GPU). With --engine auto, bf16/fp16 pick OpenVINO")
    p.add_argument("--suffix", default="", help="added to output file names in an output folder, e.g. --suffix=-CARE (default: none)")
    p.add_argument("--readouts", default="", metavar="LIST",
                   help="reliability readouts of a probabilistic or ensemble model, comma-separated: std (predictive "
                        "standard deviation), disagreement (ensemble disagreement D in [0, 1]), interval (central "
                        "interval bounds at --level), samples (--n-samples draws per pixel as a time series, plus a "
                        "GIF preview). Written beside each output: OUT_std.tif, OUT_disagreement.tif, "
                        "OUT_lower90.tif/OUT_upper90.tif, OUT_samples.tif/.gif")
    p.add_argument("--level", default=None, help="level of the central interval: 0.9 (default), 0.95, 90%%")
    p.add_argument("--n-samples", default=None, help="draws per pixel for --readouts samples (default 16)")
    p.add_argument("--planewise", nargs="?", const="true", default="false", metavar="BOOL",
                   help="run a 2D model on every Z plane of a stack (each plane normalized on its own); the output "
                        "keeps the stack's Z axis and calibration (--planewise alone means true)")
    p.add_argument("--channels", default=None, metavar="LIST",
                   help="run a single-channel model on each of these channels of a multi-channel image, e.g. 0,2 "
                        "(numbered from 0); the output holds the restored channels in this order, with their names")
    p.add_argument("--output-format", default="auto", metavar="FORMAT",
                   help="auto (default: as the input, OME-TIFF in gives OME-TIFF out, other TIFFs an ImageJ "
                        "hyperstack), imagej, ome-tiff. Pixel sizes, unit, time interval, channel names and ImageJ "
                        "Info/labels are carried over, pixel sizes rescaled by the mode's geometry")
    p.add_argument("--dtype", default="float32",
                   help="pixel type of the restoration: float32 (default) or input (the input's type; integers are "
                        "rounded half to even and clipped to the type's range). Scales and readouts stay float32")
    p.add_argument("--stream", action="store_true",
                   help="restore frame by frame (memory bounded by one time point, same result): automatic for "
                        "OME-Zarr in or out, with --workers/--dask/--resume, and for a time-lapse that does not fit "
                        "in memory. Frames collect in a hidden .OUT.partial.zarr beside the output")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted frame-by-frame run from its partial result (frames already done "
                        "are not recomputed)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="spread the frames over a local Dask cluster of N worker processes "
                        "(pip install 'care_bridge[dask]')")
    p.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="spread the frames over a running dask.distributed scheduler, e.g. tcp://10.0.0.5:8786 "
                        "(workers must see the bundle, input and output at the same paths; docs/DISTRIBUTED.md)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _predict(args) -> int:
    from ..frontend import expand_inputs, load_restorer, restore_file, restore_files, restore_options
    from ..frontend.jobs import FileResult

    options = restore_options({"engine": args.engine, "precision": args.precision, "n_tiles": args.n_tiles,
                               "memory_budget": args.memory_budget,
                               "axes": args.axes, "overwrite": args.overwrite, "suffix": args.suffix,
                               "readouts": args.readouts, "level": args.level, "n_samples": args.n_samples,
                               "planewise": args.planewise, "channels": args.channels,
                               "output_format": args.output_format, "dtype": args.dtype})
    r = load_restorer(args.bundle or args.model, "auto" if args.model else options.engine, options.precision)
    inputs = expand_inputs(args.input)
    show = not args.quiet and sys.stderr.isatty()

    def report(fr) -> None:
        if not isinstance(fr, FileResult):
            print(f"care-bridge: error: {fr.input.name}: {fr.message}", file=sys.stderr)
        elif not args.quiet:
            more = ([fr.scale_output] if fr.scale_output else []) + list(fr.readout_outputs)
            extra = f" (+ {', '.join(p.name for p in more)})" if more else ""
            prec = "" if options.precision == "fp32" else f" {options.precision}"
            print(f"{fr.input} -> {fr.output}{extra}  [engine {fr.restoration.engine}{prec}, tiles "
                  f"{'x'.join(map(str, fr.restoration.n_tiles))}, {fr.seconds:.2f} s]")

    from ..io.frames import is_zarr

    if len(inputs) == 1 and (not Path(args.input).is_dir() or is_zarr(args.input)):
        if args.output.is_dir() and not is_zarr(args.output):
            raise CareBridgeError(f"output {args.output} is a folder; give an output file for one input")
        if args.workers is not None and args.workers < 1:
            raise CareBridgeError(f"--workers {args.workers}: give at least 1 worker process")
        report(restore_file(r, inputs[0], args.output, options, progress=show, stream=args.stream,
                            workers=args.workers, scheduler=args.dask, resume=args.resume))
        return 0
    if args.stream or args.resume or args.workers or args.dask:
        raise CareBridgeError("--stream, --resume, --workers and --dask restore one image (a time-lapse) at a time; "
                              "give one input file")
    results = restore_files(r, inputs, args.output, options, progress=show, on_result=report)
    failed = sum(not isinstance(x, FileResult) for x in results)
    if failed:
        print(f"care-bridge: {failed} of {len(inputs)} input(s) failed", file=sys.stderr)
        return 1
    return 0


PREDICT = Command(
    "predict", "restore images with a bundle or a model folder",
    "Restore TIFF images: percentile-normalize (statistics of the whole image), predict tile by tile with a\n"
    "halo covering the network's receptive field, stitch, and map back to the input's intensity range.\n"
    "Tiled and untiled results are identical. Output: float32 ImageJ TIFF calibrated from the input and the\n"
    "mode's geometry (isotropic x4 of a 0.8 um Z step: 0.2 um); probabilistic models also write OUT_scale.tif\n"
    "(the per-pixel Laplace scale). --readouts adds the paper's reliability readouts (ensembles: the\n"
    "disagreement D; any probabilistic model: std, interval bounds, samples); tiled or not, they are identical.\n"
    "A folder of inputs gives a folder of outputs with the same names (plus --suffix); a file that fails is\n"
    "reported and the others go on (exit status 1).",
    _predict_args, _predict,
)


# --------------------------------------------------------------------------------------------- evaluate
def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prediction", required=True, type=Path, nargs="+", help="restored image(s) (TIFF)")
    p.add_argument("--target", required=True, type=Path, help="ground-truth (high-SNR) image (TIFF)")
    p.add_argument("--baselines", action="store_true",
                   help="also score Gaussian, median and non-local-means filtering of the first prediction file")


def _evaluate(args) -> int:
    from ..evaluate import scores
    from ..evaluate.baselines import BASELINES
    from ..io import read_image

    gt, _ = read_image(args.target)
    rows = []
    for p in args.prediction:
        x, _ = read_image(p)
        rows.append((p.name, scores(x, gt)))
    if args.baselines:
        x, _ = read_image(args.prediction[0])
        for name, fn in BASELINES.items():
            rows.append((f"{name}({args.prediction[0].name})", scores(fn(x), gt)))
    w = max(len(n) for n, _ in rows)
    print(f"{'image':<{w}}  {'NRMSE':>8}  {'PSNR/dB':>8}  {'SSIM':>7}")
    for n, s in rows:
        print(f"{n:<{w}}  {s.nrmse:8.4f}  {s.psnr:8.2f}  {s.ssim:7.4f}")
    return 0


EVALUATE = Command(
    "evaluate", "NRMSE, PSNR and SSIM against a ground truth (CARE paper normalization)",
    "Score predictions against a ground truth as in the CARE paper: the ground truth is normalized by its\n"
    "0.1/99.9 percentiles, each prediction is affinely rescaled to it (least squares), then NRMSE, PSNR\n"
    "(data range 1) and SSIM are computed.",
    _evaluate_args, _evaluate,
)
