"""Resolving sub-diffraction structures (CARE, Weigert et al. 2018, "synthetic" tubules/granules): a 2D
network trained only on simulated pairs — widefield-blurred, noisy acquisitions → the unblurred structures —
and measured against Richardson–Lucy deconvolution (scikit-image) on held-out synthetic images: line-profile
FWHM of single filaments and the contrast between two close parallel filaments. Images are ``"YX"``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import imaging, modes as datamodes, patch_stream
from ..data.patches import normalize_with_image_percentiles, percentile_levels, percentile_meta
from ..data.structures import FWHM_PER_SIGMA
from ..errors import CareBridgeError
from ..models.config import CareConfig
from .common import train_mode

STRUCTURES = ("tubules", "granules")


def subdiffraction_config(structure: str = "tubules", **fields) -> CareConfig:
    """A 2D CARE U-Net configuration for mode ``tubules`` or ``granules``."""
    if structure not in STRUCTURES:
        raise CareBridgeError(f"structure must be one of {', '.join(STRUCTURES)}, got {structure!r}")
    return CareConfig.from_dict({"name": f"care_{structure}", **fields, "mode": structure, "axes": "YX",
                                 "procedure": {"target": "unblurred synthetic structures",
                                               "psf": "care_bridge.data.imaging.default_psf(2)"}},
                                source=f"{structure} settings")


def make_subdiffraction_data(structure: str, n_images: int, shape: tuple[int, int], *, photons: float,
                             patch_shape: tuple[int, int] = (64, 64), n_patches: int = 128, seed: int = 0,
                             psf: np.ndarray | None = None, augment: bool = True,
                             percentiles: tuple[float, float] | None = None, percentile_jitter: float = 0.0):
    """Pairs ``"SYXC"``: ``X`` = patches of the acquisition of the blurred structure, ``Y`` = the same patches
    of the unblurred structure (:func:`care_bridge.data.imaging.synthetic_pair` with ``return_truth``), patch
    ``i`` from image ``i mod n_images`` at a random place, rotated by a random multiple of 90° when ``augment``.
    CARE's normalization, as prediction normalizes a whole image: each patch by the percentiles of its whole
    image (acquisition and truth each by their own), levels drawn per patch from [1, 3] and [99.5, 99.9] unless
    ``percentiles`` fix them. ``info["source"]``: each patch's image. In memory:
    :func:`subdiffraction_data_stream` makes the same pairs an image at a time."""
    stream = subdiffraction_data_stream(structure, n_images, shape, photons=photons, patch_shape=patch_shape,
                                        n_patches=n_patches, seed=seed, psf=psf, augment=augment,
                                        percentiles=percentiles, percentile_jitter=percentile_jitter)
    X, Y, source = stream.collect()
    return X, Y, patch_stream.with_source(stream.info, source)


def subdiffraction_data_stream(structure: str, n_images: int, shape: tuple[int, int], *, photons: float,
                               patch_shape: tuple[int, int] = (64, 64), n_patches: int = 128, seed: int = 0,
                               psf: np.ndarray | None = None, augment: bool = True,
                               percentiles: tuple[float, float] | None = None,
                               percentile_jitter: float = 0.0) -> patch_stream.PatchStream:
    """The pairs of :func:`make_subdiffraction_data` (the same, bit for bit) as a
    :class:`~care_bridge.data.patch_stream.PatchStream` of one image's patches per batch: memory holds one image and
    its patches.

    The draws come in this order: all the images, then each patch's place and rotation, then the normalization
    levels. So the images are simulated twice: once to advance the generator to the patches' draws (its state
    before each image is kept, a few bytes), then each again from its state when its patches are cut."""
    if structure not in STRUCTURES:
        raise CareBridgeError(f"structure must be one of {', '.join(STRUCTURES)}, got {structure!r}")
    if n_images < 1 or n_patches < 1:
        raise CareBridgeError("n_images and n_patches must be >= 1")
    if psf is not None:
        psf = imaging.load_psf(psf, 2)
    ph, pw = patch_shape
    if shape[0] < ph or shape[1] < pw:
        raise CareBridgeError(f"images {shape} are smaller than the patch {patch_shape}; use a smaller patch")
    rng = np.random.default_rng(seed)

    def simulate(g: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        low, _, truth = imaging.synthetic_pair(shape, photons=photons, rng=g, structure=structure, psf=psf,
                                               return_truth=True)
        return np.asarray(low, np.float32), np.asarray(truth, np.float32)

    states = []
    for _ in range(n_images):
        states.append(rng.bit_generator.state)
        simulate(rng)
    places = np.empty((n_patches, 3), np.int64)  # y0, x0, quarter turns
    for i in range(n_patches):
        y0, x0 = int(rng.integers(0, shape[0] - ph + 1)), int(rng.integers(0, shape[1] - pw + 1))
        places[i] = y0, x0, int(rng.integers(4)) if augment else 0
    low_p, high_p = percentiles if percentiles is not None else (None, None)
    levels = percentile_levels(n_patches, rng, low=low_p, high=high_p, jitter=percentile_jitter)
    info = {"axes": "SYXC", "structure": structure, "photons": photons, "augment": bool(augment),
            "normalization": "image", **percentile_meta(low_p, high_p, percentile_jitter),
            "source_names": [f"image {j}" for j in range(n_images)]}

    def batches():
        for j in range(min(n_images, n_patches)):  # patch i is image i mod n_images's
            lo, gt = simulate(patch_stream.generator_at(rng, states[j]))
            rows = np.arange(j, n_patches, n_images)
            X = np.empty((len(rows), ph, pw, 1), np.float32)
            Y = np.empty_like(X)
            for r, (y0, x0, k) in enumerate(places[rows]):
                X[r, ..., 0] = np.rot90(lo[y0 : y0 + ph, x0 : x0 + pw], k)
                Y[r, ..., 0] = np.rot90(gt[y0 : y0 + ph, x0 : x0 + pw], k)
            normalize_with_image_percentiles(X, Y, lo[..., None], gt[..., None], levels[rows])
            yield patch_stream.PatchBatch(rows, X, Y, j)
            del lo, gt, X, Y  # before the next image is simulated

    return patch_stream.PatchStream(n_patches, batches(), info)


def train_subdiffraction(structure: str, out_dir: str | Path, *, n_images: int = 8, shape=(128, 128),
                         photons: float = 50.0, patch_shape=(64, 64), n_patches: int = 128, seed: int = 0,
                         progress: bool = False, **fields):
    """Simulate data and train a ``tubules``/``granules`` network into ``out_dir`` (whole images held out for
    validation)."""
    X, Y, info = make_subdiffraction_data(structure, n_images, shape, photons=photons, patch_shape=patch_shape,
                                          n_patches=n_patches, seed=seed)
    return train_mode(subdiffraction_config(structure, seed=seed, **fields), X, Y, out_dir, progress=progress,
                      sources=info["source"], data_meta={"mode": structure, "photons": photons, "n_images": n_images})


def line_pair_truth(shape: tuple[int, int], *, separation_px: float, width_px: float = 2.0,
                    single_at: float | None = None) -> tuple[np.ndarray, dict]:
    """A held-out test structure ``"YX"``: two vertical filaments ``separation_px`` apart (columns ``c`` and
    ``c + separation_px`` around the left third) and one isolated filament (right third), each with a
    Gaussian cross-section of FWHM ``width_px`` and peak 1. Returns the image and the columns."""
    h, w = shape
    c1 = w / 3.0 - separation_px / 2
    c2 = c1 + separation_px
    c3 = single_at if single_at is not None else 2 * w / 3.0
    sigma = width_px / FWHM_PER_SIGMA
    cols = np.arange(w, dtype=np.float64)
    prof = sum(np.exp(-0.5 * ((cols - c) / sigma) ** 2) for c in (c1, c2, c3))
    img = np.broadcast_to(prof, (h, w)).astype(np.float32)
    return img.copy(), {"pair": (c1, c2), "single": c3}


def acquire_test_image(truth: np.ndarray, *, photons: float, seed: int = 0, psf: np.ndarray | None = None):
    """Blur by the widefield PSF and acquire (Poisson + read noise + offset), as the training data."""
    psf = imaging.default_psf(2, limit=truth.shape) if psf is None else psf
    return imaging.acquire(imaging.blur(truth, psf), photons=photons, read_noise_e=1.5, offset_adu=100.0,
                           background_photons=0.5, rng=np.random.default_rng(seed))


def resolution_metrics(image: np.ndarray, cols: dict, *, rows: slice | None = None, line_width: int = 5) -> dict:
    """Resolution of a restored :func:`line_pair_truth` image, measured on line profiles across the filaments
    ``line_width`` rows wide (as one draws a wide line in ImageJ): the median over the profiles of the
    central half of the rows (default) of the FWHM (px)
    across the isolated filament and of the two-line contrast ratio across the pair (1 = merged, 0 = fully
    separated; resolved below 0.735). Rows whose profile cannot be measured count as unresolved/infinite."""
    from ..evaluate.resolution import RAYLEIGH_DIP, fwhm_of_profile, two_line_contrast

    img = np.asarray(image, np.float64)
    rows = rows or slice(img.shape[0] // 4, 3 * img.shape[0] // 4)
    c1, c2 = cols["pair"]
    c3 = cols["single"]
    lo, hi = int(c3 - 8), int(c3 + 9)
    fwhms, ratios = [], []
    block = img[rows]
    n = block.shape[0] // line_width
    if n < 1:
        raise CareBridgeError(f"image has fewer than {line_width} rows to measure; use a taller test image")
    for prof in block[: n * line_width].reshape(n, line_width, -1).mean(axis=1):
        base = float(np.percentile(prof, 5))
        try:
            fwhms.append(fwhm_of_profile(prof[lo:hi] - base))
        except CareBridgeError:
            fwhms.append(np.inf)
        try:
            ratios.append(two_line_contrast(prof, (c1, c2), baseline=base, search_px=1).ratio)
        except CareBridgeError:
            ratios.append(np.inf)
    ratio = float(np.median(ratios))
    return {"fwhm_px": float(np.median(fwhms)), "two_line_ratio": ratio, "resolved": ratio < RAYLEIGH_DIP}


def richardson_lucy(image: np.ndarray, *, num_iter: int = 30, psf: np.ndarray | None = None,
                    offset_adu: float = 100.0) -> np.ndarray:
    """The baseline: offset-subtracted Richardson–Lucy with the same PSF that blurred the data."""
    from ..evaluate.resolution import richardson_lucy_baseline

    psf = imaging.default_psf(2, limit=image.shape) if psf is None else psf
    return richardson_lucy_baseline(np.asarray(image, np.float32) - offset_adu, psf, num_iter=num_iter)
