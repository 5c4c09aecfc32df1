"""Axial upsampling network (CARE, Weigert et al. 2018, "axial resolution" / CSBDeep ``UpsamplingCARE``).

Input ``"SZYXC"`` float32 with ``nz`` planes; output ``"SZYXC"`` with ``nz * f`` planes. Plane ``k`` of the
input lies on output plane ``k * f`` (the convention of :func:`care_bridge.data.modes.axial_training_pairs`,
``X = Y[::f]``). The front is a *fixed* (non-trainable) linear interpolation along Z, written as a transposed
convolution with stride ``(f, 1, 1)`` and the triangular kernel ``1 - |t| / f`` followed by a crop of ``f - 1``
planes; behind the last plane it fades to zero (the runtime pads the stack by its halo, so this is never seen
in restored images). The CARE U-Net (residual) then restores the interpolated stack.

``config.procedure = {"factor": f, "scale": [f, 1, 1]}``: a bundle declares the output's Z size as the input's
times ``f`` (bioimage.io axis scale), see :func:`care_bridge.models.receptive_field.upsampling_halo` for the halo.
"""

from __future__ import annotations


from ..framework_env import configure_tensorflow  # noqa: E402

configure_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

from .config import CareConfig  # noqa: E402
from .parts import unet_config, upsampling_factor  # noqa: E402
from .unet import build_unet  # noqa: E402


def linear_kernel(factor: int, n_channels: int) -> np.ndarray:
    """Conv3DTranspose kernel ``(2f - 1, 1, 1, C, C)``: channel-diagonal triangle ``1 - |t - (f - 1)| / f``."""
    t = np.arange(2 * factor - 1)
    tri = 1.0 - np.abs(t - (factor - 1)) / factor
    k = np.zeros((2 * factor - 1, 1, 1, n_channels, n_channels), np.float32)
    for c in range(n_channels):
        k[:, 0, 0, c, c] = tri
    return k


def build_upsampling_net(config: CareConfig, *, precision: str = "fp32") -> keras.Model:
    """Fixed linear Z interpolation by ``procedure["factor"]`` (float32), then the CARE 3D U-Net (nested as
    ``unet``; ``precision``: its training arithmetic, :func:`~care_bridge.models.unet.build_unet`)."""
    f = upsampling_factor(config)
    c = config.n_channel_in
    inp = keras.Input(shape=(None, None, None, c), name="input")
    x = inp
    if f > 1:
        up = layers.Conv3DTranspose(c, (2 * f - 1, 1, 1), strides=(f, 1, 1), padding="valid", use_bias=False,
                                    trainable=False, name="upsample_z_linear")
        x = up(x)
        up.set_weights([linear_kernel(f, c)])
        x = layers.Cropping3D(((f - 1, 0), (0, 0), (0, 0)), name="upsample_z_crop")(x)
    unet = build_unet(unet_config(config, name="unet"), precision=precision)
    return keras.Model(inp, unet(x), name=config.name)
