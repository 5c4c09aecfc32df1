"""Import a CSBDeep CARE model folder (``config.json`` + ``weights_best.h5``) into care_bridge.

CSBDeep (csbdeep 0.8, Weigert et al. 2018) builds its U-Net with ``csbdeep.internals.nets.common_unet``:
``n_conv_per_depth = 2``, pooling 2 per axis, convolutions named ``down_level_{n}_no_{i}``, ``middle_{i}``
(the last one ``middle_2``), ``up_level_{n}_no_{i}`` (the last one ``up_level_{n}_no_2``), an unnamed 1x1
output convolution, optional residual ``Add`` and the last activation. That is the architecture of
:func:`care_bridge.models.unet.build_unet`, so weights map one convolution to one convolution (checked by
shape). Weights are read with h5py from Keras' HDF5 weights layout (root attribute ``layer_names``, per layer
``weight_names``: kernel then bias), never by unpickling or building CSBDeep's model.

Normalization follows ``CARE.predict``'s default ``PercentileNormalizer(pmin=2, pmax=99.8)``: per channel,
``(x - p_low) / (p_high - p_low + 1e-20)``, then ``y * (p_high - p_low) + p_low`` on the output.

Not supported: probabilistic CSBDeep models (their scale head adds ``eps_scale = 1e-3`` after the softplus,
which care_bridge's U-Net does not), and configs outside CSBDeep's common U-Net.
"""

from __future__ import annotations

import json
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import tempdirs
from ..models.folder import write_model_folder
from ..errors import BundleError, CareBridgeError
from ..models.config import CareConfig

CSBDEEP_EPS = 1e-20  # csbdeep.utils.normalize_mi_ma
CSBDEEP_PERCENTILES = (2.0, 99.8)  # csbdeep.data.PercentileNormalizer defaults (CARE.predict)
REQUIRED_KEYS = ("n_dim", "axes", "n_channel_in", "n_channel_out", "unet_n_depth", "unet_kern_size",
                 "unet_n_first")


def care_config_from_csbdeep(cfg: dict[str, Any], *, name: str,
                             percentiles: tuple[float, float] = CSBDEEP_PERCENTILES) -> CareConfig:
    """CareConfig equivalent to a CSBDeep ``config.json`` (``Config`` of csbdeep 0.8)."""
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        raise CareBridgeError(f"CSBDeep config.json lacks {', '.join(missing)}; is this a CSBDeep CARE model?")
    if cfg.get("probabilistic"):
        raise CareBridgeError(
            "probabilistic CSBDeep models are not supported: CSBDeep adds 1e-3 to the Laplace scale "
            "(eps_scale), care_bridge's network does not; re-train with care_bridge"
        )
    axes = str(cfg["axes"]).upper().replace("C", "")
    if axes not in ("YX", "ZYX") or len(axes) != int(cfg["n_dim"]):
        raise CareBridgeError(f"CSBDeep axes {cfg['axes']!r} are not supported; expected 'YXC' or 'ZYXC'")
    act = cfg.get("unet_last_activation", "linear")
    if act not in ("linear", "relu"):
        raise CareBridgeError(f"CSBDeep last activation {act!r} is not supported (only linear or relu)")
    loss = cfg.get("train_loss", "mae")
    data = {
        "name": name,
        "axes": axes,
        "n_channel_in": int(cfg["n_channel_in"]),
        "n_channel_out": int(cfg["n_channel_out"]),
        "unet_depth": int(cfg["unet_n_depth"]),
        "unet_n_first": int(cfg["unet_n_first"]),
        "unet_kern_size": int(cfg["unet_kern_size"]),
        "unet_n_conv_per_depth": 2,
        "unet_pool": (2,) * len(axes),
        "unet_residual": bool(cfg.get("unet_residual", int(cfg["n_channel_in"]) == int(cfg["n_channel_out"]))),
        "unet_last_activation": act,
        "loss": loss if loss in ("mae", "mse") else "mae",
        "percentile_low": float(percentiles[0]),
        "percentile_high": float(percentiles[1]),
        "norm_eps": CSBDEEP_EPS,
    }
    for ours, theirs in (("learning_rate", "train_learning_rate"), ("batch_size", "train_batch_size"),
                         ("epochs", "train_epochs"), ("steps_per_epoch", "train_steps_per_epoch")):
        if cfg.get(theirs) is not None:
            data[ours] = cfg[theirs]
    try:
        return CareConfig.from_dict(data, source="CSBDeep config.json")
    except CareBridgeError:
        raise
    except Exception as e:  # pydantic errors are wrapped by from_dict; anything else is a bad config
        raise CareBridgeError(f"CSBDeep config.json cannot be converted ({e})") from e


