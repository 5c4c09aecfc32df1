"""Training losses: MAE (CARE's default), MSE and the Laplace negative log-likelihood.

Probabilistic CARE (Weigert et al. 2018, Methods "Probabilistic prediction") models every pixel as a Laplace
distribution with mean ``mu`` and scale ``s``; the per-pixel negative log-likelihood is
``|y - mu| / s + log(2 s)``. Its minimum over ``s`` is at ``s = |y - mu|``.
"""

from __future__ import annotations

from keras import ops


def mae(y_true, y_pred):
    return ops.mean(ops.abs(y_pred - y_true))


def mse(y_true, y_pred):
    return ops.mean(ops.square(y_pred - y_true))


def laplace_nll(n_channel_out: int):
    """Loss for a network whose last axis holds ``n`` mean channels followed by ``n`` scale channels."""

    def laplace(y_true, y_pred):
        mu = y_pred[..., :n_channel_out]
        s = y_pred[..., n_channel_out:] + 1e-6
        return ops.mean(ops.abs(y_true - mu) / s + ops.log(2.0 * s))

    return laplace


def laplace_nll_numpy(y, mu, s):
    """Reference NumPy form of the per-pixel Laplace NLL, ``|y - mu| / s + log(2 s)`` (mean over pixels)."""
    import numpy as np

    return float(np.mean(np.abs(y - mu) / s + np.log(2 * s)))


def loss_for(config):
    if config.loss == "laplace":
        return laplace_nll(config.n_channel_out)
    return {"mae": mae, "mse": mse}[config.loss]
