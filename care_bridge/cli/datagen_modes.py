"""``care-bridge datagen --mode {isotropic,upsampling,projection,tubules,granules}``: training patches for the
CARE paper's modes, written to one ``.npz`` patch file whose report names the network to build (mode, axes,
procedure), so ``care-bridge train --data FILE`` trains the right network without further flags.

isotropic   --input STACK.tif [--axes ZYX] --factor F [--psf PSF.tif | --psf-sigma-z S]
upsampling  (--input STACK.tif ... | --synthetic N --shape Z,Y,X) --factor F     (isotropic stacks)
projection  --synthetic N --shape Z,Y,X [--photons P]                            (simulated epithelia)
tubules / granules  --synthetic N --shape Y,X [--photons P]                       (simulated structures)

Every mode normalizes as CARE (each patch by its whole source image's percentiles, levels drawn per patch unless
``--percentiles`` fixes them, ``--percentile-jitter`` with it); ``--threshold`` (CSBDeep's foreground filter)
acts in isotropic and upsampling, ``--no-augment`` in isotropic, tubules and granules; any other option of
``--mode pairs`` is refused with one line. Patch files record each patch's source (image, stack or, for
isotropic, plane), so ``train`` validates on whole held-out sources.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import CareBridgeError
from .common import int_tuple

MODES = ("isotropic", "upsampling", "projection", "tubules", "granules")


def add_mode_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the mode generators (``--out``, ``--patch-shape``, ``--n-patches``, ``--seed`` and
    ``--overwrite`` are shared with ``--mode pairs`` and must already exist on ``parser``)."""
    g = parser.add_argument_group("modes isotropic, upsampling, projection, tubules, granules")
    g.add_argument("--input", type=Path, nargs="+", help="isotropic: the anisotropic stack; upsampling: "
                   "isotropic stack(s) (TIFF)")
    g.add_argument("--factor", type=float, help="isotropic: Z step / lateral pixel size; upsampling: integer factor")
    g.add_argument("--psf", type=Path, help="isotropic: measured PSF (ZYX TIFF, lateral sampling on all axes)")
    g.add_argument("--psf-sigma-z", type=float,
                   help="isotropic: instead of --psf, a Gaussian blur along Z of S lateral pixels")
    g.add_argument("--synthetic", type=int, metavar="N", help="simulate N images/stacks instead of --input")
    g.add_argument("--shape", type=int_tuple, help="size of simulated images, e.g. 16,128,128 or 256,256")
    g.add_argument("--photons", type=float, default=None,
                   help="photons at the brightest pixel of simulated acquisitions (default 5 projection, 50 tubules)")


def _need(args, *names: str) -> None:
    missing = [n for n in names if getattr(args, n.replace("-", "_")) is None]
    if missing:
        raise CareBridgeError(f"--mode {args.mode} needs {', '.join('--' + m for m in missing)}")


def _read_stacks(args) -> list[np.ndarray]:
    from ..io import read_image

    out = []
    for p in args.input:
        x, _ = read_image(p)
        out.append(np.asarray(x))
    return out


def _levels(args) -> dict:
    return {"percentiles": tuple(args.percentiles) if args.percentiles else None,
            "percentile_jitter": args.percentile_jitter or 0.0}


