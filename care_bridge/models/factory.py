"""One entry point for every network a :class:`CareConfig` can describe: the builder its mode declares
(:attr:`care_bridge.modes.Mode.network`). Imports no TensorFlow; the builders import Keras when called."""

from __future__ import annotations

from ..errors import CareBridgeError
from ..modes import get_mode
from .config import CareConfig
from .parts import projection_parts, upsampling_factor

OWN_NETWORK_MODES = ("upsampling", "projection")


def check_network_config(config: CareConfig) -> None:
    """Raise :class:`CareBridgeError` if ``config`` cannot describe a network of its mode."""
    mode = get_mode(config.mode)
    if config.axes not in mode.net_axes:
        raise CareBridgeError(f"mode {config.mode!r} needs a network with axes {' or '.join(mode.net_axes)}, "
                              f"got {config.axes}")
    if config.mode in OWN_NETWORK_MODES and config.probabilistic:
        raise CareBridgeError(f"probabilistic output is not supported for mode {config.mode!r}; train without it")
    config.params  # noqa: B018 - parses (and so checks) the procedure parameters
    if config.mode == "upsampling":
        upsampling_factor(config)
    elif config.mode == "projection":
        projection_parts(config)


def build_network(config: CareConfig, *, precision: str = "fp32"):
    """A fresh, uncompiled Keras model for ``config`` (input ``"S" + axes + "C"``).

    ``precision``: the arithmetic of the network's body, ``fp32`` or ``bf16`` (mixed precision,
    :func:`care_bridge.models.unet.build_unet`). Only the trainer asks for ``config.precision``; everything that
    loads, exports or predicts builds the float32 network, which holds the same (float32) weights."""
    check_network_config(config)
    return get_mode(config.mode).network.load()(config, precision=precision)


def output_network(config: CareConfig, trained, *, name: str | None = None):
    """A fresh, never-compiled network with the weights of ``trained`` and one output per declared tensor
    (``output``, or Laplace ``mean`` then ``scale`` for a probabilistic network).

    Same layers as ``config``'s builder; for a probabilistic network the outputs are taken before the final
    concatenation (``mean`` head after residual/activation, ``scale`` head), which is exactly what
    :func:`care_bridge.models.unet.split_outputs` slices, but without Lambda layers, so a ``.keras`` file of
    it loads in Keras' safe mode. ``name``: the Keras model's name (default: ``config.name`` made safe).
    """
    import re

    import keras

    fresh = build_network(config)
    fresh.set_weights(trained.get_weights())
    # TF uses the model name as a graph scope; CareConfig.name may contain spaces (measured: ValueError
    # "'tiny 2d' is not a valid root scope name" under tf.function), so the model gets a safe name.
    name = name or re.sub(r"[^A-Za-z0-9_.]", "_", config.name).lstrip("_.") or "care"
    if not config.probabilistic:
        return keras.Model(fresh.input, fresh.output, name=name)
    names = [layer.name for layer in fresh.layers]
    mean_name = next(n for n in ("mean_relu", "residual", "mean") if n in names)
    mean = fresh.get_layer(mean_name).output
    scale = fresh.get_layer("scale").output
    return keras.Model(fresh.input, [mean, scale], name=name)
