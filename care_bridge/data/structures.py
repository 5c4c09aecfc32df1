"""Ground-truth fluorophore distributions for synthetic training and test data (pure numpy/scipy).

Every generator returns a float32 array on the pixel grid of ``shape`` — axes ``"YX"`` for a 2-tuple,
``"ZYX"`` for a 3-tuple, pixels assumed isotropic — with values in roughly ``[0, 1]`` (overlapping objects
add up, as fluorescence does, so crossings may exceed 1). Lengths are in pixels. The structures follow the
synthetic data of CARE (Weigert et al., Nature Methods 15:1090, 2018, doi:10.1038/s41592-018-0216-7):
tube-like filaments with a persistence length, granules, smooth background and a curved epithelial sheet.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.segmentation import find_boundaries

from ..errors import CareBridgeError

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
STRUCTURES = ("blobs", "tubules", "granules", "mixed")


def _check_shape(shape: Sequence[int], ndims: tuple[int, ...] = (2, 3)) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if len(shape) not in ndims or min(shape) < 1:
        want = " or ".join(f"{d}D" for d in ndims)
        raise CareBridgeError(f"shape {shape} is not a valid {want} shape; give positive sizes, e.g. (128, 128)")
    return shape


def _filter_sigma(sigma: float) -> float:
    """Gaussian sigma to apply after :func:`_splat`: linear splatting itself blurs by a variance of 1/6 px²
    on average (``E[f (1 - f)]`` for a uniform sub-pixel offset ``f``), so the total matches ``sigma``."""
    return float(np.sqrt(max(sigma**2 - 1.0 / 6.0, 0.1)))


def _splat(shape: tuple[int, ...], points: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Deposit point masses at sub-pixel ``points`` (N, ndim) with linear interpolation weights."""
    out = np.zeros(int(np.prod(shape)), np.float64)
    if len(points) == 0:
        return out.reshape(shape)
    w0 = np.ones(len(points)) if weights is None else np.asarray(weights, np.float64)
    base = np.floor(points).astype(np.int64)
    frac = points - base
    for corner in np.ndindex(*(2,) * len(shape)):
        idx = base + np.asarray(corner)
        w = w0 * np.prod(np.where(np.asarray(corner, bool), frac, 1.0 - frac), axis=1)
        ok = np.all((idx >= 0) & (idx < np.asarray(shape)), axis=1)
        flat = np.ravel_multi_index(tuple(idx[ok].T), shape)
        out += np.bincount(flat, weights=w[ok], minlength=out.size)
    return out.reshape(shape)


