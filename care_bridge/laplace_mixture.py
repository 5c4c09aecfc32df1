"""Per-pixel Laplace distributions and their equal-weight mixtures: the numerics of CARE's reliability readouts.

Probabilistic CARE (Weigert et al., Nature Methods 2018, doi:10.1038/s41592-018-0216-7, "Reliability of image
restoration", Fig. 5 and Methods) predicts every pixel as a Laplace distribution ``Laplace(mu, b)``; an ensemble
of ``M`` such networks (deep ensembles: Lakshminarayanan, Pritzel & Blundell, NeurIPS 2017) predicts the
equal-weight mixture ``p = (1/M) sum_m Laplace(mu_m, b_m)``. Every function takes the members along axis 0
(``mu``, ``b``: shape ``(M, ...)``, any trailing pixel axes; ``M = 1`` is a single probabilistic network) and is
pure NumPy, computed in float64.

- :func:`mixture_mean`, :func:`mixture_std`: ``E[X] = mean(mu)``, ``Var[X] = mean(2 b^2) + mean((mu - E X)^2)``.
- :func:`mixture_cdf`, :func:`central_interval` (bisection on the CDF; closed form ``mu -+ b ln(1/(1-p))`` for one
  Laplace), :func:`central_level` (the smallest central interval that holds a value: ``|2 F(y) - 1|``).
- :func:`disagreement` ``D`` in ``[0, 1]``: the generalized Jensen-Shannon divergence of the members, normalized
  by its maximum ``log M``; see its docstring for the quadrature and its error bound.
- :func:`samples`: draws from the mixture with a counter-based generator keyed by the pixel's global index, so a
  pixel's samples do not depend on tiling.
- :func:`calibration_curve`, :func:`expected_calibration_error`, :func:`fit_scale_factor`: calibration of central
  intervals for regression (Kuleshov, Fenner & Ermon, ICML 2018, "Accurate uncertainties for deep learning using
  calibrated regression").
"""

from __future__ import annotations

import math

import numpy as np

from .errors import CareBridgeError

# the disagreement quadrature (see disagreement()): equal panels, Gauss-Legendre nodes per panel, geometric
# refinements towards the tails
D_PANELS = 8
D_NODES = 4
D_GRADING = 8
BULK_CUTS = (-8.0, -3.0, 0.0, 3.0, 8.0)  # other members' mean -+ these scales are panel edges
CALIBRATION_LEVELS = tuple(np.round(np.arange(0.05, 1.0, 0.05), 2))  # nominal central levels 0.05 ... 0.95


def _f64(mu, b) -> tuple[np.ndarray, np.ndarray]:
    mu, b = np.asarray(mu, np.float64), np.asarray(b, np.float64)
    if mu.shape != b.shape or mu.ndim < 1:
        raise CareBridgeError(f"means {mu.shape} and scales {b.shape} must have the same shape, members first")
    return mu, np.maximum(b, np.finfo(np.float64).tiny)


def check_level(level: float) -> float:
    """A central level ``p`` in the open interval (0, 1), else a one-line error."""
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < float(level) < 1.0:
        raise CareBridgeError(f"interval level {level!r} must lie strictly between 0 and 1 (e.g. 0.9 for 90%)")
    return float(level)


def mixture_mean(mu) -> np.ndarray:
    """Mean of the equal-weight mixture: the members' mean of ``mu``."""
    return np.mean(np.asarray(mu, np.float64), axis=0)


def mixture_std(mu, b) -> np.ndarray:
    """Standard deviation of the mixture: ``sqrt(mean(2 b^2) + mean((mu - mean(mu))^2))`` (a Laplace has
    variance ``2 b^2``), written without the cancellation of ``E[X^2] - E[X]^2``."""
    mu, b = _f64(mu, b)
    m = mu.mean(axis=0)
    return np.sqrt(np.mean(2.0 * b * b, axis=0) + np.mean((mu - m) ** 2, axis=0))


def laplace_cdf(x, mu, b) -> np.ndarray:
    """``F(x)`` of ``Laplace(mu, b)``: ``e^{(x-mu)/b} / 2`` below ``mu``, ``1 - e^{-(x-mu)/b} / 2`` above."""
    z = (np.asarray(x, np.float64) - mu) / b
    return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0.0)), 1.0 - 0.5 * np.exp(-np.maximum(z, 0.0)))


