"""Training CARE networks (needs the ``train`` extra: TensorFlow + Keras)."""

from .ensemble import EnsembleResult, train_ensemble
from .trainer import TrainResult, train, train_from_patch_file

__all__ = ["EnsembleResult", "TrainResult", "train", "train_ensemble", "train_from_patch_file"]
