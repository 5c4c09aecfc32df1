"""The physical imaging model of a fluorescence microscope, used to make synthetic training/test pairs.

Forward model (per pixel, in this order), as for CARE's synthetic data (Weigert et al., Nature Methods
15:1090, 2018, doi:10.1038/s41592-018-0216-7):

1. fluorophore density ``x`` (ground truth) is blurred by the point spread function (PSF): ``x * psf``;
2. photons arrive as a Poisson process: ``n ~ Poisson(photons · x/max(x) + background_photons)`` — the
   brightest pixel receives ``photons`` photo-electrons on average, every pixel ``background_photons`` more;
3. the camera adds Gaussian read noise (``read_noise_e`` electrons rms);
4. and converts electrons to digital units: ``adu = gain_adu_per_e · electrons + offset_adu``.

Arrays are ``"YX"`` (2D) or ``"ZYX"`` (3D) float32; voxel sizes in nanometres, ordered like the axes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from scipy import signal

from ..errors import CareBridgeError
from .structures import STRUCTURES, ground_truth

# Zhang, Zerubia & Olivo-Marin, "Gaussian approximations of fluorescence microscope point-spread function
# models", Applied Optics 46:1819 (2007), doi:10.1364/AO.46.001819, paraxial widefield (WFFM) fits with
# k = 2 pi / lambda: lateral sigma ~ 0.21 lambda / NA (their 2D fit of the Airy disk), axial
# sigma = 2 sqrt(6) n / (k NA^2) = (sqrt(6) / pi) n lambda / NA^2.
LATERAL_SIGMA_PER_LAMBDA_OVER_NA = 0.21
AXIAL_SIGMA_PER_N_LAMBDA_OVER_NA2 = np.sqrt(6.0) / np.pi

# Defaults of synthetic_pair: a water-immersion-like widefield system sampled at ~2 px per lateral sigma.
DEFAULT_OPTICS = dict(na=0.8, wavelength_nm=520.0, refractive_index=1.33)
DEFAULT_VOXEL_NM = {2: (65.0, 65.0), 3: (260.0, 65.0, 65.0)}


def psf_sigma_nm(*, na: float, wavelength_nm: float, refractive_index: float) -> tuple[float, float]:
    """(axial, lateral) standard deviations in nm of the Gaussian widefield PSF (Zhang et al. 2007)."""
    if not 0 < na < refractive_index:
        raise CareBridgeError(
            f"numerical aperture {na} must be > 0 and below the refractive index {refractive_index}"
        )
    if wavelength_nm <= 0:
        raise CareBridgeError(f"wavelength_nm must be > 0, got {wavelength_nm}")
    lateral = LATERAL_SIGMA_PER_LAMBDA_OVER_NA * wavelength_nm / na
    axial = AXIAL_SIGMA_PER_N_LAMBDA_OVER_NA2 * refractive_index * wavelength_nm / na**2
    return float(axial), float(lateral)


def gaussian_psf(
    shape: Sequence[int],
    *,
    na: float,
    wavelength_nm: float,
    refractive_index: float,
    voxel_size_nm: float | Sequence[float],
) -> np.ndarray:
    """Separable Gaussian approximation of a widefield PSF, float32, sum 1, ``"YX"`` or ``"ZYX"``.

    Lateral sigma = 0.21·λ/NA, axial sigma = 2·√6·n/(k·NA²) with k = 2π/λ (paraxial fits of Zhang, Zerubia &
    Olivo-Marin, Applied Optics 2007), converted to pixels with ``voxel_size_nm`` (one value, or one per
    axis). The peak sits on pixel ``(s - 1) // 2`` of each axis, so :func:`blur` (``mode="same"``) does not
    shift the image; odd shapes make the PSF symmetric.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise CareBridgeError(f"PSF shape {shape} must be 2D (YX) or 3D (ZYX) with positive sizes")
    vox = np.broadcast_to(np.asarray(voxel_size_nm, np.float64), (len(shape),))
    if np.any(vox <= 0):
        raise CareBridgeError(f"voxel_size_nm must be > 0, got {voxel_size_nm}")
    axial, lateral = psf_sigma_nm(na=na, wavelength_nm=wavelength_nm, refractive_index=refractive_index)
    sig_nm = (lateral,) * 2 if len(shape) == 2 else (axial, lateral, lateral)
    sigma_px = np.asarray(sig_nm) / vox
    profiles = []
    for s, sg in zip(shape, sigma_px):
        d = np.arange(s) - (s - 1) // 2
        profiles.append(np.exp(-0.5 * (d / sg) ** 2))
    psf = profiles[0]
    for p in profiles[1:]:
        psf = np.multiply.outer(psf, p)
    return (psf / psf.sum()).astype(np.float32)


