"""Training CARE networks (needs the ``train`` extra: TensorFlow + Keras)."""

from .trainer import TrainResult, train, train_from_patch_file

__all__ = ["TrainResult", "train", "train_from_patch_file"]
