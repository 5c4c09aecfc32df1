"""From a bundle's ``rdf.yaml`` (plain dict from ``yaml.safe_load``) to :class:`ModelInfo`.

Two sources: care_bridge bundles (``config.care_bridge``, exact) and third-party bioimage.io model bundles
(spec 0.5.x, and 0.4.x converted to the 0.5 layout first), read from the tensor descriptions. What the runtime
cannot execute is refused with a :class:`BundleError` naming the feature: several inputs, time/index axes,
data-dependent or cross-referenced input sizes, processing ops outside :data:`SUPPORTED_OPS`, outputs with
different layouts or channel counts.

**The spec's defaults, filled by this parser, not by bioimageio.spec.** A description omits what the spec
defaults (an axis id: ``x`` for a space axis, ``channel``/``batch`` for those; a scale of 1; no halo; for
``scale_range`` and ``zero_mean_unit_variance`` without ``axes``: every axis jointly), and
``bioimageio update-format`` writes its output that way (``exclude_defaults``). A spec-0.4 description is
converted to the 0.5 layout here (:func:`from_v04`) exactly as bioimageio.spec's converter does for the fields
the runtime reads (``axes: bcyx`` strings with ``shape`` min/step or fixed sizes, implicit output shapes with
``scale``/``offset``, ``halo`` lists, ``name``-keyed processing with ``mode``, ``test_inputs``, 0.4 weights
entries); ``tests/thirdparty`` runs bioimageio.spec's own converter on a 0.4 bundle and checks that both read
the same. Why not ``bioimageio.spec.load_description`` when it is installed: the runtime-only install has no
pydantic and must read the same bundles the same way (one parser, no behaviour that depends on the extras); the
runtime stays free of pydantic/bioimageio imports (tests/test_layers.py) and of their start-up time; the spec
also refuses whole descriptions for metadata the runtime never reads (a missing citation, a bad tag), and it
would have to be kept from its IO checks (which open the sources a description names). The bounded YAML reader,
the safe unzip and the sha256 checks stay in front either way; ``care-bridge validate`` runs bioimageio.spec as
its own row.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..describe import ModelInfo
from ..errors import BundleError
from ..modes import MODES, TRAINABLE

SUPPORTED_VERSIONS = ((0, 4), (0, 5))
# The ops deepImageJ implements (NOTES), which care_bridge's runtime implements too.
SUPPORTED_OPS = frozenset(
    {"binarize", "clip", "ensure_dtype", "fixed_zero_mean_unit_variance", "scale_linear", "scale_range",
     "sigmoid", "zero_mean_unit_variance"}
)
CARE_BRIDGE_SCHEMA = 1
# spec 0.5: the id of an axis that omits it, by axis type
DEFAULT_AXIS_IDS = {"batch": "batch", "channel": "channel", "index": "index", "time": "time", "space": "x"}


def check_format(rdf: Any, where: str) -> dict[str, Any]:
    """Check ``type: model`` and ``format_version`` 0.4.x or 0.5.x; return the description in the 0.5 layout
    with the spec's axis-id defaults filled in (a 0.4 description keeps its ``format_version``)."""
    if not isinstance(rdf, dict):
        raise BundleError(f"{where}: rdf.yaml is not a mapping; this is not a bioimage.io bundle")
    fv = str(rdf.get("format_version", ""))
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", fv)
    if not m or (int(m[1]), int(m[2])) not in SUPPORTED_VERSIONS:
        raise BundleError(
            f"{where}: format_version {fv or '(missing)'!r} is not supported; care_bridge reads bioimage.io "
            "model spec 0.4.x and 0.5.x (convert older bundles with `bioimageio update-format`)"
        )
    if rdf.get("type") != "model":
        raise BundleError(f"{where}: resource type {rdf.get('type')!r} is not 'model'; give a model bundle")
    if (int(m[1]), int(m[2])) == (0, 4):
        rdf = from_v04(rdf, where)
    check_structure(rdf, where)
    fill_axis_ids(rdf)
    return rdf


def fill_axis_ids(rdf: dict[str, Any]) -> None:
    """Give every tensor axis that omits its id the spec's default (:data:`DEFAULT_AXIS_IDS`), in place."""
    for key in ("inputs", "outputs"):
        for t in rdf.get(key) or []:
            for ax in t.get("axes") or []:
                if ax.get("id") is None and isinstance(ax.get("type"), str) and ax["type"] in DEFAULT_AXIS_IDS:
                    ax["id"] = DEFAULT_AXIS_IDS[ax["type"]]


