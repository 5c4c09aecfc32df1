"""What a bioimage.io curator would ask for: bioimageio.spec's own validation with file checks (every warning,
alert and error of ``load_description(..., perform_io_checks=True)``), plus the metadata the collection asks
for that the spec only implies (maintainers, git repository, sample tensors, cover, a Validation section,
citation, tags). Offline: only bundle-local files are read.

bioimageio.spec 0.5.12 goes on the network during validation with file checks in two places, both avoided
here: an http(s) URL (``git_repo``, ``cite[].url``) is HEAD-requested unless it is in the validation
context's ``known_files``, and a ``github_user`` is looked up at api.github.com unless it is in
``bioimageio.spec._internal.field_validation.KNOWN_GITHUB_USERS``. :func:`offline_spec` fills both for the
duration of a validation. A remote *file* source is never fetched: it is reported instead, and the spec then
runs without file checks.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import tempdirs
from ..errors import BundleError

FILE_KEYS = ("source",)


def _walk(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, path + (i,))
    else:
        yield path, node


def _is_url(v: Any) -> bool:
    return isinstance(v, str) and v.lower().startswith(("http://", "https://"))


def rdf_urls(rdf: dict) -> tuple[set[str], set[str]]:
    """(metadata URLs such as git_repo and cite urls, remote *file* sources) named anywhere in ``rdf``."""
    meta, files = set(), set()
    for path, v in _walk(rdf):
        if _is_url(v):
            (files if path and path[-1] in FILE_KEYS else meta).add(v)
    for k in ("documentation",):
        if _is_url(rdf.get(k)):
            files.add(rdf[k])
    for c in rdf.get("covers") or []:
        if _is_url(c):
            files.add(c)
    return meta - files, files


def rdf_github_users(rdf: dict) -> set[str]:
    out = set()
    for group in ("authors", "maintainers"):
        for p in rdf.get(group) or []:
            if isinstance(p, dict) and isinstance(p.get("github_user"), str):
                out.add(p["github_user"])
    return out


@contextlib.contextmanager
def offline_spec(github_users: set[str] | list[str] = ()) -> Iterator[None]:
    """GitHub users count as known to bioimageio.spec while inside (no api.github.com lookup); URLs are
    handled by the caller through ``known_files``."""
    from bioimageio.spec._internal import field_validation as fv

    added = {u.lower() for u in github_users} - fv.KNOWN_GITHUB_USERS
    fv.KNOWN_GITHUB_USERS.update(added)
    try:
        yield
    finally:
        fv.KNOWN_GITHUB_USERS.difference_update(added)


def load_description_offline(rdf_path: Path, rdf: dict, *, perform_io_checks: bool = True):
    """``bioimageio.spec.load_description`` of a local rdf.yaml without network access (see module doc)."""
    from bioimageio.spec import load_description

    meta_urls, remote = rdf_urls(rdf)
    known: dict[str, Any] = {u: None for u in meta_urls}
    if not perform_io_checks:  # then the spec treats every file missing from known_files as invalid
        from ..bundle.open import referenced_files

        known.update({u: None for u in remote})
        known.update({name: None for name in referenced_files(rdf)})
    with offline_spec(rdf_github_users(rdf)):
        return load_description(rdf_path, perform_io_checks=perform_io_checks, known_files=known)


@dataclass
class ZooReport:
    """One line per thing a curator would ask for; ``ok`` when there is none."""

    bundle: str
    asks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the spec's INFO-level hints: printed, not counted
    status: str = ""

    @property
    def ok(self) -> bool:
        return not self.asks

    def render(self) -> str:
        head = f"zoo check of {self.bundle}: " + ("nothing missing" if self.ok else f"{len(self.asks)} item(s)")
        return "\n".join([head] + [f"- {a}" for a in self.asks] + [f"  note: {n}" for n in self.notes])


def _loc(loc: tuple) -> str:
    return ".".join(str(x) for x in loc) or "rdf"


def _spec_line(loc: tuple, msg: str, severity: int | None) -> str:
    """A spec warning/error in a curator's words, with the export option that fixes it when there is one."""
    where = _loc(loc)
    text = " ".join(str(msg).split())
    if where.endswith("sample_tensor") and (not text or "FAIR" in text):
        return f"{where}: no sample tensor (an image from your data for people to look at); export with --sample-image"
    if "maintainers" in text:
        return ("authors: no maintainer and no author with a GitHub user; export with "
                "--maintainer 'Name;github_user' or --author 'Name;github_user'")
    if where == "documentation" and "Validation" in text:
        return "documentation: no '# Validation' section; describe how the model was validated on unseen data"
    kind = {20: "info", 30: "warning", 35: "alert"}.get(severity or 0, "error")
    return f"{where}: {text[:300]} ({kind})"


