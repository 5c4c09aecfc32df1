"""Static deepImageJ compatibility check of a bundle's ``rdf.yaml`` (``care-bridge validate --consumer deepimagej``).

deepImageJ (Fiji) runs ``onnx``, ``tensorflow_saved_model_bundle`` and ``torchscript`` weights and implements only
the processing ops in :data:`DEEPIMAGEJ_OPS`. Anything else in a bundle is either an error (deepImageJ cannot run
it) or a loss (it runs, but the result differs from care_bridge's runtime), e.g. CARE's output de-normalization,
which no spec op expresses and which lives in ``config.care_bridge.output_denormalization``.
Pure function over the parsed YAML: no files, no network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEEPIMAGEJ_WEIGHTS = ("onnx", "tensorflow_saved_model_bundle", "torchscript")
DEEPIMAGEJ_OPS = frozenset({
    "binarize", "clip", "ensure_dtype", "fixed_zero_mean_unit_variance", "scale_linear", "scale_range",
    "sigmoid", "zero_mean_unit_variance",
})
DEEPIMAGEJ_AXES = frozenset("bczyx")  # batch, channel, space; no time or index axes


@dataclass
class DeepImageJReport:
    """``ok`` when deepImageJ can run the bundle; ``errors`` block it, ``losses`` change its results,
    ``notes`` are harmless (e.g. weight formats deepImageJ ignores)."""

    ok: bool
    usable_weights: list[str] = field(default_factory=list)
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


def check_deepimagej(rdf: dict[str, Any]) -> DeepImageJReport:
    """Check a parsed ``rdf.yaml`` against what deepImageJ supports (see module docstring)."""
    rep = DeepImageJReport(ok=True)
    weights = rdf.get("weights") or {}
    rep.usable_weights = [w for w in DEEPIMAGEJ_WEIGHTS if w in weights]
    ignored = sorted(w for w in weights if w not in DEEPIMAGEJ_WEIGHTS)
    if not rep.usable_weights:
        rep.errors.append(
            f"no weight format deepImageJ runs (it needs one of {', '.join(DEEPIMAGEJ_WEIGHTS)}; bundle has "
            f"{', '.join(sorted(weights)) or 'none'}); re-export with ONNX or TF SavedModel weights"
        )
    elif ignored:
        rep.notes.append(f"weights ignored by deepImageJ: {', '.join(ignored)}")
    inputs, outputs = rdf.get("inputs") or [], rdf.get("outputs") or []
    if len(inputs) != 1:
        rep.errors.append(f"deepImageJ runs models with one input tensor; this bundle has {len(inputs)}")
    for kind, tensors in (("preprocessing", inputs), ("postprocessing", outputs)):
        for t in tensors:
            tid = t.get("id") or t.get("name") or "?"
            for op in t.get(kind) or []:
                name = _op_name(op)
                if name not in DEEPIMAGEJ_OPS:
                    rep.errors.append(f"{kind} op {name!r} of tensor {tid!r} is not implemented by deepImageJ")
            bad = sorted(set(_axis_ids(t)) - DEEPIMAGEJ_AXES)
            if bad:
                rep.errors.append(f"tensor {tid!r} has axes {''.join(bad)!r} deepImageJ does not handle")
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
    rep.notes.append("tiling: deepImageJ tiles by the declared halo/step; percentiles are computed per tile "
                     "unless the whole image fits one tile, so results can differ slightly from care-bridge")
    rep.ok = not rep.errors
    return rep


def format_deepimagej_report(rep: DeepImageJReport) -> str:
    """The report as a two-column table (what, finding)."""
    rows = [("consumer", "deepImageJ (Fiji)"), ("verdict", "OK" if rep.ok else "NOT SUPPORTED"),
            ("weights used", ", ".join(rep.usable_weights) or "-")]
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
