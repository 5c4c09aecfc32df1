"""An engine over an in-memory Keras model (model folders, training): the training side's engine, with the
runtime's :class:`~care_bridge.runtime.engines.Engine` interface."""

from __future__ import annotations

import numpy as np

from ..describe import ModelInfo


class KerasEngine:
    """Runs ``model`` on ``"S<axes>C"`` float32 batches; a probabilistic model's single output is split into
    (mean, scale) per declared tensor; a multi-output model (an ensemble network) returns its outputs in order."""

    name = "keras"

    def __init__(self, model, info: ModelInfo):
        self.model = model
        self.info = info

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        y = self.model(x, training=False)
        y = [np.asarray(t, dtype=np.float32) for t in (y if isinstance(y, (list, tuple)) else [y])]
        if len(y) == 1 and self.info.probabilistic:
            n = self.info.n_channel_out
            return [y[0][..., :n], y[0][..., n:]]
        return y


def load_model_folder_restorer(model_dir):
    """A :class:`~care_bridge.runtime.Restorer` over a care_bridge model folder's best weights (Keras); for an
    ensemble folder (:mod:`care_bridge.models.ensemble`) over the ensemble network of its members, whose
    outputs are ``mean``, ``member_mean``, ``member_scale``."""
    from ..runtime.restorer import Restorer
    from .ensemble import ensemble_network, is_ensemble_folder, load_ensemble
    from .folder import load_model
    from .info import info_from_config, info_from_ensemble

    if is_ensemble_folder(model_dir):
        _, configs, models = load_ensemble(model_dir)
        info = info_from_ensemble(configs)
        return Restorer(info, KerasEngine(ensemble_network(configs, models), info), source=str(model_dir))
    config, model = load_model(model_dir)
    info = info_from_config(config)
    return Restorer(info, KerasEngine(model, info), source=str(model_dir))
