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


def build_network(config: CareConfig):
    """A fresh, uncompiled Keras model for ``config`` (input ``"S" + axes + "C"``)."""
    check_network_config(config)
    return get_mode(config.mode).network.load()(config)
