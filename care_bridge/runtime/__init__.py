"""The runtime: load a bioimage.io bundle and restore images with it.

    >>> from care_bridge import runtime
    >>> r = runtime.load("model.zip")                 # or an unpacked bundle folder
    >>> res = r.restore(image, axes="ZYX")            # Restoration(image, axes, scale, engine, n_tiles)

The runtime imports no TensorFlow (the TF engine loads it when chosen), no training and no data-generation
code. Care_bridge model folders (Keras) are loaded by the front ends' :func:`care_bridge.frontend.load_restorer`.
"""

from __future__ import annotations

from pathlib import Path

from ..describe import ModelInfo, Restoration
from ..errors import CareBridgeError
from .restorer import Restorer

__all__ = ["ModelInfo", "Restoration", "Restorer", "load"]


def load(source: str | Path, *, engine: str | None = "auto", precision: str = "fp32") -> Restorer:
    """Load a bioimage.io bundle (``.zip`` or unpacked folder with ``rdf.yaml``); ``engine``: ``auto``
    (fastest available here), ``onnxruntime``, ``tensorflow``, ``openvino`` (the ``openvino`` extra) or ``torch``
    (the ``torch`` extra: torchscript weights, or pytorch_state_dict of an architecture care_bridge builds);
    ``precision``: ``fp32`` (default), or opt-in ``bf16`` (OpenVINO on a CPU with bf16 instructions) or ``fp16``
    (a GPU), see the README's Performance section for their measured error."""
    from ..bundle import open_bundle
    from .engines import choose_engine, make_engine

    p = Path(source)
    if not p.exists():
        raise CareBridgeError(f"{p} does not exist; give a bundle (.zip or unpacked folder)")
    folder = any((p / f).is_file() for f in ("config.yaml", "ensemble.yaml"))
    if p.is_dir() and folder and not (p / "rdf.yaml").is_file():
        raise CareBridgeError(f"{p} is a care_bridge model folder, not a bundle; use care_bridge.frontend."
                              "load_restorer, `care-bridge predict --model`, or export it first")
    bundle = open_bundle(p)
    weights = bundle.rdf.get("weights")  # a pytorch_state_dict entry's architecture (runtime.torch_architectures)
    name = choose_engine(engine, bundle.formats, precision, weights=weights)
    return Restorer(bundle.info, make_engine(name, bundle.formats, bundle.info, precision, weights=weights),
                    source=str(p))