def psf_shape_for(sigma_px: Sequence[float], limit: Sequence[int] | None = None) -> tuple[int, ...]:
    """Odd PSF shape covering ±4 sigma per axis (capped at ``limit``, kept odd)."""
    shape = [2 * int(np.ceil(4 * s)) + 1 for s in sigma_px]
    if limit is not None:
        shape = [min(s, lim if lim % 2 else lim - 1) for s, lim in zip(shape, limit)]
    return tuple(max(1, s) for s in shape)


def load_psf(path_or_array: str | os.PathLike | np.ndarray, ndim: int, *, max_offset_px: float = 1.0) -> np.ndarray:
    """Validate a measured PSF (``"YX"`` or ``"ZYX"``) and return it as float32 normalized to sum 1.

    Checks: finite values, ``ndim`` dimensions (size-1 axes are squeezed first), no negative values (tiny
    negatives from background subtraction, below 1e-6 of the peak, are set to 0), a positive sum, and that
    both the peak and the intensity centroid lie within ``max_offset_px`` of the array centre
    ``(s - 1) / 2`` — an off-centre PSF would shift every blurred or deconvolved image.
    """
    if isinstance(path_or_array, np.ndarray):
        psf, what = path_or_array, "PSF"
    else:
        from ..io import read_image

        psf, _ = read_image(path_or_array)
        what = f"PSF {os.fspath(path_or_array)}"
    psf = np.asarray(psf, dtype=np.float64)
    if psf.ndim != ndim:
        psf = psf.squeeze()
    if psf.ndim != ndim:
        raise CareBridgeError(f"{what} has {psf.ndim} dimensions but {ndim}D is needed; give a "
                              f"{'ZYX' if ndim == 3 else 'YX'} PSF")
    if psf.size == 0 or not np.isfinite(psf).all():
        raise CareBridgeError(f"{what} is empty or contains NaN/Inf; re-export the measured PSF")
    peak = psf.max()
    if peak <= 0:
        raise CareBridgeError(f"{what} has no positive values; check the file")
    if psf.min() < -1e-6 * peak:
        raise CareBridgeError(
            f"{what} has negative values (min {psf.min():.3g}); subtract the background and clip at 0 first"
        )
    psf = np.clip(psf, 0, None)
    psf /= psf.sum()
    centre = (np.asarray(psf.shape) - 1) / 2.0
    peak_at = np.asarray(np.unravel_index(np.argmax(psf), psf.shape), np.float64)
    grids = np.indices(psf.shape, sparse=True)
    centroid = np.asarray([float((g * psf).sum()) for g in grids])
    for name, pos in (("peak", peak_at), ("centroid", centroid)):
        off = pos - centre
        if np.max(np.abs(off)) > max_offset_px:
            offs = ", ".join(f"{o:+.2f}" for o in off)
            raise CareBridgeError(
                f"{what} is not centred: its {name} is ({offs}) px from the centre; "
                "crop or pad it so the bead is in the middle"
            )
    return psf.astype(np.float32)