# --- spec 0.4 -> the 0.5 layout ------------------------------------------------------------------------------------

V04_AXIS_TYPES = {"b": "batch", "t": "time", "i": "index", "c": "channel", "z": "space", "y": "space", "x": "space"}
V04_AXIS_IDS = {"b": "batch", "t": "time", "i": "index", "c": "channel"}  # space axes keep their letter
# top-level 0.4 fields that move (test tensors into the tensors, file lists into file descriptions)
_V04_MOVED = ("inputs", "outputs", "test_inputs", "test_outputs", "sample_inputs", "sample_outputs", "weights",
              "attachments", "documentation", "covers")


def from_v04(rdf: dict[str, Any], where: str) -> dict[str, Any]:
    """A spec-0.4 model description in the spec-0.5 layout, as bioimageio.spec's converter writes it (0.5.12,
    ``bioimageio update-format``) for every field care_bridge reads; other fields are copied. A description the
    conversion cannot read is a one-line :class:`BundleError`."""
    try:
        return _from_v04(rdf, where)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError, ZeroDivisionError, OverflowError) as e:
        raise BundleError(f"{where}: rdf.yaml (spec 0.4) is malformed ({type(e).__name__}: {str(e)[:120]}); check "
                          "it against the bioimage.io model spec 0.4") from None


def _v04_axes(t: dict[str, Any], at: str, where: str) -> str:
    axes = t.get("axes")
    if not (isinstance(axes, str) and 0 < len(axes) <= 8 and set(axes) <= set(V04_AXIS_TYPES)
            and len(set(axes)) == len(axes)):
        raise BundleError(f"{where}: rdf.yaml {at}.axes is {str(axes)[:40]!r}; spec 0.4 axes are a string of distinct "
                          "letters from b, t, i, c, z, y, x")
    return axes


def _v04_list(v: Any, n: int, what: str, where: str) -> list:
    if not (isinstance(v, list) and len(v) == n):
        raise BundleError(f"{where}: rdf.yaml {what} must be a list of {n} values (one per axis), not {str(v)[:40]!r}")
    return v


def _v04_axis(a: str, size: Any, tensor: str, where: str, *, halo: int = 0) -> dict[str, Any]:
    """One spec-0.4 axis letter with its size as a 0.5 axis description (``halo`` only when non-zero)."""
    kind = V04_AXIS_TYPES[a]
    if kind == "batch":
        return {"type": "batch"}
    if kind == "channel":
        return _channel_axis(size, f"{tensor} channel axis size", where)
    return {"type": kind, "id": V04_AXIS_IDS.get(a, a), "size": size, **({"halo": halo} if halo else {})}


def _channel_axis(n: Any, what: str, where: str) -> dict[str, Any]:
    n = _whole(n, what, where)
    if n < 1:
        raise BundleError(f"{where}: {what} is {n}; a tensor needs at least one channel")
    return {"type": "channel", "channel_names": [f"channel{i}" for i in range(n)]}


def _v04_ids(axes: Any, what: str, where: str) -> list[str] | None:
    """0.4 kwargs ``axes`` (letters, e.g. ``"xy"``) as 0.5 axis ids (``c`` -> ``channel``, ``b`` -> ``batch``)."""
    if axes is None:
        return None
    if not isinstance(axes, str) or len(axes) > 8:
        raise BundleError(f"{where}: {what} kwarg 'axes' is {str(axes)[:40]!r}, not a string of axis letters")
    return [V04_AXIS_IDS.get(a, a) for a in axes]


def _v04_complement(tensor_axes: str, axes: Any, what: str, where: str) -> str | None:
    """The one axis a 0.4 op's ``axes`` leave out (besides the batch): where per-entry values run (0.5 ``axis``)."""
    if axes is None:
        return None
    rest = [a for a in tensor_axes if a not in set(str(axes)) | {"b"}]
    if len(rest) > 1:
        raise BundleError(f"{where}: {what} kwarg axes {axes!r} leave more than one axis ({''.join(rest)}) of "
                          f"{tensor_axes!r}; not convertible")
    return V04_AXIS_IDS.get(rest[0], rest[0]) if rest else None


