"""Editing a bundle zip in tests (no care_bridge import, so TF-free tests can use it)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import yaml


def rewrite_zip(
    src: Path,
    dst: Path,
    *,
    replace: dict[str, bytes | None] | None = None,
    extra: list[tuple[zipfile.ZipInfo | str, bytes]] | None = None,
    rdf_edit: Callable[[dict], None] | None = None,
) -> Path:
    """Copy a bundle zip, replacing (``bytes``, empty included) or dropping (``None``) entries, appending raw
    entries (duplicates and odd names allowed: ``extra``) and editing rdf.yaml (a dict edited in place). Hashes in
    rdf.yaml are NOT updated unless ``rdf_edit`` does."""
    replace = dict(replace or {})
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename in replace:
                data = replace.pop(info.filename)
                if data is None:
                    continue
            if info.filename == "rdf.yaml" and rdf_edit is not None:
                rdf = yaml.safe_load(data)
                rdf_edit(rdf)
                data = yaml.safe_dump(rdf, sort_keys=False).encode()
            zout.writestr(info.filename, data)
        for name, data in replace.items():
            if data is not None:
                zout.writestr(name, data)
        for info, data in extra or []:
            zout.writestr(info, data)
    return dst
