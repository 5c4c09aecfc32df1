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

The patches stream to disk as ``--mode pairs``'s do (:class:`~care_bridge.data.patch_store.PatchFileWriter`): each
generator makes them a source at a time (an input stack read, or a stack or image simulated, when its turn comes;
isotropic's single stack in chunks of patches), so memory holds one source and its patches, not all of them. The
file is the same, bit for bit, as the in-memory generators' arrays (the random draws keep their order: projection
and tubules/granules simulate each source twice for that), and it appears whole at the end; an error on the way
leaves nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CareBridgeError
from .common import int_tuple

if TYPE_CHECKING:
    from ..data.patch_stream import PatchStream

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


def _read_stack(path: Path) -> np.ndarray:
    from ..io import read_image

    x, _ = read_image(path)
    return np.asarray(x)


class _Stacks(Sequence):
    """``n`` stacks made or read one at a time, when the generator comes to them (``load(k)``): one in memory."""

    def __init__(self, n: int, load: Callable[[int], np.ndarray]):
        self._n, self._load = n, load

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, k: int) -> np.ndarray:
        if not 0 <= k < self._n:
            raise IndexError(k)
        return self._load(k)


def _levels(args) -> dict:
    return {"percentiles": tuple(args.percentiles) if args.percentiles else None,
            "percentile_jitter": args.percentile_jitter or 0.0}


def make_mode_stream(args) -> tuple[PatchStream, Callable[[], tuple]]:
    """``args.mode``'s patches as a :class:`~care_bridge.data.patch_stream.PatchStream` (a source, or a chunk, at a time)
    and ``describe()``, which gives ``(config, meta)`` — the network to build and the file's report, with
    ``meta["source_names"]`` naming the sources the batches' integers index — once the stream is exhausted."""
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
        stack = _read_stack(args.input[0])
        axes = args.axes or ("ZYX" if stack.ndim == 3 else "CZYX")
        stream = isotropic.isotropic_data_stream(stack, axes, factor=args.factor, psf=psf, patch_shape=ps,
                                                 n_patches=args.n_patches, seed=seed, threshold=threshold,
                                                 augment=not args.no_augment, **_levels(args))
        return stream, lambda: (
            isotropic.isotropic_config(factor=stream.info["effective_factor"], n_channels=stream.shapes[0][-1]),
            {"description": f"isotropic pairs from {args.input[0].name}", **stream.info})
    if mode == "upsampling":
        _need(args, "factor")
        if args.input:
            stacks = _Stacks(len(args.input), lambda k: _read_stack(args.input[k]))
        else:
            _need(args, "synthetic", "shape")
            stacks = _Stacks(args.synthetic, lambda k: isotropic.synthetic_isotropic_volume(args.shape, seed=seed + k))
        stream = upsampling.upsampling_data_stream(stacks, factor=args.factor, patch_shape=ps,
                                                   n_patches=args.n_patches, seed=seed, threshold=threshold,
                                                   **_levels(args))

        def describe():
            info = dict(stream.info)
            if args.input:
                info["source_names"] = [p.name for p in args.input]
            return upsampling.upsampling_config(factor=args.factor), {"description": "Z-subsampled pairs", **info}

        return stream, describe
    if mode == "projection":
        _need(args, "synthetic", "shape")
        photons = 5.0 if args.photons is None else args.photons
        stream = projection.projection_data_stream(args.synthetic, args.shape, photons=photons, seed=seed,
                                                   **_levels(args))
        keep = ("normalization", "percentiles", "percentile_ranges", "percentile_jitter", "source_names")
        return stream, lambda: (projection.projection_config(),
                                {"description": "simulated epithelia", "photons": photons, "axes_y": "SYXC",
                                 **{k: stream.info[k] for k in keep}})
    if mode in subdiffraction.STRUCTURES:
        _need(args, "synthetic", "shape")
        photons = 50.0 if args.photons is None else args.photons
        stream = subdiffraction.subdiffraction_data_stream(mode, args.synthetic, tuple(args.shape), photons=photons,
                                                           patch_shape=ps, n_patches=args.n_patches, seed=seed,
                                                           augment=not args.no_augment, **_levels(args))
        return stream, lambda: (subdiffraction.subdiffraction_config(mode),
                                {"description": f"simulated {mode}", **stream.info})
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
    """Generate and write the patch file of ``args.mode`` source by source (memory: one source's patches, or one
    chunk of the isotropic stack's); all or nothing: the file appears, whole, once every patch is made."""
    from ..pipelines.common import write_mode_patches

    refuse_unused(args)
    if args.n_patches is None or args.n_patches < 2:
        raise CareBridgeError("--n-patches must be >= 2 (training needs a validation patch)")
    stream, describe = make_mode_stream(args)
    _, meta = write_mode_patches(args.out, stream, describe, overwrite=args.overwrite)
    kept = meta.get("foreground_fraction")
    fg = f" ({np.mean(kept):.0%} of the possible patches pass the foreground filter)" if kept is not None else ""
    (x_shape, y_shape) = stream.shapes
    print(f"{stream.n} {args.mode} patch pairs {x_shape[:-1]} -> {y_shape[:-1]}{fg}; written to {args.out}")
    return 0