def _v04_op(op: Any, tensor_axes: str, what: str, where: str) -> dict[str, Any]:
    """One 0.4 processing step (``name``, ``kwargs`` with ``mode``) as its 0.5 op, as the spec converts it."""
    _need(op, dict, what, where)
    name = op.get("name")
    kw = op.get("kwargs") or {}
    _need(kw, dict, f"{what}.kwargs", where)

    def pick(*keys: str) -> dict[str, Any]:
        return {k: kw[k] for k in keys if kw.get(k) is not None}

    if name in ("binarize", "clip", "sigmoid"):
        return {"id": name, "kwargs": pick("threshold") if name == "binarize" else pick("min", "max")
                if name == "clip" else {}}
    if name == "scale_linear":
        axis = _v04_complement(tensor_axes, kw.get("axes"), what, where)
        return {"id": name, "kwargs": {**pick("gain", "offset"), **({"axis": axis} if axis else {})}}
    if name == "zero_mean_unit_variance":
        mode = kw.get("mode", "fixed")
        if mode == "fixed":  # 0.4's default mode: given mean and std
            axis = _v04_complement(tensor_axes, kw.get("axes"), what, where)
            return {"id": "fixed_zero_mean_unit_variance",
                    "kwargs": {**pick("mean", "std", "eps"), **({"axis": axis} if axis else {})}}
        axes = _v04_ids(kw.get("axes"), what, where) or []
        if mode == "per_dataset":
            axes = ["batch"] + axes
        return {"id": name, "kwargs": {**pick("eps"), **({"axes": axes} if axes else {})}}
    if name == "scale_range":  # 0.5 has no mode: per_dataset reads as per sample, as the spec's converter does
        axes = _v04_ids(kw.get("axes"), what, where)
        return {"id": name, "kwargs": {**pick("min_percentile", "max_percentile", "eps", "reference_tensor"),
                                       **({"axes": axes} if axes is not None else {})}}
    # anything else keeps its name and is refused by name when the ops are read (e.g. scale_mean_variance)
    return {"id": name, "kwargs": dict(kw)}


def _v04_file(v: Any) -> Any:
    return {"source": v} if isinstance(v, str) else v


