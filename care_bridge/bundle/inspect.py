"""``inspect_bundle``: what a bundle is, in one dict (and a text rendering), without running it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def inspect_bundle(path: str | Path) -> dict[str, Any]:
    """Task/mode, axes, sizes, halo, normalization, weights, provenance of a bundle (zip or folder).

    Sizes and halo are per spatial axis in input pixels (``axes`` order); layouts are bioimage.io axis ids in
    memory order (e.g. ``"byxc"``). Opening verifies every file's sha256, so a tampered bundle raises.
    """
    from .architectures import architecture_known
    from .open import open_bundle

    with open_bundle(path) as b:
        info, rdf, care = b.info, b.rdf, b.care_bridge or {}
        weights = {}
        for fmt, w in (rdf.get("weights") or {}).items():
            src = w.get("source")
            p = b.root / src if isinstance(src, str) and "://" not in src else None
            weights[fmt] = {
                "source": src,
                "sha256": w.get("sha256"),
                "bytes": p.stat().st_size if p is not None and p.is_file() else None,
                "parent": w.get("parent"),
                "runnable_here": fmt in ("onnx", "tensorflow_saved_model_bundle", "torchscript")
                or (fmt == "pytorch_state_dict" and architecture_known(w)),
            }
            if fmt == "pytorch_state_dict":
                weights[fmt]["architecture"] = _architecture_name(w)
        if care:
            normalization = {
                "input": care.get("normalization"),
                "percentiles": care.get("percentiles"),
                "eps": care.get("eps"),
                "output": care.get("output_denormalization"),
            }
        else:
            normalization = {"preprocessing": list(info.preprocessing), "postprocessing": list(info.postprocessing)}
        return {
            "source": str(path),
            "name": rdf.get("name"),
            "description": rdf.get("description"),
            "format_version": rdf.get("format_version"),
            "producer": "care_bridge" if care else "third-party",
            "task": _bioimageio_config(rdf).get("task"),
            "mode": info.mode,
            "procedure": info.procedure.to_dict() if info.procedure is not None else {},
            "probabilistic": info.probabilistic,
            "ensemble": info.ensemble,
            "scale_calibration": info.scale_calibration,
            "calibration": (care.get("calibration") if care else None),
            "axes": info.axes,
            "input_layout": info.input_layout,
            "output_layout": info.output_layout,
            "n_channel_in": info.n_channel_in,
            "n_channel_out": info.n_channel_out,
            "inputs": [info.input_name],
            "outputs": list(info.output_names),
            "step": list(info.step),
            "min_size": list(info.min_size),
            "halo": list(info.halo),
            "scale": list(info.scale),
            "pixel_size": info.pixel_size,
            "normalization": normalization,
            "weights": weights,
            "test_tensors": {
                "inputs": [list(t.shape) for t in b.test_inputs],
                "outputs": [list(t.shape) for t in b.test_outputs],
            },
            "authors": [str(a.get("name") or "?") for a in rdf.get("authors") or [] if isinstance(a, dict)],
            "license": rdf.get("license"),
            "cite": [{"text": c.get("text"), "doi": c.get("doi")} for c in rdf.get("cite") or [] if isinstance(c, dict)],
            "provenance": care.get("provenance") if care else _bioimageio_config(rdf).get("training"),
            "validation": care.get("validation"),
            "timestamp": rdf.get("timestamp"),
        }


def _architecture_name(w: Any) -> str:
    """A pytorch_state_dict entry's architecture as text: ``module.callable`` or ``file <source>``."""
    arch = w.get("architecture") if isinstance(w, dict) else None
    if not isinstance(arch, dict):
        return "none given"
    if arch.get("source") is not None:
        return f"file {str(arch['source'])[:80]}:{str(arch.get('callable'))[:40]}"
    return f"{str(arch.get('import_from'))[:80]}.{str(arch.get('callable'))[:40]}"


def _bioimageio_config(rdf: dict[str, Any]) -> dict[str, Any]:
    cfg = rdf.get("config")
    bio = cfg.get("bioimageio") if isinstance(cfg, dict) else None
    return bio if isinstance(bio, dict) else {}


def _readouts_line(d: dict[str, Any]) -> str:
    """What ``--readouts`` can give with this bundle, and its recalibration."""
    if d.get("ensemble", 1) > 1:
        text = f"ensemble of {d['ensemble']} probabilistic members: std, disagreement, interval, samples"
    elif d["probabilistic"]:
        text = "probabilistic (Laplace): std, interval, samples"
    else:
        return "none (not probabilistic)"
    cal = d.get("calibration") or {}
    if d.get("scale_calibration", 1.0) != 1.0:
        ece = (f" (ECE {cal['ece_before']:.3f} -> {cal['ece_after']:.3f} on {len(cal.get('pairs') or [])} pair(s))"
               if isinstance(cal.get("ece_before"), (int, float)) and isinstance(cal.get("ece_after"), (int, float))
               else "")
        text += f"; scales recalibrated x{d['scale_calibration']:.4g}{ece}"
    return text


def render_inspection(d: dict[str, Any]) -> str:
    """Human-readable summary of :func:`inspect_bundle`'s dict."""
    axes = d["axes"]
    per_axis = lambda v: ", ".join(f"{a}={x}" for a, x in zip(axes, v))  # noqa: E731
    lines = [
        f"{d['name']}  ({d['producer']}, bioimage.io spec {d['format_version']})",
        f"  task/mode     : {d.get('task') or '-'} / {d['mode']}" + (" (probabilistic)" if d["probabilistic"] else ""),
        f"  axes          : {axes}; tensors {d['input_layout']} -> {d['output_layout']}; "
        f"channels {d['n_channel_in']} -> {d['n_channel_out']}",
        f"  outputs       : {', '.join(d['outputs'])}",
        f"  readouts      : {_readouts_line(d)}",
        f"  sizes         : step {per_axis(d['step'])}; min {per_axis(d['min_size'])}; scale {per_axis(d['scale'])}"
        + ("  (step 0: a fixed size, tiled at that size)" if 0 in d["step"] else ""),
        f"  halo          : {per_axis(d['halo'])} (input pixels per side)"
        + ("; none declared: measured on the engine when an image needs tiles" if d["producer"] == "third-party"
           and not any(d["halo"]) else ""),
        f"  pixel size    : {d['pixel_size'] or 'unknown'}",
        f"  normalization : {json.dumps(d['normalization'], default=str)[:400]}",
        "  weights       :",
    ]
    for fmt, w in d["weights"].items():
        if fmt == "pytorch_state_dict":
            note = (f" [architecture {w['architecture']}, built by care_bridge's own code]" if w["runnable_here"] else
                    f" [not run by care_bridge: architecture {w['architecture']} is not one it builds; it never "
                    "imports the code a bundle names]")
        else:
            note = "" if w["runnable_here"] else " [not run by care_bridge]"
        lines.append(f"    - {fmt}: {w['source']} ({w['bytes']} bytes, sha256 {str(w['sha256'])[:12]}…)" + note)
    lines += [
        f"  test tensors  : in {d['test_tensors']['inputs']} out {d['test_tensors']['outputs']}",
        f"  authors       : {', '.join(d['authors']) or '-'}; license {d['license']}",
        f"  provenance    : {json.dumps(d['provenance'], default=str)[:400]}",
        f"  validation    : {json.dumps(d['validation'], default=str)[:400] if d['validation'] else 'none given'}",
    ]
    return "\n".join(lines)
