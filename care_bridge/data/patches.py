"""Training patches: foreground-biased random sampling, augmentation, CARE normalization, streaming.

Following CARE/CSBDeep (Weigert et al., Nature Methods 2018, Methods "Image normalization"; CSBDeep's
``create_patches`` with ``no_background_patches`` and ``norm_percentiles``): a patch is kept only if its ground
truth holds enough foreground, i.e. the max-filtered target (filter size = patch size / 2) exceeds ``threshold``
times the image's ``percentile``-th percentile at the patch centre. Patches are then normalized with the
percentiles of their **whole source image** (input and target each by their own image, per channel) — exactly
as prediction normalizes a whole input image. The percentile levels are drawn per patch, uniformly from
``low ∈ [1, 3]`` and ``high ∈ [99.5, 99.9]`` (CSBDeep's ``sample_percentiles`` defaults), unless fixed levels
are given. Normalizing each patch by its own percentiles (``normalization="patch"``) is kept as an explicit
option; it departs from CARE.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter

from ..axes import check_axes, move_axes
from ..errors import CareBridgeError
from ..normalize import DEFAULT_EPS, DEFAULT_HIGH, DEFAULT_LOW, check_finite
from .patch_store import PatchFileWriter, PatchRows, open_patch_file, write_patch_file

PATCH_AXES_2D, PATCH_AXES_3D = "SYXC", "SZYXC"


@dataclass
class PatchReport:
    """What data generation did: kept and rejected (background) patch counts per image."""

    n_images: int = 0
    n_patches: int = 0
    n_rejected_background: int = 0
    per_image: dict[str, dict[str, int]] = field(default_factory=dict)
    axes: str = ""
    patch_shape: tuple[int, ...] = ()

    def summary(self) -> str:
        tried = self.n_patches + self.n_rejected_background
        return (
            f"{self.n_patches} patches from {self.n_images} image(s); "
            f"{self.n_rejected_background} of {tried} candidates rejected as background"
        )


def check_threshold(threshold: float) -> float:
    """A foreground threshold: a fraction of the image's robust maximum, ``0 <= threshold <= 1`` (as CSBDeep)."""
    if not (np.isfinite(threshold) and 0 <= threshold <= 1):
        raise CareBridgeError(f"the foreground threshold must be between 0 and 1, got {threshold}")
    return float(threshold)


