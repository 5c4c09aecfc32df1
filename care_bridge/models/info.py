"""The :class:`~care_bridge.describe.ModelInfo` of a care_bridge network described by a ``CareConfig`` (model
folders, export, CSBDeep import): the one place that turns a training configuration into a runtime description."""

from __future__ import annotations

from ..describe import ModelInfo
from .config import CareConfig
from .receptive_field import halo


def info_from_config(config: CareConfig, *, name: str | None = None, description: str = "") -> ModelInfo:
    """Describe ``config``'s network for the runtime (halo from the architecture, geometry from the mode)."""
    params = config.params
    out_names = ("mean", "scale") if config.probabilistic else ("output",)
    denorm = "input_percentiles" if config.n_channel_in in (1, config.n_channel_out) else "none"
    return ModelInfo(
        name=name or config.name,
        axes=config.axes,
        n_channel_in=config.n_channel_in,
        n_channel_out=config.n_channel_out,
        halo=halo(config),
        step=config.step,
        min_size=config.step,
        scale=params.size_factors(config.ndim),
        mode=config.mode,
        procedure=params,
        percentile_low=config.percentile_low,
        percentile_high=config.percentile_high,
        eps=config.norm_eps,
        denormalize=denorm,
        probabilistic=config.probabilistic,
        output_names=out_names,
        pixel_size=config.pixel_size,
        description=description,
        output_layout=params.network_output_layout(),
    )
