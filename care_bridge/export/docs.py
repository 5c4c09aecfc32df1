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


def _ensemble_section(ens: dict[str, Any], n_c: int) -> list[str]:
    m = ens["members"]
    intro = (f"This bundle is an ensemble of {m} members (deep ensemble, Lakshminarayanan et al. 2017; CARE's "
             f"reliability analysis, Weigert et al. 2018, Fig. 5), all run by the one network in the weights. "
             f"Member seeds: {ens.get('member_seeds')}; folders: {ens.get('member_names')}. Outputs:")
    members = (f"- `member_mean`, `member_scale` ({m} × {n_c} = {m * n_c} channels, {ens['channel_order']}): "
               "each member's Laplace mean and scale (member m, image channel c).")
    combine = ("How to combine them: the prediction per pixel and channel is the equal-weight mixture "
               "`p(y) = 1/M Σ_m Laplace(y; μ_m, s_m)` with `μ_m = member_mean[m]`, `s_m = member_scale[m]` (after "
               "de-normalization). Its mean is `mean`; its variance is `1/M Σ_m (2 s_m² + μ_m²) - mean²`; intervals "
               "and samples come from the mixture (draw a member uniformly, then a Laplace sample of it). The spread "
               "of the member means is the members' disagreement. The same rule is stated in "
               "`config.care_bridge.ensemble`.")
    return [
        "## Ensemble",
        "",
        intro,
        "",
        f"- `mean` ({n_c} channel(s)): the average of the members' Laplace means, the restored image;",
        members,
        "",
        combine,
        "",
    ]


def _person(p: dict[str, str]) -> str:
    extra = [f"@{p['github_user']}" if p.get("github_user") else "", p.get("affiliation") or "",
             f"ORCID [{p['orcid']}](https://orcid.org/{p['orcid']})" if p.get("orcid") else ""]
    extra = [e for e in extra if e]
    return f"- {p.get('name')}" + (f" ({', '.join(extra)})" if extra else "")


def _citation(c: dict[str, str]) -> str:
    if c.get("doi"):
        return f"{c['text']} doi:[{c['doi']}](https://doi.org/{c['doi']})"
    return f"{c['text']} <{c.get('url')}>"


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
    maintainers: list[dict[str, str]] | None = None,
    cite: list[dict[str, str]] | None = None,
    git_repo: str | None = None,
    description: str | None = None,
) -> str:
    """Markdown documentation of one bundle (what it does, how it normalizes, provenance, files, validation)."""
    ids = care_block["outputs"]
    prov = care_block.get("provenance") or {}
    ens = care_block.get("ensemble")
    if ens:
        what = (f"Deep ensemble of **{ens['members']}** probabilistic CARE content-aware image restoration networks "
                f"(mode: **{config.mode}**, axes {config.axes}, {config.n_channel_in} → {config.n_channel_out} "
                "channel(s), one architecture, trained on the same data with different seeds), exported by "
                "care_bridge.")
    else:
        what = (f"CARE content-aware image restoration network (mode: **{config.mode}**, axes {config.axes}, "
                f"{config.n_channel_in} → {config.n_channel_out} channel(s)"
                + (", probabilistic: Laplace mean and scale" if config.probabilistic else "")
                + "), exported by care_bridge.")
    if ens:
        scale_note = (f"; `{ids[0]}` and `{ids[1]}` are de-normalized so, `{ids[2]}` is only multiplied by "
                      "(p_high - p_low).")
    elif config.probabilistic:
        scale_note = f"; the `{ids[1]}` output is only multiplied by (p_high - p_low)."
    else:
        scale_note = "."
    lines = [
        f"# {config.name}",
        "",
        *([description, ""] if description else []),
        what,
        "",
        *(_ensemble_section(ens, config.n_channel_out) if ens else []),
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
        "with the *input's* percentiles" + scale_note,
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
        *[_person(a) for a in authors],
        "",
        *(["Maintainers:", "", *[_person(m) for m in maintainers], ""] if maintainers else []),
        *([f"Code and data: <{git_repo}>", ""] if git_repo else []),
        f"License: {license}.",
        "",
        "## Citation",
        "",
        f"{CARE_CITATION} doi:[{CARE_DOI}](https://doi.org/{CARE_DOI})",
        "",
        *[line for c in cite or [] for line in (_citation(c), "")],
        "## Files (sha256)",
        "",
        *[f"- `{name}`: `{digest}`" for name, digest in sorted(file_hashes.items())],
        "",
    ]
    return "\n".join(lines)
