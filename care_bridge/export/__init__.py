"""Writing bioimage.io bundles: export of a model folder (ONNX, TF SavedModel, Keras weights), validation by
reproducing test tensors with the runtime's engines, and CSBDeep import. This is the bundle's *producer* side;
it sits above the runtime and the training code. Importing this package imports no TensorFlow.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export_bundle", "import_csbdeep", "validate_bundle"]


def __getattr__(name: str) -> Any:  # lazy: importing care_bridge.export never imports TensorFlow
    if name == "export_bundle":
        from .write import export_bundle

        return export_bundle
    if name == "validate_bundle":
        from .validate import validate_bundle

        return validate_bundle
    if name == "import_csbdeep":
        from .csbdeep_import import import_csbdeep

        return import_csbdeep
    raise AttributeError(f"module 'care_bridge.export' has no attribute {name!r}")
