"""What the runtime needs to know about a network, wherever it came from (bundle or model folder)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelInfo:
    """Description of one restoration network as the runtime executes it.

    The network's input is float32 with axes ``"S" + axes + "C"`` (batch first, channels last). ``halo``,
    ``step`` and ``min_size`` are in input pixels per spatial axis of ``axes``; ``scale`` is output size over
    input size per spatial axis (e.g. ``(4.0, 1.0, 1.0)`` for 4x axial upsampling in ``"ZYX"``).
    """

    name: str
    axes: str  # spatial axes of the network, "YX" or "ZYX"
    n_channel_in: int
    n_channel_out: int
    halo: tuple[int, ...]
    step: tuple[int, ...]
    min_size: tuple[int, ...] | None = None
    scale: tuple[float, ...] | None = None
    mode: str = "denoise"
    percentile_low: float = 2.0
    percentile_high: float = 99.8
    eps: float = 1e-6
    denormalize: str = "input_percentiles"  # or "none": outputs stay in normalized units
    probabilistic: bool = False
    input_name: str = "input"
    output_names: tuple[str, ...] = ("output",)
    procedure: dict[str, Any] = field(default_factory=dict)  # mode-specific (e.g. isotropic factor)
    pixel_size: dict[str, float] | None = None
    description: str = ""
    # bioimage.io axis ids of the network's tensors in memory order, e.g. "byxc" (care_bridge) or "bcyx";
    # engines transpose between this and the runtime's "S<axes>C".
    input_layout: str | None = None
    output_layout: str | None = None
    # bioimage.io pre/postprocessing of a third-party bundle, as in its rdf ({"id": ..., "kwargs": {...}});
    # empty for care_bridge bundles, whose normalization is the percentile fields above.
    preprocessing: tuple[dict[str, Any], ...] = ()
    postprocessing: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        n = len(self.axes)
        for name in ("halo", "step"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} must have one entry per axis of {self.axes!r}")
        if self.min_size is None:
            object.__setattr__(self, "min_size", tuple(self.step))
        if self.scale is None:
            object.__setattr__(self, "scale", (1.0,) * n)
        default = "b" + self.axes.lower() + "c"
        if self.input_layout is None:
            object.__setattr__(self, "input_layout", default)
        if self.output_layout is None:
            object.__setattr__(self, "output_layout", default)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d


def info_from_config(config, *, name: str | None = None) -> ModelInfo:
    """The :class:`ModelInfo` of a care_bridge network described by a ``CareConfig``."""
    from ..models.receptive_field import halo

    n = config.ndim
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
        scale=tuple(float(v) for v in config.procedure.get("scale", (1.0,) * n)),
        mode=config.mode,
        percentile_low=config.percentile_low,
        percentile_high=config.percentile_high,
        eps=config.norm_eps,
        denormalize=denorm,
        probabilistic=config.probabilistic,
        output_names=out_names,
        procedure=dict(config.procedure),
        pixel_size=config.pixel_size,
        output_layout=config.procedure.get("output_layout"),
    )
