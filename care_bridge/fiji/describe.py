"""What a bundle is, as text for ImageJ's Log window (CARE Model Info, hosted path)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any


def read_rdf(bundle: str | os.PathLike) -> dict[str, Any]:
    """``rdf.yaml`` of a bundle zip or folder as a dict ({} when there is none, e.g. a model folder)."""
    import yaml

    p = Path(bundle)
    try:
        if p.is_dir():
            f = p / "rdf.yaml"
            return yaml.safe_load(f.read_text()) if f.is_file() else {}
        with zipfile.ZipFile(p) as zf:
            names = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] in ("rdf.yaml", "bioimageio.yaml")]
            return yaml.safe_load(zf.read(sorted(names, key=len)[0])) if names else {}
    except (OSError, zipfile.BadZipFile, yaml.YAMLError, IndexError):
        return {}


def describe_bundle(restorer, bundle: str | os.PathLike) -> str:
    """Task, axes, sizes, normalization, engine and provenance, one ``key: value`` per line."""
    info = restorer.info
    rdf = read_rdf(bundle)
    care = ((rdf.get("config") or {}).get("care_bridge") or {}) if isinstance(rdf, dict) else {}
    lines = [
        f"CARE bundle: {bundle}",
        f"name: {info.name}",
        f"task: {info.mode}" + (f" {info.procedure}" if info.procedure else ""),
        f"network axes: {info.axes}  channels in/out: {info.n_channel_in}/{info.n_channel_out}",
        f"probabilistic: {'yes (per-pixel Laplace scale image too)' if info.probabilistic else 'no'}",
        f"tile step: {dict(zip(info.axes, info.step))}  halo: {dict(zip(info.axes, info.halo))}  "
        f"min size: {dict(zip(info.axes, info.min_size or ()))}",
        f"scale (output/input size): {dict(zip(info.axes, info.scale or ()))}",
        f"normalization: percentiles {info.percentile_low}..{info.percentile_high} per channel, eps {info.eps}; "
        f"output de-normalization: {info.denormalize}",
        f"pixel size: {info.pixel_size or 'not recorded'}",
        f"engine: {getattr(restorer.engine, 'name', '?')}",
    ]
    if rdf:
        weights = ", ".join(sorted((rdf.get("weights") or {}).keys()))
        lines.append(f"weights: {weights}")
        authors = ", ".join(a.get("name", "?") for a in rdf.get("authors") or [] if isinstance(a, dict))
        lines.append(f"authors: {authors or '-'}  license: {rdf.get('license', '-')}")
    prov = care.get("provenance")
    if isinstance(prov, dict):
        for k, v in prov.items():
            lines.append(f"provenance.{k}: {v}")
    if info.description:
        lines.append(f"description: {' '.join(info.description.split())[:300]}")
    return "\n".join(lines)
