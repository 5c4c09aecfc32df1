"""The CARE U-Net (Weigert et al. 2018, after Ronneberger et al. 2015) in Keras 3, 2D or 3D.

Input ``"S" + axes + "C"`` float32 with free spatial sizes (multiples of ``config.step``). Output: the restored
image with ``n_channel_out`` channels; a probabilistic network outputs ``2 * n_channel_out`` channels, the
Laplace mean followed by its positive scale (softplus), see :mod:`care_bridge.models.losses`.
"""

from __future__ import annotations

import re

from ..framework_env import configure_tensorflow  # noqa: E402

configure_tensorflow()

import keras  # noqa: E402
from keras import layers  # noqa: E402

from .config import CareConfig  # noqa: E402


def _conv(ndim: int):
    return layers.Conv2D if ndim == 2 else layers.Conv3D


# Keras' dtype policy of the U-Net body for each training precision (None: the global default, float32)
BODY_DTYPE = {"fp32": None, "bf16": "mixed_bfloat16"}


def body_dtype(precision: str) -> str | None:
    """The Keras dtype policy of a network body trained in ``precision`` (``fp32`` or ``bf16``)."""
    if precision not in BODY_DTYPE:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(BODY_DTYPE)}")
    return BODY_DTYPE[precision]


def build_unet(config: CareConfig, *, precision: str = "fp32") -> keras.Model:
    """A fresh, uncompiled U-Net for ``config`` (deterministic layer names, so weights load by name).

    ``precision="bf16"`` (training only): mixed precision (Micikevicius et al., "Mixed precision training",
    ICLR 2018; Kalamkar et al., "A study of BFLOAT16 for deep learning training", arXiv:1905.12322, 2019) in the
    body: its convolutions, pooling, upsampling and concatenations compute in bfloat16 (Keras ``mixed_bfloat16``:
    float32 variables, bfloat16 arithmetic), while the input, the 1x1 output convolution(s), the residual
    addition and the last activation stay float32, so the restored values are not rounded to bfloat16's 8-bit
    significand and the loss is computed on float32 outputs. The variables are float32 either way: the weights
    load unchanged into the float32 network that export and prediction build."""
    body = {"dtype": body_dtype(precision)} if body_dtype(precision) else {}
    nd = config.ndim
    Conv = _conv(nd)
    Pool = layers.MaxPooling2D if nd == 2 else layers.MaxPooling3D
    Up = layers.UpSampling2D if nd == 2 else layers.UpSampling3D
    k = (config.unet_kern_size,) * nd
    pool = tuple(config.unet_pool)
    n0, c, d = config.unet_n_first, config.unet_n_conv_per_depth, config.unet_depth

    inp = keras.Input(shape=(None,) * nd + (config.n_channel_in,), name="input")
    x = inp
    skips = []
    for n in range(d):
        for i in range(c):
            x = Conv(n0 * 2**n, k, padding="same", activation="relu", name=f"down_level_{n}_no_{i}",
                     **body)(x)
        skips.append(x)
        x = Pool(pool, name=f"max_{n}", **body)(x)
    for i in range(c - 1):
        x = Conv(n0 * 2**d, k, padding="same", activation="relu", name=f"middle_{i}", **body)(x)
    x = Conv(n0 * 2 ** max(0, d - 1), k, padding="same", activation="relu", name=f"middle_{c - 1}", **body)(x)
    for n in reversed(range(d)):
        x = layers.Concatenate(axis=-1, name=f"concat_{n}", **body)([Up(pool, name=f"up_{n}", **body)(x), skips[n]])
        for i in range(c - 1):
            x = Conv(n0 * 2**n, k, padding="same", activation="relu", name=f"up_level_{n}_no_{i}", **body)(x)
        x = Conv(n0 * 2 ** max(0, n - 1), k, padding="same", activation="relu", name=f"up_level_{n}_no_{c - 1}",
                 **body)(x)

    # the head: float32 in every precision (no dtype given: the global float32 policy)
    mean = Conv(config.n_channel_out, (1,) * nd, activation=None, name="mean")(x)
    if config.unet_residual:
        mean = layers.Add(name="residual")([mean, inp])
    if config.unet_last_activation == "relu":
        mean = layers.Activation("relu", name="mean_relu")(mean)
    if config.probabilistic:
        # squareplus (x + sqrt(x^2 + 4)) / 2 instead of softplus: the same smooth positive rectifier
        # (Barron 2021, arXiv:2112.11687), but built from +, x and sqrt, which IEEE 754 rounds exactly, so every
        # engine gives the same bits wherever a pixel sits in a tile (ONNX Runtime's vectorised exp/log do not).
        scale = Conv(config.n_channel_out, (1,) * nd, activation="squareplus", name="scale")(x)
        out = layers.Concatenate(axis=-1, name="mean_scale")([mean, scale])
    else:
        out = mean
    # TF scope names allow only [A-Za-z0-9_.-]; a user's model name like "my care 2d" must not break tracing
    return keras.Model(inp, out, name=re.sub(r"[^A-Za-z0-9_.\-]", "_", config.name) or "care")


def split_outputs(config: CareConfig, model: keras.Model) -> keras.Model:
    """A view of ``model`` with one output per declared tensor: ``[restored]`` or ``[mean, scale]``
    (what bundles expose). Shares the weights of ``model``."""
    if not config.probabilistic:
        return model
    n = config.n_channel_out
    out = model.output
    mean = layers.Lambda(lambda t: t[..., :n], name="mean_out")(out)
    scale = layers.Lambda(lambda t: t[..., n:], name="scale_out")(out)
    return keras.Model(model.input, [mean, scale], name=f"{model.name}_split")
