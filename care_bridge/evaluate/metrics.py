"""Image-quality metrics as used in the CARE paper.

Weigert et al. 2018 (Methods, "Evaluation"): the ground truth is normalized by its 0.1/99.9 percentiles, and
every prediction is then affinely rescaled, ``alpha * x + beta``, to minimize the mean squared error to the
normalized ground truth (so that a mere intensity offset/gain is not penalized). On these normalized images:
``NRMSE = sqrt(mean((x - gt)^2))`` (the ground truth's percentile range is 1), ``PSNR = 20 log10(1 / RMSE)`` and
SSIM (Wang et al., IEEE TIP 13:600, 2004; scikit-image) with ``data_range = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CareBridgeError
from ..normalize import normalize_percentile

GT_PERCENTILES = (0.1, 99.9)


def normalize_minmse(x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``alpha * x + beta`` with the least-squares ``alpha, beta`` to ``target`` (float64 closed form:
    ``alpha = cov(x, t) / var(x)``, ``beta = mean(t) - alpha mean(x)``)."""
    x = np.asarray(x, np.float64)
    t = np.asarray(target, np.float64)
    xm, tm = x.mean(), t.mean()
    var = ((x - xm) ** 2).mean()
    alpha = ((x - xm) * (t - tm)).mean() / var if var > 0 else 0.0
    return alpha * (x - xm) + tm


def _prepare(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape:
        raise CareBridgeError(f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}")
    for a, what in ((pred, "prediction"), (gt, "ground truth")):
        if a.size == 0:
            raise CareBridgeError(f"{what} is empty")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise CareBridgeError(f"{what} contains NaN/Inf pixels")
    g = normalize_percentile(gt, low=GT_PERCENTILES[0], high=GT_PERCENTILES[1]).astype(np.float64)
    if np.ptp(gt) == 0:
        raise CareBridgeError("ground truth is constant; metrics need a ground truth with structure")
    return normalize_minmse(pred, g), g


def nrmse(pred: np.ndarray, gt: np.ndarray) -> float:
    """Root-mean-square error after CARE normalization (ground-truth percentile range = 1)."""
    p, g = _prepare(pred, gt)
    return float(np.sqrt(np.mean((p - g) ** 2)))


def psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB after CARE normalization, ``20 log10(1 / RMSE)``."""
    e = nrmse(pred, gt)
    return float("inf") if e == 0 else float(20 * np.log10(1.0 / e))


def ssim(pred: np.ndarray, gt: np.ndarray) -> float:
    """Structural similarity (scikit-image, Gaussian-free 7-px window) after CARE normalization, data range 1."""
    from skimage.metrics import structural_similarity

    p, g = _prepare(pred, gt)
    return float(structural_similarity(g, p, data_range=1.0))


@dataclass(frozen=True)
class Scores:
    nrmse: float
    psnr: float
    ssim: float

    def row(self) -> str:
        return f"NRMSE {self.nrmse:.4f}  PSNR {self.psnr:6.2f} dB  SSIM {self.ssim:.4f}"


def scores(pred: np.ndarray, gt: np.ndarray) -> Scores:
    """All three metrics at once."""
    return Scores(nrmse(pred, gt), psnr(pred, gt), ssim(pred, gt))
