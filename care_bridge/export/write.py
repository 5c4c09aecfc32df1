"""``export_bundle``: a care_bridge model folder (or ensemble folder) → a tested bioimage.io model bundle
(spec 0.5) zip.

The bundle holds the same trained network in three weight formats (``keras_v3``, ``onnx``,
``tensorflow_saved_model_bundle``), raw test input and expected normalized outputs, a cover, README.md and
``rdf.yaml``. Before the zip is written, every weight format must reproduce the Keras outputs on the test
tensor to ``tolerance`` (max abs) and pass ``bioimageio.core.test_model``; otherwise nothing is written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .. import tempdirs
from ..framework_env import configure_tensorflow  # noqa: E402

configure_tensorflow()

import numpy as np  # noqa: E402

from ..errors import BundleError, CareBridgeError  # noqa: E402
from ..io.atomic import atomic_path, check_output_path  # noqa: E402
from ..models.config import CareConfig  # noqa: E402
from ..normalize import apply_normalization, percentile_stats  # noqa: E402
from . import weights as W  # noqa: E402
from .core_test import run_test_model  # noqa: E402
from .rdf_build import rdf_min_size  # noqa: E402
from ..bundle.safe_zip import sha256_file  # noqa: E402

WEIGHT_FORMATS = ("keras_v3", "onnx", "tensorflow_saved_model_bundle")
# bioimageio.core 0.11's TF adapter returns a SavedModel's outputs in the order of a protobuf map, which is
# random per process (measured: 3 of 6 processes swap 'mean' and 'scale'), so a two-output SavedModel cannot
# pass test_model reliably. care_bridge's own TF engine reads outputs by name and is not affected.
TF_MULTI_OUTPUT_REASON = (
    "bioimageio.core 0.11 returns multi-output SavedModel results in random order (protobuf map order), "
    "so test_model cannot check them; use onnx"
)


def default_weight_formats(config: CareConfig) -> tuple[str, ...]:
    """All formats, minus the TF SavedModel for two-output (probabilistic) networks."""
    if config.probabilistic:
        return ("keras_v3", "onnx")
    return WEIGHT_FORMATS
DEFAULT_AUTHORS = [{"name": "care_bridge user"}]
TEST_SIZE_2D = 64
TEST_SIZE_3D = (16, 32, 32)
MAX_TEST_SIZE = 256
MAX_SAMPLE_SIZE = 512


def _versions() -> dict[str, str]:
    import keras
    import onnx
    import tensorflow as tf
    import tf2onnx

    from .. import __name__ as pkg

    try:
        from importlib.metadata import version

        cb = version(pkg)
    except Exception:
        cb = "unknown"
    return {
        "tensorflow": tf.__version__.split("+")[0],
        "keras": keras.__version__,
        "tf2onnx": tf2onnx.__version__,
        "onnx": onnx.__version__,
        "care_bridge": cb,
    }


def synthetic_test_image(config: CareConfig, seed: int = 0) -> np.ndarray:
    """A deterministic test image ``"<spatial>C"`` float32: Gaussian blobs on a background plus noise."""
    rng = np.random.default_rng(seed)
    shape = (TEST_SIZE_2D,) * 2 if config.ndim == 2 else TEST_SIZE_3D
    shape = tuple(max(s, mn) // st * st for s, mn, st in zip(shape, rdf_min_size(config), config.step))
    grids = np.meshgrid(*[np.arange(s, dtype=np.float32) for s in shape], indexing="ij")
    img = np.full(shape, 10.0, np.float32)
    for _ in range(12):
        c = [rng.uniform(0, s) for s in shape]
        r2 = sum((g - ci) ** 2 for g, ci in zip(grids, c))
        img += rng.uniform(50, 200) * np.exp(-r2 / (2 * rng.uniform(1.5, 4.0) ** 2))
    chans = [img * (1 + 0.3 * k) + rng.normal(0, 5, shape) for k in range(config.n_channel_in)]
    return np.stack(chans, axis=-1).astype(np.float32)


def prepare_test_input(config: CareConfig, test_input: np.ndarray | None, *, max_size: int = MAX_TEST_SIZE,
                       what: str = "test_input") -> np.ndarray:
    """The raw test tensor ``"S<spatial>C"`` (batch 1): ``test_input`` with axes ``config.axes`` (+ ``C``),
    center-cropped to multiples of the step (at most ``max_size`` per axis), or a synthetic image."""
    if test_input is None:
        x = synthetic_test_image(config)
    else:
        x = np.asarray(test_input, dtype=np.float32)
        if x.ndim == config.ndim and config.n_channel_in == 1:
            x = x[..., None]
        if x.ndim != config.ndim + 1 or x.shape[-1] != config.n_channel_in:
            raise CareBridgeError(
                f"{what} must have axes {config.axes} or {config.axes}C with {config.n_channel_in} "
                f"channel(s), got shape {x.shape}; pass one image in the network's layout"
            )
        sl = []
        for s, mn, st in zip(x.shape[:-1], rdf_min_size(config), config.step):
            n = max(min(s, max_size), mn) // st * st
            if s < mn:
                raise CareBridgeError(
                    f"{what} is too small ({x.shape}); each spatial size must be >= {rdf_min_size(config)} "
                    "(2 * halo + step)"
                )
            sl.append(slice((s - n) // 2, (s - n) // 2 + n))
        x = x[tuple(sl)]
    if not np.isfinite(x).all():
        raise CareBridgeError(f"{what} contains NaN/Inf; pass a finite image")
    return np.ascontiguousarray(x[None])


def normalize_test_input(config: CareConfig, raw: np.ndarray) -> np.ndarray:
    """``scale_range`` as the bundle declares it: per channel, percentiles over the spatial axes."""
    stats = percentile_stats(
        raw[0], channel_axis=-1, low=config.percentile_low, high=config.percentile_high, eps=config.norm_eps
    )
    return apply_normalization(raw, stats)


def _read_provenance(model_dir: Path) -> dict[str, Any]:
    p = model_dir / "provenance.json"
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CareBridgeError(f"{p} is not valid JSON ({e}); fix or remove it") from e
    return data if isinstance(data, dict) else {"value": data}


def _ensemble_provenance(model_dir: Path, ens) -> dict[str, Any]:
    """Provenance of an ensemble: every member's ``provenance.json`` under ``members``, the latest member's
    date and the most epochs any member trained (for the rdf's timestamp and training details)."""
    members = {m: _read_provenance(model_dir / m) for m in ens.members}
    out: dict[str, Any] = {"ensemble_created": ens.created, "base_seed": ens.base_seed}
    dates = [str(p["date"]) for p in members.values() if p.get("date")]
    epochs = [p["epochs"] for p in members.values() if isinstance(p.get("epochs"), int)]
    if dates:
        out["date"] = max(dates)
    if epochs:
        out["epochs"] = max(epochs)
    out["members"] = members
    return out


def _check_formats(
    config: CareConfig, stage: Path, work: Path, x: np.ndarray, ref: list[np.ndarray], formats: tuple[str, ...],
    info=None,
) -> dict:
    """Max abs difference to Keras of each weight format, run through this package's engines."""
    import keras

    from ..runtime.engines import OnnxEngine, TFSavedModelEngine
    from ..models.info import info_from_config
    from ..bundle.safe_zip import safe_extract

    info = info or info_from_config(config)
    diffs: dict[str, float] = {}
    reloaded = keras.models.load_model(stage / W.KERAS_FILE, compile=False)
    outs = {"keras_v3": W.run_keras(reloaded, x)}
    if "onnx" in formats:
        outs["onnx"] = OnnxEngine(stage / W.ONNX_FILE, info).run(x)
    if "tensorflow_saved_model_bundle" in formats:
        sm = safe_extract(stage / W.SAVED_MODEL_ZIP, work / "check_saved_model")
        outs["tensorflow_saved_model_bundle"] = TFSavedModelEngine(sm, info).run(x)
    for fmt, ys in outs.items():
        if len(ys) != len(ref) or any(y.shape != r.shape for y, r in zip(ys, ref)):
            raise BundleError(
                f"weight format {fmt} returns outputs of shapes {[y.shape for y in ys]}, Keras "
                f"{[r.shape for r in ref]}; the export is broken"
            )
        diffs[fmt] = float(max(np.abs(y - r).max() for y, r in zip(ys, ref)))
    return diffs


def export_bundle(
    model_dir: str | Path,
    out_zip: str | Path,
    *,
    overwrite: bool = False,
    authors: list[dict[str, str]] | None = None,
    license: str = "CC-BY-4.0",
    validation: dict[str, Any] | None = None,
    test_input: np.ndarray | None = None,
    tolerance: float = 1e-5,
    run_core_tests: bool = True,
    which: str = "best",
    weight_formats: tuple[str, ...] | None = None,
    maintainers: list[dict[str, str]] | None = None,
    description: str | None = None,
    tags: list[str] | None = None,
    cite: list[dict[str, str]] | None = None,
    git_repo: str | None = None,
    sample_input: np.ndarray | None = None,
) -> Path:
    """Export the model folder ``model_dir`` as a bioimage.io bundle zip at ``out_zip``; return its path.

    An ensemble folder (:mod:`care_bridge.models.ensemble`) becomes ONE bundle of the ensemble network
    (outputs ``mean``, ``member_mean``, ``member_scale``; ``keras_v3`` and ``onnx`` weights) whose
    ``config.care_bridge`` holds member 0's configuration as ``network`` and the ``ensemble`` block.

    ``test_input``: one raw image with axes ``config.axes`` (+ ``C``), default a synthetic one.
    ``validation``: metrics on held-out data (``{"dataset": ..., "metrics": {name: {column: value}}}``),
    written to README.md's Validation section and ``config.care_bridge.validation``.
    ``weight_formats``: subset of :data:`WEIGHT_FORMATS` (``keras_v3`` always included); default
    :func:`default_weight_formats`.
    Curated metadata (parsed and checked by :mod:`care_bridge.export.metadata`): ``authors`` and
    ``maintainers`` (dicts with ``name`` and optionally ``github_user``, ``affiliation``, ``orcid``; a maintainer
    needs ``github_user``), ``description`` (replaces the generated one), ``tags`` (added to care_bridge's),
    ``cite`` (dicts ``text`` + ``doi`` or ``url``, added after the CARE paper), ``git_repo`` (URL).
    ``sample_input``: one raw image from the user's data (axes as ``test_input``, center-cropped to at most
    512 per axis); it and the network's outputs on it are written as TIFFs and declared as each tensor's
    ``sample_tensor``.
    Raises :class:`BundleError` (nothing written) if a weight format differs from Keras by more than
    ``tolerance`` or fails ``bioimageio.core.test_model``.
    """
    from ..models import load_model
    from ..models.ensemble import ensemble_network, is_ensemble_folder, load_ensemble
    from ..models.info import info_from_config, info_from_ensemble
    from .docs import documentation, write_cover
    from .rdf_build import care_bridge_config, ensemble_block

    model_dir = Path(model_dir)
    check_output_path(out_zip, overwrite=overwrite)
    if not str(out_zip).endswith(".zip"):
        raise CareBridgeError(f"bundle path {out_zip} must end with .zip")
    authors = [dict(a) for a in (authors or DEFAULT_AUTHORS)]
    ens_block = None
    if is_ensemble_folder(model_dir):
        ens, configs, models = load_ensemble(model_dir, which=which)
        config = configs[0]
        formats = _resolve_formats(config, weight_formats)
        provenance = _ensemble_provenance(model_dir, ens)
        net = ensemble_network(configs, models)
        ens_block = ensemble_block(list(ens.members), configs)
        info = info_from_ensemble(configs)
    else:
        config, model = load_model(model_dir, which=which)
        formats = _resolve_formats(config, weight_formats)
        provenance = _read_provenance(model_dir)
        net = W.bundle_network(config, model)
        info = info_from_config(config)
    ids = W.output_ids(config, ensemble=ens_block is not None)
    versions = _versions()

    with tempfile.TemporaryDirectory(prefix="care_bridge_export_", dir=tempdirs.process_temp_root()) as tmp:
        work = Path(tmp)
        stage = work / "bundle"
        stage.mkdir()
        raw = prepare_test_input(config, test_input)
        xn = normalize_test_input(config, raw)
        ref = W.run_keras(net, xn)
        files = {"test_input": "test_input.npy"}
        np.save(stage / files["test_input"], raw, allow_pickle=False)
        for oid, y in zip(ids, ref):
            files[f"test_{oid}"] = f"test_{oid}.npy"
            np.save(stage / files[f"test_{oid}"], y, allow_pickle=False)
        files["keras_v3"] = W.write_keras(net, stage / W.KERAS_FILE).name
        if "onnx" in formats:
            files["onnx"] = W.write_onnx(config, net, stage / W.ONNX_FILE).name
        if "tensorflow_saved_model_bundle" in formats:
            files["tensorflow_saved_model_bundle"] = W.write_saved_model_zip(
                config, net, stage / W.SAVED_MODEL_ZIP, work
            ).name
        diffs = _check_formats(config, stage, work, xn, ref, formats, info)
        bad = {k: v for k, v in diffs.items() if not v <= tolerance}
        if bad:
            fmt, d = next(iter(bad.items()))
            raise BundleError(
                f"weight format {fmt} differs from Keras by {d:.3g} (max abs) on the test tensor, over the "
                f"tolerance {tolerance:g}; bundle not written"
            )
        if sample_input is not None:
            files.update(_write_samples(config, net, ids, stage, sample_input))
        files["cover"] = write_cover(stage / "cover.png", raw[0], ref[0][0]).name
        care_block = care_bridge_config(
            config, provenance=provenance, validation=validation, weights_check=diffs, tolerance=tolerance,
            ensemble=ens_block,
        )
        care_block["versions"] = versions
        care_block["weight_formats"] = list(formats)
        if "tensorflow_saved_model_bundle" not in formats and config.probabilistic:
            care_block["omitted_weight_formats"] = {"tensorflow_saved_model_bundle": TF_MULTI_OUTPUT_REASON}
        hashes = {name: sha256_file(stage / name) for name in files.values()}
        doc = documentation(
            config, care_block=care_block, authors=authors, license=license, file_hashes=hashes,
            validation=validation, maintainers=maintainers, cite=cite, git_repo=git_repo, description=description,
        )
        (stage / "README.md").write_text(doc, encoding="utf-8")
        files["documentation"] = "README.md"
        curated = {"maintainers": [dict(m) for m in maintainers or []] or None, "description": description,
                   "tags": list(tags or []), "cite": [dict(c) for c in cite or []] or None, "git_repo": git_repo}
        descr = _build_descr(config, stage, files, authors, license, care_block, versions, provenance, **curated)
        _write_rdf(descr, stage / "rdf.yaml")
        bundle = W.deterministic_zip(stage, work / "bundle.zip")
        if run_core_tests:
            for fmt in formats:
                res = run_test_model(bundle, fmt)
                if not res.passed:
                    raise BundleError(
                        f"bioimageio.core.test_model failed for weight format {fmt} (its tolerance: abs 1e-3, "
                        f"rel 1e-3): {res.message}; bundle not written"
                    )
        with atomic_path(out_zip, overwrite=overwrite) as tmp_out:
            shutil.copyfile(bundle, tmp_out)
    return Path(out_zip)


def _resolve_formats(config: CareConfig, requested: tuple[str, ...] | None) -> tuple[str, ...]:
    if requested is None:
        return default_weight_formats(config)
    unknown = sorted(set(requested) - set(WEIGHT_FORMATS))
    if unknown:
        raise CareBridgeError(f"unknown weight format(s) {unknown}; choose from {', '.join(WEIGHT_FORMATS)}")
    if config.probabilistic and "tensorflow_saved_model_bundle" in requested:
        raise CareBridgeError(
            f"a probabilistic network cannot ship tensorflow_saved_model_bundle: {TF_MULTI_OUTPUT_REASON}"
        )
    return tuple(f for f in WEIGHT_FORMATS if f == "keras_v3" or f in requested)


def _write_samples(config: CareConfig, net, ids, stage: Path, sample_input: np.ndarray) -> dict[str, str]:
    """``sample_input.tif`` (the raw image) and ``sample_<output id>.tif`` (the network's output on it, in the
    output tensors' normalized units), each without the batch axis and, for one channel, without the channel
    axis; bioimageio.spec reads them with imageio and checks their dimensionality."""
    import tifffile

    raw = prepare_test_input(config, sample_input, max_size=MAX_SAMPLE_SIZE, what="sample_input")
    ys = W.run_keras(net, normalize_test_input(config, raw))
    out: dict[str, str] = {}
    for role, arr in [("sample_input", raw)] + [(f"sample_{oid}", y) for oid, y in zip(ids, ys)]:
        a = np.asarray(arr[0], dtype=np.float32)
        if a.shape[-1] == 1:
            a = a[..., 0]
        name = f"{role}.tif"
        tifffile.imwrite(stage / name, a, photometric="minisblack")
        out[role] = name
    return out


def _build_descr(config, stage, files, authors, license, care_block, versions, provenance, *, maintainers=None,
                 description=None, tags=(), cite=None, git_repo=None):
    from pydantic import ValidationError

    from .rdf_build import build_model_descr

    tags_extra = list(tags or [])
    members = int((care_block.get("ensemble") or {}).get("members", 1))
    desc = (
        f"CARE restoration network ({config.mode}, {config.axes}, {config.n_channel_in}->{config.n_channel_out} "
        "channels" + (", probabilistic" if config.probabilistic else "") + "), exported by care_bridge."
    )
    if members > 1:
        desc = (
            f"Deep ensemble of {members} probabilistic CARE restoration networks ({config.mode}, {config.axes}, "
            f"{config.n_channel_in}->{config.n_channel_out} channels), exported by care_bridge."
        )
    tags = ["care", "content-aware image restoration", "denoising" if config.mode == "denoise" else config.mode,
            "fluorescence-light-microscopy", "unet", "2d" if config.ndim == 2 else "3d", "tensorflow", "onnx"]
    if members > 1:
        tags.append("ensemble")
    tags += [t for t in tags_extra if t not in tags]
    desc = description or desc
    date = provenance.get("date")
    try:
        return build_model_descr(
            config, stage, files=files, authors=authors, license=license, description=desc, tags=tags,
            care_block=care_block, versions=versions, timestamp=str(date) if date else None,
            maintainers=maintainers, cite=cite, git_repo=git_repo,
        )
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise BundleError(
            f"the bundle description is invalid at {loc}: {err['msg']}; fix that value (authors, maintainers, "
            "license, cite, git repo, sample image, provenance date, ...) and export again"
        ) from e


def _write_rdf(descr, path: Path) -> None:
    """rdf.yaml readable by YAML 1.1 and 1.2 parsers alike.

    bioimageio.spec writes YAML 1.2 (``eps: 1e-06``), which PyYAML's ``safe_load`` (YAML 1.1) reads as the
    *string* ``"1e-06"``; PyYAML's dumper writes ``1.0e-06``, a float for both.
    """
    import yaml
    from bioimageio.spec import dump_description

    content = dump_description(descr, exclude_unset=True)
    path.write_text(yaml.safe_dump(content, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
