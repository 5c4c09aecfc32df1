"""Classical denoising baselines to compare CARE against (scikit-image / scipy), all ``"YX"`` or ``"ZYX"``."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import CareBridgeError


def gaussian(image: np.ndarray, *, sigma: float = 1.0) -> np.ndarray:
    """Gaussian filter (scipy.ndimage) with standard deviation ``sigma`` pixels."""
    return ndimage.gaussian_filter(np.asarray(image, np.float32), sigma)


def median(image: np.ndarray, *, size: int = 3) -> np.ndarray:
    """Median filter over a ``size``-pixel cube."""
    return ndimage.median_filter(np.asarray(image, np.float32), size=size)


def nl_means(image: np.ndarray, *, patch_size: int = 5, patch_distance: int = 6) -> np.ndarray:
    """Non-local means (Buades et al., CVPR 2005; scikit-image) with the noise level estimated from the image."""
    from skimage.restoration import denoise_nl_means, estimate_sigma

    x = np.asarray(image, np.float32)
    sigma = float(np.mean(estimate_sigma(x)))
    return denoise_nl_means(x, h=0.8 * sigma, sigma=sigma, patch_size=patch_size,
                            patch_distance=patch_distance, fast_mode=True).astype(np.float32)


BASELINES = {"gaussian": gaussian, "median": median, "nl_means": nl_means}


def baseline(name: str, image: np.ndarray) -> np.ndarray:
    if name not in BASELINES:
        raise CareBridgeError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
    return BASELINES[name](image)
