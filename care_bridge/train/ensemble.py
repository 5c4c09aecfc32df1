"""Training a deep ensemble: ``M`` probabilistic CARE networks on the same patches, in different random orders
(Lakshminarayanan et al. 2017; CARE, Weigert et al. 2018, "Reliability", Fig. 5: about five members).

The ensemble folder gets ``ensemble.yaml`` first (:class:`~care_bridge.models.ensemble.EnsembleConfig`), then
one ordinary model folder per member, each trained by :func:`~care_bridge.train.trainer.train_from_patch_file`.
Member ``k`` initializes and shuffles with seed ``base_seed + k``; every member holds out the same validation
patches (the split of ``base_seed``), so their validation losses compare. ``resume=True`` skips finished
members and continues or starts the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CareBridgeError
from ..models.config import CONFIG_FILE, CareConfig
from ..models.ensemble import EnsembleConfig, is_ensemble_folder
from ..models.folder import PROVENANCE, WEIGHTS
from .state import load_state
from .trainer import TrainResult, resolved_split, train_from_patch_file

DEFAULT_MEMBERS = 5


@dataclass
class EnsembleResult:
    """What :func:`train_ensemble` did: the members trained (or continued) by this call, and those skipped
    because they had finished already."""

    model_dir: Path
    members: tuple[str, ...]
    trained: dict[str, TrainResult] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()


def member_finished(member_dir: Path, epochs: int | None = None) -> bool:
    """Whether a member folder finished training: ``provenance.json`` written and its training state at
    ``epochs`` (default: the epochs of its ``config.yaml``)."""
    state = load_state(member_dir) if member_dir.is_dir() else None
    if state is None or not (member_dir / PROVENANCE).is_file():
        return False
    target = epochs if epochs is not None else CareConfig.load(member_dir).epochs
    return int(state.get("epoch", 0)) >= target


def _probabilistic(config: CareConfig | None) -> CareConfig | None:
    if config is None or config.probabilistic:
        return config
    return CareConfig.from_dict({**config.model_dump(), "probabilistic": True, "loss": "laplace"},
                                source="ensemble member settings")


def train_ensemble(
    patches: str | Path,
    out_dir: str | Path,
    *,
    members: int | None = None,
    config: CareConfig | None = None,
    validation_fraction: float | None = None,
    resume: bool = False,
    progress: bool = True,
    validation_split: str | None = None,
    **overrides,
) -> EnsembleResult:
    """Train an ensemble of ``members`` (default :data:`DEFAULT_MEMBERS`; on resume: as saved) probabilistic
    networks from patch file ``patches`` into the ensemble folder ``out_dir``.

    ``config``, ``validation_split`` and ``overrides`` are as for
    :func:`~care_bridge.train.trainer.train_from_patch_file`; the
    members are always probabilistic (Laplace loss), ``seed`` is the base seed. A new run refuses a folder that
    already holds a model or an ensemble; ``resume=True`` continues the ensemble in ``out_dir`` (when every
    member has finished, nothing is trained and all are reported as skipped).
    """
    if members is not None and members < 2:
        raise CareBridgeError("an ensemble needs at least 2 members")
    loss = overrides.get("loss")
    if loss not in (None, "laplace"):
        raise CareBridgeError(f"an ensemble's members are probabilistic (Laplace loss); --loss {loss} cannot be "
                              "used with --ensemble")
    if overrides.get("probabilistic") is False:
        raise CareBridgeError("an ensemble's members are probabilistic; it cannot be trained with probabilistic=False")
    overrides["probabilistic"] = True
    config = _probabilistic(config)
    out = Path(out_dir)
    seed = overrides.pop("seed", None)
    if resume:
        if not is_ensemble_folder(out):
            raise CareBridgeError(f"nothing to resume in {out} (no ensemble.yaml); train without --resume")
        ens = EnsembleConfig.load(out)
        if members is not None and members != len(ens.members):
            raise CareBridgeError(f"{out} is an ensemble of {len(ens.members)} members; --resume continues it as "
                                  f"it is (--ensemble {members} cannot change that)")
        if seed is not None and int(seed) != ens.base_seed:
            raise CareBridgeError(f"--resume continues the ensemble of base seed {ens.base_seed}; --seed {seed} "
                                  "cannot change")
    else:
        _refuse_existing(out)
        base_seed = int(seed if seed is not None else (config.seed if config is not None else 0))
        ens = EnsembleConfig.new(DEFAULT_MEMBERS if members is None else members, base_seed)
        if not overrides.get("name") and config is None:
            overrides["name"] = out.name
        out.mkdir(parents=True, exist_ok=True)
        ens.save(out)  # first: a folder with members always says it is an ensemble

    if resume:  # every member holds out what the started ones held out (their training state says it)
        started = [out / m for m in ens.members if load_state(out / m) is not None] if out.is_dir() else []
        if started:
            validation_split, validation_fraction, _ = resolved_split(started[0], validation_split,
                                                                      validation_fraction)
    result = EnsembleResult(out, ens.members)
    skipped = []
    for k, name in enumerate(ens.members):
        mdir = out / name
        member_overrides = {**overrides, "seed": ens.member_seed(k)}
        kw = dict(config=config, validation_fraction=validation_fraction, progress=progress,
                  split_seed=ens.base_seed, validation_split=validation_split, **member_overrides)
        if not resume:
            result.trained[name] = train_from_patch_file(patches, mdir, resume=False, **kw)
            continue
        state = load_state(mdir) if mdir.is_dir() else None
        epochs = overrides.get("epochs")
        if member_finished(mdir, epochs) or _all_epochs_but_no_provenance(mdir, state, epochs):
            skipped.append(name)
            continue
        if state is None:
            kw["config"] = _restart_config(out, ens, k, config)
            _clear_untrained(mdir)
            result.trained[name] = train_from_patch_file(patches, mdir, resume=False, **kw)
        else:
            result.trained[name] = train_from_patch_file(patches, mdir, resume=True, **kw)
    result.skipped = tuple(skipped)
    return result


def _refuse_existing(out: Path) -> None:
    if is_ensemble_folder(out) or (out / CONFIG_FILE).exists() or (out / WEIGHTS["last"]).exists():
        raise CareBridgeError(f"{out} already holds a model; use --resume to continue it or choose a new folder")


def _all_epochs_but_no_provenance(mdir: Path, state: dict | None, epochs: int | None) -> bool:
    """A member killed after its last epoch but before ``provenance.json``: its weights are complete and
    nothing is left to train (the trainer would refuse to resume it), so the ensemble goes on without it."""
    if state is None or (mdir / PROVENANCE).is_file():
        return False
    target = epochs if epochs is not None else CareConfig.load(mdir).epochs
    return int(state.get("epoch", 0)) >= target


def _restart_config(out: Path, ens: EnsembleConfig, k: int, requested: CareConfig | None) -> CareConfig | None:
    """The configuration a member that never finished an epoch restarts with: its own ``config.yaml`` (written
    when it started), else a started sibling's with this member's seed, else ``requested``."""
    own = out / ens.members[k] / CONFIG_FILE
    if own.is_file():
        return CareConfig.load(own.parent)
    for m in ens.members:
        if (out / m / CONFIG_FILE).is_file():
            return CareConfig.load(out / m).model_copy(update={"seed": ens.member_seed(k)})
    if requested is None:
        raise CareBridgeError(f"no member of {out} has started (no config.yaml in any member folder), so its settings "
                              "are unknown; remove the folder and train the ensemble afresh")
    return requested


def _clear_untrained(mdir: Path) -> None:
    """A member interrupted before its first epoch ended has a ``config.yaml`` and no weights or state; it is
    started afresh (the trainer refuses a folder with a config.yaml)."""
    if (mdir / CONFIG_FILE).is_file() and not (mdir / WEIGHTS["last"]).exists():
        (mdir / CONFIG_FILE).unlink()
