"""Semi-synthetic training pairs for CARE's restoration modes (pure numpy/scipy).

CARE (Weigert et al., Nature Methods 15:1090, 2018, doi:10.1038/s41592-018-0216-7) trains some tasks on
pairs made *from the data itself* or from simulation:

* **isotropic** restoration: lateral (YX) slices of an anisotropic stack are ground truth; the input is the
  same slice degraded the way Z is — blurred with the PSF's axial (z, x) profile and subsampled along one
  lateral axis by the anisotropy factor, then interpolated back (:func:`isotropic_training_pairs`);
* **axial upsampling**: a Z-subsampled stack as input, the full stack as target
  (:func:`axial_training_pairs`);
* **surface projection**: a noisy stack of a curved epithelium as input, the projection of its surface as
  target (:func:`projection_training_pairs`).

All patch arrays are float32 with axes ``"S<spatial>C"`` (sample first, channel last; C = 1 for single
channel stacks), the layout the Keras U-Net consumes; each function says its axes in the returned ``info``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.interpolate import make_interp_spline

from ..axes import check_axes, move_axes
from ..errors import CareBridgeError
from . import imaging
from .structures import epithelium
from ..resample import check_factor as _check_factor, upsample_z  # noqa: F401 - re-exported for the data API


def _check_stack(stack: np.ndarray, axes: str) -> np.ndarray:
    """Return the stack as float32 ``"CZYX"`` after checking axes and finiteness."""
    stack = np.asarray(stack)
    axes = check_axes(axes, stack.ndim)
    if set(axes) not in ({"Z", "Y", "X"}, {"C", "Z", "Y", "X"}):
        raise CareBridgeError(f"stack axes {axes!r} must be 'ZYX' or 'CZYX' (in any order)")
    if stack.dtype.kind == "f" and not np.isfinite(stack).all():
        raise CareBridgeError("stack contains NaN/Inf; replace them (e.g. with 0) before making training data")
    return move_axes(stack, axes, "CZYX").astype(np.float32)


def subsample_positions(length: int, factor: float) -> np.ndarray:
    """Integer sample positions ``floor(k·factor + 0.5)``, k = 0, 1, …, that fit in ``length``."""
    n = int(np.floor((length - 1) / factor + 1e-9)) + 1
    return np.floor(np.arange(n) * factor + 0.5).astype(np.int64)


def effective_factor(length: int, factor: float) -> float:
    """Mean spacing of :func:`subsample_positions` — the anisotropy actually simulated along ``length``."""
    pos = subsample_positions(length, factor)
    return float((pos[-1] - pos[0]) / (len(pos) - 1)) if len(pos) > 1 else float(factor)


def subsample_and_interpolate(x: np.ndarray, factor: float, axis: int = 0) -> tuple[np.ndarray, float]:
    """Keep only the samples at :func:`subsample_positions` along ``axis``, linearly interpolate back to
    the original size (constant beyond the last sample). Returns the array and the effective factor."""
    x = np.moveaxis(np.asarray(x, np.float32), axis, 0)
    pos = subsample_positions(x.shape[0], factor)
    if len(pos) < 2:
        raise CareBridgeError(f"axis of size {x.shape[0]} is too short to subsample by {factor}; use larger images")
    spline = make_interp_spline(pos, x[pos], k=1, axis=0)
    t = np.clip(np.arange(x.shape[0]), pos[0], pos[-1])
    out = spline(t).astype(np.float32)
    return np.moveaxis(out, 0, axis), effective_factor(x.shape[0], factor)


def axial_profile(psf: np.ndarray) -> np.ndarray:
    """The PSF's (z, x) profile, float32 sum 1: the central Y plane of a ``"ZYX"`` PSF, or a 2D ``"ZX"``
    PSF as given. Must be sampled at the *lateral* pixel size along all axes."""
    psf = np.asarray(psf, np.float64)
    if not np.isfinite(psf).all():
        raise CareBridgeError("PSF contains NaN/Inf; validate it with care_bridge.data.imaging.load_psf")
    if psf.ndim == 3:
        psf = psf[:, (psf.shape[1] - 1) // 2, :]
    elif psf.ndim != 2:
        raise CareBridgeError(f"PSF must be 3D (ZYX) or its 2D (z, x) profile, got {psf.ndim}D")
    if psf.min() < 0 or psf.sum() <= 0:
        raise CareBridgeError("PSF must be non-negative with a positive sum; validate it with load_psf")
    return (psf / psf.sum()).astype(np.float32)


def _random_corner(rng: np.random.Generator, shape: Sequence[int], patch: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(o, o + p) for o, p in ((int(rng.integers(0, s - p + 1)), p) for s, p in zip(shape, patch)))


def isotropic_training_pairs(
    stack: np.ndarray,
    axes: str,
    *,
    factor: float,
    psf: np.ndarray | None,
    patch_shape: tuple[int, int],
    n_patches: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Training pairs for CARE's isotropic restoration from one anisotropic stack.

    ``stack`` has ``axes`` "ZYX" or "CZYX" (any order); ``factor`` = Z step / lateral pixel size (non-integer
    allowed). Ground truth ``Y``: random YX patches of random Z slices. Input ``X``: the same slice convolved
    with the PSF's (z, x) profile (:func:`axial_profile`; ``None`` skips the blur) with its z axis along the
    patch's *first* axis, that axis subsampled at integer positions ``floor(k·factor + 0.5)`` and linearly
    interpolated back. Half of the slices are transposed first (YX ↔ XY), so both lateral axes serve.

    Returns ``(X, Y, info)``: float32 ``"SYXC"`` arrays where the first spatial axis is the degraded one — at
    prediction apply the model to ZX and ZY slices of :func:`upsample_z` (Z first) — and
    ``info = {"axes", "factor", "effective_factor"}`` where ``effective_factor`` is the mean sample spacing
    actually simulated (:func:`effective_factor`; averaged over the patches if Y and X differ in size) —
    use it for :func:`upsample_z`.
    """
    x = _check_stack(stack, axes)
    factor = _check_factor(factor)
    ph, pw = (int(p) for p in patch_shape)
    _, nz, ny, nx = x.shape
    if min(ny, nx) < max(ph, pw):
        raise CareBridgeError(
            f"YX slices {ny}x{nx} are smaller than the patch {ph}x{pw} (square patches are needed as slices "
            "are also transposed); use a smaller patch_shape"
        )
    if n_patches < 1:
        raise CareBridgeError(f"n_patches must be >= 1, got {n_patches}")
    kernel = None if psf is None else axial_profile(psf)
    # pair each random patch with a slice and orientation; degrade each needed slice once
    picks = [(int(rng.integers(nz)), bool(rng.integers(2))) for _ in range(n_patches)]
    degraded: dict[tuple[int, bool], tuple[np.ndarray, np.ndarray]] = {}
    effs = []
    X = np.empty((n_patches, ph, pw, x.shape[0]), np.float32)
    Y = np.empty_like(X)
    for i, key in enumerate(picks):
        if key not in degraded:
            gt = x[:, key[0]]  # "CYX"
            if key[1]:
                gt = gt.transpose(0, 2, 1)
            lo = gt if kernel is None else np.stack([imaging.blur(c, kernel) for c in gt])
            lo, eff = subsample_and_interpolate(lo, factor, axis=1)
            degraded[key] = (lo, gt, eff)
        lo, gt, eff = degraded[key]
        effs.append(eff)
        box = (slice(None),) + _random_corner(rng, gt.shape[1:], (ph, pw))
        X[i] = np.moveaxis(lo[box], 0, -1)
        Y[i] = np.moveaxis(gt[box], 0, -1)
    # the effective factor depends on the subsampled axis' length (Y or X): report the mean over the patches
    info = {"axes": "SYXC", "factor": factor, "effective_factor": float(np.mean(effs))}
    return X, Y, info


