"""Output geometry: how a restoration changes each spatial axis of an image (size and pixel spacing).

Front ends calibrate their outputs from this and only from this, so every way in writes the same pixel sizes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AxisGeometry:
    """One spatial axis of the output: its ``size`` in pixels and ``spacing``, the output pixel spacing as a
    multiple of the input's (``0.25`` when a stack is upsampled 4x along that axis)."""

    size: int
    spacing: float


def network_geometry(axes: str, shape: tuple[int, ...], net_axes: str, scale: tuple[float, ...],
                     out_axes: str) -> dict[str, AxisGeometry]:
    """Geometry of a plain network run: on each network axis the output has ``round(L * s)`` pixels of
    spacing ``1 / s`` (bioimage.io axis scale), axes the network drops (``out_axes`` lacks them; e.g. a
    projection along Z) are gone, and the image's other spatial axes (a looped Z) are unchanged.

    ``axes``/``shape``: the image's; ``net_axes``/``scale``: the network's spatial axes and size factors.
    """
    factor = dict(zip(net_axes, scale))
    out: dict[str, AxisGeometry] = {}
    for a, n in zip(axes, shape):
        if a not in "ZYX":
            continue
        if a in net_axes and a not in out_axes:
            continue  # reduced by the network
        s = float(factor.get(a, 1.0))
        out[a] = AxisGeometry(int(round(n * s)), 1.0 / s)
    return out