def _decode(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def read_csbdeep_weights(path: Path) -> dict[str, list[np.ndarray]]:
    """``{layer name: [kernel, bias]}`` of every layer with weights, in the file's layer order."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise CareBridgeError(f"{path} is not a readable HDF5 weights file ({e})") from e
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in root.attrs:
            raise CareBridgeError(f"{path} has no 'layer_names' attribute; not a Keras HDF5 weights file")
        out: dict[str, list[np.ndarray]] = {}
        for lname in (_decode(n) for n in root.attrs["layer_names"]):
            g = root[lname]
            names = [_decode(n) for n in g.attrs.get("weight_names", [])]
            if names:
                out[lname] = [np.asarray(g[n], dtype=np.float32) for n in names]
    return out


def _target_name(csb_name: str, n_conv: int = 2) -> str | None:
    """care_bridge layer name of a CSBDeep convolution name (None for the unnamed output convolution)."""
    if m := re.fullmatch(r"middle_(\d+)", csb_name):
        i = int(m[1])
        return f"middle_{n_conv - 1}" if i == n_conv else csb_name
    if m := re.fullmatch(r"up_level_(\d+)_no_(\d+)", csb_name):
        i = int(m[2])
        return f"up_level_{m[1]}_no_{n_conv - 1}" if i == n_conv else csb_name
    if re.fullmatch(r"down_level_\d+_no_\d+", csb_name):
        return csb_name
    return None


def load_csbdeep_weights(model, weights: dict[str, list[np.ndarray]]) -> None:
    """Assign CSBDeep weights to a care_bridge U-Net, layer by layer; every shape must match."""
    ours = {layer.name: layer for layer in model.layers if layer.weights}
    assigned: set[str] = set()
    unnamed = []
    for csb, ws in weights.items():
        target = _target_name(csb)
        if target is None:
            unnamed.append((csb, ws))
            continue
        _assign(ours, target, csb, ws)
        assigned.add(target)
    if len(unnamed) != 1:
        raise BundleError(f"expected one output convolution in the CSBDeep weights, found {[n for n, _ in unnamed]}")
    _assign(ours, "mean", unnamed[0][0], unnamed[0][1])
    assigned.add("mean")
    left = sorted(set(ours) - assigned)
    if left:
        raise BundleError(f"CSBDeep weights lack layers {left}; the config.json does not match weights_best.h5")


def _assign(ours: dict, target: str, csb: str, ws: list[np.ndarray]) -> None:
    if target not in ours:
        raise BundleError(f"CSBDeep layer {csb!r} has no counterpart in care_bridge's U-Net; config mismatch")
    shapes = [tuple(w.shape) for w in ours[target].get_weights()]
    if shapes != [tuple(w.shape) for w in ws]:
        raise BundleError(f"CSBDeep layer {csb!r} has weights {[w.shape for w in ws]}, expected {shapes}")
    ours[target].set_weights(ws)


def import_csbdeep(
    csbdeep_dir: str | Path,
    out_zip: str | Path | None = None,
    *,
    model_dir: str | Path | None = None,
    percentiles: tuple[float, float] = CSBDEEP_PERCENTILES,
    overwrite: bool = False,
    **export_kwargs: Any,
) -> Path:
    """Convert a CSBDeep model folder into a care_bridge model folder and, with ``out_zip``, a bundle.

    ``model_dir`` (must not exist) receives config.yaml, weights_best/last.weights.h5 and provenance.json;
    default a temporary folder (removed after exporting). Returns ``out_zip`` if given, else ``model_dir``.
    ``export_kwargs`` go to :func:`care_bridge.export.export_bundle`.
    """
    from ..framework_env import configure_tensorflow

    configure_tensorflow()
    from ..models.unet import build_unet

    src = Path(csbdeep_dir)
    cfg_path = src / "config.json"
    weights_path = src / "weights_best.h5"
    for p in (cfg_path, weights_path):
        if not p.is_file():
            raise CareBridgeError(f"{p} not found; give a CSBDeep model folder (config.json, weights_best.h5)")
    try:
        raw = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CareBridgeError(f"{cfg_path} is not valid JSON ({e})") from e
    config = care_config_from_csbdeep(raw, name=src.name or "csbdeep_model", percentiles=percentiles)
    model = build_unet(config)
    load_csbdeep_weights(model, read_csbdeep_weights(weights_path))

    tmp = None
    if model_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="care_bridge_csbdeep_", dir=tempdirs.process_temp_root())
        model_dir = Path(tmp.name) / "model"
    model_dir = Path(model_dir)
    if model_dir.exists():
        raise CareBridgeError(f"model folder {model_dir} already exists; choose a new folder")
    try:
        provenance = {
            "imported_from": "CSBDeep",
            "source": str(src.resolve()),
            "csbdeep_config": raw,
            "epochs": raw.get("train_epochs"),
            "normalization_note": "CSBDeep PercentileNormalizer: percentiles per channel, eps 1e-20",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        write_model_folder(model_dir, config, model, provenance=provenance)
        if out_zip is None:
            return model_dir
        from .write import export_bundle

        return export_bundle(model_dir, out_zip, overwrite=overwrite, **export_kwargs)
    finally:
        if tmp is not None:
            tmp.cleanup()