def axial_training_pairs(
    iso_stack: np.ndarray,
    *,
    factor: int,
    patch_shape: tuple[int, int, int],
    n_patches: int,
    rng: np.random.Generator,
    axial_sigma_px: float = 0.0,
    axes: str = "ZYX",
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Training pairs for axial upsampling from a (nearly) isotropic stack ``"ZYX"`` or ``"CZYX"``.

    Target ``Y``: random patches of ``patch_shape`` (z, y, x). Input ``X``: every ``factor``-th plane of the
    patch (after an optional Gaussian blur along Z with ``axial_sigma_px``, mimicking a thicker optical
    section), so ``X``'s Z size times ``factor`` equals ``Y``'s. Returns float32 ``"SZYXC"`` arrays and
    ``info = {"axes", "factor"}``.
    """
    x = _check_stack(iso_stack, axes)
    if not float(factor).is_integer() or factor < 1:
        raise CareBridgeError(f"axial upsampling factor must be an integer >= 1, got {factor}")
    factor = int(factor)
    pz, py, px = (int(p) for p in patch_shape)
    if pz % factor:
        raise CareBridgeError(
            f"patch Z size {pz} is not a multiple of factor {factor}; use e.g. {pz - pz % factor or factor}"
        )
    if any(s < p for s, p in zip(x.shape[1:], (pz, py, px))):
        raise CareBridgeError(
            f"stack {x.shape[1:]} (ZYX) is smaller than the patch {(pz, py, px)}; use a smaller patch_shape"
        )
    if n_patches < 1:
        raise CareBridgeError(f"n_patches must be >= 1, got {n_patches}")
    src = ndimage.gaussian_filter1d(x, axial_sigma_px, axis=1, mode="nearest") if axial_sigma_px > 0 else x
    X = np.empty((n_patches, pz // factor, py, px, x.shape[0]), np.float32)
    Y = np.empty((n_patches, pz, py, px, x.shape[0]), np.float32)
    for i in range(n_patches):
        box = (slice(None),) + _random_corner(rng, x.shape[1:], (pz, py, px))
        Y[i] = np.moveaxis(x[box], 0, -1)
        X[i] = np.moveaxis(src[box][:, ::factor], 0, -1)
    return X, Y, {"axes": "SZYXC", "factor": factor}


def _check_volume(stack: np.ndarray) -> np.ndarray:
    stack = np.asarray(stack)
    if stack.ndim != 3:
        raise CareBridgeError(f"projection needs a 3D ZYX stack, got {stack.ndim}D; pass the whole stack")
    return stack


def max_projection(stack: np.ndarray) -> np.ndarray:
    """Maximum intensity projection of a ``"ZYX"`` stack along Z → ``"YX"`` (same dtype)."""
    return _check_volume(stack).max(axis=0)


def surface_projection(stack: np.ndarray, height_map: np.ndarray, thickness: float) -> np.ndarray:
    """Project a ``"ZYX"`` stack onto the surface ``z = height_map(y, x)``: per pixel the maximum over the
    planes with ``|z - h(y, x)| <= thickness`` (the plane nearest the surface if none is that close).
    Returns ``"YX"`` float32."""
    stack = _check_volume(stack).astype(np.float32)
    h = np.asarray(height_map, np.float32)
    if h.shape != stack.shape[1:]:
        raise CareBridgeError(f"height map {h.shape} does not match the stack's YX size {stack.shape[1:]}")
    if thickness < 0:
        raise CareBridgeError(f"thickness must be >= 0, got {thickness}")
    z = np.arange(stack.shape[0], dtype=np.float32)[:, None, None]
    near = np.abs(z - h[None]) <= thickness
    nearest = np.clip(np.rint(h), 0, stack.shape[0] - 1).astype(np.int64)
    near[nearest, np.arange(h.shape[0])[:, None], np.arange(h.shape[1])[None, :]] = True
    return np.where(near, stack, -np.inf).max(axis=0).astype(np.float32)


def projection_training_pairs(
    n: int,
    shape_zyx: Sequence[int],
    *,
    photons: float,
    rng: np.random.Generator,
    psf: np.ndarray | None = None,
    thickness_px: float = 2.0,
    cell_size_px: float = 12.0,
    curvature: float = 0.5,
    read_noise_e: float = 1.5,
    background_photons: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Training pairs for CARE's surface projection from simulated epithelia (:func:`epithelium`).

    Input ``X``: the membrane volume blurred by ``psf`` (default: the widefield PSF of
    :func:`care_bridge.data.imaging.default_psf`) and acquired with ``photons`` at the brightest voxel.
    Target ``Y``: :func:`surface_projection` of the noise-free blurred volume within ``thickness_px`` of the
    true surface, scaled to [0, 1] — what a projection of a high-SNR acquisition would show. Returns
    ``X`` float32 ``"SZYXC"``, ``Y`` float32 ``"SYXC"`` and ``info = {"axes_x", "axes_y", "heights"}``
    (``heights``: the ``"SYX"`` surfaces).
    """
    if len(tuple(shape_zyx)) != 3:
        raise CareBridgeError(f"projection pairs need a 3D ZYX shape, got {tuple(shape_zyx)}")
    if n < 1:
        raise CareBridgeError(f"n must be >= 1, got {n}")
    shape = tuple(int(s) for s in shape_zyx)
    if psf is None:
        psf = imaging.default_psf(3, limit=shape)
    X = np.empty((n,) + shape + (1,), np.float32)
    Y = np.empty((n,) + shape[1:] + (1,), np.float32)
    H = np.empty((n,) + shape[1:], np.float32)
    for i in range(n):
        vol, h = epithelium(shape, rng=rng, curvature=curvature, thickness_px=thickness_px,
                            cell_size_px=cell_size_px)
        blurred = imaging.blur(vol, psf)
        X[i, ..., 0] = imaging.acquire(blurred, photons=photons, read_noise_e=read_noise_e, offset_adu=100.0,
                                       background_photons=background_photons, rng=rng)
        proj = surface_projection(blurred, h, thickness_px)
        Y[i, ..., 0] = proj / max(float(proj.max()), 1e-12)
        H[i] = h
    return X, Y, {"axes_x": "SZYXC", "axes_y": "SYXC", "heights": H}
