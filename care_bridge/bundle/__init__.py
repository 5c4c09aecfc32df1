"""bioimage.io model bundles (spec 0.5): export, safe opening, validation and inspection.

``open_bundle``/``inspect_bundle`` need no TensorFlow; ``export_bundle`` needs the ``train`` and ``bundle``
extras; ``validate_bundle`` uses whatever engines are installed (and bioimageio.core when asked).
"""

from __future__ import annotations

from typing import Any

__all__ = ["export_bundle", "open_bundle", "validate_bundle", "inspect_bundle", "Bundle", "ZipLimits"]


def __getattr__(name: str) -> Any:  # lazy: importing care_bridge.bundle never imports TensorFlow
    if name == "export_bundle":
        from .export import export_bundle

        return export_bundle
    if name in ("open_bundle", "Bundle"):
        from . import open as _open

        return getattr(_open, name)
    if name == "validate_bundle":
        from .validate import validate_bundle

        return validate_bundle
    if name == "inspect_bundle":
        from .inspect import inspect_bundle

        return inspect_bundle
    if name == "ZipLimits":
        from .safe_zip import ZipLimits

        return ZipLimits
    raise AttributeError(f"module 'care_bridge.bundle' has no attribute {name!r}")
