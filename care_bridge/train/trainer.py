"""Train a CARE network on patches: Adam, learning-rate reduction on plateau, optional early stopping,
best/last checkpoints, resumable state, progress display, TensorBoard (if installed) and a training curve."""

from __future__ import annotations

import datetime as _dt
import importlib.util
import json
import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from ..framework_env import configure_tensorflow  # noqa: E402

configure_tensorflow()

import numpy as np  # noqa: E402

from ..errors import CareBridgeError  # noqa: E402
from ..models.config import SCHEDULE_FIELDS, CareConfig  # noqa: E402
from ..models.folder import CURVE, HISTORY, PROVENANCE, WEIGHTS  # noqa: E402
from .batches import BatchStream, all_finite, tf_datasets  # noqa: E402
from .precision import check_training_precision  # noqa: E402
from .state import load_state, restore_optimizer, save_state  # noqa: E402


@dataclass
class TrainResult:
    model_dir: Path
    epochs_run: int
    final_loss: float
    final_val_loss: float
    best_val_loss: float


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    from .. import __version__

    return {"care_bridge": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def _check_data(config: CareConfig, X: np.ndarray, Y: np.ndarray, what: str) -> None:
    nd = config.ndim
    out_layout = config.params.network_output_layout()  # e.g. projection: ZYX in, "byxc" out
    nd_out = len(out_layout) - 2 if out_layout else nd
    if X.ndim != nd + 2 or Y.ndim != nd_out + 2:
        raise CareBridgeError(
            f"{what} patches have {X.ndim - 2}D shape {X.shape} but the model is {nd}D ({config.axes}); "
            "create patches with matching axes"
        )
    if X.shape[-1] != config.n_channel_in or Y.shape[-1] != config.n_channel_out:
        raise CareBridgeError(
            f"{what} patches have {X.shape[-1]} input / {Y.shape[-1]} output channels, the model "
            f"{config.n_channel_in} / {config.n_channel_out}"
        )
    bad = [p for p, s in zip(X.shape[1:-1], config.step) if p % s]
    if bad:
        raise CareBridgeError(
            f"patch shape {X.shape[1:-1]} must be divisible by {config.step} (2**depth); choose another patch shape"
        )
    if not (all_finite(X) and all_finite(Y)):
        raise CareBridgeError(f"{what} patches contain NaN/Inf; re-create them from clean images")


def train(
    config: CareConfig,
    X: np.ndarray,
    Y: np.ndarray,
    X_val: np.ndarray,
    Y_val: np.ndarray,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    data_meta: dict | None = None,
    split: dict | None = None,
) -> TrainResult:
    """Train ``config``'s network on patches ``X``→``Y`` (``"S<axes>C"`` float32) into model folder ``out_dir``.

    ``X``, ``Y``, ``X_val``, ``Y_val``: arrays, or :class:`~care_bridge.data.patch_store.PatchRows` of a
    memory-mapped patch file; either way batches are gathered row by row in the seeded order of
    :mod:`care_bridge.train.batches`, so memory is bounded by the batch size and the result does not depend on
    where the patches are held. ``split``: the validation split's settings (``by``, ``fraction``, ``seed``),
    kept in the training state so that ``--resume`` holds out the same patches.

    A new run refuses an ``out_dir`` that already holds a model; ``resume=True`` continues from its last
    checkpoint (weights, optimizer state, epoch counter, best validation loss, position in the patch order) up to
    ``config.epochs``.

    ``config.precision``: ``fp32``, or ``bf16`` (mixed precision, :func:`care_bridge.models.unet.build_unet`;
    refused with one line on hardware without bfloat16 arithmetic, :mod:`care_bridge.train.precision`). The
    weights, checkpoints and optimizer state are float32 in both, so a resumed run may change the precision.
    """
    import keras

    from ..models.losses import loss_for
    from ..models.factory import build_network

    out = Path(out_dir)
    # first, before a pass over the data: a resumed run trains in the precision asked for (resumed_config takes
    # it, a SCHEDULE_FIELDS entry, from ``config``)
    check_training_precision(config.precision)
    _check_data(config, X, Y, "training")
    _check_data(config, X_val, Y_val, "validation")
    state = None
    if resume:
        state = load_state(out)
        if state is None:
            raise CareBridgeError(f"nothing to resume in {out} (no train_state.json); train without --resume")
        config = resumed_config(CareConfig.load(out), config)
    elif (out / WEIGHTS["last"]).exists() or (out / "config.yaml").exists():
        raise CareBridgeError(f"{out} already holds a model; use --resume to continue it or choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    config.save(out)

    keras.utils.set_random_seed(config.seed)
    model = build_network(config, precision=config.precision)
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
    initial_epoch, best = 0, math.inf
    if state is not None:
        last = out / WEIGHTS["last"]
        try:
            model.load_weights(last)
        except Exception as e:  # noqa: BLE001 - h5py/keras raise many kinds for a truncated or foreign file
            good = " (weights_best.weights.h5 is there: copy it over to resume from the best epoch)" \
                if (out / WEIGHTS["best"]).is_file() else ""
            raise CareBridgeError(f"{last} is damaged and cannot be resumed from ({type(e).__name__}){good}") from None
        restore_optimizer(out, optimizer, model.trainable_variables)
        initial_epoch, best = int(state["epoch"]), float(state["best_val_loss"])
        optimizer.learning_rate = state["learning_rate"]
    model.compile(optimizer=optimizer, loss=loss_for(config))
    if initial_epoch >= config.epochs:
        raise CareBridgeError(f"{out} already finished {initial_epoch} of {config.epochs} epochs; nothing to resume")

    bs = min(config.batch_size, len(X))
    seen = int(state.get("patches_seen", initial_epoch * config.steps_per_epoch * bs)) if state is not None else 0
    stream = BatchStream(X, Y, batch_size=bs, seed=config.seed, start=seen)
    ds, val = tf_datasets(stream, X_val, Y_val)
    checkpoint = _make_atomic_checkpoint()
    best_cb = checkpoint(out / WEIGHTS["best"], best_only=True)
    best_cb.best = best
    callbacks = [
        best_cb,
        checkpoint(out / WEIGHTS["last"], best_only=False),
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=config.reduce_lr_factor, patience=config.reduce_lr_patience, min_delta=0,
            verbose=0,  # min_delta 0 as CSBDeep sets it (Keras' default is 1e-4): any improvement resets patience
        ),
        keras.callbacks.CSVLogger(str(out / HISTORY), append=state is not None),
        _make_state_callback()(out, optimizer, best_cb, initial_epoch=initial_epoch, seen=seen,
                                patches_per_epoch=config.steps_per_epoch * bs, split=split),
    ]
    if config.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping_patience))
    if importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / "logs"), write_graph=False))
    hist = model.fit(
        ds,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=config.steps_per_epoch,
        validation_data=val,
        callbacks=callbacks,
        shuffle=False,  # the batch stream orders the patches
        verbose=(1 if progress else 0),
    )
    h = hist.history
    from .plots import plot_training_curve

    plot_training_curve(out / HISTORY, out / CURVE)
    epochs_run = initial_epoch + len(h.get("loss", []))
    result = TrainResult(out, epochs_run, float(h["loss"][-1]), float(h["val_loss"][-1]), float(best_cb.best))
    prov = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "data": data_meta or {},
        "n_patches_train": int(len(X)),
        "n_patches_validation": int(len(X_val)),
        "epochs": epochs_run,
        "steps_per_epoch": config.steps_per_epoch,
        "batch_size": bs,
        "final_loss": result.final_loss,
        "final_val_loss": result.final_val_loss,
        "best_val_loss": result.best_val_loss,
        "loss": config.loss,
        "versions": _versions(),
    }
    tmp = out / f".{PROVENANCE}.part"
    tmp.write_text(json.dumps(prov, indent=2))
    os.replace(tmp, out / PROVENANCE)
    return result