def make_mode_patches(args):
    """(X, Y, config, meta) for ``args.mode``; nothing is written. ``meta["source"]`` (an array, one integer per
    patch) names each patch's source (``meta["source_names"]``)."""
    from ..pipelines import isotropic, projection, subdiffraction, upsampling

    mode, seed = args.mode, args.seed
    ps = tuple(args.patch_shape)
    threshold = 0.4 if args.threshold is None else args.threshold
    if mode == "isotropic":
        _need(args, "input", "factor")
        if len(args.input) != 1:
            raise CareBridgeError("--mode isotropic takes one anisotropic stack (--input STACK.tif)")
        if (args.psf is None) == (args.psf_sigma_z is None):
            raise CareBridgeError("--mode isotropic needs exactly one of --psf or --psf-sigma-z")
        if args.psf is not None:
            from ..data.imaging import load_psf

            psf = load_psf(args.psf, 3)
        else:
            psf = isotropic.axial_kernel(args.psf_sigma_z)
        (stack,) = _read_stacks(args)
        axes = args.axes or ("ZYX" if stack.ndim == 3 else "CZYX")
        X, Y, info = isotropic.make_isotropic_data(stack, axes, factor=args.factor, psf=psf, patch_shape=ps,
                                                   n_patches=args.n_patches, seed=seed, threshold=threshold,
                                                   augment=not args.no_augment, **_levels(args))
        config = isotropic.isotropic_config(factor=info["effective_factor"], n_channels=X.shape[-1])
        return X, Y, config, {"description": f"isotropic pairs from {args.input[0].name}", **info}
    if mode == "upsampling":
        _need(args, "factor")
        if args.input:
            stacks = _read_stacks(args)
        else:
            _need(args, "synthetic", "shape")
            stacks = [isotropic.synthetic_isotropic_volume(args.shape, seed=seed + i) for i in range(args.synthetic)]
        X, Y, info = upsampling.make_upsampling_data(stacks, factor=args.factor, patch_shape=ps,
                                                     n_patches=args.n_patches, seed=seed, threshold=threshold,
                                                     **_levels(args))
        if args.input:
            info["source_names"] = [p.name for p in args.input]
        return X, Y, upsampling.upsampling_config(factor=args.factor), {"description": "Z-subsampled pairs", **info}
    if mode == "projection":
        _need(args, "synthetic", "shape")
        photons = 5.0 if args.photons is None else args.photons
        X, Y, info = projection.make_projection_data(args.synthetic, args.shape, photons=photons, seed=seed,
                                                     **_levels(args))
        info = {k: info[k] for k in ("normalization", "percentiles", "percentile_ranges", "percentile_jitter",
                                     "source", "source_names")}
        return X, Y, projection.projection_config(), {"description": "simulated epithelia", "photons": photons,
                                                      "axes_y": "SYXC", **info}
    if mode in subdiffraction.STRUCTURES:
        _need(args, "synthetic", "shape")
        photons = 50.0 if args.photons is None else args.photons
        X, Y, info = subdiffraction.make_subdiffraction_data(mode, args.synthetic, tuple(args.shape),
                                                             photons=photons, patch_shape=ps,
                                                             n_patches=args.n_patches, seed=seed,
                                                             augment=not args.no_augment, **_levels(args))
        return X, Y, subdiffraction.subdiffraction_config(mode), {"description": f"simulated {mode}", **info}
    raise CareBridgeError(f"unknown mode {mode!r}; choose one of pairs, {', '.join(MODES)}")


# the options of --mode pairs, with their defaults, and the modes whose generators use each of them
PAIRS_OPTIONS = {"low": None, "high": None, "normalization": "image", "percentiles": None,
                 "percentile_jitter": None, "threshold": None, "no_augment": False}
USED_BY = {
    "percentiles": set(MODES), "percentile_jitter": set(MODES),
    "threshold": {"isotropic", "upsampling"},  # CSBDeep's foreground filter of the patches' targets
    "no_augment": {"isotropic", "tubules", "granules"},  # the generators that augment
}


def refuse_unused(args) -> None:
    """Every accepted flag must act: the options of ``--mode pairs`` that ``args.mode``'s generator does not use
    are refused with one line instead of being silently ignored."""
    given = [k for k, default in PAIRS_OPTIONS.items()
             if getattr(args, k, default) != default and args.mode not in USED_BY.get(k, ())]
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise CareBridgeError(f"{flags} {'has' if len(given) == 1 else 'have'} no effect with --mode {args.mode} "
                              f"(its generator normalizes whole images and samples its own patches); remove "
                              f"{'it' if len(given) == 1 else 'them'}")
    if args.percentile_jitter is not None and args.percentiles is None:
        raise CareBridgeError("--percentile-jitter needs --percentiles LOW HIGH (sampled levels vary already)")


def run_mode(args) -> int:
    """Generate and write the patch file of ``args.mode`` (all-or-nothing: written atomically at the end)."""
    from ..pipelines.common import save_mode_patches

    refuse_unused(args)
    if args.n_patches is None or args.n_patches < 2:
        raise CareBridgeError("--n-patches must be >= 2 (training needs a validation patch)")
    X, Y, config, meta = make_mode_patches(args)
    sources = meta.pop("source")
    save_mode_patches(args.out, X, Y, config, meta, overwrite=args.overwrite, sources=sources)
    kept = meta.get("foreground_fraction")
    fg = f" ({np.mean(kept):.0%} of the possible patches pass the foreground filter)" if kept is not None else ""
    print(f"{len(X)} {args.mode} patch pairs {X.shape[1:-1]} -> {Y.shape[1:-1]}{fg}; written to {args.out}")
    return 0
