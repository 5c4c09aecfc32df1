"""Reading bioimage.io model bundles (spec 0.5) safely: safe unzip, sha256 checks, rdf parsing, inspection.

This is the *read* side: it imports no runtime, no framework and no training configuration. Writing bundles
(export, weights conversion, validation with engines, CSBDeep import) is :mod:`care_bridge.export`.
"""

from __future__ import annotations

from .inspect import inspect_bundle, render_inspection
from .open import Bundle, open_bundle
from .safe_zip import ZipLimits

__all__ = ["Bundle", "ZipLimits", "inspect_bundle", "open_bundle", "render_inspection"]
