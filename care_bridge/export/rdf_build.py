"""The bundle's ``rdf.yaml`` (bioimage.io model spec 0.5), built and validated with ``bioimageio.spec``.

Tensor axes are channels last, ``b, (z), y, x, c`` for the input ``input`` and the outputs (``output``, or
``mean`` and ``scale`` for probabilistic networks, or ``mean``, ``member_mean`` and ``member_scale`` for an
ensemble of probabilistic members). Inputs accept spatial sizes ``min + step * k``
(``ParameterizedSize(min=2 * halo + step, step=step)``, see :func:`rdf_min_size`); outputs have the input's size (``SizeReference``) and declare
``halo`` pixels per side that a tiling runtime must crop. Preprocessing is ``scale_range`` (per channel,
percentiles over the spatial axes); CARE's de-normalization has no spec op and is described under
``config.care_bridge`` (see :func:`care_bridge_config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..models.config import CareConfig
from ..models.receptive_field import halo as network_halo
from .weights import ONNX_OPSET, output_ids

CARE_CITATION = (
    "Weigert, M., Schmidt, U., Boothe, T. et al. Content-aware image restoration: pushing the limits of "
    "fluorescence microscopy. Nature Methods 15, 1090-1097 (2018)."
)
CARE_DOI = "10.1038/s41592-018-0216-7"
SCHEMA_VERSION = 1
NORMALIZE_FORMULA = "x_n = (x - p_low) / (p_high - p_low + eps)"
DENORM_FORMULA = "y = y_n * (p_high - p_low) + p_low"
DENORM_SCALE_FORMULA = "s = s_n * (p_high - p_low)"


def pixel_size_of(config: CareConfig) -> dict[str, float]:
    """Physical pixel size per spatial axis (lower-case ids) from ``config.pixel_size``, micrometers."""
    ps = {str(k).lower(): float(v) for k, v in (config.pixel_size or {}).items()}
    return {a: ps[a] for a in config.axes.lower() if a in ps}


def rdf_min_size(config: CareConfig) -> tuple[int, ...]:
    """Smallest input size per axis that the rdf declares: ``2 * halo + step``.

    The network itself runs on any multiple of ``step``, but spec 0.5 requires ``min - 2 * halo >= 1`` for
    outputs with a halo, so the declared ParameterizedSize starts at the first valid multiple of ``step``.
    """
    return tuple(2 * h + st if h else st for h, st in zip(network_halo(config), config.step))


def _runtime_info(config: CareConfig):
    from ..models.info import info_from_config

    return info_from_config(config)


def denormalization_mapping(config: CareConfig) -> str | None:
    """How output channels pick input-channel percentiles, or None when outputs stay normalized.

    Follows the runtime (:func:`care_bridge.models.info.info_from_config`), so bundles and model folders
    agree: ``same_index`` (output channel i uses input channel i) when channel counts match,
    ``single_input_channel`` (all outputs use input channel 0) for one input channel, else None.
    """
    if _runtime_info(config).denormalize != "input_percentiles":
        return None
    return "same_index" if config.n_channel_in == config.n_channel_out else "single_input_channel"


ENSEMBLE_COMBINATION = ("equal-weight mixture of the members' Laplace(member_mean[m], member_scale[m]) per pixel "
                        "and channel; mean = average of the member means")
ENSEMBLE_CHANNEL_ORDER = "member-major: channel m*C + c"


def ensemble_block(member_names: list[str], configs: list[CareConfig]) -> dict[str, Any]:
    """``config.care_bridge.ensemble`` of an ensemble bundle: how many members, how to combine them, the order
    of the ``member_*`` channels, and each member's folder name and seed."""
    return {
        "members": len(configs),
        "combination": ENSEMBLE_COMBINATION,
        "channel_order": ENSEMBLE_CHANNEL_ORDER,
        "member_seeds": [c.seed for c in configs],
        "member_names": list(member_names),
    }