def _from_v04(rdf: dict[str, Any], where: str) -> dict[str, Any]:
    for key in ("inputs", "outputs", "test_inputs", "test_outputs", "sample_inputs", "sample_outputs", "covers"):
        if rdf.get(key) is not None:
            _need(rdf[key], list, key, where)
    for key in ("weights", "attachments"):
        if rdf.get(key) is not None:
            _need(rdf[key], dict, key, where)
    out = {k: v for k, v in rdf.items() if k not in _V04_MOVED}
    tests = {k: list(rdf.get(k) or []) for k in ("test_inputs", "test_outputs", "sample_inputs", "sample_outputs")}
    sizes: dict[str, dict[str, int]] = {}  # tensor name -> axis letter -> size (an input's minimum)
    inputs = []
    for i, t in enumerate(rdf.get("inputs") or []):
        at = f"inputs[{i}]"
        _need(t, dict, at, where)
        axes, name = _v04_axes(t, at, where), str(t.get("name", "input"))
        shape = t.get("shape")
        if isinstance(shape, dict):
            mins = _v04_list(shape.get("min"), len(axes), f"{at}.shape.min", where)
            steps = _v04_list(shape.get("step"), len(axes), f"{at}.shape.step", where)
            dims = [_whole(mn, f"{at}.shape.min", where) if _whole(st, f"{at}.shape.step", where) == 0
                    else {"min": mn, "step": st} for mn, st in zip(mins, steps)]
        else:
            dims = list(_v04_list(shape, len(axes), f"{at}.shape", where))
            mins = dims
        sizes[name] = {a: _whole(mn, f"{at}.shape", where) for a, mn in zip(axes, mins)}
        ax_list: list[dict[str, Any]] = []
        ax_list += [_v04_axis(a, size, f"input {name!r}", where) for a, size in zip(axes, dims)]
        d: dict[str, Any] = {"id": name, "axes": ax_list, "data": {"type": t.get("data_type", "float32")},
                             "preprocessing": [_v04_op(op, axes, f"{at}.preprocessing[{j}]", where)
                                               for j, op in enumerate(_list_or_empty(t.get("preprocessing"),
                                                                                     f"{at}.preprocessing", where))]}
        d["preprocessing"].append({"id": "ensure_dtype", "kwargs": {"dtype": "float32"}})
        _add_tests(d, tests, "inputs", i)
        inputs.append(d)
    outputs = []
    for i, t in enumerate(rdf.get("outputs") or []):
        at = f"outputs[{i}]"
        _need(t, dict, at, where)
        axes, name = _v04_axes(t, at, where), str(t.get("name", "output"))
        shape, halo = t.get("shape"), t.get("halo")
        halo = [0] * len(axes) if halo is None else _v04_list(halo, len(axes), f"{at}.halo", where)
        ax_list = []
        if isinstance(shape, dict):  # implicit: size = reference size * scale + 2 * offset
            ref = str(shape.get("reference_tensor"))
            ref_t, ref_a = ref.split(".") if ref.count(".") == 1 else (ref, None)
            scale = _v04_list(shape.get("scale"), len(axes), f"{at}.shape.scale", where)
            offset = _v04_list(shape.get("offset"), len(axes), f"{at}.shape.offset", where)
            for a, s, off, h in zip(axes, scale, offset, halo):
                kind = V04_AXIS_TYPES[a]
                if kind == "batch":
                    ax_list.append({"type": "batch"})
                    continue
                off2 = 2 * float(off)
                if kind == "channel":
                    n = (float(s) * sizes.get(ref_t, {}).get(ref_a or a, 0) if s else 0) + off2
                    ax_list.append(_channel_axis(n, f"output {name!r} channel axis size", where))
                    continue
                if not s:
                    raise BundleError(f"{where}: output {name!r} axis {a!r} has scale {s!r} (an axis inserted by its "
                                      "offset); not supported")
                ax: dict[str, Any] = {"type": kind, "id": V04_AXIS_IDS.get(a, a),
                                      "size": {"tensor_id": ref_t, "axis_id": V04_AXIS_IDS.get(ref_a or a, ref_a or a),
                                               "offset": int(off2)}}
                if float(s) != 1.0:
                    ax["scale"] = 1.0 / float(s)
                if h:
                    ax["halo"] = h
                ax_list.append(ax)
        else:  # fixed sizes
            ax_list += [_v04_axis(a, size, f"output {name!r}", where, halo=h)
                        for a, size, h in zip(axes, _v04_list(shape, len(axes), f"{at}.shape", where), halo)]
        d = {"id": name, "axes": ax_list, "data": {"type": t.get("data_type", "float32")},
             "postprocessing": [_v04_op(op, axes, f"{at}.postprocessing[{j}]", where)
                                for j, op in enumerate(_list_or_empty(t.get("postprocessing"),
                                                                      f"{at}.postprocessing", where))]}
        _add_tests(d, tests, "outputs", i)
        outputs.append(d)
    out["inputs"], out["outputs"] = inputs, outputs
    out["weights"] = {fmt: _v04_weights(w, f"weights.{fmt}", where) for fmt, w in (rdf.get("weights") or {}).items()}
    files = (rdf.get("attachments") or {}).get("files") or []
    _need(files, list, "attachments.files", where)
    out["attachments"] = [_v04_file(f) for f in files]
    if rdf.get("documentation") is not None:
        out["documentation"] = _v04_file(rdf["documentation"])
    out["covers"] = [_v04_file(c) for c in rdf.get("covers") or []]
    return out


def _list_or_empty(v: Any, what: str, where: str) -> list:
    v = v or []
    _need(v, list, what, where)
    return v


def _add_tests(d: dict[str, Any], tests: dict[str, list], key: str, i: int) -> None:
    """The i-th 0.4 test (and sample) tensor of ``inputs``/``outputs`` as the tensor's ``test_tensor``."""
    for kind, field_name in (("test", "test_tensor"), ("sample", "sample_tensor")):
        files = tests[f"{kind}_{key}"]
        if i < len(files):
            d[field_name] = _v04_file(files[i])


