"""Human-facing bundle files: the cover image and ``README.md`` (documentation with a Validation section)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..models.config import CareConfig
from .rdf_build import CARE_CITATION, CARE_DOI, DENORM_FORMULA, NORMALIZE_FORMULA


def _view(x: np.ndarray) -> np.ndarray:
    """A 2D view of one ``"<spatial>C"`` image: first channel, maximum projection over z for 3D."""
    x = x[..., 0]
    return x.max(axis=0) if x.ndim == 3 else x


def write_cover(path: Path, raw: np.ndarray, restored: np.ndarray) -> Path:
    """PNG, input | restoration side by side (2:1), each scaled to its own 0.5–99.5 percentile range.

    ``raw`` and ``restored`` are single images with axes ``"<spatial>C"`` (no batch axis).
    """
    from ..io.figures import save_panels

    return save_panels(path, [("input", _view(raw)), ("CARE restoration", _view(restored))], panel_size=(3, 3),
                       percentiles=(0.5, 99.5), dpi=100, fontsize=10)


def _validation_section(validation: dict[str, Any] | None) -> list[str]:
    lines = ["## Validation", ""]
    if not validation:
        return lines + [
            "No validation metrics on held-out data were given when this bundle was exported. Validate the",
            "model on your own held-out low/high-SNR pairs (e.g. NRMSE, PSNR, SSIM after CARE's percentile",
            "normalization) before relying on it.",
            "",
        ]
    metrics = validation.get("metrics")
    for k, v in validation.items():
        if k != "metrics":
            lines.append(f"- **{k}**: {v}")
    if isinstance(metrics, dict) and metrics:
        cols = sorted({c for row in metrics.values() if isinstance(row, dict) for c in row})
        lines += ["", "| metric | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for name, row in metrics.items():
            row = row if isinstance(row, dict) else {"value": row}
            lines.append(f"| {name} | " + " | ".join(_fmt(row.get(c, "")) for c in cols) + " |")
    lines.append("")
    return lines


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def documentation(
    config: CareConfig,
    *,
    care_block: dict[str, Any],
    authors: list[dict[str, str]],
    license: str,
    file_hashes: dict[str, str],
    validation: dict[str, Any] | None,
) -> str:
    """Markdown documentation of one bundle (what it does, how it normalizes, provenance, files, validation)."""
    ids = care_block["outputs"]
    prov = care_block.get("provenance") or {}
    lines = [
        f"# {config.name}",
        "",
        f"CARE content-aware image restoration network (mode: **{config.mode}**, axes {config.axes}, "
        f"{config.n_channel_in} → {config.n_channel_out} channel(s)"
        + (", probabilistic: Laplace mean and scale" if config.probabilistic else "")
        + "), exported by care_bridge.",
        "",
        "## How to run it",
        "",
        "- Python: `care_bridge.runtime.load(\"<bundle>.zip\").restore(image, axes=...)`;",
        "  CLI: `care-bridge predict --bundle <bundle>.zip --input in.tif --output out.tif`.",
        "- Fiji/deepImageJ and other bioimage.io consumers run the `onnx` or TF SavedModel weights with the",
        "  `scale_range` preprocessing; their outputs are in *normalized* units unless they apply the",
        "  de-normalization below.",
        "",
        "## Normalization",
        "",
        f"Input, per channel: `{NORMALIZE_FORMULA}` with p_low/p_high the {config.percentile_low}/"
        f"{config.percentile_high} percentiles of the whole input image and eps = {config.norm_eps}.",
        "",
        f"Output (CARE's de-normalization, `config.care_bridge.output_denormalization`): `{DENORM_FORMULA}` "
        "with the *input's* percentiles"
        + (f"; the `{ids[1]}` output is only multiplied by (p_high - p_low)." if config.probabilistic else "."),
        "",
        "## Tiling",
        "",
        f"Input sizes must be multiples of {dict(zip(config.axes, config.step))}; outputs have a halo of "
        f"{care_block['halo']} pixels (the network's receptive-field radius rounded up) to crop per tile side.",
        "",
        "## Training provenance",
        "",
        "```json",
        json.dumps(prov, indent=2, sort_keys=True, default=str),
        "```",
        "",
    ]
    lines += _validation_section(validation)
    lines += [
        "## Authors and license",
        "",
        *[f"- {a.get('name')}" + (f" ({a['affiliation']})" if a.get("affiliation") else "") for a in authors],
        "",
        f"License: {license}.",
        "",
        "## Citation",
        "",
        f"{CARE_CITATION} doi:[{CARE_DOI}](https://doi.org/{CARE_DOI})",
        "",
        "## Files (sha256)",
        "",
        *[f"- `{name}`: `{digest}`" for name, digest in sorted(file_hashes.items())],
        "",
    ]
    return "\n".join(lines)
