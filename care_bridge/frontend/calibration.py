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


def output_meta(meta: ImageMeta, restorer, axes: str, shape: tuple[int, ...],
                channels: tuple[int, ...] | None = None) -> ImageMeta:
    """Metadata of the output of restoring an image (``axes``/``shape``) whose metadata is ``meta``: each pixel
    size times its axis' spacing factor (axes the output drops lose theirs); the unit, time interval, ImageJ Info
    and the file's format are kept; channel names follow the channels restored (``channels``: the chosen ones);
    slice labels are kept (the writer drops them when the number of planes changed)."""
    factors = spacing_factors(restorer, axes, shape)
    px = {a: v * factors[a] for a, v in meta.pixel_size.items() if a in factors}
    names = meta.channel_names
    if names is not None and channels is not None:
        names = [names[c] for c in channels] if all(c < len(names) for c in channels) else None
    if names is not None and restorer.info.n_channel_out != restorer.info.n_channel_in:
        names = None
    return ImageMeta(axes=None, pixel_size=px, unit=meta.unit, time_interval=meta.time_interval,
                     time_unit=meta.time_unit, channel_names=names, info=meta.info, labels=meta.labels,
                     format=meta.format)