def curator_asks(rdf: dict) -> list[str]:
    """Lines for what the collection asks for beyond the spec's own warnings (from the rdf as written)."""
    asks: list[str] = []
    if not rdf.get("maintainers"):
        asks.append("maintainers: none; export with --maintainer 'Name;github_user' (who answers questions)")
    authors = rdf.get("authors") or []
    if not authors:
        asks.append("authors: none; export with --author 'Name;github_user;affiliation;orcid'")
    if not rdf.get("git_repo"):
        asks.append("git_repo: none; export with --git-repo URL (the code or data repository of this model)")
    if not rdf.get("covers"):
        asks.append("covers: none; a cover image (2:1 or 1:1, < 500 KB) is shown in the model zoo")
    if not rdf.get("documentation"):
        asks.append("documentation: none; add a README.md with a '# Validation' section")
    if not rdf.get("license"):
        asks.append("license: none; export with --license SPDX-ID (e.g. CC-BY-4.0)")
    if not rdf.get("cite"):
        asks.append("cite: none; export with --cite 'text;doi-or-url'")
    if not rdf.get("description"):
        asks.append("description: empty; export with --description TEXT")
    tags = rdf.get("tags") or []
    if not tags:
        asks.append("tags: none; export with --tag for the sample, organism and imaging modality")
    for group in ("inputs", "outputs"):
        for i, t in enumerate(rdf.get(group) or []):
            if isinstance(t, dict) and not t.get("sample_tensor"):
                line = _spec_line((group, i, "sample_tensor"), "", None)
                if line not in asks:
                    asks.append(line)
    return asks


def check_zoo(bundle: str | Path) -> ZooReport:
    """Run bioimageio.spec's validation with file checks on ``bundle`` (.zip or folder), offline, and list what
    a bioimage.io curator would ask for. care_bridge's safe unzip and sha256 checks come first."""
    from ..bundle.open import read_rdf, referenced_files
    from ..bundle.safe_zip import safe_extract, verify_files

    src = Path(bundle)
    where = src.name
    report = ZooReport(bundle=str(bundle))
    with contextlib.ExitStack() as stack:
        if src.is_dir():
            root = src
        elif src.is_file():
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="care_bridge_zoo_",
                                                                  dir=tempdirs.process_temp_root()))
            root = safe_extract(src, Path(tmp) / "bundle")
        else:
            raise BundleError(f"bundle {src} does not exist; give a bundle .zip or an unpacked bundle folder")
        rdf = read_rdf(root, where)
        verify_files(root, referenced_files(rdf), where)
        _, remote = rdf_urls(rdf)
        for u in sorted(remote):
            report.asks.append(f"{u}: a remote file; put every file into the bundle (checked offline only)")
        descr = load_description_offline(root / "rdf.yaml", rdf, perform_io_checks=not remote)
        summary = descr.validation_summary
        report.status = str(summary.status)
        seen: set[str] = set()
        for det in summary.details:
            for e in det.errors:
                line = _spec_line(tuple(e.loc), e.msg, None)
                if line not in seen:
                    seen.add(line)
                    report.asks.append(line)
            for w in det.warnings:
                severity = getattr(w, "severity", None)
                line = _spec_line(tuple(w.loc), w.msg, severity)
                if line not in seen:
                    seen.add(line)
                    (report.notes if severity is not None and severity < 30 else report.asks).append(line)
        for line in curator_asks(rdf):
            if line not in seen:
                seen.add(line)
                report.asks.append(line)
    return report
