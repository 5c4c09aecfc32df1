"""From a bundle's ``rdf.yaml`` (plain dict from ``yaml.safe_load``) to :class:`ModelInfo`.

Two sources: care_bridge bundles (``config.care_bridge``, exact) and third-party bioimage.io model bundles
(spec 0.5.x), read from the tensor descriptions. What the runtime cannot execute is refused with a
:class:`BundleError` naming the feature: several inputs, time/index axes, fixed or data-dependent sizes,
processing ops outside :data:`SUPPORTED_OPS`, outputs with different layouts or channel counts.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..describe import ModelInfo
from ..errors import BundleError
from ..modes import MODES, TRAINABLE

SUPPORTED_MAJOR_MINOR = (0, 5)
# The ops deepImageJ implements (NOTES), which care_bridge's runtime implements too.
SUPPORTED_OPS = frozenset(
    {"binarize", "clip", "ensure_dtype", "fixed_zero_mean_unit_variance", "scale_linear", "scale_range",
     "sigmoid", "zero_mean_unit_variance"}
)
CARE_BRIDGE_SCHEMA = 1


def check_format(rdf: Any, where: str) -> dict[str, Any]:
    """Check ``type: model`` and ``format_version: 0.5.x``; return the rdf as a dict."""
    if not isinstance(rdf, dict):
        raise BundleError(f"{where}: rdf.yaml is not a mapping; this is not a bioimage.io bundle")
    fv = str(rdf.get("format_version", ""))
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", fv)
    if not m or (int(m[1]), int(m[2])) != SUPPORTED_MAJOR_MINOR:
        raise BundleError(
            f"{where}: format_version {fv or '(missing)'!r} is not supported; care_bridge reads bioimage.io "
            "model spec 0.5.x (convert older bundles with `bioimageio update-format`)"
        )
    if rdf.get("type") != "model":
        raise BundleError(f"{where}: resource type {rdf.get('type')!r} is not 'model'; give a model bundle")
    check_structure(rdf, where)
    return rdf


def _need(value: Any, kind: type, path: str, where: str) -> None:
    if not isinstance(value, kind):
        name = {dict: "mapping", list: "list", str: "string"}.get(kind, kind.__name__)
        raise BundleError(f"{where}: rdf.yaml {path} must be a {name}, not {type(value).__name__}; the bundle is "
                          "malformed")


def check_structure(rdf: dict[str, Any], where: str) -> None:
    """The containers the parsers walk have the kinds the spec gives them (a list of tensors, each a mapping with
    a list of axis mappings, ...): an untrusted rdf.yaml whose ``inputs`` is a string or whose axis is a list is a
    one-line error here instead of a crash deeper down. Values are checked where they are read."""
    for key in ("inputs", "outputs", "authors", "maintainers", "cite", "covers", "attachments", "tags"):
        if rdf.get(key) is not None:
            _need(rdf[key], list, key, where)
    for key in ("weights", "config"):
        if rdf.get(key) is not None:
            _need(rdf[key], dict, key, where)
    for fmt, w in (rdf.get("weights") or {}).items():
        _need(w, dict, f"weights.{fmt}", where)
    for key in ("authors", "cite"):
        for i, a in enumerate(rdf.get(key) or []):
            _need(a, dict, f"{key}[{i}]", where)
    for key in ("inputs", "outputs"):
        for i, t in enumerate(rdf.get(key) or []):
            at = f"{key}[{i}]"
            _need(t, dict, at, where)
            _need(t.get("axes", []), list, f"{at}.axes", where)
            for j, ax in enumerate(t.get("axes") or []):
                _need(ax, dict, f"{at}.axes[{j}]", where)
                if ax.get("channel_names") is not None:
                    _need(ax["channel_names"], list, f"{at}.axes[{j}].channel_names", where)
            for k in ("preprocessing", "postprocessing"):
                _need(t.get(k) or [], list, f"{at}.{k}", where)
                for j, op in enumerate(t.get(k) or []):
                    _need(op, dict, f"{at}.{k}[{j}]", where)
                    _need(op.get("kwargs") or {}, dict, f"{at}.{k}[{j}].kwargs", where)
            if t.get("test_tensor") is not None:
                _need(t["test_tensor"], dict, f"{at}.test_tensor", where)
    care = (rdf.get("config") or {}).get("care_bridge")
    if care is not None:
        _need(care, dict, "config.care_bridge", where)
        for k in ("network", "output_denormalization", "procedure", "ensemble", "calibration", "pixel_size"):
            if care.get(k) is not None:
                _need(care[k], dict, f"config.care_bridge.{k}", where)


def _field(block: dict[str, Any], key: str, kind, where: str):
    v = block.get(key)
    ok = isinstance(v, kind) and not (kind in (int, float, (int, float)) and isinstance(v, bool))
    if not ok:
        raise BundleError(f"{where}: config.care_bridge.{key} is missing or not a {getattr(kind, '__name__', 'number')}; "
                          "the bundle is malformed, re-export it")
    return v


def _per_axis(block: dict[str, Any], key: str, axes: str, where: str) -> tuple[int, ...]:
    d = block.get(key)
    if not isinstance(d, dict) or set(map(str, d)) != set(axes.lower()):
        raise BundleError(f"{where}: config.care_bridge.{key} must give one value per axis {axes.lower()}; "
                          "the bundle is malformed, re-export it")
    vals = [d[a] for a in axes.lower()]
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1 << 16 for v in vals):
        raise BundleError(f"{where}: config.care_bridge.{key} {d} must be whole numbers of pixels")
    return tuple(int(v) for v in vals)


def info_from_care_block(rdf: dict[str, Any], where: str) -> ModelInfo:
    """ModelInfo of a care_bridge bundle from its ``config.care_bridge`` block (mode, typed procedure,
    normalization, halo and geometry are stored there at export; nothing is recomputed), cross-checked against
    the rdf's tensor descriptions."""
    block = rdf["config"]["care_bridge"]
    if not isinstance(block, dict):
        raise BundleError(f"{where}: config.care_bridge is not a mapping; the bundle is malformed")
    version = block.get("schema_version")
    if not isinstance(version, int) or version > CARE_BRIDGE_SCHEMA:
        raise BundleError(
            f"{where}: config.care_bridge schema_version {version!r} is not supported (this care_bridge reads "
            f"<= {CARE_BRIDGE_SCHEMA}); update care_bridge"
        )
    mode_name = _field(block, "mode", str, where)
    if mode_name not in TRAINABLE:
        raise BundleError(f"{where}: config.care_bridge.mode {mode_name!r} is unknown; known: {', '.join(TRAINABLE)}")
    params = MODES[mode_name].parse_params(block.get("procedure"), where=f"{where}: config.care_bridge.procedure")
    axes = _field(block, "axes", str, where)
    if axes not in ("YX", "ZYX"):
        raise BundleError(f"{where}: config.care_bridge.axes {axes!r} must be YX or ZYX")
    n_in, n_out = _field(block, "n_channel_in", int, where), _field(block, "n_channel_out", int, where)
    probabilistic = _field(block, "probabilistic", bool, where)
    members = _ensemble_members(block, probabilistic, where)
    calibration = _scale_calibration(block, members > 1 or probabilistic, where)
    pct = block.get("percentiles")
    if not (isinstance(pct, list) and len(pct) == 2 and all(isinstance(p, (int, float)) for p in pct)
            and 0 <= pct[0] < pct[1] <= 100):
        raise BundleError(f"{where}: config.care_bridge.percentiles {pct!r} must be [low, high] with 0 <= low < high <= 100")
    eps = float(_field(block, "eps", (int, float), where))
    denorm = (block.get("output_denormalization") or {}).get("kind")
    halo = _per_axis(block, "halo", axes, where)
    step = _per_axis(block, "step", axes, where)
    network = block.get("network") if isinstance(block.get("network"), dict) else {}
    ps = block.get("pixel_size")
    info = ModelInfo(
        name=str(network.get("name") or rdf.get("name") or "care model"),
        axes=axes,
        n_channel_in=n_in,
        n_channel_out=n_out,
        halo=halo,
        step=step,
        min_size=step,
        scale=params.size_factors(len(axes)),
        mode=mode_name,
        procedure=params,
        percentile_low=float(pct[0]),
        percentile_high=float(pct[1]),
        eps=eps,
        denormalize="none" if denorm == "none" else "input_percentiles",
        probabilistic=probabilistic and members == 1,
        ensemble=members,
        scale_calibration=calibration,
        output_names=ENSEMBLE_OUTPUTS if members > 1 else ("mean", "scale") if probabilistic else ("output",),
        pixel_size={str(k).upper(): float(v) for k, v in ps.items()} if isinstance(ps, dict) else None,
        description=str(rdf.get("description", "")),
        output_layout=params.network_output_layout(),
    )
    generic, channels = _tensor_info(rdf, where)
    want_channels = (n_out, members * n_out, members * n_out) if members > 1 else (n_out,) * len(info.output_names)
    pre = [op for op in generic.preprocessing if op.get("id") != "ensure_dtype"]  # spec adds float32 casts
    expect = {"min_percentile": info.percentile_low, "max_percentile": info.percentile_high, "eps": info.eps}
    # the training configuration kept for retraining must describe the same network (plain values, not parsed)
    same_network = {"mode": mode_name, "axes": axes, "n_channel_in": n_in, "n_channel_out": n_out,
                    "probabilistic": probabilistic, "percentile_low": info.percentile_low,
                    "percentile_high": info.percentile_high, "norm_eps": info.eps}
    network_ok = all(k not in network or network[k] == v for k, v in same_network.items())
    ok = network_ok and (
        generic.input_layout == info.input_layout
        and generic.output_layout == info.output_layout
        and generic.step == info.step
        and generic.output_names == info.output_names
        and generic.n_channel_in == n_in and channels == want_channels
        and len(pre) == 1 and pre[0].get("id") == "scale_range"
        and all(math.isclose(float(pre[0].get("kwargs", {}).get(k, -1)), v) for k, v in expect.items())
        and all(g >= h for g, h in zip(generic.halo, info.halo))
        and all(math.isclose(g, h) for g, h in zip(generic.scale, info.scale))
    )
    if not ok:
        raise BundleError(
            f"{where}: config.care_bridge disagrees with the rdf's tensor descriptions (layout, step, channels, "
            "outputs, halo, scale_range or network); the bundle was edited inconsistently, re-export it"
        )
    return info