def foreground_mask(
    y: np.ndarray, patch_shape: Sequence[int], *, threshold: float = 0.4, percentile: float = 99.9
) -> np.ndarray:
    """Pixels that may serve as patch centres: max-filtered ``y`` above ``threshold x percentile(y)``
    (CSBDeep ``no_background_patches``: filter size half the patch, ``0 <= threshold <= 1``)."""
    check_threshold(threshold)
    filt = maximum_filter(y, size=[max(1, p // 2) for p in patch_shape], mode="constant")
    return filt > threshold * np.percentile(y, percentile)


def sample_patches(
    x: np.ndarray,
    y: np.ndarray,
    patch_shape: Sequence[int],
    n_patches: int,
    *,
    rng: np.random.Generator,
    threshold: float = 0.4,
    percentile: float = 99.9,
    max_tries_factor: int = 20,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Random patches (spatial axes, then channels last) biased away from background.

    ``x``/``y`` are ``"<spatial>C"`` arrays; returns ``(X, Y, n_rejected)`` with ``X``/``Y`` shaped
    ``(n, *patch_shape, C)``, copied as float32. Candidates whose centre lies in background are counted as
    rejected; if an image has no foreground at all, every candidate is rejected and none is returned.
    """
    sp = x.shape[:-1]
    patch_shape = tuple(int(p) for p in patch_shape)
    if len(patch_shape) != len(sp):
        raise CareBridgeError(f"patch shape {patch_shape} needs {len(sp)} entries (one per spatial axis)")
    if any(p > s for p, s in zip(patch_shape, sp)):
        raise CareBridgeError(
            f"image of spatial shape {sp} is smaller than one patch {patch_shape}; use a smaller --patch-shape"
        )
    mask = foreground_mask(y.max(axis=-1), patch_shape, threshold=threshold, percentile=percentile)
    # valid centres: the patch must fit inside the image
    valid = np.zeros_like(mask)
    inner = tuple(slice(p // 2, s - (p - p // 2) + 1) for p, s in zip(patch_shape, sp))
    valid[inner] = True
    lo = [p // 2 for p in patch_shape]
    Xs, Ys, rejected = [], [], 0
    tries = 0
    while len(Xs) < n_patches and tries < n_patches * max_tries_factor:
        tries += 1
        c = tuple(int(rng.integers(l, s - (p - l) + 1)) for l, p, s in zip(lo, patch_shape, sp))
        if not (valid[c] and mask[c]):
            rejected += 1
            continue
        sl = tuple(slice(ci - l, ci - l + p) for ci, l, p in zip(c, lo, patch_shape))
        Xs.append(np.asarray(x[sl], np.float32))
        Ys.append(np.asarray(y[sl], np.float32))
    if not Xs:
        shape = (0, *patch_shape, x.shape[-1])
        return np.zeros(shape, np.float32), np.zeros((0, *patch_shape, y.shape[-1]), np.float32), rejected
    return np.stack(Xs), np.stack(Ys), rejected


def augment(X: np.ndarray, Y: np.ndarray, rng: np.random.Generator, *, rotate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Random flips and (for square YX patches) 90° rotations in the YX plane; batch axis first, channels
    last. The same transform is applied to ``X[i]`` and ``Y[i]``."""
    X, Y = X.copy(), Y.copy()
    ya, xa = X.ndim - 3, X.ndim - 2
    for i in range(len(X)):
        k = int(rng.integers(4)) if rotate and X.shape[ya] == X.shape[xa] else 0
        fy, fx = rng.random() < 0.5, rng.random() < 0.5
        for A in (X, Y):
            a = A[i]
            if k:
                a = np.rot90(a, k, axes=(ya - 1, xa - 1))
            if fy:
                a = np.flip(a, axis=ya - 1)
            if fx:
                a = np.flip(a, axis=xa - 1)
            A[i] = a
    return X, Y


SAMPLED_LOW, SAMPLED_HIGH = (1.0, 3.0), (99.5, 99.9)  # CSBDeep's sample_percentiles() ranges
NORMALIZATIONS = ("image", "patch")


def percentile_levels(n: int, rng: np.random.Generator, *, low: float | None = None, high: float | None = None,
                      jitter: float = 0.0) -> np.ndarray:
    """``(n, 2)`` percentile levels (low, high), one pair per patch: fixed ``low``/``high`` (± ``jitter`` on the
    low one and ± ``jitter / 4`` on the high one, clamped to [0, 100]) or, when they are None, drawn uniformly
    from :data:`SAMPLED_LOW` and :data:`SAMPLED_HIGH` as CSBDeep does."""
    if low is None or high is None:
        if jitter:
            raise CareBridgeError("percentile jitter needs fixed percentiles (--percentiles LOW HIGH)")
        return np.stack([rng.uniform(*SAMPLED_LOW, n), rng.uniform(*SAMPLED_HIGH, n)], axis=1)
    if not 0 <= low < high <= 100:
        raise CareBridgeError(f"percentiles must satisfy 0 <= low < high <= 100, got {low}, {high}")
    lo = np.full(n, float(low))
    hi = np.full(n, float(high))
    if jitter:
        lo = np.clip(rng.uniform(low - jitter, low + jitter, n), 0, 100)
        hi = np.clip(rng.uniform(high - jitter / 4, high + jitter / 4, n), lo + 1e-3, 100)
    return np.stack([lo, hi], axis=1)


def percentile_meta(low: float | None, high: float | None, jitter: float = 0.0) -> dict:
    """What a patch file records about its normalization levels (fixed, or drawn from CSBDeep's ranges)."""
    sampled = low is None or high is None
    return {"percentiles": None if sampled else [low, high],
            "percentile_ranges": [list(SAMPLED_LOW), list(SAMPLED_HIGH)] if sampled else None,
            "percentile_jitter": jitter}


def image_percentiles(img: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-patch ``levels`` (``(n, 2)``: low, high) percentiles of the whole image ``img`` (``"<spatial>C"``,
    or samples ``"NC"``) per channel: ``(low, high)``, each ``(n, C)``."""
    img = np.asarray(img, np.float64)
    red = tuple(range(img.ndim - 1))
    return np.percentile(img, levels[:, 0], axis=red), np.percentile(img, levels[:, 1], axis=red)


def normalize_rows(A: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, eps: float = DEFAULT_EPS) -> None:
    """In place, patch ``i`` of ``A`` (``"S<spatial>C"``) mapped per channel by ``lo[i]``, ``hi[i]``
    (:func:`image_percentiles`): ``(v - lo) / (hi - lo + eps)``."""
    expand = (slice(None),) + (None,) * (A.ndim - 2) + (slice(None),)
    A -= lo[expand].astype(np.float32)
    A /= (hi - lo + eps)[expand].astype(np.float32)


def normalize_with_image_percentiles(X: np.ndarray, Y: np.ndarray, x: np.ndarray, y: np.ndarray,
                                     levels: np.ndarray, *, eps: float = DEFAULT_EPS) -> None:
    """In place, CARE's normalization: patch ``i`` of ``X`` (``"S<spatial>C"``) is mapped by the ``levels[i]``
    percentiles of the whole source image ``x`` (``"<spatial>C"``), per channel, ``(v - p_low) / (p_high - p_low
    + eps)``; ``Y`` likewise by the same levels of ``y``. ``x`` and ``y`` may differ in shape and
    dimensionality (e.g. ``x`` the samples of a degraded stack, ``"NC"``). A stream that makes one source's
    patches chunk by chunk computes :func:`image_percentiles` once and applies :func:`normalize_rows` per chunk."""
    stats = image_percentiles(x, levels)
    normalize_rows(X, *stats, eps=eps)
    if y is not x:  # the same image for both (isotropic data): its percentiles once
        stats = image_percentiles(y, levels)
    normalize_rows(Y, *stats, eps=eps)


def normalize_patch_pairs(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    low: float = DEFAULT_LOW,
    high: float = DEFAULT_HIGH,
    jitter: float = 0.0,
    eps: float = DEFAULT_EPS,
    rng: np.random.Generator | None = None,
) -> None:
    """In place: normalize each patch pair by its own percentiles (per channel) — ``normalization="patch"``, a
    departure from CARE kept as an explicit option; with ``jitter`` > 0 the percentiles are drawn uniformly from
    ``low ± jitter`` and ``high ± jitter/4`` (clamped to [0, 100])."""
    rng = rng or np.random.default_rng(0)
    red = tuple(range(X.ndim - 2))  # spatial axes of one patch ("<spatial>C")
    for A in (X, Y):
        for i in range(len(A)):
            lo_p, hi_p = low, high
            if jitter:
                lo_p = float(np.clip(rng.uniform(low - jitter, low + jitter), 0, 100))
                hi_p = float(np.clip(rng.uniform(high - jitter / 4, high + jitter / 4), lo_p + 1e-3, 100))
            p = np.percentile(A[i], [lo_p, hi_p], axis=red, keepdims=True)
            A[i] -= p[0].astype(np.float32)
            A[i] /= (p[1] - p[0] + eps).astype(np.float32)


def create_patches(
    pairs: Iterable[tuple[str, np.ndarray, np.ndarray]],
    axes: str,
    patch_shape: Sequence[int],
    n_patches_per_image: int,
    out: str | Path,
    *,
    seed: int = 0,
    augment_flips: bool = True,
    percentile_low: float | None = None,
    percentile_high: float | None = None,
    percentile_jitter: float = 0.0,
    normalization: str = "image",
    threshold: float = 0.4,
    overwrite: bool = False,
    progress: bool = True,
    description: str = "",
) -> PatchReport:
    """Stream ``(name, low, high)`` pairs image by image into normalized float32 patches saved in ``out``
    (a patch file, :mod:`care_bridge.data.patch_store`: ``X``, ``Y``, ``axes``, ``source`` and a JSON ``report``).

    ``axes`` describe the raw arrays (``"YX"``, ``"ZYX"``, ``"CYX"``, ``"CZYX"``); patches have axes
    ``"SYXC"`` or ``"SZYXC"``. Only one raw image and its patches are in memory at any time (the patches of the
    images before wait on disk beside ``out``; the file appears, whole, when all are done).
    ``normalization``: ``"image"`` (CARE, default; see the module docstring) or ``"patch"``; percentile levels
    are sampled per patch unless ``percentile_low``/``percentile_high`` fix them.
    """
    if normalization not in NORMALIZATIONS:
        raise CareBridgeError(f"normalization {normalization!r} is unknown; choose image (CARE) or patch")
    if normalization == "patch" and (percentile_low is None or percentile_high is None):
        percentile_low, percentile_high = DEFAULT_LOW, DEFAULT_HIGH
    axes = check_axes(axes)
    spatial = "".join(a for a in "ZYX" if a in axes)
    if spatial not in ("YX", "ZYX"):
        raise CareBridgeError(f"axes {axes!r} must contain YX (2D) or ZYX (3D)")
    extra = [a for a in axes if a not in spatial + "C"]
    if extra:
        raise CareBridgeError(f"axes {axes!r}: axis {''.join(extra)} is not supported for patches; use C, Z, Y, X")
    check_threshold(threshold)
    rng = np.random.default_rng(seed)
    report = PatchReport(axes=spatial, patch_shape=tuple(int(p) for p in patch_shape))
    names: list[str] = []
    it = pairs
    if progress:
        from tqdm import tqdm

        it = tqdm(pairs, desc="patches", unit="image", disable=os.environ.get("CARE_BRIDGE_NO_PROGRESS") == "1")
    # one image's patches in memory at a time: each image's go to disk before the next image is read
    with PatchFileWriter(out, overwrite=overwrite) as writer:
        for name, x, y in it:
            for arr, what in ((x, f"{name} (low)"), (y, f"{name} (high)")):
                check_axes(axes, arr.ndim)
                check_finite(arr, what)
            xc = move_axes(x, axes, spatial + "C")
            yc = move_axes(y, axes, spatial + "C")
            X, Y, rej = sample_patches(xc, yc, patch_shape, n_patches_per_image, rng=rng, threshold=threshold)
            report.n_images += 1
            report.n_rejected_background += rej
            report.per_image[name] = {"kept": len(X), "rejected": rej}
            if len(X):
                if augment_flips:
                    X, Y = augment(X, Y, rng)
                if normalization == "image":
                    levels = percentile_levels(len(X), rng, low=percentile_low, high=percentile_high,
                                               jitter=percentile_jitter)
                    normalize_with_image_percentiles(X, Y, xc, yc, levels)
                else:
                    normalize_patch_pairs(X, Y, low=percentile_low, high=percentile_high, jitter=percentile_jitter,
                                          rng=rng)
                writer.append(X, Y, len(names))
            names.append(str(name))
        if report.n_images == 0:
            raise CareBridgeError("no image pairs given")
        if not writer.n:
            raise CareBridgeError(
                f"all {report.n_rejected_background} candidate patches were rejected as background; "
                "lower the foreground threshold or check the high-SNR images"
            )
        report.n_patches = writer.n
        meta = asdict(report) | {"description": description, "normalization": normalization,
                                 **percentile_meta(percentile_low, percentile_high, percentile_jitter),
                                 "source_names": names}
        writer.commit("S" + spatial + "C", meta)
    return report


def save_patches(out: str | Path, X: np.ndarray, Y: np.ndarray, spatial: str, meta: dict, *, overwrite: bool = False,
                 sources: np.ndarray | None = None) -> Path:
    """Write patches atomically as a patch file (:mod:`care_bridge.data.patch_store`: an uncompressed ``.npz``
    that training memory-maps; no pickled objects inside).

    ``sources`` (optional, one integer per patch) says which source each patch was cut from: patches of
    different sources share no pixel (source images; for isotropic data, the planes of the stack). Their names
    go in ``meta["source_names"]`` (indexed by the integer). :func:`load_patches` holds out whole sources for
    validation when there are several."""
    return write_patch_file(out, X, Y, "S" + spatial + "C", meta, sources=sources, overwrite=overwrite)


VALIDATION_SPLITS = ("source", "patch")


def split_validation_indices(n: int, *, fraction: float = 0.1, seed: int = 0, sources: np.ndarray | None = None,
                             by: str = "source") -> tuple[np.ndarray, np.ndarray, dict]:
    """Indices ``(train, validation)`` of ``n`` patches and a description of the split.

    With ``sources`` naming at least two different sources, whole sources are held out, so that no validation
    patch shares a pixel with a training patch and the validation loss measures generalization to unseen
    images: the sources are taken in a random order fixed by ``seed``, and the first ``k`` of them are held out,
    ``k`` (1 to all but one) bringing the validation share closest to ``fraction`` (ties: the smaller ``k``).
    With few sources this share can exceed ``fraction`` (two equal images: half). Otherwise (no sources, e.g. an
    old patch file, or a single one) a random ``round(fraction · n)`` patches (at least one) are held out, as
    before sources were recorded; ``by="patch"`` asks for that rule whatever the sources."""
    if by not in VALIDATION_SPLITS:
        raise CareBridgeError(f"validation split {by!r} is unknown; choose source or patch")
    if n < 2:
        raise CareBridgeError(f"{n} patch(es) cannot be split; need at least 2 for a train/validation split")
    if not 0 < fraction < 1:
        raise CareBridgeError(f"validation fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    ids = None if sources is None or by == "patch" else np.unique(sources)
    if ids is None or len(ids) < 2:
        idx = rng.permutation(n)
        n_val = max(1, int(round(fraction * n)))
        return idx[n_val:], idx[:n_val], {"by": "patch", "fraction": n_val / n}
    sources = np.asarray(sources)
    order = rng.permutation(ids)
    counts = np.array([np.count_nonzero(sources == s) for s in order])
    held = np.cumsum(counts)[:-1]  # k = 1 .. len(ids) - 1 sources held out
    k = int(np.argmin(np.abs(held - fraction * n))) + 1
    is_val = np.isin(sources, order[:k])
    val, train = np.flatnonzero(is_val), np.flatnonzero(~is_val)
    return train, val, {"by": "source", "fraction": len(val) / n, "n_sources": int(len(ids)),
                        "validation_sources": sorted(int(s) for s in order[:k])}


def load_patches(path: str | Path, *, validation_fraction: float = 0.1, seed: int = 0, split: str = "source",
                 lazy: bool = False):
    """Load a patch file → ``(X_train, Y_train, X_val, Y_val, axes, meta)``, split by
    :func:`split_validation_indices` with ``seed``: whole sources held out when the file records at least two
    (``split="patch"``: random patches whatever the sources), else random patches (at least one).
    ``meta["validation_split"]`` describes the split (by source: the held-out sources' names).

    ``lazy=True``: the four are :class:`~care_bridge.data.patch_store.PatchRows`, subsets of the file's patches,
    memory-mapped where the file allows (files written by this version), read batch by batch by the trainer; else
    arrays in memory."""
    pf = open_patch_file(path)
    p, X, Y, meta, sources = pf.path, pf.X, pf.Y, pf.meta, pf.sources
    if X.ndim < 3 or Y.ndim not in (X.ndim, X.ndim - 1) or len(Y) != len(X) or X.dtype.kind not in "uif" \
            or Y.dtype.kind not in "uif":  # a projection's targets drop the Z axis of its inputs
        raise CareBridgeError(f"{p} holds inputs {X.shape} {X.dtype} and targets {Y.shape} {Y.dtype} that do not "
                              "pair up (one numeric target per input patch); re-create it with care-bridge datagen")
    if len(X) < 2:
        raise CareBridgeError(f"{p} holds {len(X)} patch(es); need at least 2 for a train/validation split")
    if sources is not None and sources.shape != (len(X),):
        raise CareBridgeError(f"{p} records {sources.size} sources for {len(X)} patches; re-create it with "
                              "care-bridge datagen")
    t, v, how = split_validation_indices(len(X), fraction=validation_fraction, seed=seed, sources=sources, by=split)
    names = meta.pop("source_names", None) or []
    if how["by"] == "source":
        how["validation_sources"] = [names[s] if s < len(names) else str(s) for s in how["validation_sources"]]
    meta["validation_split"] = how
    if lazy:
        return PatchRows(X, t), PatchRows(Y, t), PatchRows(X, v), PatchRows(Y, v), pf.axes, meta
    return X[t], Y[t], X[v], Y[v], pf.axes, meta
