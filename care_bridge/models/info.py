"""The :class:`~care_bridge.describe.ModelInfo` of a care_bridge network described by a ``CareConfig`` (model
folders, export, CSBDeep import): the one place that turns a training configuration into a runtime description."""

from __future__ import annotations

from ..describe import ModelInfo
from ..errors import CareBridgeError
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


def info_from_ensemble(configs: list[CareConfig], *, name: str | None = None, description: str = "") -> ModelInfo:
    """Describe an ensemble of ``len(configs)`` probabilistic members (:mod:`care_bridge.models.ensemble`):
    member 0's geometry and normalization, ``ensemble=M`` and the outputs ``mean``, ``member_mean``,
    ``member_scale``. ``probabilistic`` stays False: in the runtime it means one network with a Laplace head."""
    import dataclasses

    from .ensemble import ENSEMBLE_OUTPUTS, check_members, member_folder

    if len(configs) < 2:
        raise CareBridgeError("an ensemble needs at least 2 members")
    check_members(list(configs), [member_folder(k) for k in range(len(configs))])
    base = info_from_config(configs[0], name=name, description=description)
    return dataclasses.replace(base, probabilistic=False, ensemble=len(configs), output_names=ENSEMBLE_OUTPUTS)