def laplace_quantile(u, mu, b) -> np.ndarray:
    """Inverse of :func:`laplace_cdf` for ``u`` in (0, 1)."""
    u = np.clip(np.asarray(u, np.float64), 1e-300, None)
    v = np.clip(1.0 - u, 1e-300, None)
    return np.where(u < 0.5, mu + b * np.log(2.0 * u), mu - b * np.log(2.0 * v))


def mixture_cdf(x, mu, b) -> np.ndarray:
    """``F(x) = (1/M) sum_m F_m(x)`` at every pixel; ``x`` has the pixel shape (no member axis)."""
    mu, b = _f64(mu, b)
    return laplace_cdf(np.asarray(x, np.float64)[None], mu, b).mean(axis=0)


def mixture_quantile(u: float, mu, b, *, iterations: int = 48) -> np.ndarray:
    """``F^{-1}(u)`` per pixel. One member: closed form. Several: bisection in ``[min_m Q_m(u), max_m Q_m(u)]``,
    which holds the root because ``F`` averages the members' CDFs; after ``iterations`` halvings the error is
    at most the bracket's width times ``2^-iterations`` (48: below float64 resolution of the bracket)."""
    mu, b = _f64(mu, b)
    q = laplace_quantile(u, mu, b)
    if mu.shape[0] == 1:
        return q[0]
    lo, hi = q.min(axis=0), q.max(axis=0)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = mixture_cdf(mid, mu, b) < u
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def central_interval(mu, b, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the central ``level`` interval per pixel: the ``(1 - p)/2`` and ``(1 + p)/2`` quantiles of the
    mixture (one Laplace: ``mu -+ b ln(1 / (1 - p))``, e.g. ``mu -+ 2.303 b`` at 90%)."""
    p = check_level(level)
    return mixture_quantile(0.5 * (1.0 - p), mu, b), mixture_quantile(0.5 * (1.0 + p), mu, b)


def central_level(y, mu, b) -> np.ndarray:
    """Per pixel, the level of the smallest central interval that contains ``y``: ``|2 F(y) - 1|``. A value
    lies inside the central ``p`` interval exactly when this is ``<= p``."""
    return np.abs(2.0 * mixture_cdf(y, mu, b) - 1.0)


def _tent_crossings(mu_i, b_i, mu_j, b_j) -> list[np.ndarray]:
    """Where the log-densities of two Laplaces cross (at most two points; the four sign cases of
    ``-log(2 b_i) - |x - mu_i| / b_i = -log(2 b_j) - |x - mu_j| / b_j``); an impossible case gives ``mu_i``."""
    out = []
    for si in (-1.0, 1.0):
        for sj in (-1.0, 1.0):
            den = sj / b_j - si / b_i
            with np.errstate(divide="ignore", invalid="ignore"):
                x = (np.log(b_i / b_j) - si * mu_i / b_i + sj * mu_j / b_j) / den
            ok = np.isfinite(x) & (np.sign(x - mu_i) == si) & (np.sign(x - mu_j) == sj)
            out.append(np.where(ok, x, mu_i))
    return out


def _base_edges(panels: int, grading: int) -> np.ndarray:
    """Panel edges on [0, 1] shared by every pixel: ``panels`` equal panels, refined geometrically (ratio 1/4)
    towards both ends ``grading`` times, where a member's far tails are."""
    g = [0.5 * 0.25 ** k for k in range(1, grading + 1)]
    return np.array(sorted(set([0.0, 1.0, *(np.arange(1, panels) / panels), *g, *(1.0 - x for x in g)])))


def disagreement(mu, b, *, panels: int = D_PANELS, nodes: int = D_NODES, grading: int = D_GRADING,
                 chunk: int = 2048) -> np.ndarray:
    """Ensemble disagreement ``D`` in ``[0, 1]`` per pixel: the mean Kullback-Leibler divergence of each member
    from the equal-weight mixture, over its maximum ``log M``,

        ``D = (1 / (M log M)) sum_m KL(p_m || p)``, a generalized Jensen-Shannon divergence.

    ``D = 0`` when all members agree, ``D -> 1`` when they are far apart relative to their scales.

    Computed through the identity ``log(p_m / p) = log M + log pi_m(x)``, where ``pi_m(x) = p_m(x) / sum_k p_k(x)``
    is the posterior probability that member ``m`` produced the value ``x``; then exactly

        ``D = 1 - E_{x ~ p}[ H(pi(x)) ] / log M``,  with ``H(pi) = -sum_m pi_m log pi_m`` in ``[0, log M]``,

    so the integrand ``h = H(pi) / log M`` is bounded in ``[0, 1]``. ``E_p[h] = (1/M) sum_m E_{p_m}[h]``, and each
    ``E_{p_m}[h] = int_0^1 h(Q_m(u)) du`` (``Q_m`` the member's quantile function) is integrated with composite
    Gauss-Legendre (``nodes`` points per panel) on panels whose edges are: ``panels`` equal panels graded
    geometrically towards both tails; and, per pixel, the images under ``F_m`` of the other members' means and
    ``mean -+ 3, 8 scales`` (their kinks and bulk, :data:`BULK_CUTS`) and of the points where member ``m``'s log-density crosses
    another's (where ``pi`` switches). Between these edges ``h`` is smooth, so the rule converges fast.

    Error bound: the weights are positive and sum to each panel's width ``w``, so a panel's error is at most
    ``w`` times the oscillation of ``h`` on it, and the total at most ``V * max w`` (``V`` the total variation of
    ``h`` along the value axis; two members: ``V <= 6``) - a worst case for step-like ``h``. Measured against
    adaptive quadrature (``scipy.integrate.quad``) over a sweep of 2-8 members, separations 0-100 scales and scale
    ratios 1-100 (180 configurations): max error 1.9e-4 in D, 5e-6 for scale ratios <= 10;
    ``tests/core/test_laplace_mixture.py`` checks 3e-4 on such a sweep. Cost: about ``4 M (24 + 9 (M - 1))``
    evaluations of ``M`` densities per pixel (five members: about 7 s per 256 x 256 pixels on one core).
    """
    mu, b = _f64(mu, b)
    m = mu.shape[0]
    if m < 2:
        raise CareBridgeError("the disagreement D needs an ensemble of at least 2 members; this model has one "
                              "(train with care-bridge train --ensemble 5)")
    xg, wg = np.polynomial.legendre.leggauss(nodes)
    xg, wg = (xg + 1.0) / 2.0, wg / 2.0
    base = _base_edges(panels, grading)
    pix_shape = mu.shape[1:]
    mu2, b2 = mu.reshape(m, -1), b.reshape(m, -1)
    out = np.empty(mu2.shape[1], np.float64)
    log_m = math.log(m)
    for s in range(0, mu2.shape[1], chunk):
        mc, bc = mu2[:, s:s + chunk], b2[:, s:s + chunk]  # (M, P)
        n_pix = mc.shape[1]
        acc = np.zeros(n_pix)
        for i in range(m):
            cuts = []
            for j in range(m):
                if j != i:
                    cuts += [mc[j] + c * bc[j] for c in BULK_CUTS]
                    cuts += _tent_crossings(mc[i], bc[i], mc[j], bc[j])
            edges = np.concatenate([np.broadcast_to(base[:, None], (base.size, n_pix)),
                                    laplace_cdf(np.stack(cuts), mc[i][None], bc[i][None])])
            edges.sort(axis=0)
            lo, width = edges[:-1], np.diff(edges, axis=0)  # (E, P)
            u = (lo[:, None] + width[:, None] * xg[None, :, None]).reshape(-1, n_pix)
            w = (width[:, None] * wg[None, :, None]).reshape(-1, n_pix)
            x = laplace_quantile(u, mc[i][None], bc[i][None])  # (N, P)
            lp = -np.abs(x[None] - mc[:, None]) / bc[:, None] - np.log(2.0 * bc[:, None])  # (M, N, P)
            lp -= lp.max(axis=0, keepdims=True)
            pk = np.exp(lp)
            tot = pk.sum(axis=0)
            ent = np.log(tot) - (pk * lp).sum(axis=0) / tot  # H(pi) = log sum p - sum p log p / sum p
            acc += (w * ent).sum(axis=0)
        out[s:s + chunk] = 1.0 - acc / (m * log_m)
    return np.clip(out, 0.0, 1.0).reshape(pix_shape)


# ------------------------------------------------------------------------------------------------ sampling
_M1, _M2, _GOLD = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (Steele, Lea & Flood, OOPSLA 2014) on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = (z + _GOLD).astype(np.uint64)
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def counter_uniform(ids: np.ndarray, seed: int, sample: int, stream: int) -> np.ndarray:
    """Uniform numbers in (0, 1), one per entry of ``ids`` (global pixel indices), that depend only on
    ``(seed, sample, stream, id)``: the same pixel gets the same number however the image is tiled."""
    key = _splitmix64(np.array([(int(seed) & 0xFFFFFFFF) << 32 | (int(sample) & 0xFFFFFF) << 8 | (stream & 0xFF)],
                               np.uint64))[0]
    z = _splitmix64(_splitmix64(np.asarray(ids, np.uint64)) ^ key)
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53


def samples(mu, b, n: int, ids: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """``n`` draws from the mixture per pixel, shape ``(n, ...)``: a member chosen uniformly, then its Laplace by
    the inverse CDF. ``ids``: the pixels' global indices (pixel shape), which key the random numbers."""
    mu, b = _f64(mu, b)
    m = mu.shape[0]
    out = np.empty((int(n),) + mu.shape[1:], np.float64)
    for k in range(int(n)):
        member = np.minimum((counter_uniform(ids, seed, k, 0) * m).astype(np.int64), m - 1)
        mk = np.take_along_axis(mu, member[None], axis=0)[0]
        bk = np.take_along_axis(b, member[None], axis=0)[0]
        out[k] = laplace_quantile(counter_uniform(ids, seed, k, 1), mk, bk)
    return out


# --------------------------------------------------------------------------------------------- calibration
def calibration_curve(levels_observed: np.ndarray, levels=CALIBRATION_LEVELS) -> np.ndarray:
    """For each nominal central level ``p``, the fraction of pixels whose :func:`central_level` is ``<= p``
    (the observed coverage of the central ``p`` intervals; a calibrated model gives ``p``)."""
    obs = np.sort(np.asarray(levels_observed, np.float64).ravel())
    if obs.size == 0:
        raise CareBridgeError("no pixels to calibrate on")
    return np.searchsorted(obs, np.asarray(levels, np.float64), side="right") / obs.size


def expected_calibration_error(levels_observed: np.ndarray, levels=CALIBRATION_LEVELS) -> float:
    """ECE for regression: the mean over the nominal levels of ``|coverage(p) - p|`` (Kuleshov et al. 2018
    weight squared gaps; the absolute gap reads directly as "intervals are off by this fraction")."""
    lv = np.asarray(levels, np.float64)
    return float(np.mean(np.abs(calibration_curve(levels_observed, lv) - lv)))


def fit_scale_factor(y, mu, b, *, levels=CALIBRATION_LEVELS, max_pixels: int = 200_000, seed: int = 0) -> float:
    """The factor ``s`` on every member's Laplace scale (``b -> s b``) that minimizes the
    :func:`expected_calibration_error` of held-out values ``y``: a search over ``log s`` in ``[-ln 100, ln 100]``
    on a grid of 81 points, refined by golden-section search around the best one. At most ``max_pixels`` pixels
    (a fixed random subset) are used."""
    mu, b = _f64(mu, b)
    y = np.asarray(y, np.float64).ravel()
    mu2, b2 = mu.reshape(mu.shape[0], -1), b.reshape(b.shape[0], -1)
    if y.size != mu2.shape[1]:
        raise CareBridgeError(f"{y.size} ground-truth pixels for {mu2.shape[1]} predicted ones; shapes must match")
    if y.size > max_pixels:
        pick = np.sort(np.random.default_rng(seed).choice(y.size, max_pixels, replace=False))
        y, mu2, b2 = y[pick], mu2[:, pick], b2[:, pick]

    def ece(log_s: float) -> float:
        return expected_calibration_error(central_level(y, mu2, b2 * math.exp(log_s)), levels)

    grid = np.linspace(-math.log(100.0), math.log(100.0), 81)
    vals = [ece(g) for g in grid]
    k = int(np.argmin(vals))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fc, fd = ece(c), ece(d)
    for _ in range(30):
        if fc <= fd:
            hi, d, fd = d, c, fc
            c = hi - ratio * (hi - lo)
            fc = ece(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + ratio * (hi - lo)
            fd = ece(d)
    best = min([(vals[k], grid[k]), (fc, c), (fd, d)])
    return float(math.exp(best[1]))