ENSEMBLE_OUTPUTS = ("mean", "member_mean", "member_scale")
MAX_ENSEMBLE = 64


def _ensemble_members(block: dict[str, Any], probabilistic: bool, where: str) -> int:
    """Members of an ensemble bundle (``config.care_bridge.ensemble.members``), 1 without the block."""
    ens = block.get("ensemble")
    if ens is None:
        return 1
    m = ens.get("members") if isinstance(ens, dict) else None
    if isinstance(m, bool) or not isinstance(m, int) or not 2 <= m <= MAX_ENSEMBLE:
        raise BundleError(f"{where}: config.care_bridge.ensemble.members {m!r} must be a whole number from 2 to "
                          f"{MAX_ENSEMBLE}; the bundle is malformed, re-export it")
    if not probabilistic:
        raise BundleError(f"{where}: an ensemble's members must be probabilistic (config.care_bridge.probabilistic)")
    return m


def _scale_calibration(block: dict[str, Any], distributional: bool, where: str) -> float:
    """The recalibration factor on Laplace scales (``config.care_bridge.calibration``), 1 without one."""
    cal = block.get("calibration")
    if cal is None:
        return 1.0
    f = cal.get("factor") if isinstance(cal, dict) else None
    if not (isinstance(cal, dict) and cal.get("method") == "scale" and isinstance(f, (int, float))
            and not isinstance(f, bool) and math.isfinite(f) and 1e-3 <= f <= 1e3):
        raise BundleError(f"{where}: config.care_bridge.calibration must be {{method: scale, factor: 0.001..1000}}, "
                          f"got {cal!r}; recalibrate with care-bridge calibrate")
    if not distributional:
        raise BundleError(f"{where}: config.care_bridge.calibration needs a probabilistic or ensemble model")
    return float(f)


