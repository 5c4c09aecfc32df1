"""Isotropic reconstruction (CARE, Weigert et al. 2018): a 2D network learns, from the lateral slices of an
anisotropic stack, to undo the axial blur and Z subsampling; the runtime applies it to XZ and YZ slices of
the Z-upsampled stack and combines both (:mod:`care_bridge.runtime.procedures`).

Stacks are ``"ZYX"`` or ``"CZYX"``; ``factor`` = Z step / lateral pixel size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..axes import check_axes
from ..data import imaging, modes as datamodes, patch_stream
from ..errors import CareBridgeError
from ..models.config import CareConfig
from .common import train_mode


def isotropic_config(*, factor: float, n_channels: int = 1, combine: str = "geometric", **fields) -> CareConfig:
    """A 2D CARE U-Net configuration for isotropic restoration by ``factor`` (``procedure.factor``)."""
    from ..modes.isotropic import COMBINATIONS

    f = datamodes._check_factor(factor)
    if combine not in COMBINATIONS:
        raise CareBridgeError(f"combine must be one of {', '.join(COMBINATIONS)}, got {combine!r}")
    return CareConfig.from_dict({"name": "care_isotropic", **fields, "mode": "isotropic", "axes": "YX",
                                 "n_channel_in": n_channels, "n_channel_out": n_channels,
                                 "procedure": {"factor": f, "combine": combine, "slices": ["ZX", "ZY"],
                                               "z_interpolation": "linear"}},
                                source="isotropic settings")


def axial_kernel(sigma_z_px: float, *, width_px: int | None = None) -> np.ndarray:
    """A ``(z, x)`` PSF profile blurring only along Z (Gaussian ``sigma_z_px``), for
    :func:`make_isotropic_data`: what separates the axial resolution from the lateral one when the lateral
    blur is already in every slice, ``sigma_z_px = sqrt(sigma_axial^2 - sigma_lateral^2)``."""
    if not np.isfinite(sigma_z_px) or sigma_z_px <= 0:
        raise CareBridgeError(f"sigma_z_px must be > 0, got {sigma_z_px}")
    n = width_px or 2 * int(np.ceil(4 * sigma_z_px)) + 1
    z = np.arange(n) - (n - 1) // 2
    k = np.zeros((n, 1), np.float32)
    k[:, 0] = np.exp(-0.5 * (z / sigma_z_px) ** 2)
    return k / k.sum()


def make_isotropic_data(stack: np.ndarray, axes: str, *, factor: float, psf: np.ndarray | None,
                        patch_shape: tuple[int, int] = (64, 64), n_patches: int = 256, seed: int = 0,
                        threshold: float = 0.4, augment: bool = True, percentiles: tuple[float, float] | None = None,
                        percentile_jitter: float = 0.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Normalized training pairs ``"SYXC"`` from one anisotropic stack
    (:func:`care_bridge.data.modes.isotropic_training_pairs`: CSBDeep's foreground filter with ``threshold``,
    ``augment`` = which lateral axis plays Z and mirroring before the degradation, CARE's whole-image
    normalization with levels drawn per patch unless ``percentiles`` (low, high) fix them). ``info["source"]``
    holds each patch's plane (:func:`care_bridge.pipelines.common.split_validation` holds out whole planes).
    In memory: :func:`isotropic_data_stream` makes the same pairs a chunk at a time."""
    stream = isotropic_data_stream(stack, axes, factor=factor, psf=psf, patch_shape=patch_shape, n_patches=n_patches,
                                   seed=seed, threshold=threshold, augment=augment, percentiles=percentiles,
                                   percentile_jitter=percentile_jitter)
    X, Y, source = stream.collect()
    return X, Y, patch_stream.with_source(stream.info, source)


def isotropic_data_stream(stack: np.ndarray, axes: str, *, factor: float, psf: np.ndarray | None,
                          patch_shape: tuple[int, int] = (64, 64), n_patches: int = 256, seed: int = 0,
                          threshold: float = 0.4, augment: bool = True,
                          percentiles: tuple[float, float] | None = None, percentile_jitter: float = 0.0,
                          chunk_bytes: int = patch_stream.CHUNK_BYTES) -> patch_stream.PatchStream:
    """The pairs of :func:`make_isotropic_data` as a :class:`~care_bridge.data.patch_stream.PatchStream`
    (:func:`care_bridge.data.modes.isotropic_pair_stream`): memory holds the stack and ``chunk_bytes`` of
    patches."""
    x = np.asarray(stack)
    axes = check_axes(axes, x.ndim)
    if psf is not None:
        psf = np.asarray(psf, np.float32)
        if psf.ndim not in (2, 3):
            raise CareBridgeError(f"PSF must be 3D (ZYX) or its 2D (z, x) profile, got {psf.ndim}D")
        if not np.isfinite(psf).all():
            raise CareBridgeError("PSF contains NaN/Inf; validate it with care_bridge.data.imaging.load_psf")
    low, high = percentiles if percentiles is not None else (None, None)
    return datamodes.isotropic_pair_stream(x, axes, factor=factor, psf=psf, patch_shape=patch_shape,
                                           n_patches=n_patches, rng=np.random.default_rng(seed), threshold=threshold,
                                           augment=augment, percentile_low=low, percentile_high=high,
                                           percentile_jitter=percentile_jitter, chunk_bytes=chunk_bytes)


