"""The output's calibration, from the mode's output geometry (:attr:`care_bridge.modes.Mode.geometry`).

Every front end calibrates with :func:`spacing_factors`: the CLI, KNIME and Fiji's standalone path through
:func:`output_meta` (the TIFF they write), Fiji's hosted path by scaling the ImagePlus calibration.
"""

from __future__ import annotations

from ..io import ImageMeta


def spacing_factors(restorer, axes: str, shape: tuple[int, ...]) -> dict[str, float]:
    """Output pixel spacing over input pixel spacing for each spatial axis of an image with ``axes`` and
    ``shape`` that the output keeps (isotropic ×4: ``{"Z": 0.25, "Y": 1.0, "X": 1.0}``)."""
    geometry = restorer.mode.geometry(restorer.info, axes, tuple(shape))
    return {a: g.spacing for a, g in geometry.items()}


def output_meta(meta: ImageMeta, restorer, axes: str, shape: tuple[int, ...]) -> ImageMeta:
    """Calibration of the output of restoring an image (``axes``/``shape``) whose calibration is ``meta``:
    each pixel size times its axis' spacing factor; axes the output drops lose theirs; the unit is kept."""
    factors = spacing_factors(restorer, axes, shape)
    px = {a: v * factors[a] for a, v in meta.pixel_size.items() if a in factors}
    return ImageMeta(axes=None, pixel_size=px, unit=meta.unit)
