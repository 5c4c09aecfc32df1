"""The text that describes a bundle: ``care-bridge inspect``, CARE Model Info (hosted and standalone) and any
front end print exactly this."""

from __future__ import annotations

import os


def describe_bundle_text(bundle: str | os.PathLike) -> str:
    """Task, axes, sizes, halo, normalization, weights and provenance of ``bundle``, opened (and checked) by
    :func:`care_bridge.bundle.open_bundle`."""
    from ..bundle import inspect_bundle, render_inspection

    return render_inspection(inspect_bundle(bundle))
