"""Evaluation: CARE-paper metrics, classical baselines (and resolution measures in ``resolution``)."""

from .metrics import Scores, normalize_minmse, nrmse, psnr, scores, ssim

__all__ = ["Scores", "normalize_minmse", "nrmse", "psnr", "scores", "ssim"]
