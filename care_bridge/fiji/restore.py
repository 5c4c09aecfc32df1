"""Restore an ImagePlus (or an ImageJ2 Dataset) in memory: the hosted Fiji path and the pyimagej API.

    >>> from care_bridge import fiji
    >>> session = fiji.start_imagej()
    >>> imp = session.IJ.openImage("/data/cells.tif")
    >>> out = fiji.restore_imageplus(imp, "model.zip")      # out.image: ImagePlus "cells-CARE"
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..frontend import RestoreOptions, input_axes, load_restorer, result_title, spacing_factors
from ..frontend.naming import readout_title
from ..io.tiff import cast_to
from .convert import array_to_imageplus, copy_calibration, imageplus_to_array


@dataclass
class RestoredImages:
    """Result of :func:`restore_imageplus`: the restored ImagePlus, the Laplace scale (probabilistic bundles)
    or None, the engine that ran and the tiles used."""

    image: Any
    scale: Any | None
    engine: str
    n_tiles: tuple[int, ...]
    readouts: tuple[Any, ...] = ()  # one ImagePlus per requested readout, titled <title>_<name>


def restore_imageplus(imp, bundle: str | os.PathLike, options: RestoreOptions = RestoreOptions(), *,
                      title: str | None = None) -> RestoredImages:
    """Restore ``imp`` with ``bundle``; the input is not modified. Returns new (not shown) ImagePlus objects
    titled ``<title>-CARE`` (and ``<title>-CARE-scale``, and ``<title>-CARE_<readout>`` for each readout in
    ``options.readouts``) with the input's calibration scaled by the mode's geometry
    (:func:`care_bridge.frontend.spacing_factors`) and its properties."""
    arr, axes = imageplus_to_array(imp)
    restorer = load_restorer(bundle, options.engine, options.precision)
    axes = input_axes(restorer, arr.ndim, axes, options.axes)  # the CLI's rule: both Fiji paths feed the runtime alike
    res = restorer.restore(arr, axes, n_tiles=options.n_tiles, memory_budget=options.memory_budget,
                           readouts=options.readouts, planewise=options.planewise, channels=options.channels)
    name = title or result_title(imp.getTitle())
    spacing = spacing_factors(restorer, axes, arr.shape)
    pixels = cast_to(res.image, arr.dtype if options.dtype == "input" else None)  # the CLI writer's rule
    image = array_to_imageplus(pixels, res.axes, name)
    copy_calibration(imp, image, spacing)
    scale = None
    if res.scale is not None:
        scale = array_to_imageplus(res.scale, res.axes, name + "-scale")
        copy_calibration(imp, scale, spacing)
    extra = []
    for rname, arr_r, stacked in res.readouts.images():  # the readouts the CLI writes as OUT_<name>.tif
        ri = array_to_imageplus(arr_r, ("T" if stacked else "") + res.axes, readout_title(name, rname))
        copy_calibration(imp, ri, spacing)
        extra.append(ri)
    return RestoredImages(image, scale, str(res.engine), tuple(res.n_tiles), tuple(extra))


def restore_dataset(ij, dataset, bundle: str | os.PathLike, options: RestoreOptions = RestoreOptions()):
    """ImageJ2 (pyimagej) only: restore a ``Dataset`` and return a ``Dataset`` (through ImageJ 1.x
    ImagePlus, so everything else is shared with the plain-ImageJ path). Not verified here (no Fiji)."""
    imp = ij.py.to_imageplus(dataset)
    out = restore_imageplus(imp, bundle, options)
    return ij.py.to_dataset(out.image)
