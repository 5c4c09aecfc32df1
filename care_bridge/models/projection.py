"""Joint surface projection and denoising (CARE, Weigert et al. 2018, Fig. 2 / CSBDeep ``ProjectionCARE``).

Input ``"SZYXC"`` float32 (a low-SNR stack); output ``"SYXC"`` (the restored surface image). Two parts,
trained together end to end:

1. projection: a small 3D U-Net (never pooled along Z, see :func:`care_bridge.models.parts.projection_parts`)
   computes one logit per voxel; a softmax over Z turns them into per-pixel weights ``w(z, y, x)`` (attention
   along Z, summing to 1 per pixel) and the stack is projected as ``p(y, x, c) = sum_z w(z, y, x) x(z, y, x, c)``;
2. denoising: the CARE 2D U-Net (residual) restores ``p``.

Only built-in Keras layers and ``keras.ops`` are used (no Lambda), so the ``.keras`` file loads in safe mode and
converts to ONNX. Z is reduced, so it can never be tiled (its halo is 0); any number of planes works.
``config.procedure = {"output_layout": "byxc", "axis": "Z", "proj_depth": 1, "proj_n_first": 8}``.
"""

from __future__ import annotations


from ..framework_env import configure_tensorflow  # noqa: E402

configure_tensorflow()

import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

from .config import CareConfig  # noqa: E402
from .parts import projection_parts  # noqa: E402
from .unet import build_unet  # noqa: E402


def build_projection_net(config: CareConfig, *, precision: str = "fp32") -> keras.Model:
    """Projection front (nested model ``projection_front``) → softmax over Z → weighted sum → 2D U-Net
    (nested model ``denoise_2d``). ``precision``: the training arithmetic of the two U-Nets' bodies
    (:func:`~care_bridge.models.unet.build_unet`); the softmax and the weighted sum stay float32."""
    front_cfg, unet_cfg = projection_parts(config)
    inp = keras.Input(shape=(None, None, None, config.n_channel_in), name="input")
    logits = build_unet(front_cfg, precision=precision)(inp)
    weights = layers.Softmax(axis=1, name="z_attention")(logits)  # (S, Z, Y, X, 1), sums to 1 over Z
    weighted = layers.Multiply(name="z_weighted")([inp, weights])
    projected = ops.sum(weighted, axis=1)  # (S, Y, X, C); a keras op node, serializable without Lambda
    out = build_unet(unet_cfg, precision=precision)(projected)
    return keras.Model(inp, out, name=config.name)


def attention_model(model: keras.Model) -> keras.Model:
    """A view of a projection network returning its Z weights ``"SZYX1"`` (to inspect the learned surface)."""
    return keras.Model(model.input, model.get_layer("z_attention").output)