def train_from_patch_file(
    patches: str | Path,
    out_dir: str | Path,
    *,
    config: CareConfig | None = None,
    validation_fraction: float | None = None,
    resume: bool = False,
    progress: bool = True,
    split_seed: int | None = None,
    validation_split: str | None = None,
    **overrides,
) -> TrainResult:
    """Train from a patch file (``care-bridge datagen``); the network's axes and channels follow the
    patches unless ``config`` says otherwise. ``overrides`` are ``CareConfig`` fields (epochs, ...).

    The patches are memory-mapped (files written by this version; older compressed files are read into memory)
    and gathered batch by batch, so the file may be larger than the memory.

    Validation (:func:`care_bridge.data.patches.load_patches`): whole source images (for isotropic data, whole
    planes) are held out when the file records at least two, so that no validation patch overlaps a training
    patch; random patches otherwise or with ``validation_split="patch"``. ``validation_fraction`` defaults to
    0.1. The split is drawn with ``split_seed``, by default the training seed; an ensemble's members
    (:mod:`care_bridge.train.ensemble`) pass the base seed, so all hold out the same patches. The training state
    keeps the split's settings: a resumed run holds out the same patches, and asking it for another split or
    fraction is refused. The provenance records the split (``data.validation_split``)."""
    from ..data.patches import load_patches

    saved = Path(out_dir) / "config.yaml"
    by, fraction, saved_seed = resolved_split(Path(out_dir) if resume else None, validation_split, validation_fraction)
    seed = overrides.get("seed")
    if seed is None and resume and config is None and saved.is_file():
        seed = CareConfig.load(out_dir).seed  # a resumed run holds out the patches it held out before
    seed = int(seed if seed is not None else (config.seed if config is not None else 0))
    split = int(split_seed) if split_seed is not None else (saved_seed if saved_seed is not None else seed)
    X, Y, Xv, Yv, axes, meta = load_patches(patches, validation_fraction=fraction, seed=split, split=by, lazy=True)
    spatial = axes.strip("SC")
    # patch files from `datagen --mode ...` carry the network their data is made for; a resumed run starts from
    # the configuration saved beside its weights
    if resume and config is None and saved.is_file():
        base = CareConfig.load(out_dir).model_dump()
    else:
        base = config.model_dump() if config is not None else dict(meta.get("network") or {})
    base.update(
        {"axes": spatial, "n_channel_in": int(X.shape[-1]), "n_channel_out": int(Y.shape[-1])} if config is None else {}
    )
    base.update({k: v for k, v in overrides.items() if v is not None})
    cfg = CareConfig.from_dict(base, source="training settings")
    data_meta = {"patch_file": Path(patches).name, **meta, "validation_split_seed": split}
    return train(cfg, X, Y, Xv, Yv, out_dir, resume=resume, progress=progress, data_meta=data_meta,
                 split={"by": by, "fraction": fraction, "seed": split})