def care_bridge_config(
    config: CareConfig,
    *,
    provenance: dict[str, Any],
    validation: dict[str, Any] | None,
    weights_check: dict[str, float],
    tolerance: float,
    ensemble: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``config.care_bridge`` block: everything another implementation needs to reproduce the runtime.

    Keys (schema_version 1): ``schema_version``, ``mode``, ``procedure``, ``axes`` (spatial, upper case),
    ``tensor_layout`` ({input, output}: bioimage.io axis ids in memory order), ``n_channel_in``,
    ``n_channel_out``, ``probabilistic``, ``outputs``, ``normalization``, ``output_denormalization``,
    ``percentiles``, ``eps``, ``halo``/``step``/``min_size`` ({axis: pixels}), ``pixel_size``, ``network``
    (the full :class:`CareConfig`), ``provenance``, ``validation``, ``weights_check``; for an ensemble of
    probabilistic members also ``ensemble`` (:func:`ensemble_block`; ``config`` is then member 0's and
    ``network`` its configuration).
    """
    axes = config.axes
    ids = output_ids(config, ensemble=ensemble is not None)
    h = network_halo(config)
    mapping = denormalization_mapping(config)
    if mapping is None:
        denorm: dict[str, Any] = {
            "kind": "none",
            "reason": "n_channel_in != n_channel_out and n_channel_in > 1: outputs stay in normalized units",
        }
    else:
        applies = {ids[0]: DENORM_FORMULA}
        if ensemble is not None:
            applies[ids[1]] = DENORM_FORMULA
            applies[ids[2]] = DENORM_SCALE_FORMULA
        elif config.probabilistic:
            applies[ids[1]] = DENORM_SCALE_FORMULA
        denorm = {
            "kind": "input_percentiles_affine",
            "formula": DENORM_FORMULA,
            "scale_formula": DENORM_SCALE_FORMULA,
            "applies_to": applies,
            "statistics": "p_low, p_high of the network INPUT image (before padding or tiling), per input "
            "channel, the same values the scale_range preprocessing used; eps is not added here",
            "channel_mapping": mapping,
            "channel_mapping_help": "same_index: output channel i uses input channel i's percentiles; "
            "single_input_channel: every output channel uses input channel 0's"
            + ("; member_mean and member_scale channel m*C + c are de-normalized as output channel c"
               if ensemble is not None else ""),
            "dtype": "float32",
        }
    layout = "b" + axes.lower() + "c"
    info = _runtime_info(config)
    block = {
        "schema_version": SCHEMA_VERSION,
        "mode": config.mode,
        "procedure": config.params.to_dict(),
        "axes": axes,
        "tensor_layout": {"input": layout, "output": info.output_layout},
        "scale": dict(zip(axes.lower(), info.scale)),
        "n_channel_in": config.n_channel_in,
        "n_channel_out": config.n_channel_out,
        "probabilistic": config.probabilistic,
        "outputs": list(ids),
        "normalization": {
            "kind": "percentile",
            "bioimageio_op": "scale_range",
            "formula": NORMALIZE_FORMULA,
            "per": "channel",
            "reduce_axes": list(axes.lower()),
            "percentile_method": "linear interpolation (numpy.percentile default), float64",
            "evaluated_in": "float32",
            "statistics_over": "the whole input image, computed once before tiling",
        },
        "output_denormalization": denorm,
        "percentiles": [config.percentile_low, config.percentile_high],
        "eps": config.norm_eps,
        "halo": dict(zip(axes.lower(), h)),
        "step": dict(zip(axes.lower(), config.step)),
        "min_size": dict(zip(axes.lower(), config.step)),
        "rdf_min_size": dict(zip(axes.lower(), rdf_min_size(config))),
        "min_size_help": "min_size: smallest input the network runs on (one step); rdf_min_size: the spec-0.5 "
        "ParameterizedSize.min (2 * halo + step, so that min - 2 * halo >= 1)",
        "pixel_size": pixel_size_of(config) or None,
        "network": config.model_dump(mode="json"),
        "provenance": provenance,
        "validation": validation,
        "weights_check": {"reference": "keras", "max_abs_diff": weights_check, "tolerance": tolerance},
    }
    if ensemble is not None:
        block["ensemble"] = dict(ensemble)
    return block


def build_model_descr(config: CareConfig, stage: Path, **kwargs: Any):
    """Build and validate the ``ModelDescr`` for the files already written into ``stage``.

    ``files`` maps roles to file names in ``stage``: ``test_input``, ``test_<output id>``, ``onnx``,
    ``tensorflow_saved_model_bundle``, ``keras_v3``, ``documentation``, ``cover`` and optionally ``sample_input``,
    ``sample_<output id>`` (images from the user's data, the rdf's ``sample_tensor``). Relative file sources are
    resolved (and hashed by bioimageio.spec) against ``stage``. Raises pydantic validation errors unchanged
    (the caller turns them into a BundleError).
    """
    from bioimageio.spec import ValidationContext

    from .zoo import offline_spec

    # offline: URLs count as known (no HEAD request), GitHub users as known (no api.github.com lookup)
    urls = [kwargs.get("git_repo")] + [c.get("url") for c in kwargs.get("cite") or []]
    users = [p["github_user"] for p in list(kwargs.get("authors") or []) + list(kwargs.get("maintainers") or [])
             if p.get("github_user")]
    with offline_spec(users), ValidationContext(root=stage, perform_io_checks=True, log_warnings=False,
                                                known_files={u: None for u in urls if u}):
        return _build_model_descr(config, stage, **kwargs)


def _build_model_descr(
    config: CareConfig,
    stage: Path,
    *,
    files: dict[str, str],
    authors: list[dict[str, str]],
    license: str,
    description: str,
    tags: list[str],
    care_block: dict[str, Any],
    versions: dict[str, str],
    timestamp: str | None,
    maintainers: list[dict[str, str]] | None = None,
    cite: list[dict[str, str]] | None = None,
    git_repo: str | None = None,
):
    from bioimageio.spec.model import v0_5 as s

    from ..bundle.safe_zip import sha256_file

    def fd(role: str):
        name = files[role]
        return s.FileDescr(source=name, sha256=s.Sha256(sha256_file(stage / name)))

    axes = config.axes.lower()
    ps = pixel_size_of(config)
    h = network_halo(config)
    unit = "micrometer" if ps else None

    def space_in(a: str, mn: int, st: int):
        kw: dict[str, Any] = {"unit": unit, "scale": ps[a]} if a in ps else {}
        return s.SpaceInputAxis(id=s.AxisId(a), size=s.ParameterizedSize(min=mn, step=st), **kw)

    info = _runtime_info(config)
    factor = dict(zip(axes, info.scale))
    halo_in = dict(zip(axes, h))

    def space_out(a: str):
        # output pixel size = input pixel size / factor, so SizeReference gives size = input size * factor
        kw: dict[str, Any] = {}
        if a in ps:
            kw = {"unit": unit, "scale": ps[a] / factor[a]}
        elif factor[a] != 1.0:
            kw = {"scale": 1.0 / factor[a]}
        ref = s.SizeReference(tensor_id=s.TensorId("input"), axis_id=s.AxisId(a))
        hh = int(round(halo_in[a] * factor[a]))
        if hh == 0:
            return s.SpaceOutputAxis(id=s.AxisId(a), size=ref, **kw)
        return s.SpaceOutputAxisWithHalo(id=s.AxisId(a), size=ref, halo=hh, **kw)

    in_axes = [s.BatchAxis()] + [space_in(a, mn, st) for a, mn, st in zip(axes, rdf_min_size(config), config.step)]
    in_axes.append(s.ChannelAxis(channel_names=[f"channel{i}" for i in range(config.n_channel_in)]))
    pre = [
        s.ScaleRangeDescr(
            kwargs=s.ScaleRangeKwargs(
                axes=[s.AxisId(a) for a in axes],
                min_percentile=config.percentile_low,
                max_percentile=config.percentile_high,
                eps=config.norm_eps,
            )
        )
    ]
    inputs = [
        s.InputTensorDescr(
            id=s.TensorId("input"),
            description=f"raw image, axes b{axes}c; normalized by percentiles per channel (scale_range)",
            axes=in_axes,
            test_tensor=fd("test_input"),
            preprocessing=pre,
            **({"sample_tensor": fd("sample_input")} if "sample_input" in files else {}),
        )
    ]
    outputs = []
    members = int((care_block.get("ensemble") or {}).get("members", 1))
    n_c = config.n_channel_out
    for oid in output_ids(config, ensemble=members > 1):
        if oid.startswith("member_"):  # member-major: channel m * C + c
            channel_names = [f"member{m}_c{c}" for m in range(members) for c in range(n_c)]
        else:
            channel_names = [f"{oid}{i}" for i in range(n_c)]
        out_axes = []
        for a in info.output_layout:
            if a == "b":
                out_axes.append(s.BatchAxis())
            elif a == "c":
                out_axes.append(s.ChannelAxis(channel_names=channel_names))
            else:
                out_axes.append(space_out(a))
        what = {"output": "restored image", "mean": "Laplace mean", "scale": "Laplace scale",
                "member_mean": "each member's Laplace mean (channel m*C + c)",
                "member_scale": "each member's Laplace scale (channel m*C + c)"}[oid]
        if members > 1 and oid == "mean":
            what = f"average of the {members} members' Laplace means"
        outputs.append(
            s.OutputTensorDescr(
                id=s.TensorId(oid),
                description=f"{what} in normalized units; see config.care_bridge.output_denormalization",
                axes=out_axes,
                test_tensor=fd(f"test_{oid}"),
                **({"sample_tensor": fd(f"sample_{oid}")} if f"sample_{oid}" in files else {}),
            )
        )
    backend_version = s.Version(versions["tensorflow"])
    entries: dict[str, Any] = {
        "keras_v3": s.KerasV3WeightsDescr(
            source=files["keras_v3"],
            sha256=fd("keras_v3").sha256,
            keras_version=s.Version(versions["keras"]),
            backend=("tensorflow", backend_version),
            comment="never-compiled copy of the trained architecture",
        )
    }
    if "onnx" in files:
        entries["onnx"] = s.OnnxWeightsDescr(
            source=files["onnx"],
            sha256=fd("onnx").sha256,
            opset_version=ONNX_OPSET,
            parent="keras_v3",
            comment=f"tf2onnx {versions.get('tf2onnx', '?')}, dynamic batch and spatial dims",
        )
    if "tensorflow_saved_model_bundle" in files:
        entries["tensorflow_saved_model_bundle"] = s.TensorflowSavedModelBundleWeightsDescr(
            source=files["tensorflow_saved_model_bundle"],
            sha256=fd("tensorflow_saved_model_bundle").sha256,
            tensorflow_version=backend_version,
            parent="keras_v3",
            comment="keras.export.ExportArchive; 'serve' endpoint returns {output id: tensor}",
        )
    weights = s.WeightsDescr(**entries)
    training = care_block.get("provenance") or {}
    bio = s.BioimageioConfig(
        architecture_type="U-Net",
        architecture_description="CARE U-Net (Weigert et al. 2018); see config.care_bridge.network"
        + (f"; a deep ensemble of {members} such networks, see config.care_bridge.ensemble" if members > 1 else ""),
        task="image restoration",
        modality="fluorescence microscopy",
        training=s.TrainingDetails(
            training_epochs=training.get("epochs"),
            training_batch_size=config.batch_size,
            initial_learning_rate=config.learning_rate,
            loss_function=config.loss,
            optimizer="Adam",
        ),
    )
    kw: dict[str, Any] = {}
    if timestamp:
        kw["timestamp"] = timestamp
    if maintainers:
        kw["maintainers"] = [s.Maintainer(**m) for m in maintainers]
    if git_repo:
        kw["git_repo"] = git_repo
    extra_cite = [s.CiteEntry(text=c["text"], doi=s.Doi(c["doi"])) if c.get("doi") else
                  s.CiteEntry(text=c["text"], url=c["url"]) for c in cite or []]
    return s.ModelDescr(
        format_version="0.5.12",
        type="model",
        name=_safe_name(config.name),
        description=description,
        authors=[s.Author(**a) for a in authors],
        cite=[s.CiteEntry(text=CARE_CITATION, doi=s.Doi(CARE_DOI))] + extra_cite,
        license=s.LicenseId(license),
        tags=tags,
        covers=[fd("cover")],
        documentation=fd("documentation"),
        inputs=inputs,
        outputs=outputs,
        weights=weights,
        config=s.Config(bioimageio=bio, care_bridge=care_block),
        **kw,
    )


def _safe_name(name: str) -> str:
    """bioimage.io names: letters, digits, spaces, ``_-()`` only, at least 5 characters."""
    import re

    out = re.sub(r"[^A-Za-z0-9 _\-()]", "_", name).strip() or "care model"
    return out if len(out) >= 5 else f"CARE {out}"
