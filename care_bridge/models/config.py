"""One typed configuration per model, saved as ``config.yaml`` beside the weights.

Unknown or invalid keys are errors that name the key (pydantic, ``extra="forbid"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import CareBridgeError

CONFIG_FILE = "config.yaml"
# the training schedule and arithmetic: what `--resume` may change, and what ensemble members may differ in (besides
# seed, name); the weights are float32 whatever the training precision, so a run may continue in another one
SCHEDULE_FIELDS = ("epochs", "steps_per_epoch", "early_stopping_patience", "reduce_lr_patience", "precision")
# the arithmetic of training (`care-bridge train --precision`): fp32, or bf16 = Keras' mixed_bfloat16 in the body
TRAINING_PRECISIONS = ("fp32", "bf16")


class CareConfig(BaseModel):
    """Architecture, normalization and training settings of one CARE network.

    ``axes`` are the network's spatial axes (``"YX"`` or ``"ZYX"``); images enter as ``"S" + axes + "C"``.
    Defaults follow CSBDeep/CARE: U-Net depth 2, 32 first-layer filters, kernel 5 (2D) or 3 (3D), 2x2 pooling,
    residual learning when input and output channels match, MAE loss, Adam at 4e-4.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = "care_model"
    mode: Literal["denoise", "isotropic", "upsampling", "projection", "tubules", "granules"] = "denoise"
    axes: Literal["YX", "ZYX"] = "YX"
    n_channel_in: int = Field(1, ge=1)
    n_channel_out: int = Field(1, ge=1)
    # architecture
    unet_depth: int = Field(2, ge=1, le=5)
    unet_n_first: int = Field(32, ge=1)
    unet_kern_size: int | None = Field(None, ge=1, description="odd kernel size; default 5 (2D) / 3 (3D)")
    unet_n_conv_per_depth: int = Field(2, ge=1)
    unet_pool: tuple[int, ...] | None = Field(None, description="pool size per spatial axis; default 2 each")
    unet_residual: bool | None = Field(None, description="default: True when n_channel_in == n_channel_out")
    unet_last_activation: Literal["linear", "relu"] = "linear"
    probabilistic: bool = False
    # normalization (percentiles as in CARE: low 2, high 99.8)
    percentile_low: float = Field(2.0, ge=0, lt=100)
    percentile_high: float = Field(99.8, gt=0, le=100)
    norm_eps: float = Field(1e-6, gt=0)
    # training
    loss: Literal["mae", "mse", "laplace"] | None = None
    learning_rate: float = Field(4e-4, gt=0)
    batch_size: int = Field(16, ge=1)
    epochs: int = Field(100, ge=1)
    steps_per_epoch: int = Field(400, ge=1)
    reduce_lr_factor: float = Field(0.5, gt=0, lt=1)
    reduce_lr_patience: int = Field(10, ge=1)
    early_stopping_patience: int | None = Field(None, ge=1)
    seed: int = 0
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="training arithmetic: fp32, or bf16 (mixed precision: the U-Net body computes in "
        "bfloat16, the variables, the output head and the loss stay float32); exported networks are float32")
    # procedure of the paper's modes (isotropic factor, projection settings, ...), written into bundles
    procedure: dict = Field(default_factory=dict)
    pixel_size: dict[str, float] | None = None

    @model_validator(mode="after")
    def _defaults_and_consistency(self) -> CareConfig:
        n = len(self.axes)
        if self.unet_kern_size is None:
            object.__setattr__(self, "unet_kern_size", 5 if n == 2 else 3)
        if self.unet_kern_size % 2 == 0:
            raise ValueError(f"unet_kern_size must be odd, got {self.unet_kern_size}")
        if self.unet_pool is None:
            object.__setattr__(self, "unet_pool", (2,) * n)
        if len(self.unet_pool) != n:
            raise ValueError(f"unet_pool needs one entry per axis of {self.axes!r}, got {self.unet_pool}")
        if self.unet_residual is None:
            object.__setattr__(self, "unet_residual", self.n_channel_in == self.n_channel_out)
        if self.unet_residual and self.n_channel_in != self.n_channel_out:
            raise ValueError("unet_residual needs n_channel_in == n_channel_out")
        if self.loss is None:
            object.__setattr__(self, "loss", "laplace" if self.probabilistic else "mae")
        if (self.loss == "laplace") != self.probabilistic:
            raise ValueError("loss 'laplace' goes with probabilistic=True and only with it")
        if self.percentile_low >= self.percentile_high:
            raise ValueError("percentile_low must be below percentile_high")
        return self

    @property
    def params(self):
        """The mode's typed procedure parameters (:mod:`care_bridge.modes`), parsed from ``procedure``."""
        from ..modes import get_mode

        return get_mode(self.mode).parse_params(self.procedure, where=f"{self.name} procedure")

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def step(self) -> tuple[int, ...]:
        """Divisibility of input sizes per axis: pool ** depth."""
        return tuple(int(p) ** self.unet_depth for p in self.unet_pool)

    def save(self, model_dir: str | Path) -> Path:
        """Write ``config.yaml`` atomically (temporary file + rename: a kill never leaves half a file)."""
        return save_yaml_atomic(Path(model_dir) / CONFIG_FILE, self.model_dump(mode="json"))

    @classmethod
    def load(cls, model_dir: str | Path) -> CareConfig:
        path, data = load_yaml_file(model_dir, CONFIG_FILE, "model folder")
        return cls.from_dict(data or {}, source=str(path))

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "config") -> CareConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise CareBridgeError(f"invalid {source}: {_first_error(e)}") from e


def _first_error(e: ValidationError) -> str:
    errs = e.errors()
    parts = []
    for err in errs[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "(model)"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{loc}' (remove it or check its spelling)")
        else:
            parts.append(f"'{loc}': {err['msg']}")
    return "; ".join(parts)


def save_yaml_atomic(path: Path, data: Any) -> Path:
    """``data`` as YAML at ``path`` via a temporary file and a rename (a kill never leaves half a file)."""
    import os

    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    os.replace(tmp, path)
    return path


def load_yaml_file(folder_or_file: str | Path, name: str, kind: str) -> tuple[Path, Any]:
    """``(path, data)`` of the YAML file ``name`` in a folder (or the file itself); one-line errors naming a
    missing file (not a ``kind``) or invalid YAML."""
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / name
    if not path.is_file():
        raise CareBridgeError(f"no {name} in {path.parent}; is this a care_bridge {kind}?")
    try:
        return path, yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise CareBridgeError(f"{path} is not valid YAML ({e.__class__.__name__}); fix or re-create it") from e