def _v04_weights(w: Any, at: str, where: str) -> dict[str, Any]:
    """A 0.4 weights entry: ``architecture`` (``file.py:Name`` or ``package.module.Name``) and ``dependencies``
    (``conda:env.yaml``) as 0.5 descriptions; ``sha256`` is kept (the spec's converter drops it)."""
    _need(w, dict, at, where)
    e = {k: v for k, v in w.items() if k not in ("architecture", "architecture_sha256", "kwargs", "dependencies")}
    arch = w.get("architecture")
    if isinstance(arch, str):
        if not arch.startswith("http") and arch.count(":") == 1:
            source, name = arch.split(":")
            e["architecture"] = {"source": source, "callable": name, "kwargs": w.get("kwargs") or {},
                                 **({"sha256": w["architecture_sha256"]} if w.get("architecture_sha256") else {})}
        else:
            *mods, name = arch.split(".")
            e["architecture"] = {"import_from": ".".join(mods), "callable": name, "kwargs": w.get("kwargs") or {}}
    deps = w.get("dependencies")
    if isinstance(deps, str):
        e["dependencies"] = {"source": deps[len("conda:"):] if deps.startswith("conda:") else deps}
    return e


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
    """``(min, step)`` of an input axis: ``ParameterizedSize`` ``min + n * step``, or a fixed size (``size: 128``
    or ``{min: 128, step: 0}``: step 0; the runtime tiles such an axis at exactly that size)."""
    size = ax.get("size")
    if isinstance(size, dict) and "min" in size and "step" in size and "tensor_id" not in size:
        mn, st = _whole(size["min"], f"input {tensor!r} axis {ax.get('id')!r} size.min", where), \
            _whole(size["step"], f"input {tensor!r} axis {ax.get('id')!r} size.step", where)
        if mn < 1:
            raise BundleError(f"{where}: input {tensor!r} axis {ax.get('id')!r} has invalid size {size}")
        return mn, st
    if isinstance(size, (int, float)) and not isinstance(size, bool):
        mn = _whole(size, f"input {tensor!r} axis {ax.get('id')!r} size", where)
        if mn < 1:
            raise BundleError(f"{where}: input {tensor!r} axis {ax.get('id')!r} has invalid size {size}")
        return mn, 0
    raise BundleError(
        f"{where}: input {tensor!r} axis {ax.get('id')!r} has size {str(size)[:80]!r}; only fixed sizes and "
        "ParameterizedSize (min, step) are supported (sizes referencing another tensor are not)"
    )


def _layout(axes: list[dict[str, Any]], tensor: str, where: str) -> str:
    out = ""
    for ax in axes:
        t = ax.get("type")
        aid = str(ax["id"] if ax.get("id") is not None else DEFAULT_AXIS_IDS.get(t, ""))
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


def _axis_letters(axes: list[dict[str, Any]], layout: str) -> dict[str, str]:
    """Axis id -> layout letter (``b``, ``c``, ``z``/``y``/``x``) of one tensor."""
    return {str(ax.get("id")): letter for ax, letter in zip(axes, layout)}


def _ops(descrs: Any, tensor: str, where: str, letters: dict[str, str] | None = None,
         n_channels: int = 1) -> tuple[dict[str, Any], ...]:
    """A tensor's processing ops with checked kwargs, in the runtime's terms: ``axes`` as layout letters (the
    channel axis, whatever its id, is ``c``), and omitted ``axes`` of ``scale_range``/``zero_mean_unit_variance``
    filled with the spec's default (every axis of the tensor jointly); per-entry values (``axis``) must run along
    the channel axis, one value or one per channel."""
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
        if letters is not None:
            _canonical_axes(oid, kwargs, tensor, letters, n_channels, where)
        ops.append({"id": oid, "kwargs": kwargs})
    return tuple(ops)