def blur(x: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """Convolve ``x`` with ``psf`` (same ndim, any axes) by FFT; output has ``x``'s shape, float32.

    Uses ``scipy.signal.fftconvolve(mode="same")``, i.e. zero padding outside the image.
    """
    x = np.asarray(x, np.float32)
    psf = np.asarray(psf, np.float32)
    if psf.ndim != x.ndim:
        raise CareBridgeError(f"PSF has {psf.ndim} dimensions but the image has {x.ndim}; use a matching PSF")
    if not np.isfinite(psf).all():
        raise CareBridgeError("PSF contains NaN/Inf; validate it with load_psf first")
    return signal.fftconvolve(x, psf, mode="same").astype(np.float32)


def acquire(
    x: np.ndarray,
    *,
    photons: float,
    read_noise_e: float,
    offset_adu: float,
    gain_adu_per_e: float = 1.0,
    background_photons: float = 0.0,
    rng: np.random.Generator,
) -> np.ndarray:
    """Simulate a camera image of the (already blurred) intensity ``x``; float32 ADU, same shape/axes.

    ``Poisson(photons · x/max(x) + background_photons)`` photo-electrons, plus Gaussian read noise of
    ``read_noise_e`` electrons rms, times ``gain_adu_per_e``, plus ``offset_adu``. ``photons`` is the mean
    signal (in photo-electrons) of the brightest pixel; ``x`` must be non-negative with a positive maximum.
    """
    x = np.asarray(x, np.float64)
    if not np.isfinite(x).all():
        raise CareBridgeError("image contains NaN/Inf; cannot simulate an acquisition")
    if photons <= 0 or read_noise_e < 0 or background_photons < 0 or gain_adu_per_e <= 0:
        raise CareBridgeError(
            "acquire needs photons > 0, read_noise_e >= 0, background_photons >= 0 and gain_adu_per_e > 0"
        )
    top = x.max() if x.size else 0.0
    if top <= 0:
        raise CareBridgeError("image has no positive intensity; nothing to acquire")
    # blurring by FFT leaves ~1e-7 negative ripples: a photon rate cannot be negative
    rate = photons * np.clip(x / top, 0, None) + background_photons
    electrons = rng.poisson(rate).astype(np.float64)
    if read_noise_e > 0:
        electrons += rng.normal(0.0, read_noise_e, x.shape)
    return (electrons * gain_adu_per_e + offset_adu).astype(np.float32)


def default_psf(ndim: int, limit: Sequence[int] | None = None) -> np.ndarray:
    """The PSF :func:`synthetic_pair` uses by default: :data:`DEFAULT_OPTICS` at :data:`DEFAULT_VOXEL_NM`
    (lateral sigma ≈ 2.1 px, axial sigma ≈ 3.2 px in 3D)."""
    vox = DEFAULT_VOXEL_NM[ndim]
    axial, lateral = psf_sigma_nm(**DEFAULT_OPTICS)
    sig = np.asarray((lateral,) * 2 if ndim == 2 else (axial, lateral, lateral)) / np.asarray(vox)
    return gaussian_psf(psf_shape_for(sig, limit), voxel_size_nm=vox, **DEFAULT_OPTICS)


def synthetic_pair(
    shape: Sequence[int],
    *,
    photons: float = 10.0,
    rng: np.random.Generator,
    structure: str = "mixed",
    psf: np.ndarray | None = None,
    high_photon_factor: float = 1000.0,
    read_noise_e: float = 1.5,
    background_photons: float = 0.5,
    offset_adu: float = 100.0,
    gain_adu_per_e: float = 1.0,
    return_truth: bool = False,
    truth: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A registered (low, high) SNR pair of the same synthetic sample, float32 ADU, ``"YX"`` or ``"ZYX"``.

    The ground truth (:func:`care_bridge.data.structures.ground_truth` for ``structure`` in
    ``"blobs" | "tubules" | "granules" | "mixed"``) is blurred once by ``psf`` (default :func:`default_psf`)
    and acquired twice with :func:`acquire`: with ``photons`` at the brightest pixel (low) and with
    ``photons · high_photon_factor`` (high; background scales along, read noise and camera do not), like
    CARE's pairs of short/long exposures. Deterministic given ``rng``. With ``return_truth`` also returns
    the unblurred ground truth. ``truth`` (of ``shape``) replaces the generated ground truth (``structure`` is
    then unused), e.g. a sample composed of several structures.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3):
        raise CareBridgeError(f"shape {shape} must be 2D (YX) or 3D (ZYX)")
    if structure not in STRUCTURES:
        raise CareBridgeError(f"unknown structure {structure!r}; choose one of {', '.join(STRUCTURES)}")
    if high_photon_factor < 1:
        raise CareBridgeError(f"high_photon_factor must be >= 1, got {high_photon_factor}")
    if psf is None:
        psf = default_psf(len(shape), limit=shape)
    if truth is None:
        truth = ground_truth(shape, structure, rng)
    elif tuple(np.shape(truth)) != shape:
        raise CareBridgeError(f"truth has shape {np.shape(truth)}, expected {shape}")
    blurred = blur(truth, psf)
    common = dict(read_noise_e=read_noise_e, offset_adu=offset_adu, gain_adu_per_e=gain_adu_per_e, rng=rng)
    low = acquire(blurred, photons=photons, background_photons=background_photons, **common)
    high = acquire(blurred, photons=photons * high_photon_factor,
                   background_photons=background_photons * high_photon_factor, **common)
    if return_truth:
        return low, high, truth
    return low, high