SPLIT_WORDS = {"source": "whole source images", "patch": "random patches"}


def resolved_split(model_dir: Path | None, by: str | None, fraction: float | None) -> tuple[str, float, int | None]:
    """``(by, fraction, seed)`` of the validation split a run uses: what is asked, else (resuming ``model_dir``)
    what its training state saved, else ``source`` and 0.1. A resumed run cannot change the split: its
    validation patches would have been trained on (one-line error)."""
    from ..data.patches import VALIDATION_SPLITS

    if by is not None and by not in VALIDATION_SPLITS:
        raise CareBridgeError(f"validation split {by!r} is unknown; choose source or patch")
    state = load_state(model_dir) if model_dir is not None and model_dir.is_dir() else None
    saved = (state or {}).get("validation_split") or {}
    if saved:
        if by is not None and by != saved["by"]:
            raise CareBridgeError(f"--resume continues a run validated on {SPLIT_WORDS[saved['by']]} "
                                  f"(--validation-split {saved['by']}); --validation-split {by} cannot change, "
                                  "train a new model instead")
        if fraction is not None and not math.isclose(fraction, saved["fraction"]):
            raise CareBridgeError(f"--resume continues a run that held out {saved['fraction']:g} of the patches; "
                                  f"--validation-fraction {fraction:g} cannot change, train a new model instead")
        return saved["by"], float(saved["fraction"]), saved.get("seed")
    return by or "source", 0.1 if fraction is None else float(fraction), None


def resumed_config(saved: CareConfig, requested: CareConfig | None) -> CareConfig:
    """The configuration a resumed run continues with: the saved one, with the training schedule the caller
    asks for now (``--resume --epochs 12`` trains up to epoch 12). Only :data:`SCHEDULE_FIELDS` may change; the
    network must stay the one whose weights are resumed."""
    if requested is None:
        return saved
    a, b = saved.model_dump(), requested.model_dump()
    fixed = sorted(k for k in a if k not in SCHEDULE_FIELDS and a[k] != b.get(k))
    if fixed:
        raise CareBridgeError(f"--resume continues the saved network; {', '.join(fixed)} cannot change (only "
                              f"{', '.join(SCHEDULE_FIELDS)} can); train a new model instead")
    changes = {k: b[k] for k in SCHEDULE_FIELDS if a[k] != b[k]}
    return saved.model_copy(update=changes) if changes else saved


def _make_atomic_checkpoint():
    import keras

    class AtomicCheckpoint(keras.callbacks.Callback):
        """Saves the weights after an epoch (every epoch, or when ``val_loss`` improved) to a temporary file and
        renames it over the checkpoint: a kill during a save never leaves a truncated checkpoint."""

        def __init__(self, path: Path, *, best_only: bool):
            super().__init__()
            self.path, self.best_only, self.best = Path(path), best_only, math.inf

        def on_epoch_end(self, epoch, logs=None):
            loss = float((logs or {}).get("val_loss", math.inf))
            if self.best_only:
                if not loss < self.best:
                    return
                self.best = loss
            tmp = self.path.with_name(f".part-{self.path.name}")  # keeps the .weights.h5 ending Keras requires
            self.model.save_weights(tmp)
            os.replace(tmp, self.path)

    return AtomicCheckpoint


def _make_state_callback():
    import keras

    class StateCallback(keras.callbacks.Callback):
        """After every epoch: optimizer state, epoch counter and best validation loss (for --resume)."""

        def __init__(self, out: Path, optimizer, best_cb, *, initial_epoch: int, seen: int, patches_per_epoch: int,
                     split: dict | None):
            super().__init__()
            self.out, self.opt, self.best_cb = out, optimizer, best_cb
            self.initial_epoch, self.seen, self.per_epoch, self.split = initial_epoch, seen, patches_per_epoch, split

        def on_epoch_end(self, epoch, logs=None):
            seen = self.seen + (epoch + 1 - self.initial_epoch) * self.per_epoch
            extra = {"patches_seen": seen, **({"validation_split": self.split} if self.split else {})}
            save_state(self.out, self.opt, epoch=epoch + 1, best_val_loss=float(self.best_cb.best), extra=extra)

    return StateCallback

