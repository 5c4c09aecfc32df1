"""``ModelInfo``: one restoration network as the runtime executes it, wherever it came from (a bundle, a model
folder, a CSBDeep import), and ``ModeParams``, the typed base of each mode's procedure parameters."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from ..errors import BundleError


@dataclass(frozen=True)
class ModeParams:
    """Typed procedure parameters of a mode (each mode in :mod:`care_bridge.modes` subclasses this).

    Serialised as a plain mapping (``config.care_bridge.procedure`` in a bundle, ``procedure`` in
    ``config.yaml``); :meth:`from_dict` refuses unknown keys and wrong types with one line naming the key.
    """

    mode: ClassVar[str] = ""

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "procedure") -> ModeParams:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise BundleError(f"{where}: the {cls.mode or 'mode'} procedure must be a mapping, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(map(str, data)) - names)
        if unknown:
            raise BundleError(f"{where}: unknown {cls.mode} procedure key {unknown[0]!r} "
                              f"(known: {', '.join(sorted(names)) or 'none'})")
        kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as e:
            raise BundleError(f"{where}: {e}") from None

    def size_factors(self, ndim: int) -> tuple[float, ...]:
        """Output over input size per network axis (a bioimage.io axis scale); 1 unless the mode resizes."""
        return (1.0,) * ndim

    def network_output_layout(self) -> str | None:
        """The network output's layout if it differs from the input's (a projection drops Z)."""
        return None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` as ``hint`` (bool, int, float, str, tuple[X, ...]); anything else is a one-line error."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        (inner, *_rest) = typing.get_args(hint)
        if not isinstance(value, (list, tuple)) or len(value) > 16:
            raise BundleError(f"{where} must be a short list, got {value!r}")
        return tuple(_coerce(v, inner, where) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str) and len(value) <= 1000:
            return value
    raise BundleError(f"{where} must be {getattr(hint, '__name__', hint)}, got {value!r}")


@dataclass(frozen=True)
class ModelInfo:
    """Description of one restoration network as the runtime executes it.

    The network's input is float32 with axes ``"S" + axes + "C"`` (batch first, channels last). ``halo``,
    ``step`` and ``min_size`` are in input pixels per spatial axis of ``axes``; ``scale`` is output size over
    input size per spatial axis (e.g. ``(4.0, 1.0, 1.0)`` for 4x axial upsampling in ``"ZYX"``). ``mode`` names
    the mode (:mod:`care_bridge.modes`; ``"bioimageio"`` for third-party bundles) and ``procedure`` holds its
    typed parameters.

    ``probabilistic``: one network with a Laplace head (outputs ``mean``, ``scale``). ``ensemble`` ``M >= 2``:
    ``M`` probabilistic members in one graph (outputs ``mean`` = the members' average, ``member_mean`` and
    ``member_scale`` with ``M * n_channel_out`` channels, member-major: channel ``m * C + c``), combined as the
    equal-weight mixture of the members' Laplaces. ``scale_calibration``: the factor ``care-bridge calibrate``
    fitted on held-out pairs, applied to every Laplace scale before any readout (1: none).
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
    procedure: ModeParams | None = None
    percentile_low: float = 2.0
    percentile_high: float = 99.8
    eps: float = 1e-6
    denormalize: str = "input_percentiles"  # or "none": outputs stay in normalized units
    probabilistic: bool = False
    ensemble: int = 1
    scale_calibration: float = 1.0
    input_name: str = "input"
    output_names: tuple[str, ...] = ("output",)
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

    @property
    def distributional(self) -> bool:
        """Whether the network predicts a per-pixel distribution (probabilistic or an ensemble)."""
        return self.probabilistic or self.ensemble > 1

    @property
    def output_spatial_axes(self) -> str:
        """Spatial axes of the network's output (upper case), e.g. ``"YX"`` for a projection of ``"ZYX"``."""
        sp = "".join(a for a in (self.output_layout or "").upper() if a in "ZYX")
        return sp or self.axes

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["procedure"] = self.procedure.to_dict() if self.procedure is not None else {}
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d
