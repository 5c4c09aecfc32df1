"""Deep ensembles (Lakshminarayanan et al. 2017; CARE, Weigert et al. 2018, Fig. 5): ``M`` probabilistic CARE
networks of one architecture, trained on the same data in different random orders, kept in one folder.

An ensemble folder holds ``ensemble.yaml`` (:class:`EnsembleConfig`) and one ordinary care_bridge model folder
per member (``member_00/``, ``member_01/``, ...). :func:`ensemble_network` joins the members into one Keras
network with three outputs: ``mean`` (the average of the members' Laplace means, ``C`` channels),
``member_mean`` and ``member_scale`` (``M * C`` channels, member-major: channel ``m * C + c``).
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..bundle.rdf_parse import ENSEMBLE_OUTPUTS
from ..errors import CareBridgeError
from .config import SCHEDULE_FIELDS, CareConfig, _first_error, load_yaml_file, save_yaml_atomic

ENSEMBLE_FILE = "ensemble.yaml"
ENSEMBLE_SCHEMA = 1
# CareConfig fields the members may differ in: everything else is the shared architecture and normalization
MEMBER_FIELDS = ("seed", "name", *SCHEDULE_FIELDS)
_FOLDER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")

__all__ = ["ENSEMBLE_FILE", "ENSEMBLE_OUTPUTS", "EnsembleConfig", "ensemble_network", "is_ensemble_folder",
           "load_ensemble", "member_folder"]


def member_folder(k: int) -> str:
    """Folder name of member ``k``: ``member_00``, ``member_01``, ..."""
    return f"member_{k:02d}"


class EnsembleConfig(BaseModel):
    """``ensemble.yaml``: which member folders form the ensemble and the seed member ``k`` derives from
    (``base_seed + k`` for initialization and shuffling; every member holds out the validation patches of
    ``base_seed``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(ENSEMBLE_SCHEMA, ge=1, le=ENSEMBLE_SCHEMA)
    members: tuple[str, ...] = Field(min_length=2)
    base_seed: int = 0
    created: str = Field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))

    @field_validator("members")
    @classmethod
    def _plain_folder_names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [m for m in v if not _FOLDER_NAME.match(m)]
        if bad:
            raise ValueError(f"member {bad[0]!r} must be a folder name inside the ensemble folder (no path)")
        if len(set(v)) != len(v):
            raise ValueError("member folders must be distinct")
        return v

    @classmethod
    def new(cls, n_members: int, base_seed: int = 0) -> EnsembleConfig:
        if n_members < 2:
            raise CareBridgeError("an ensemble needs at least 2 members")
        return cls(members=tuple(member_folder(k) for k in range(n_members)), base_seed=base_seed)

    def member_seed(self, k: int) -> int:
        return self.base_seed + k

    def save(self, ensemble_dir: str | Path) -> Path:
        """Write ``ensemble.yaml`` atomically (temporary file + rename)."""
        data = self.model_dump(mode="json")
        data["members"] = list(data["members"])
        return save_yaml_atomic(Path(ensemble_dir) / ENSEMBLE_FILE, data)

    @classmethod
    def load(cls, ensemble_dir: str | Path) -> EnsembleConfig:
        path, data = load_yaml_file(ensemble_dir, ENSEMBLE_FILE, "ensemble folder")
        if not isinstance(data, dict):
            raise CareBridgeError(f"invalid {path}: not a mapping; fix or re-create it")
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise CareBridgeError(f"invalid {path}: {_first_error(e)}") from e


def is_ensemble_folder(path: str | Path) -> bool:
    """Whether ``path`` is an ensemble folder (holds ``ensemble.yaml``)."""
    p = Path(path)
    return p.is_dir() and (p / ENSEMBLE_FILE).is_file()


def check_members(configs: list[CareConfig], names: tuple[str, ...] | list[str]) -> None:
    """Raise a one-line :class:`CareBridgeError` unless every member is probabilistic and has member 0's
    architecture and normalization (all :class:`CareConfig` fields but :data:`MEMBER_FIELDS`)."""
    for cfg, name in zip(configs, names):
        if not cfg.probabilistic:
            raise CareBridgeError(f"ensemble member {name} is not probabilistic; an ensemble's members predict "
                                  "Laplace distributions (train them with care-bridge train --ensemble)")
    ref = configs[0].model_dump(mode="json")
    for cfg, name in zip(configs[1:], names[1:]):
        d = cfg.model_dump(mode="json")
        diff = [k for k in ref if k not in MEMBER_FIELDS and ref[k] != d.get(k)]
        if diff:
            k = diff[0]
            raise CareBridgeError(f"ensemble member {name} differs from {names[0]} in {k} ({d.get(k)!r} vs "
                                  f"{ref[k]!r}); all members must share one architecture")


def load_ensemble(ensemble_dir: str | Path, which: str = "best"):
    """``(EnsembleConfig, [CareConfig], [keras.Model])`` of an ensemble folder, members in order, each with its
    ``best`` or ``last`` weights; the configurations are checked (:func:`check_members`) before any weights."""
    from .folder import load_model

    root = Path(ensemble_dir)
    ens = EnsembleConfig.load(root)
    configs = [CareConfig.load(root / m) for m in ens.members]
    check_members(configs, ens.members)
    models = [load_model(root / m, which=which)[1] for m in ens.members]
    return ens, configs, models


def ensemble_network(configs: list[CareConfig], trained: list, *, name: str | None = None):
    """One never-compiled Keras network over the members: input ``input`` → member ``k`` (a nested model
    named ``member_{k}``, its ``[mean, scale]`` heads) → outputs ``mean`` (``Average`` of the members' means),
    ``member_mean`` and ``member_scale`` (``Concatenate`` on channels, member-major). Standard layers only
    (no Lambda), so its ``.keras`` file loads in safe mode."""
    import keras

    from .factory import output_network

    if len(configs) < 2 or len(configs) != len(trained):
        raise CareBridgeError("an ensemble needs at least 2 members, each with its configuration")
    check_members(configs, [member_folder(k) for k in range(len(configs))])
    first = configs[0]
    inp = keras.Input(shape=(None,) * first.ndim + (first.n_channel_in,), name="input")
    means, scales = [], []
    for k, (cfg, net) in enumerate(zip(configs, trained)):
        mean, scale = output_network(cfg, net, name=f"member_{k}")(inp)
        means.append(mean)
        scales.append(scale)
    outs = [keras.layers.Average(name=ENSEMBLE_OUTPUTS[0])(means),
            keras.layers.Concatenate(axis=-1, name=ENSEMBLE_OUTPUTS[1])(means),
            keras.layers.Concatenate(axis=-1, name=ENSEMBLE_OUTPUTS[2])(scales)]
    safe = re.sub(r"[^A-Za-z0-9_.]", "_", name or first.name).lstrip("_.") or "care"
    return keras.Model(inp, outs, name=f"{safe}_ensemble")
