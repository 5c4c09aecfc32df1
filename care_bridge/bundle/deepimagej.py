"""Static deepImageJ compatibility check of a bundle's ``rdf.yaml`` (``care-bridge validate --consumer deepimagej``).

deepImageJ 3 runs bioimage.io models through JDLL (``dl-modelrunner``; deepImageJ 3.1 depends on JDLL 0.6.1).
What follows was read in their code: deepimagej/deepimagej-plugin at c84362b (2025-07-23) and bioimage-io/JDLL at
98d3be2 (2026-07-01); the file names below are JDLL's.

- **Which weights run.** JDLL parses ``onnx``, ``tensorflow_saved_model_bundle``, ``torchscript``,
  ``pytorch_state_dict``, ``keras_hdf5`` and ``tensorflow_js`` (``ModelWeight.build``; ``keras_v3`` is unknown to
  it) into a Java ``HashMap`` keyed ``<format>_v<version>``. ``keras_hdf5`` and ``tensorflow_js`` are never run.
  ``pytorch_state_dict`` runs in JDLL's own Python (pixi) PyTorch environment, and only when it is the one format
  JDLL could run (``RunnerAdapter``). Otherwise ``BioimageIoModelJava.createBioimageioModel`` takes the **first
  entry of that HashMap** whose Java engine is installed, and it installs engines for every entry first: the
  rdf's order does not matter, the keys' Java hash codes do (:func:`jdll_weight_order`), and a model that fails
  to load is not retried with the next format.
- **Engines** (``availableDLVersions.json``, ``supportedVersions.json``): TensorFlow 1.12-1.15 and 2.3.1-2.10.1;
  every TF 2.x SavedModel goes to a 2.x engine, at most 2.10.1. A TF 2.21 SavedModel (what ``care-bridge export``
  writes) uses the op ``DisableCopyOnRead`` and the ``VarHandleOp`` attribute ``debug_name``, which TF 2.10
  predates, so it will probably not load: deepImageJ should use the ONNX weights. ONNX Runtime 1.3.1-1.13.1,
  chosen by ``opset_version`` 6-18 (opset 17: ONNX Runtime 1.12.1, which reads IR version <= 8); no engine for
  opset > 18. PyTorch 1.7.1-2.0.0 for TorchScript.
- **Processing**: the ops with a JDLL transformation (:data:`DEEPIMAGEJ_OPS`; ``ensure_dtype`` is skipped), each
  kwarg set through a setter (:data:`JDLL_KWARGS`; another kwarg is an error); ``scale_range``'s
  ``reference_tensor`` is ignored. Preprocessing runs on the **whole input before tiling**
  (``BioimageIoModelJava.getTileMaker``), postprocessing on the stitched output. ``scale_range`` takes the sorted
  value at index ``floor(n * p / 100)`` (no interpolation), care_bridge interpolates linearly.

Anything else in a bundle is either an error (deepImageJ cannot run it) or a loss (it runs, but the result differs
from care_bridge's runtime), e.g. CARE's output de-normalization, which no spec op expresses and which lives in
``config.care_bridge.output_denormalization``. Pure function over the parsed YAML: no files, no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

JDLL_VERSION = "0.6.1"  # the dl-modelrunner version deepImageJ 3.1 depends on (deepimagej-plugin pom.xml)
# formats JDLL runs with its Java engines, and the one it runs through its Python environment
JAVA_WEIGHTS = ("onnx", "tensorflow_saved_model_bundle", "torchscript")
DEEPIMAGEJ_WEIGHTS = (*JAVA_WEIGHTS, "pytorch_state_dict")
JDLL_PARSED = (*DEEPIMAGEJ_WEIGHTS, "keras_hdf5", "tensorflow_js")  # ModelWeight.build; the rest is not even read
NEWEST_TF = (2, 10)  # TensorFlow 2.10.1: JDLL's newest TF engine
NEWEST_TORCH = (2, 0)  # PyTorch 2.0.0: JDLL's newest PyTorch engine (TorchScript)
ONNX_OPSETS = range(6, 19)  # opset_version with an ONNX Runtime engine: 6-18 (ORT 1.3.1-1.13.1)
ONNX_RUNTIME_FOR_OPSET = {6: "1.3.1", 7: "1.3.1", 8: "1.3.1", 9: "1.4.0", 10: "1.5.2", 11: "1.6.0", 12: "1.7.0",
                          13: "1.8.1", 14: "1.9.0", 15: "1.10.0", 16: "1.11.0", 17: "1.12.1", 18: "1.13.1"}
DEEPIMAGEJ_OPS = frozenset({
    "binarize", "clip", "ensure_dtype", "fixed_zero_mean_unit_variance", "scale_linear", "scale_range",
    "sigmoid", "zero_mean_unit_variance",
})
_COMMON_KWARGS = {"mode"}  # TensorTransformation.setMode, inherited by every transformation
JDLL_KWARGS = {  # the setters of JDLL's transformations (io.bioimage.modelrunner.transformations.*Transformation)
    "binarize": {"eps", "threshold"},
    "clip": {"eps", "min", "max"},
    "fixed_zero_mean_unit_variance": {"eps", "mean", "std", "axes", "axis"},
    "scale_linear": {"eps", "gain", "offset", "axes", "axis"},
    "scale_range": {"eps", "min_percentile", "max_percentile", "reference_tensor", "axes", "axis", "tensor_name"},
    "sigmoid": set(),
    "zero_mean_unit_variance": {"eps", "mean", "std", "axes", "axis"},
}
DEEPIMAGEJ_AXES = frozenset("bczyx")  # batch, channel, space; no time or index axes


@dataclass
class DeepImageJReport:
    """``ok`` when deepImageJ can run the bundle; ``errors`` block it, ``losses`` change its results,
    ``notes`` are harmless (e.g. weight formats deepImageJ ignores). ``weights_used`` is the format deepImageJ
    would load (``None``: none), ``jdll_order`` the order in which JDLL considers the formats."""

    ok: bool
    usable_weights: list[str] = field(default_factory=list)
    weights_used: str | None = None
    jdll_order: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _op_name(op: Any) -> str:
    if isinstance(op, dict):
        return str(op.get("id") or op.get("name") or "?")
    return str(op)


def _axis_ids(tensor: dict) -> str:
    axes = tensor.get("axes", "")
    if isinstance(axes, str):  # spec 0.4: "byxc"
        return axes.lower()
    out = ""
    for a in axes:
        if isinstance(a, dict):
            aid = str(a.get("id") or a.get("type") or "?")
            out += {"batch": "b", "channel": "c", "time": "t", "index": "i"}.get(aid, aid[:1] if aid else "?")
    return out


_VERSION_FIELD = {"onnx": "opset_version", "tensorflow_saved_model_bundle": "tensorflow_version",
                  "keras_hdf5": "tensorflow_version", "tensorflow_js": "tensorflow_version",
                  "torchscript": "pytorch_version", "pytorch_state_dict": "pytorch_version"}
_VERSION_DEFAULT = {"onnx": "17", "torchscript": "1.13.1"}  # OnnxWeights / TorchscriptWeights


def jdll_version(fmt: str, entry: Any) -> str | None:
    """The version JDLL reads from a weights entry (``*Weights.setTrainingVersion``): the field's text, a local
    suffix such as ``+cu118`` cut off; ONNX defaults to opset 17, TorchScript to 1.13.1."""
    v = entry.get(_VERSION_FIELD.get(fmt, "")) if isinstance(entry, dict) else None
    if v is None:
        return _VERSION_DEFAULT.get(fmt)
    s = str(v).strip()
    for cut in ("+", "cuda", "cu"):
        if cut in s:
            s = s[:s.index(cut)].strip()
    return s


def _java_hash(s: str) -> int:
    """``String.hashCode`` over UTF-16 code units, as an unsigned 32-bit number."""
    units = s.encode("utf-16-be")
    h = 0
    for i in range(0, len(units), 2):
        h = (31 * h + int.from_bytes(units[i:i + 2], "big")) & 0xFFFFFFFF
    return h


def jdll_weight_order(weights: dict[str, Any]) -> list[str]:
    """The formats of ``weights`` in the order JDLL iterates them: the iteration order of a ``java.util.HashMap``
    (16 buckets, ``hash ^ hash >>> 16``) keyed ``<format>_v<version>`` (``ModelWeight``; a missing version is
    ``Unknown0``), entries of one bucket in insertion (rdf) order. Formats JDLL does not parse are left out."""
    entries = []
    for pos, (fmt, entry) in enumerate(weights.items()):
        name = "torchscript" if fmt == "pytorch_script" else fmt
        if name not in JDLL_PARSED or entry is None:
            continue
        key = f"{name}_v{jdll_version(name, entry) or 'Unknown0'}"
        h = _java_hash(key)
        entries.append((((h ^ (h >> 16)) & 15), pos, fmt))
    return [fmt for _, _, fmt in sorted(entries)]


def _major_minor(version: str | None) -> tuple[int, int] | None:
    m = re.match(r"(\d+)(?:\.(\d+))?", version or "")
    return (int(m[1]), int(m[2] or 0)) if m else None


def _java_engine(fmt: str, version: str | None) -> bool:
    """Whether JDLL has a Java engine for this weights entry (it downloads one per entry before choosing)."""
    if fmt == "onnx":
        return (version or "").isdigit() and int(version) in ONNX_OPSETS
    mm = _major_minor(version)
    return fmt in ("tensorflow_saved_model_bundle", "torchscript") and mm is not None and mm[0] in (1, 2)


def _check_weights(rep: DeepImageJReport, weights: dict[str, Any]) -> None:
    rep.usable_weights = [w for w in DEEPIMAGEJ_WEIGHTS if w in weights]
    rep.jdll_order = jdll_weight_order(weights)
    ignored = sorted(w for w in weights if w not in DEEPIMAGEJ_WEIGHTS)
    if ignored:
        rep.notes.append(f"weights deepImageJ does not run: {', '.join(ignored)}")
    runnable = [w for w in rep.jdll_order if w in DEEPIMAGEJ_WEIGHTS]
    if not runnable:
        rep.errors.append(
            f"no weight format deepImageJ runs (it needs one of {', '.join(DEEPIMAGEJ_WEIGHTS)}; bundle has "
            f"{', '.join(sorted(weights)) or 'none'}); re-export with ONNX weights"
        )
        return
    if runnable == ["pytorch_state_dict"]:
        rep.weights_used = "pytorch_state_dict"
        rep.notes.append("pytorch_state_dict runs in JDLL's own Python (pixi) PyTorch environment, which deepImageJ "
                         "installs on first use; the architecture named in the rdf must import there")
        return
    chosen = next((w for w in runnable if _java_engine(w, jdll_version(w, weights[w]))), None)
    for w in runnable:
        v = jdll_version(w, weights[w])
        if w == "onnx" and not _java_engine(w, v):
            rep.notes.append(f"onnx opset {v}: JDLL has ONNX Runtime engines for opsets 6-18 only")
    if chosen is None:
        rep.errors.append("no weight format of this bundle has an engine in deepImageJ (JDLL "
                          f"{JDLL_VERSION}): {', '.join(f'{w} {jdll_version(w, weights[w])}' for w in runnable)}")
        return
    rep.weights_used = chosen
    v = jdll_version(chosen, weights[chosen])
    order = " before ".join(w for w in runnable if _java_engine(w, jdll_version(w, weights[w])))
    if " before " in order:
        rep.notes.append(f"JDLL {JDLL_VERSION} tries {order} (the order of its Java HashMap of weights, not the "
                         "rdf's) and uses the first one; a load failure is not retried with the next")
    tf = _major_minor(jdll_version("tensorflow_saved_model_bundle", weights.get("tensorflow_saved_model_bundle")))
    tf_too_new = "tensorflow_saved_model_bundle" in weights and tf is not None and tf > NEWEST_TF
    if chosen == "tensorflow_saved_model_bundle" and tf_too_new:
        tail = ("; deepImageJ should use the ONNX weights: give it a copy of the bundle whose rdf.yaml has no "
                "tensorflow_saved_model_bundle entry" if "onnx" in weights
                else "; deepImageJ needs ONNX weights (or a SavedModel written by TF <= 2.10)")
        rep.errors.append(
            f"deepImageJ would load the TF SavedModel (TF {v}) with its newest TensorFlow engine, 2.10.1, which "
            "will probably fail: SavedModels of TF > 2.10 use ops TF 2.10 lacks (TF 2.21 writes DisableCopyOnRead "
            "and VarHandleOp.debug_name)" + tail)
    elif tf_too_new:
        tf_v = jdll_version("tensorflow_saved_model_bundle", weights["tensorflow_saved_model_bundle"])
        rep.notes.append(f"the TF SavedModel (TF {tf_v}) would probably not load in JDLL's TensorFlow 2.10.1; "
                         f"deepImageJ uses the {chosen} weights")
    if chosen == "onnx":
        rep.notes.append(f"ONNX opset {v} runs on ONNX Runtime {ONNX_RUNTIME_FOR_OPSET[int(v)]} in JDLL; it reads "
                         "ONNX IR version <= 8 (care_bridge exports IR 8)")
    tm = _major_minor(v) if chosen == "torchscript" else None
    if tm is not None and tm > NEWEST_TORCH:
        rep.notes.append(f"TorchScript from PyTorch {v}: JDLL's newest PyTorch engine is 2.0.0; it may not load")


def _check_processing(rep: DeepImageJReport, inputs: list, outputs: list) -> None:
    for kind, tensors in (("preprocessing", inputs), ("postprocessing", outputs)):
        for t in tensors:
            tid = t.get("id") or t.get("name") or "?"
            for op in t.get(kind) or []:
                name = _op_name(op)
                if name not in DEEPIMAGEJ_OPS:
                    rep.errors.append(f"{kind} op {name!r} of tensor {tid!r} is not implemented by deepImageJ")
                    continue
                if name == "ensure_dtype":
                    continue  # JDLL skips it (TensorSpecV04/V05)
                kwargs = (op.get("kwargs") if isinstance(op, dict) else None) or {}
                unknown = sorted(set(kwargs) - JDLL_KWARGS[name] - _COMMON_KWARGS)
                if unknown:
                    rep.errors.append(f"{kind} op {name!r} of tensor {tid!r}: JDLL has no setter for "
                                      f"{', '.join(unknown)} and refuses the op")
                if name == "scale_range" and kwargs.get("reference_tensor") not in (None, tid):
                    rep.losses.append(f"scale_range of tensor {tid!r} is computed on {tid!r} itself: JDLL ignores "
                                      f"reference_tensor {kwargs['reference_tensor']!r}")
            bad = sorted(set(_axis_ids(t)) - DEEPIMAGEJ_AXES)
            if bad:
                rep.errors.append(f"tensor {tid!r} has axes {''.join(bad)!r} deepImageJ does not handle")


def check_deepimagej(rdf: dict[str, Any]) -> DeepImageJReport:
    """Check a parsed ``rdf.yaml`` against what deepImageJ supports (see module docstring)."""
    rep = DeepImageJReport(ok=True)
    _check_weights(rep, rdf.get("weights") or {})
    inputs, outputs = rdf.get("inputs") or [], rdf.get("outputs") or []
    if len(inputs) != 1:
        rep.errors.append(f"deepImageJ runs models with one input tensor; this bundle has {len(inputs)}")
    _check_processing(rep, inputs, outputs)
    care = ((rdf.get("config") or {}).get("care_bridge")) or {}
    denorm = care.get("output_denormalization") or {}
    if denorm.get("kind", "none") != "none":
        rep.losses.append(
            "CARE's output de-normalization (" + str(denorm.get("formula", "input percentiles")) + ") is not "
            "applied: deepImageJ shows outputs in normalized units, not in the input's intensity range"
        )
    if care.get("probabilistic"):
        rep.losses.append("the Laplace scale output stays in normalized units (no de-normalization of scale)")
    if len(outputs) > 1:
        rep.notes.append(f"{len(outputs)} outputs ({', '.join(str(o.get('id', '?')) for o in outputs)}): "
                         "deepImageJ shows each as its own image")
    if any(_op_name(op) == "scale_range" for t in inputs for op in (t.get("preprocessing") or [])):
        rep.notes.append("normalization: deepImageJ (JDLL) applies scale_range to the whole image before tiling, as "
                         "care_bridge does, but takes percentiles as the sorted value at floor(n*p/100) without "
                         "interpolation, so values can differ slightly from care-bridge's")
    rep.ok = not rep.errors
    return rep


def format_deepimagej_report(rep: DeepImageJReport) -> str:
    """The report as a two-column table (what, finding)."""
    rows = [("consumer", f"deepImageJ (Fiji), JDLL {JDLL_VERSION}"), ("verdict", "OK" if rep.ok else "NOT SUPPORTED"),
            ("weights used", rep.weights_used or "-")]
    rows += [("error", e) for e in rep.errors]
    rows += [("loses", x) for x in rep.losses]
    rows += [("note", n) for n in rep.notes]
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(w)}  {v}" for k, v in rows)


def print_deepimagej_report(rdf: dict[str, Any]) -> DeepImageJReport:
    """Check ``rdf`` and print the table; returns the report (for an exit code)."""
    rep = check_deepimagej(rdf)
    print(format_deepimagej_report(rep))
    return rep