def _canonical_axes(oid: str, kwargs: dict[str, Any], tensor: str, letters: dict[str, str], n_channels: int,
                    where: str) -> None:
    if oid in ("scale_range", "zero_mean_unit_variance"):
        axes = kwargs.get("axes")
        if axes is None:
            kwargs["axes"] = list(letters.values())
        else:
            unknown = [a for a in axes if a not in letters]
            if unknown:
                raise BundleError(f"{where}: op {oid!r} of {tensor!r} names axis {unknown[0]!r}, which the tensor does "
                                  f"not have (its axes: {', '.join(letters)})")
            kwargs["axes"] = [letters[a] for a in axes]
    if kwargs.get("axis") is not None:
        if letters.get(kwargs["axis"]) != "c":
            raise BundleError(f"{where}: op {oid!r} of {tensor!r} gives values along axis {kwargs['axis']!r}; only "
                              "values along the channel axis are supported")
        kwargs["axis"] = "c"
    for key in ("gain", "offset", "mean", "std", "threshold"):
        v = kwargs.get(key)
        if isinstance(v, list) and len(v) not in (1, n_channels):
            raise BundleError(f"{where}: op {oid!r} of {tensor!r} gives {len(v)} values of {key!r} for "
                              f"{n_channels} channel(s)")


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
    axes = "".join(str(ax.get("id") or "x").upper() for ax in spatial)
    sizes = [_size(ax, in_id, where) for ax in spatial]
    fixed = {a.lower(): mn for a, (mn, st) in zip(axes, sizes) if st == 0}
    in_scale = {}
    for ax in spatial:
        v = ax.get("scale", 1.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise BundleError(f"{where}: input {in_id!r} axis {ax.get('id')!r} has an unusable scale {v!r}")
        in_scale[str(ax["id"])] = float(v)
    n_in = len(next(ax for ax in in_axes if ax.get("type") == "channel").get("channel_names") or [])
    out_layout, n_out, halos, factors = None, None, None, None
    channels: list[int] = []
    layouts: list[str] = []
    for out in outputs:
        oid = str(out.get("id", "output"))
        oaxes = list(out.get("axes") or [])
        lay = _layout(oaxes, oid, where)
        layouts.append(lay)
        if out_layout not in (None, lay):
            raise BundleError(f"{where}: outputs have different axes ({out_layout!r} vs {lay!r}); not supported")
        out_layout = lay
        ch = len(next(ax for ax in oaxes if ax.get("type") == "channel").get("channel_names") or [])
        channels.append(ch)
        n_out = ch if n_out is None else n_out
        h, f = _output_geometry(oaxes, oid, in_id, in_scale, axes, where, fixed)
        halos = h if halos is None else tuple(max(a, b) for a, b in zip(halos, h))
        if factors not in (None, f):
            raise BundleError(f"{where}: outputs have different scales; not supported")
        factors = f
    for a, (mn, _), h in zip(axes, sizes, halos):
        if mn - 2 * h < 1:  # fixed sizes too: a tile of that size must keep some output
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
        preprocessing=_ops(inp.get("preprocessing"), in_id, where, _axis_letters(in_axes, in_layout), n_in),
        postprocessing=tuple(op for o, lay, ch in zip(outputs, layouts, channels)
                             for op in _ops(o.get("postprocessing"), str(o.get("id")), where,
                                            _axis_letters(list(o.get("axes") or []), lay), ch)),
    ), tuple(channels)


def _output_geometry(oaxes, oid, in_id, in_scale, axes, where, fixed=None) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Per spatial axis of ``axes``: halo in input pixels and the output/input size factor. An output axis may
    have a fixed size where its input axis has one (``fixed``: axis -> input size), matching it times the
    scale."""
    fixed = fixed or {}
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
        try:
            factor = in_scale[a] / float(ax.get("scale", 1.0))
        except (TypeError, ValueError, ZeroDivisionError):
            factor = float("nan")
        if not (math.isfinite(factor) and 1 / 64 <= factor <= 64):
            raise BundleError(f"{where}: output {oid!r} axis {a!r} has an unusable scale {ax.get('scale')!r}")
        if a in fixed and isinstance(size, (int, float)) and not isinstance(size, bool):
            if _whole(size, f"output {oid!r} axis {a!r} size", where) != round(fixed[a] * factor):
                raise BundleError(f"{where}: output {oid!r} axis {a!r} has size {size}, but the input's fixed size "
                                  f"{fixed[a]} gives {round(fixed[a] * factor)}; the description is inconsistent")
        elif not (isinstance(size, dict) and "tensor_id" in size and "axis_id" in size):
            raise BundleError(f"{where}: output {oid!r} axis {a!r} has size {str(size)[:80]!r}; only sizes referencing "
                              "the input (SizeReference) are supported" + (" (or the input's fixed size)" if fixed
                                                                           else ""))
        elif str(size["tensor_id"]) != in_id or str(size["axis_id"]) != a or int(size.get("offset", 0)) != 0:
            raise BundleError(f"{where}: output {oid!r} axis {a!r} references {size}; only the same input axis "
                              "without offset is supported")
        halo = _whole(ax.get("halo", 0), f"output {oid!r} axis {a!r} halo", where)
        halos.append(int(math.ceil(halo / factor)))
        factors.append(float(factor))
    return tuple(halos), tuple(factors)
