"""The runtime: load a bundle or a model folder and restore images with it.

    >>> from care_bridge import runtime
    >>> r = runtime.load("model.zip")                 # or an unpacked bundle folder, or a model folder
    >>> res = r.restore(image, axes="ZYX")            # Restoration(image, axes, scale, engine, n_tiles)

Importing this package does not import TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CareBridgeError
from .info import ModelInfo, info_from_config
from .restore import Restoration, Restorer

__all__ = ["ModelInfo", "Restoration", "Restorer", "info_from_config", "load"]


def load(source: str | Path, *, engine: str | None = "auto") -> Restorer:
    """Load ``source``: a bioimage.io bundle (``.zip`` or unpacked folder with ``rdf.yaml``) or a care_bridge
    model folder (``config.yaml`` + weights). ``engine``: ``auto`` (fastest available here), ``onnxruntime``,
    ``tensorflow``; model folders always run in Keras."""
    p = Path(source)
    if not p.exists():
        raise CareBridgeError(f"{p} does not exist; give a bundle (.zip) or a model folder")
    if p.is_dir() and (p / "config.yaml").is_file() and not (p / "rdf.yaml").is_file():
        return _load_model_folder(p, engine)
    from ..bundle import open_bundle
    from .engines import choose_engine, make_engine

    bundle = open_bundle(p)
    name = choose_engine(engine, bundle.formats)
    return Restorer(bundle.info, make_engine(name, bundle.formats, bundle.info), source=str(p))


def _load_model_folder(p: Path, engine: str | None) -> Restorer:
    if engine not in (None, "auto", "keras"):
        raise CareBridgeError(
            f"a model folder runs in Keras; engine {engine!r} needs a bundle (care-bridge export {p} --out m.zip)"
        )
    from ..models import load_model
    from .engines import KerasEngine

    config, model = load_model(p)
    info = info_from_config(config)
    return Restorer(info, KerasEngine(model, info), source=str(p))