MAX_AXIS_PIXELS = 1 << 16  # any declared size, step or halo beyond this is refused before allocating anything


def _whole(v: Any, what: str, where: str) -> int:
    """A declared pixel count: a whole number from 0 to :data:`MAX_AXIS_PIXELS`."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not float(v).is_integer() \
            or not 0 <= v <= MAX_AXIS_PIXELS:
        raise BundleError(f"{where}: {what} is {v!r}; it must be a whole number of pixels from 0 to {MAX_AXIS_PIXELS}")
    return int(v)


def _size(ax: dict[str, Any], tensor: str, where: str) -> tuple[int, int]:
    size = ax.get("size")
    if isinstance(size, dict) and "min" in size and "step" in size and "tensor_id" not in size:
        mn, st = _whole(size["min"], f"input {tensor!r} axis {ax.get('id')!r} size.min", where), \
            _whole(size["step"], f"input {tensor!r} axis {ax.get('id')!r} size.step", where)
        if mn < 1 or st < 0:
            raise BundleError(f"{where}: input {tensor!r} axis {ax.get('id')!r} has invalid size {size}")
        if st == 0:
            raise BundleError(f"{where}: input {tensor!r} axis {ax.get('id')!r} has a fixed size {mn} (step 0); "
                              "fixed input sizes are not supported by care_bridge's tiling")
        return mn, st
    raise BundleError(
        f"{where}: input {tensor!r} axis {ax.get('id')!r} has size {size!r}; only ParameterizedSize "
        "(min, step) is supported (fixed or referenced input sizes are not)"
    )


def _layout(axes: list[dict[str, Any]], tensor: str, where: str) -> str:
    out = ""
    for ax in axes:
        t = ax.get("type")
        aid = str(ax.get("id", {"batch": "batch", "channel": "channel"}.get(t, "")))
        if t == "batch":
            out += "b"
        elif t == "channel":
            out += "c"
        elif t == "space" and aid in ("z", "y", "x"):
            out += aid
        else:
            raise BundleError(
                f"{where}: tensor {tensor!r} has a {t} axis {aid!r}; only batch, channel and space axes "
                "z/y/x are supported"
            )
    if "b" not in out or "c" not in out or len(set(out)) != len(out):
        raise BundleError(f"{where}: tensor {tensor!r} needs one batch and one channel axis (axes {out!r})")
    return out


def _ops(descrs: Any, tensor: str, where: str) -> tuple[dict[str, Any], ...]:
    ops = []
    for op in descrs or []:
        oid = op.get("id") if isinstance(op, dict) else None
        if oid not in SUPPORTED_OPS:
            raise BundleError(
                f"{where}: tensor {tensor!r} uses processing op {oid!r}, which care_bridge does not implement "
                f"(supported: {', '.join(sorted(SUPPORTED_OPS))})"
            )
        kwargs = dict(op.get("kwargs") or {})
        _check_kwargs(oid, kwargs, tensor, where)
        if kwargs.get("reference_tensor") not in (None, tensor):
            raise BundleError(f"{where}: op {oid!r} of {tensor!r} references tensor {kwargs['reference_tensor']!r};"
                              " cross-tensor statistics are not supported")
        ops.append({"id": oid, "kwargs": kwargs})
    return tuple(ops)


# the kwargs each op reads (bioimage.io spec 0.5): "num" a finite number, "nums" a number or a non-empty list of
# them, "axes" a list of axis ids, "str" a string; a kwarg marked required must be present
_NUM, _NUMS, _AXES, _STR = "a finite number", "a number or a list of numbers", "a list of axis ids", "a string"
OP_KWARGS: dict[str, dict[str, tuple[str, bool]]] = {
    "scale_range": {"min_percentile": (_NUM, False), "max_percentile": (_NUM, False), "eps": (_NUM, False),
                    "axes": (_AXES, False), "reference_tensor": (_STR, False)},
    "zero_mean_unit_variance": {"eps": (_NUM, False), "axes": (_AXES, False)},
    "fixed_zero_mean_unit_variance": {"mean": (_NUMS, True), "std": (_NUMS, True), "eps": (_NUM, False),
                                      "axis": (_STR, False)},
    "scale_linear": {"gain": (_NUMS, False), "offset": (_NUMS, False), "axis": (_STR, False)},
    "clip": {"min": (_NUM, False), "max": (_NUM, False)},
    "binarize": {"threshold": (_NUMS, False), "axis": (_STR, False)},
    "sigmoid": {},
    "ensure_dtype": {"dtype": (_STR, False)},
}


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_kwargs(oid: str, kwargs: dict[str, Any], tensor: str, where: str) -> None:
    """Each kwarg the runtime reads has the kind the spec gives it (untrusted values, checked before use)."""
    for key, (kind, required) in OP_KWARGS.get(oid, {}).items():
        if key not in kwargs or kwargs[key] is None:
            if required:
                raise BundleError(f"{where}: op {oid!r} of {tensor!r} needs kwarg {key!r}")
            continue
        v = kwargs[key]
        ok = (_is_num(v) if kind == _NUM
              else _is_num(v) or (isinstance(v, list) and 0 < len(v) <= 4096 and all(map(_is_num, v)))
              if kind == _NUMS
              else isinstance(v, list) and all(isinstance(a, str) for a in v) if kind == _AXES
              else isinstance(v, str))
        if not ok:
            raise BundleError(f"{where}: op {oid!r} of {tensor!r}: kwarg {key!r} is {str(v)[:40]!r}, not {kind}")


def info_from_tensors(rdf: dict[str, Any], where: str) -> ModelInfo:
    """ModelInfo of any spec-0.5 model bundle from its ``inputs``/``outputs`` descriptions."""
    info, channels = _tensor_info(rdf, where)
    if len(set(channels)) != 1:
        raise BundleError(f"{where}: outputs have different channel counts; not supported")
    return info


def _tensor_info(rdf: dict[str, Any], where: str) -> tuple[ModelInfo, tuple[int, ...]]:
    """The tensor descriptions' ModelInfo (``n_channel_out`` of the first output) and every output's
    channel count."""
    inputs, outputs = rdf.get("inputs") or [], rdf.get("outputs") or []
    if len(inputs) != 1:
        raise BundleError(f"{where}: the model has {len(inputs)} inputs; care_bridge supports exactly one")
    if not outputs:
        raise BundleError(f"{where}: the model declares no outputs")
    inp = inputs[0]
    in_id = str(inp.get("id", "input"))
    in_axes = list(inp.get("axes") or [])
    in_layout = _layout(in_axes, in_id, where)
    spatial = [ax for ax in in_axes if ax.get("type") == "space"]
    axes = "".join(str(ax["id"]).upper() for ax in spatial)
    sizes = [_size(ax, in_id, where) for ax in spatial]
    in_scale = {}
    for ax in spatial:
        v = ax.get("scale", 1.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise BundleError(f"{where}: input {in_id!r} axis {ax.get('id')!r} has an unusable scale {v!r}")
        in_scale[str(ax["id"])] = float(v)
    n_in = len(next(ax for ax in in_axes if ax.get("type") == "channel").get("channel_names") or [])
    out_layout, n_out, halos, factors = None, None, None, None
    channels: list[int] = []
    for out in outputs:
        oid = str(out.get("id", "output"))
        oaxes = list(out.get("axes") or [])
        lay = _layout(oaxes, oid, where)
        if out_layout not in (None, lay):
            raise BundleError(f"{where}: outputs have different axes ({out_layout!r} vs {lay!r}); not supported")
        out_layout = lay
        ch = len(next(ax for ax in oaxes if ax.get("type") == "channel").get("channel_names") or [])
        channels.append(ch)
        n_out = ch if n_out is None else n_out
        h, f = _output_geometry(oaxes, oid, in_id, in_scale, axes, where)
        halos = h if halos is None else tuple(max(a, b) for a, b in zip(halos, h))
        if factors not in (None, f):
            raise BundleError(f"{where}: outputs have different scales; not supported")
        factors = f
    for a, (mn, _), h in zip(axes, sizes, halos):
        if mn - 2 * h < 1:
            raise BundleError(f"{where}: axis {a.lower()!r}: a halo of {h} leaves no output at the minimum input size "
                              f"{mn} (the spec needs min - 2 * halo >= 1); the bundle is malformed")
    return ModelInfo(
        name=str(rdf.get("name", "bioimage.io model")),
        axes=axes,
        n_channel_in=n_in,
        n_channel_out=int(n_out or 0),
        halo=halos,
        step=tuple(st for _, st in sizes),
        min_size=tuple(mn for mn, _ in sizes),
        scale=factors,
        mode="bioimageio",
        procedure=MODES["bioimageio"].params(),
        denormalize="none",
        input_name=in_id,
        output_names=tuple(str(o.get("id", "output")) for o in outputs),
        description=str(rdf.get("description", "")),
        input_layout=in_layout,
        output_layout=out_layout,
        preprocessing=_ops(inp.get("preprocessing"), in_id, where),
        postprocessing=tuple(op for o in outputs for op in _ops(o.get("postprocessing"), str(o.get("id")), where)),
    ), tuple(channels)


def _output_geometry(oaxes, oid, in_id, in_scale, axes, where) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Per spatial axis of ``axes``: halo in input pixels and the output/input size factor."""
    by_id = {str(ax.get("id")): ax for ax in oaxes if ax.get("type") == "space"}
    if not set(by_id) <= set(axes.lower()):
        raise BundleError(f"{where}: output {oid!r} has spatial axes {sorted(by_id)} not in the input's {axes}")
    halos, factors = [], []
    for a in axes.lower():
        if a not in by_id:  # reduced axis (e.g. a projection along z): never tiled, no halo
            halos.append(0)
            factors.append(1.0)
            continue
        ax = by_id[a]
        size = ax.get("size")
        if not (isinstance(size, dict) and "tensor_id" in size and "axis_id" in size):
            raise BundleError(f"{where}: output {oid!r} axis {a!r} has size {size!r}; only sizes referencing the "
                              "input (SizeReference) are supported")
        if str(size["tensor_id"]) != in_id or str(size["axis_id"]) != a or int(size.get("offset", 0)) != 0:
            raise BundleError(f"{where}: output {oid!r} axis {a!r} references {size}; only the same input axis "
                              "without offset is supported")
        try:
            factor = in_scale[a] / float(ax.get("scale", 1.0))
        except (TypeError, ValueError, ZeroDivisionError):
            factor = float("nan")
        if not (math.isfinite(factor) and 1 / 64 <= factor <= 64):
            raise BundleError(f"{where}: output {oid!r} axis {a!r} has an unusable scale {ax.get('scale')!r}")
        halo = _whole(ax.get("halo", 0), f"output {oid!r} axis {a!r} halo", where)
        halos.append(int(math.ceil(halo / factor)))
        factors.append(float(factor))
    return tuple(halos), tuple(factors)
