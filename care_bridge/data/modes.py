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

Generators that may make more patches than fit in memory return a :class:`PatchStream` (e.g.
:func:`isotropic_pair_stream`): its patches come a batch at a time — a source, or a chunk of patches — each
knowing its rows among all, so a :class:`~care_bridge.data.patch_store.PatchFileWriter` writes them to disk as they
come (:meth:`PatchStream.write`) and :meth:`PatchStream.collect` gathers them in memory, the same arrays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from scipy import ndimage, signal
from scipy.ndimage import maximum_filter
from scipy.interpolate import make_interp_spline

from ..axes import check_axes, move_axes
from ..errors import CareBridgeError
from . import imaging
from .patch_stream import CHUNK_BYTES, PatchBatch, PatchStream, with_source
from .patches import (check_threshold, image_percentiles, normalize_rows, normalize_with_image_percentiles,
                      percentile_levels, percentile_meta)
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


def axial_profile(psf: np.ndarray, lateral: str = "X") -> np.ndarray:
    """The PSF's (z, lateral) profile, float32 sum 1: of a ``"ZYX"`` PSF the central Y plane (``lateral="X"``,
    the (z, x) profile) or the central X plane (``lateral="Y"``, the (z, y) profile); a 2D PSF is taken as that
    profile as given. Must be sampled at the *lateral* pixel size along all axes."""
    psf = np.asarray(psf, np.float64)
    if not np.isfinite(psf).all():
        raise CareBridgeError("PSF contains NaN/Inf; validate it with care_bridge.data.imaging.load_psf")
    if psf.ndim == 3:
        psf = psf[:, (psf.shape[1] - 1) // 2, :] if lateral == "X" else psf[:, :, (psf.shape[2] - 1) // 2]
    elif psf.ndim != 2:
        raise CareBridgeError(f"PSF must be 3D (ZYX) or its 2D (z, x) profile, got {psf.ndim}D")
    if psf.min() < 0 or psf.sum() <= 0:
        raise CareBridgeError("PSF must be non-negative with a positive sum; validate it with load_psf")
    return (psf / psf.sum()).astype(np.float32)


def blur_reflect(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``img`` (2D) convolved with ``kernel`` (2D) by FFT, output centred as ``fftconvolve(mode="same")`` but
    with the image mirrored beyond its border (``d c b a | a b c d``) instead of zeros: a camera offset or
    background does not turn into a dark rim the real data do not have. float32."""
    img = np.asarray(img, np.float32)
    pad = [(k // 2, (k - 1) // 2) for k in kernel.shape]
    return signal.fftconvolve(np.pad(img, pad, mode="symmetric"), kernel, mode="valid").astype(np.float32)


def foreground_centres(fg: np.ndarray, patch_shape: Sequence[int], *, threshold: float,
                       percentile: float = 99.9) -> np.ndarray:
    """Boolean mask of the voxels of ``fg`` that may centre a patch of ``patch_shape`` (same ndim): CSBDeep's
    ``no_background_patches(threshold, percentile)`` (csbdeep/data/generate.py) — ``fg`` max-filtered over
    ``p // 2`` voxels per axis (``p`` when ``p == 1``; zeros beyond the border) must exceed ``threshold`` times
    ``fg``'s ``percentile``-th percentile — restricted, as CSBDeep's ``sample_patches_from_multiple_stacks``,
    to centres ``c`` whose patch ``[c - p // 2, c - p // 2 + p)`` lies inside the image."""
    check_threshold(threshold)
    size = [p // 2 if p > 1 else p for p in patch_shape]
    level = threshold * np.percentile(fg, percentile)
    inner = tuple(slice(p // 2, n - p + p // 2 + 1) for p, n in zip(patch_shape, fg.shape))
    mask = np.zeros(fg.shape, bool)
    mask[inner] = maximum_filter(fg, size=size, mode="constant")[inner] > level
    return mask


class _CentrePicker:
    """Uniform draws, without replacement when there are enough (as CSBDeep), among the ``True`` voxels of
    several masks of shape ``(n_planes, ...)``; a draw is ``(mask index, plane, centre within the plane)``."""

    def __init__(self, masks: Sequence[np.ndarray]):
        self.masks = masks
        self.counts = np.concatenate([m.reshape(len(m), -1).sum(axis=1) for m in masks])
        self.total = int(self.counts.sum())
        self._flat: dict[int, np.ndarray] = {}

    def draw(self, n: int, rng: np.random.Generator) -> list[tuple[int, int, tuple[int, ...]]]:
        picks = rng.choice(self.total, n, replace=self.total < n)
        ends = np.cumsum(self.counts)
        out = []
        for k in picks:
            j = int(np.searchsorted(ends, k, side="right"))
            m, z = divmod(j, len(self.masks[0]))
            if j not in self._flat:
                self._flat[j] = np.flatnonzero(self.masks[m][z])
            flat = self._flat[j][int(k - (ends[j] - self.counts[j]))]
            out.append((m, z, tuple(int(i) for i in np.unravel_index(flat, self.masks[m].shape[1:]))))
        return out


def _degrade(sl: np.ndarray, kernel: np.ndarray | None, factor: float) -> tuple[np.ndarray, float]:
    """One ``"CAB"`` slice degraded along A (see :func:`isotropic_training_pairs`) → (interpolated back to the
    slice's size, the effective factor)."""
    lo = sl if kernel is None else np.stack([blur_reflect(c, kernel) for c in sl])
    return subsample_and_interpolate(lo, factor, axis=1)


def isotropic_training_pairs(
    stack: np.ndarray,
    axes: str,
    *,
    factor: float,
    psf: np.ndarray | None,
    patch_shape: tuple[int, int],
    n_patches: int,
    rng: np.random.Generator,
    threshold: float = 0.4,
    augment: bool = True,
    normalize: bool = True,
    percentile_low: float | None = None,
    percentile_high: float | None = None,
    percentile_jitter: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Training pairs for CARE's isotropic restoration from one anisotropic stack.

    ``stack`` has ``axes`` "ZYX" or "CZYX" (any order); ``factor`` = Z step / lateral pixel size (non-integer
    allowed). Target ``Y``: ``patch_shape`` (ph, pw) patches of Z planes; input ``X``: the same plane degraded
    the way Z is — convolved with the PSF's axial profile (:func:`axial_profile`, mirrored at the border;
    ``None`` skips the blur) with its z axis along the patch's **first** axis, that axis subsampled at integer
    positions ``floor(k·factor + 0.5)`` and linearly interpolated back. The degraded axis is the patch's first
    axis in every pair: prediction (:mod:`care_bridge.runtime.procedures.isotropic`) puts Z first in both the XZ
    and the YZ slices. ``ph`` and ``pw`` may differ.

    * Foreground (CSBDeep ``no_background_patches``, :func:`foreground_centres`): patch centres are drawn
      uniformly among the voxels of the stack (channel maximum) whose ``ph//2 x pw//2`` maximum exceeds
      ``threshold`` x its 99.9th percentile (``threshold=0``: every patch with a positive voxel).
    * ``augment``: which lateral axis of the stack plays Z is drawn per patch — Y (the patch is ``(y, x)``,
      blurred with the (z, x) profile, as the XZ slices at prediction) or X (the patch is ``(x, y)``, the (z, y)
      profile, as the YZ slices) — and the plane is mirrored along each patch axis with probability 1/2
      *before* it is degraded, so the blur keeps its true orientation (exact for asymmetric PSFs too). Without
      ``augment``: Y plays Z, no mirroring.
    * ``normalize`` (CARE, Methods "Image normalization"): ``X`` and ``Y`` by the percentiles of the whole
      stack, per channel — the very map prediction applies to this stack before it upsamples Z and restores its
      XZ and YZ slices — so the degradation acts on normalized intensities (it is linear with a kernel of sum 1,
      so degrading and normalizing commute). Levels are drawn per patch from [1, 3] and [99.5, 99.9] unless
      ``percentile_low``/``percentile_high`` fix them (:func:`care_bridge.data.patches.percentile_levels`).
      CSBDeep instead maps ``X`` by the percentiles of the whole *degraded* stack, an image prediction never
      sees; measured on the isotropic test volume (tests/pipelines/test_isotropic.py, 3 seeds each) that costs
      SSIM 0.963 -> 0.941 and NRMSE 0.025 -> 0.028. ``normalize=False`` returns raw values.

    Returns ``(X, Y, info)``: float32 ``"SYXC"`` arrays and ``info`` with ``axes``, ``factor``,
    ``effective_factor`` (the mean sample spacing actually simulated, :func:`effective_factor`, averaged over
    the patches: use it for :func:`upsample_z`), ``threshold``, ``foreground_fraction`` (of the possible patch
    centres), ``augment``, ``normalization``, and ``source`` (each patch's plane, int array) with
    ``source_names``: patches of different planes share no pixel.
    """
    stream = isotropic_pair_stream(stack, axes, factor=factor, psf=psf, patch_shape=patch_shape, n_patches=n_patches,
                                   rng=rng, threshold=threshold, augment=augment, normalize=normalize,
                                   percentile_low=percentile_low, percentile_high=percentile_high,
                                   percentile_jitter=percentile_jitter)
    X, Y, source = stream.collect()
    return X, Y, with_source(stream.info, source)


def isotropic_pair_stream(
    stack: np.ndarray,
    axes: str,
    *,
    factor: float,
    psf: np.ndarray | None,
    patch_shape: tuple[int, int],
    n_patches: int,
    rng: np.random.Generator,
    threshold: float = 0.4,
    augment: bool = True,
    normalize: bool = True,
    percentile_low: float | None = None,
    percentile_high: float | None = None,
    percentile_jitter: float = 0.0,
    chunk_bytes: int = CHUNK_BYTES,
) -> PatchStream:
    """:func:`isotropic_training_pairs` as a :class:`PatchStream`: every random draw is made here, in the same order,
    then the patches come in chunks of about ``chunk_bytes`` in draw order (the same arrays, bit for bit), each
    chunk degrading the planes its patches are cut from; memory holds the stack and one chunk, not all patches."""
    x = _check_stack(stack, axes)
    factor = _check_factor(factor)
    ph, pw = (int(p) for p in patch_shape)
    if min(ph, pw) < 1:
        raise CareBridgeError(f"patch shape must be positive, got {ph}x{pw}")
    if n_patches < 1:
        raise CareBridgeError(f"n_patches must be >= 1, got {n_patches}")
    n_c, nz, ny, nx = x.shape
    # orientation o = 0: the stack's Y plays Z, the patch spans (ph, pw) along (Y, X); o = 1: X plays Z, the patch
    # spans (ph, pw) along (X, Y), i.e. (pw, ph) in the stack's (Y, X)
    extents = {0: (ph, pw), 1: (pw, ph)}
    orient = [o for o in ((0, 1) if augment else (0,)) if extents[o][0] <= ny and extents[o][1] <= nx]
    if not orient:
        raise CareBridgeError(f"YX slices {ny}x{nx} are smaller than the patch {ph}x{pw}; use a smaller patch_shape")
    kernels = {o: None if psf is None else axial_profile(psf, lateral="XY"[o]) for o in orient}
    fg = x.max(axis=0)
    masks = [foreground_centres(fg, (1, *extents[o]), threshold=threshold) for o in orient]
    picker = _CentrePicker(masks)
    n_possible = sum(int(np.prod([n - p + 1 for n, p in zip((ny, nx), extents[o])])) * nz for o in orient)
    if picker.total == 0:
        raise CareBridgeError(f"no {ph}x{pw} patch of the stack passes the foreground filter (threshold {threshold} "
                              "x the 99.9th percentile); lower --threshold")
    picks = picker.draw(n_patches, rng)
    flips = rng.integers(0, 2, (n_patches, 2)) if augment else np.zeros((n_patches, 2), np.int64)
    orients = [orient[m] for m, _, _ in picks]
    # the degraded axis has the length of the stack's Y (orientation 0) or X (1); mirroring keeps it
    eff = {o: effective_factor((ny, nx)[o], factor) for o in orient}
    effs = np.array([eff[o] for o in orients], np.float64)
    planes = np.array([z for _, z, _ in picks], np.int32)
    info = {"axes": "SYXC", "factor": factor, "effective_factor": float(np.mean(effs)),
            "threshold": float(threshold), "foreground_fraction": picker.total / n_possible,
            "augment": bool(augment), "normalization": "image" if normalize else None,
            "degraded_axis": "first patch axis (Z at prediction)",
            "source_names": [f"plane z={k}" for k in range(nz)]}
    stats = None
    if normalize:
        levels = percentile_levels(n_patches, rng, low=percentile_low, high=percentile_high,
                                   jitter=percentile_jitter)
        stats = image_percentiles(np.moveaxis(x, 0, -1), levels)  # the whole stack, "ZYXC"
        info.update(percentile_meta(percentile_low, percentile_high, percentile_jitter))
    per_chunk = max(1, int(chunk_bytes) // (2 * ph * pw * n_c * 4))

    def batches() -> Iterator[PatchBatch]:
        for start in range(0, n_patches, per_chunk):
            rows = np.arange(start, min(start + per_chunk, n_patches))
            X = np.empty((len(rows), ph, pw, n_c), np.float32)
            Y = np.empty_like(X)
            # one degraded plane (orientation, mirroring) in memory at a time: the chunk's patches by what they
            # are cut from
            groups: dict[tuple[int, int, int, int], list[int]] = {}
            for r, i in enumerate(rows):
                groups.setdefault((picks[i][1], orients[i], int(flips[i, 0]), int(flips[i, 1])), []).append(r)
            for (z, o, fa, fb), members in groups.items():
                gt = x[:, z] if o == 0 else x[:, z].transpose(0, 2, 1)  # "CAB": A is degraded
                gt = gt[:, :: -1 if fa else 1, :: -1 if fb else 1]
                lo, _ = _degrade(gt, kernels[o], factor)
                for r in members:
                    cy, cx = picks[rows[r]][2]
                    ca, cb = (cy, cx) if o == 0 else (cx, cy)
                    a0, b0 = ca - ph // 2, cb - pw // 2  # the corner in the unmirrored plane, then in the mirrored
                    a0 = gt.shape[1] - a0 - ph if fa else a0
                    b0 = gt.shape[2] - b0 - pw if fb else b0
                    box = (slice(None), slice(a0, a0 + ph), slice(b0, b0 + pw))
                    X[r] = np.moveaxis(lo[box], 0, -1)
                    Y[r] = np.moveaxis(gt[box], 0, -1)
            if stats is not None:
                lo_p, hi_p = stats[0][rows], stats[1][rows]
                normalize_rows(X, lo_p, hi_p)
                normalize_rows(Y, lo_p, hi_p)
            yield PatchBatch(rows, X, Y, planes[rows])
            del X, Y, lo, gt  # before the next chunk is made

    return PatchStream(n_patches, batches(), info)


def axial_training_pairs(
    iso_stack: np.ndarray,
    *,
    factor: int,
    patch_shape: tuple[int, int, int],
    n_patches: int,
    rng: np.random.Generator,
    axial_sigma_px: float = 0.0,
    axes: str = "ZYX",
    threshold: float = 0.4,
    normalize: bool = True,
    percentile_low: float | None = None,
    percentile_high: float | None = None,
    percentile_jitter: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Training pairs for axial upsampling from a (nearly) isotropic stack ``"ZYX"`` or ``"CZYX"``.

    Target ``Y``: patches of ``patch_shape`` (z, y, x) centred on foreground (:func:`foreground_centres`,
    CSBDeep's ``no_background_patches(threshold)``). Input ``X``: every ``factor``-th plane of the patch, from
    its first plane on (after an optional Gaussian blur along Z with ``axial_sigma_px``, mimicking a thicker
    optical section), so ``X``'s Z size times ``factor`` equals ``Y``'s.

    ``normalize`` (CARE's rule, as prediction): ``Y`` by the percentiles of the whole stack, ``X`` by those of
    the whole acquisition it simulates — the (blurred) stack's planes ``phase, phase + factor, ...`` with the
    patch's ``phase = z0 mod factor`` — per channel, levels per patch as in :func:`isotropic_training_pairs`.
    Returns float32 ``"SZYXC"`` arrays and ``info`` (``axes``, ``factor``, ``threshold``,
    ``foreground_fraction``, ``normalization``, percentiles).
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
    picker = _CentrePicker([foreground_centres(x.max(axis=0), (pz, py, px), threshold=threshold)])
    if picker.total == 0:
        raise CareBridgeError(f"no {pz}x{py}x{px} patch of the stack passes the foreground filter (threshold "
                              f"{threshold} x the 99.9th percentile); lower --threshold")
    X = np.empty((n_patches, pz // factor, py, px, x.shape[0]), np.float32)
    Y = np.empty((n_patches, pz, py, px, x.shape[0]), np.float32)
    phases = np.empty(n_patches, np.int64)
    for i, (_, cz, (cy, cx)) in enumerate(picker.draw(n_patches, rng)):
        z0, y0, x0 = cz - pz // 2, cy - py // 2, cx - px // 2
        box = (slice(None), slice(z0, z0 + pz), slice(y0, y0 + py), slice(x0, x0 + px))
        Y[i] = np.moveaxis(x[box], 0, -1)
        X[i] = np.moveaxis(src[box][:, ::factor], 0, -1)
        phases[i] = z0 % factor
    n_possible = int(np.prod([n - p + 1 for n, p in zip(x.shape[1:], (pz, py, px))]))
    info = {"axes": "SZYXC", "factor": factor, "threshold": float(threshold),
            "foreground_fraction": picker.total / n_possible, "normalization": "image" if normalize else None}
    if normalize:
        levels = percentile_levels(n_patches, rng, low=percentile_low, high=percentile_high,
                                   jitter=percentile_jitter)
        target = np.moveaxis(x, 0, -1)
        for phase in np.unique(phases):
            idx = np.flatnonzero(phases == phase)
            Xp, Yp = X[idx], Y[idx]
            normalize_with_image_percentiles(Xp, Yp, np.moveaxis(src[:, phase::factor], 0, -1), target, levels[idx])
            X[idx], Y[idx] = Xp, Yp
        info.update(percentile_meta(percentile_low, percentile_high, percentile_jitter))
    return X, Y, info


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
    """Training pairs for CARE's surface projection from simulated epithelia (:func:`epithelium`), ``n`` of
    :func:`projection_training_pair` drawn one after the other from ``rng``.

    Input ``X``: the membrane volume blurred by ``psf`` (default: the widefield PSF of
    :func:`care_bridge.data.imaging.default_psf`) and acquired with ``photons`` at the brightest voxel.
    Target ``Y``: :func:`surface_projection` of the noise-free blurred volume within ``thickness_px`` of the
    true surface, scaled to [0, 1] — what a projection of a high-SNR acquisition would show. Returns
    ``X`` float32 ``"SZYXC"``, ``Y`` float32 ``"SYXC"`` and ``info = {"axes_x", "axes_y", "heights"}``
    (``heights``: the ``"SYX"`` surfaces).
    """
    shape = check_projection_shape(n, shape_zyx)
    if psf is None:
        psf = imaging.default_psf(3, limit=shape)
    X = np.empty((n,) + shape + (1,), np.float32)
    Y = np.empty((n,) + shape[1:] + (1,), np.float32)
    H = np.empty((n,) + shape[1:], np.float32)
    for i in range(n):
        X[i, ..., 0], Y[i, ..., 0], H[i] = projection_training_pair(
            shape, photons=photons, rng=rng, psf=psf, thickness_px=thickness_px, cell_size_px=cell_size_px,
            curvature=curvature, read_noise_e=read_noise_e, background_photons=background_photons)
    return X, Y, {"axes_x": "SZYXC", "axes_y": "SYXC", "heights": H}


def check_projection_shape(n: int, shape_zyx: Sequence[int]) -> tuple[int, int, int]:
    """``shape_zyx`` as a tuple of ints, after checking it is 3D and ``n >= 1``."""
    if len(tuple(shape_zyx)) != 3:
        raise CareBridgeError(f"projection pairs need a 3D ZYX shape, got {tuple(shape_zyx)}")
    if n < 1:
        raise CareBridgeError(f"n must be >= 1, got {n}")
    return tuple(int(s) for s in shape_zyx)


def projection_training_pair(shape_zyx: tuple[int, int, int], *, photons: float, rng: np.random.Generator,
                             psf: np.ndarray, thickness_px: float = 2.0, cell_size_px: float = 12.0,
                             curvature: float = 0.5, read_noise_e: float = 1.5,
                             background_photons: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One simulated epithelium of :func:`projection_training_pairs`: its acquisition ``"ZYX"``, its target
    ``"YX"`` (scaled to [0, 1]) and its surface ``"YX"``, all float32."""
    vol, h = epithelium(shape_zyx, rng=rng, curvature=curvature, thickness_px=thickness_px,
                        cell_size_px=cell_size_px)
    blurred = imaging.blur(vol, psf)
    x = imaging.acquire(blurred, photons=photons, read_noise_e=read_noise_e, offset_adu=100.0,
                        background_photons=background_photons, rng=rng)
    proj = surface_projection(blurred, h, thickness_px)
    return (np.asarray(x, np.float32), np.asarray(proj / max(float(proj.max()), 1e-12), np.float32),
            np.asarray(h, np.float32))