def train_isotropic(stack: np.ndarray, axes: str, out_dir: str | Path, *, factor: float,
                    psf: np.ndarray | None, patch_shape: tuple[int, int] = (64, 64), n_patches: int = 256,
                    seed: int = 0, combine: str = "geometric", progress: bool = False, threshold: float = 0.4,
                    augment: bool = True, percentiles: tuple[float, float] | None = None, **fields):
    """Make data from ``stack`` (:func:`make_isotropic_data`) and train an isotropic model into ``out_dir``,
    validating on whole held-out planes; returns the TrainResult. ``fields``: further :class:`CareConfig` fields
    (epochs, unet_n_first, ...). The model's factor is the effective factor actually simulated
    (:func:`care_bridge.data.modes.effective_factor`)."""
    X, Y, info = make_isotropic_data(stack, axes, factor=factor, psf=psf, patch_shape=patch_shape,
                                     n_patches=n_patches, seed=seed, threshold=threshold, augment=augment,
                                     percentiles=percentiles)
    n_c = X.shape[-1]
    config = isotropic_config(factor=info["effective_factor"], n_channels=n_c, combine=combine, seed=seed,
                              **fields)
    return train_mode(config, X, Y, out_dir, progress=progress, sources=info["source"],
                      data_meta={"mode": "isotropic", "factor": factor, "n_patches": int(len(X)),
                                 "foreground_fraction": info["foreground_fraction"]})


def synthetic_isotropic_volume(shape_zyx: Sequence[int], *, seed: int = 0, lateral_sigma_px: float = 1.5,
                               structure: str = "tubules") -> np.ndarray:
    """A ``"ZYX"`` ground truth with isotropic resolution: synthetic 3D structures blurred by an isotropic
    Gaussian of ``lateral_sigma_px`` (the lateral PSF, in every direction)."""
    from ..data.structures import ground_truth

    truth = ground_truth(tuple(int(s) for s in shape_zyx), structure, np.random.default_rng(seed))
    return ndimage.gaussian_filter(truth, lateral_sigma_px).astype(np.float32)


def simulate_anisotropic(volume_zyx: np.ndarray, *, factor: int, sigma_z_px: float, photons: float | None = None,
                         seed: int = 0) -> np.ndarray:
    """An anisotropic acquisition of an isotropic ``"ZYX"`` volume: extra Gaussian blur along Z
    (``sigma_z_px``), every ``factor``-th plane kept, optionally Poisson/Gaussian noise at ``photons``."""
    if not float(factor).is_integer() or factor < 1:
        raise CareBridgeError(f"factor must be an integer >= 1 for simulation, got {factor}")
    v = ndimage.gaussian_filter1d(np.asarray(volume_zyx, np.float32), sigma_z_px, axis=0, mode="nearest")
    v = v[:: int(factor)]
    if photons is not None:
        v = imaging.acquire(v, photons=photons, read_noise_e=1.0, offset_adu=100.0,
                            rng=np.random.default_rng(seed))
    return v.astype(np.float32)


def isotropic_baseline(aniso: np.ndarray, factor: float, *, order: int = 1) -> np.ndarray:
    """Plain Z interpolation (``order`` 1 linear, 3 cubic) onto the grid the procedure restores on."""
    return datamodes.upsample_z(aniso, factor, order=order)


def evaluate_isotropic(restored: np.ndarray, baseline: np.ndarray, truth: np.ndarray) -> dict:
    """SSIM / NRMSE against ``truth`` (cropped to the restored Z size) and spectral isotropy of each."""
    from ..evaluate.metrics import nrmse, ssim
    from ..evaluate.resolution import spectral_isotropy

    gt = np.asarray(truth)[: restored.shape[0]]
    if gt.shape != restored.shape or baseline.shape != restored.shape:
        raise CareBridgeError(f"shapes differ: restored {restored.shape}, baseline {baseline.shape}, truth {gt.shape}")
    return {
        "ssim": {"care": ssim(restored, gt), "baseline": ssim(baseline, gt)},
        "nrmse": {"care": nrmse(restored, gt), "baseline": nrmse(baseline, gt)},
        "spectral_isotropy": {"care": spectral_isotropy(restored), "baseline": spectral_isotropy(baseline),
                              "truth": spectral_isotropy(gt)},
    }