def blobs(shape: Sequence[int], n: int, radius_px: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` Gaussian blobs at uniformly random sub-pixel positions, each with peak 1 at its centre.

    ``radius_px`` is the 1/e² radius (intensity ``exp(-2 r²/radius²)``, i.e. sigma = radius/2).
    """
    shape = _check_shape(shape)
    if radius_px <= 0 or n < 0:
        raise CareBridgeError(f"blobs need n >= 0 and radius_px > 0, got n={n}, radius_px={radius_px}")
    dims = np.asarray(shape)
    sigma = radius_px / 2.0
    reach = int(np.ceil(4 * sigma))
    img = np.zeros(shape, np.float32)
    for _ in range(int(n)):
        c = rng.uniform(0, 1, len(shape)) * (dims - 1)
        lo = np.maximum(np.floor(c).astype(int) - reach, 0)
        hi = np.minimum(np.floor(c).astype(int) + reach + 2, dims)
        grids = np.ogrid[tuple(slice(a, e) for a, e in zip(lo, hi))]
        r2 = sum((g - ci) ** 2 for g, ci in zip(grids, c))
        img[tuple(slice(a, e) for a, e in zip(lo, hi))] += np.exp(-r2 / (2 * sigma**2)).astype(np.float32)
    return img


def worm_like_chain(
    n_steps: int, ndim: int, *, step_px: float, persistence_length_px: float, rng: np.random.Generator
) -> np.ndarray:
    """Coordinates (n_steps + 1, ndim) of a discrete worm-like chain starting at the origin.

    The tangent performs a random walk: per step of length ``step_px`` the tangent angle (2D), or each of
    its two perpendicular components (3D), changes by a normal variate of variance
    ``step_px / persistence_length_px``. The tangent correlation then decays as
    ``<t(s)·t(0)> = exp(-s / (2 Lp))`` in 2D (the 2D worm-like chain, Rivetti et al. J Mol Biol 1996) and
    ``exp(-s / Lp)`` in 3D, with ``Lp = persistence_length_px``.
    """
    if persistence_length_px <= 0 or step_px <= 0:
        raise CareBridgeError("worm-like chain needs persistence_length_px > 0 and step_px > 0")
    sd = np.sqrt(step_px / persistence_length_px)
    if ndim == 2:
        theta = rng.uniform(0, 2 * np.pi) + np.concatenate([[0.0], np.cumsum(rng.normal(0, sd, n_steps - 1))])
        tangents = np.stack([np.sin(theta), np.cos(theta)], axis=1)
    elif ndim == 3:
        t = rng.normal(size=3)
        t /= np.linalg.norm(t)
        tangents = np.empty((n_steps, 3))
        kicks = rng.normal(0, sd, (n_steps, 3))
        for i in range(n_steps):
            tangents[i] = t
            kick = kicks[i] - kicks[i].dot(t) * t  # perpendicular part: two components of variance sd²
            t = t + kick
            t /= np.linalg.norm(t)
    else:
        raise CareBridgeError(f"worm-like chains exist in 2D or 3D, not {ndim}D")
    return np.concatenate([np.zeros((1, ndim)), np.cumsum(tangents * step_px, axis=0)])


def filaments(
    shape: Sequence[int],
    *,
    n: int,
    persistence_length_px: float,
    width_px: float,
    length_px: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n`` smooth random filaments (microtubule-like tubes), each a worm-like chain.

    Each chain (see :func:`worm_like_chain`) of contour length ``length_px`` is centred on a uniformly random
    point and drawn with a Gaussian cross-section of full width at half maximum ``width_px``; an isolated
    filament peaks at ~1, crossings add. Works for 2D (``"YX"``) and 3D (``"ZYX"``) shapes.
    """
    shape = _check_shape(shape)
    if n < 0 or width_px <= 0 or length_px <= 0:
        raise CareBridgeError(f"filaments need n >= 0, width_px > 0, length_px > 0 (got {n}, {width_px}, {length_px})")
    step = 0.5
    n_steps = max(2, int(round(length_px / step)))
    pts = []
    for _ in range(int(n)):
        chain = worm_like_chain(
            n_steps, len(shape), step_px=step, persistence_length_px=persistence_length_px, rng=rng
        )
        centre = rng.uniform(0, 1, len(shape)) * (np.asarray(shape) - 1)
        pts.append(chain - chain.mean(axis=0) + centre)
    pts = np.concatenate(pts) if pts else np.zeros((0, len(shape)))
    sigma = max(width_px / FWHM_PER_SIGMA, 0.5)
    img = ndimage.gaussian_filter(_splat(shape, pts), _filter_sigma(sigma), mode="constant")
    # a line of linear density 1/step blurred by a Gaussian peaks at (1/step) / (sqrt(2 pi) sigma)^(ndim-1)
    img *= step * (np.sqrt(2 * np.pi) * sigma) ** (len(shape) - 1)
    return img.astype(np.float32)


def granules(
    shape: Sequence[int],
    *,
    n: int,
    radius_range_px: tuple[float, float],
    brightness_range: tuple[float, float],
    rng: np.random.Generator,
) -> np.ndarray:
    """``n`` solid spheres (discs in 2D) with anti-aliased edges, e.g. vesicles or stress granules.

    Radius and brightness are drawn uniformly from the given ranges; each granule is a ball of constant
    brightness whose edge falls off linearly over one pixel.
    """
    shape = _check_shape(shape)
    (r0, r1), (b0, b1) = radius_range_px, brightness_range
    if not (0 < r0 <= r1) or not (0 <= b0 <= b1):
        raise CareBridgeError(f"granules need 0 < r_min <= r_max and 0 <= b_min <= b_max, got {radius_range_px}, "
                              f"{brightness_range}")
    img = np.zeros(shape, np.float32)
    dims = np.asarray(shape)
    for _ in range(int(n)):
        c = rng.uniform(0, 1, len(shape)) * (dims - 1)
        r = rng.uniform(r0, r1)
        b = rng.uniform(b0, b1)
        lo = np.maximum(np.floor(c - r - 1), 0).astype(int)
        hi = np.minimum(np.ceil(c + r + 2), dims).astype(int)
        grids = np.ogrid[tuple(slice(a, e) for a, e in zip(lo, hi))]
        dist = np.sqrt(sum((g - ci) ** 2 for g, ci in zip(grids, c)))
        box = tuple(slice(a, e) for a, e in zip(lo, hi))
        img[box] += (b * np.clip(r + 0.5 - dist, 0.0, 1.0)).astype(np.float32)
    return img


def perlin_background(shape: Sequence[int], *, scale_px: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth low-frequency noise in ``[0, 1]`` (value noise): a random lattice with spacing ``scale_px``
    interpolated with cubic splines to ``shape`` and min-max scaled. Models uneven background or
    autofluorescence; features have a size of about ``scale_px``."""
    shape = _check_shape(shape)
    if scale_px <= 0:
        raise CareBridgeError(f"scale_px must be > 0, got {scale_px}")
    lattice_shape = [max(2, int(np.ceil(s / scale_px)) + 2) for s in shape]
    lattice = rng.uniform(0, 1, lattice_shape)
    # the lattice spans slightly more than the image so that borders are not pinned to lattice values
    coords = np.meshgrid(
        *[np.linspace(1.0, 1.0 + (s - 1) / scale_px, s) if s > 1 else np.ones(1) for s in shape],
        indexing="ij",
        sparse=False,
    )
    img = ndimage.map_coordinates(lattice, coords, order=3, mode="nearest")
    lo, hi = img.min(), img.max()
    return ((img - lo) / (hi - lo + 1e-12)).astype(np.float32)


def two_filaments(shape: Sequence[int], separation_px: float, width_px: float) -> np.ndarray:
    """Two parallel straight filaments along Y, ``separation_px`` apart in X, centred in the image.

    Each has a Gaussian cross-section of FWHM ``width_px`` and peak 1 (in 3D they lie in the central Z
    plane, with the same Gaussian profile in Z). Deterministic: a test target for resolution measurements
    (see :mod:`care_bridge.evaluate.resolution`).
    """
    shape = _check_shape(shape)
    if separation_px < 0 or width_px <= 0:
        raise CareBridgeError(
            f"two_filaments needs separation_px >= 0 and width_px > 0, got {separation_px}, {width_px}"
        )
    sigma = width_px / FWHM_PER_SIGMA
    x = np.arange(shape[-1]) - (shape[-1] - 1) / 2.0
    prof = np.exp(-((x - separation_px / 2) ** 2) / (2 * sigma**2))
    prof += np.exp(-((x + separation_px / 2) ** 2) / (2 * sigma**2))
    img = np.broadcast_to(prof, shape).astype(np.float32)
    if len(shape) == 3:
        z = np.arange(shape[0]) - (shape[0] - 1) / 2.0
        img = img * np.exp(-(z**2) / (2 * sigma**2)).astype(np.float32)[:, None, None]
    return np.ascontiguousarray(img)


def epithelium(
    shape_zyx: Sequence[int],
    *,
    rng: np.random.Generator,
    curvature: float = 0.5,
    thickness_px: float = 2.0,
    cell_size_px: float = 12.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A curved, membrane-labelled epithelial sheet (like the fly wing of CARE's projection task).

    The sheet is a smooth height surface ``z = h(y, x)``: a dome whose peak-to-rim height is ``curvature``
    times the usable Z range, plus a gentle undulation. Cells are Voronoi polygons of a jittered lattice with
    spacing ``cell_size_px`` in (y, x); their outlines (membranes) are drawn on the surface with a Gaussian
    profile in Z of FWHM ``thickness_px``.

    Returns ``(volume, height)``: the float32 ``"ZYX"`` volume in [0, 1] and the float32 ``"YX"`` height map
    (in Z pixels).
    """
    shape = _check_shape(shape_zyx, (3,))
    nz, ny, nx = shape
    if thickness_px <= 0 or cell_size_px < 2 or not 0 <= curvature <= 1:
        raise CareBridgeError("epithelium needs thickness_px > 0, cell_size_px >= 2 and 0 <= curvature <= 1")
    margin = min(2 * thickness_px, (nz - 1) / 4)
    usable = max(nz - 1 - 2 * margin, 0.0)
    yy, xx = np.meshgrid(np.linspace(-1, 1, ny), np.linspace(-1, 1, nx), indexing="ij")
    dome = 1.0 - 0.5 * (yy**2 + xx**2)  # 1 at the centre, 0 in the corners
    wobble = perlin_background((ny, nx), scale_px=max(ny, nx) / 2, rng=rng) - 0.5
    flat_level = 0.5
    rel = flat_level + curvature * (dome - 0.5) + 0.1 * (1 - curvature) * wobble
    height = (margin + usable * np.clip(rel, 0, 1)).astype(np.float32)

    # Voronoi cells of a jittered square lattice: roughly equal cell areas, like a real epithelium
    gy = np.arange(-cell_size_px / 2, ny + cell_size_px, cell_size_px)
    gx = np.arange(-cell_size_px / 2, nx + cell_size_px, cell_size_px)
    seeds = np.stack(np.meshgrid(gy, gx, indexing="ij"), -1).reshape(-1, 2)
    seeds += rng.uniform(-0.35, 0.35, seeds.shape) * cell_size_px
    pix = np.stack(np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij"), -1).reshape(-1, 2)
    labels = cKDTree(seeds).query(pix)[1].reshape(ny, nx)
    membrane = find_boundaries(labels, mode="inner").astype(np.float64)
    membrane = ndimage.gaussian_filter(membrane, 0.5)
    membrane /= membrane.max() + 1e-12

    sigma_z = thickness_px / FWHM_PER_SIGMA
    z = np.arange(nz, dtype=np.float64)[:, None, None]
    volume = membrane[None] * np.exp(-((z - height[None]) ** 2) / (2 * sigma_z**2))
    return volume.astype(np.float32), height


def ground_truth(shape: Sequence[int], structure: str, rng: np.random.Generator) -> np.ndarray:
    """A default ground truth for ``structure`` in :data:`STRUCTURES`, densities scaled with the image size.

    ``"tubules"``: worm-like filaments; ``"blobs"``: Gaussian blobs; ``"granules"``: solid granules;
    ``"mixed"``: tubules + granules + a weak smooth background (CARE's synthetic tubulin/granule data).
    """
    shape = _check_shape(shape)
    if structure not in STRUCTURES:
        raise CareBridgeError(f"unknown structure {structure!r}; choose one of {', '.join(STRUCTURES)}")
    lateral = float(np.sqrt(shape[-1] * shape[-2]))
    area = shape[-1] * shape[-2] / 64.0**2
    depth = 1.0 if len(shape) == 2 else max(1.0, shape[0] / 16.0)
    count = lambda per_64sq: max(1, int(round(per_64sq * area * depth)))  # noqa: E731
    if structure == "blobs":
        return blobs(shape, count(12), 4.0, rng)
    if structure == "tubules":
        return filaments(shape, n=count(4), persistence_length_px=2 * lateral, width_px=2.0,
                         length_px=lateral, rng=rng)
    if structure == "granules":
        return granules(shape, n=count(20), radius_range_px=(1.0, 3.0), brightness_range=(0.4, 1.0), rng=rng)
    fil = filaments(shape, n=count(3), persistence_length_px=2 * lateral, width_px=2.0, length_px=lateral,
                    rng=rng)
    gran = granules(shape, n=count(8), radius_range_px=(1.0, 2.5), brightness_range=(0.3, 0.8), rng=rng)
    bg = perlin_background(shape, scale_px=lateral / 3, rng=rng)
    return (fil + gran + 0.1 * bg).astype(np.float32)
