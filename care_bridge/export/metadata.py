"""Curated bundle metadata from the command line: authors, maintainers, citations, tags, git repository, user
images. Every value is checked here, once, and a malformed one is a one-line :class:`CareBridgeError`
naming the option and the fix; :func:`care_bridge.export.export_bundle` receives the parsed values.

Forms (``;`` separates fields, empty fields may be left out at the end or left empty in between):

- ``--author "Name[;github_user][;affiliation][;orcid]"`` (a plain name still works),
- ``--maintainer "Name;github_user[;affiliation][;orcid]"`` (bioimage.io requires a maintainer's GitHub user),
- ``--cite "text;doi-or-url"`` (``10.xxxx/...``, ``doi:10...``, ``https://doi.org/10...`` or an http(s) URL),
- ``--git-repo URL``, ``--tag TAG``, ``--description TEXT``, ``--sample-image PATH``, ``--test-image PATH``.

This module imports neither TensorFlow nor bioimageio.spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..errors import CareBridgeError

GITHUB_USER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
DOI = re.compile(r"^10\.[0-9]{4,9}/\S+$")
ORCID = re.compile(r"^[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X]$")
MAX_DESCRIPTION = 1024  # bioimage.io's limit (it warns above 512)


@dataclass(frozen=True)
class Person:
    """An author or maintainer as bioimage.io describes one."""

    name: str
    github_user: str | None = None
    affiliation: str | None = None
    orcid: str | None = None

    def as_rdf(self) -> dict[str, str]:
        return {k: v for k, v in (("name", self.name), ("github_user", self.github_user),
                                  ("affiliation", self.affiliation), ("orcid", self.orcid)) if v}


@dataclass(frozen=True)
class Citation:
    """One ``cite`` entry: text and a DOI or a URL."""

    text: str
    doi: str | None = None
    url: str | None = None

    def as_rdf(self) -> dict[str, str]:
        return {k: v for k, v in (("text", self.text), ("doi", self.doi), ("url", self.url)) if v}


def orcid_checksum_ok(orcid: str) -> bool:
    """ISO 7064 MOD 11-2 over the 16 characters of a hyphenated ORCID iD."""
    digits = orcid.replace("-", "")
    total = 0
    for ch in digits[:-1]:
        total = (total + int(ch)) * 2
    check = (12 - total % 11) % 11
    return digits[-1] == ("X" if check == 10 else str(check))


def parse_orcid(text: str, option: str) -> str:
    s = text.strip()
    for prefix in ("https://orcid.org/", "http://orcid.org/", "orcid.org/"):
        if s.lower().startswith(prefix):
            s = s[len(prefix):]
    s = s.upper()
    if not ORCID.match(s):
        raise CareBridgeError(f"{option}: ORCID {text!r} is not of the form 0000-0002-1825-0097; check it on orcid.org")
    if not orcid_checksum_ok(s):
        raise CareBridgeError(f"{option}: ORCID {text!r} has a wrong check digit (typo?); copy it from orcid.org")
    return s


def parse_github_user(text: str, option: str) -> str:
    s = text.strip()
    if s.lower().startswith(("https://github.com/", "http://github.com/")):
        s = s.split("github.com/", 1)[1].strip("/")
    s = s.lstrip("@")
    if not GITHUB_USER.match(s):
        raise CareBridgeError(f"{option}: {text!r} is not a GitHub user name (letters, digits and single inner "
                              "hyphens, at most 39 characters)")
    return s


def parse_person(text: str, option: str = "--author", *, need_github: bool = False) -> Person:
    """``"Name[;github_user][;affiliation][;orcid]"`` → :class:`Person`."""
    parts = [p.strip() for p in str(text).split(";")]
    if len(parts) > 4:
        raise CareBridgeError(f"{option} {text!r} has {len(parts)} fields; give 'Name;github_user;affiliation;orcid' "
                              "(at most 4, separated by ';')")
    parts += [""] * (4 - len(parts))
    name, gh, aff, orcid = parts
    if not name:
        raise CareBridgeError(f"{option} {text!r} has no name; give 'Name;github_user;affiliation;orcid'")
    if need_github and not gh:
        raise CareBridgeError(f"{option} {text!r} has no GitHub user; bioimage.io needs one: 'Name;github_user'")
    return Person(name=" ".join(name.split()), github_user=parse_github_user(gh, option) if gh else None,
                  affiliation=aff or None, orcid=parse_orcid(orcid, option) if orcid else None)


def parse_http_url(text: str, option: str) -> str:
    s = text.strip()
    u = urlparse(s)
    if u.scheme not in ("http", "https") or not u.netloc or " " in s or "." not in u.netloc:
        raise CareBridgeError(f"{option}: {text!r} is not an http(s) URL; give e.g. https://github.com/lab/project")
    return s


def parse_doi(text: str, option: str) -> str:
    s = text.strip()
    for prefix in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:"):
        if s.lower().startswith(prefix):
            s = s[len(prefix):].strip()
    if not DOI.match(s):
        raise CareBridgeError(f"{option}: {text!r} is not a DOI (10.<4-9 digits>/<suffix>, e.g. "
                              "10.1038/s41592-018-0216-7) nor an http(s) URL")
    return s


def parse_citation(text: str, option: str = "--cite") -> Citation:
    """``"text;doi-or-url"`` → :class:`Citation` (a ``;`` inside the text is kept: the last field is the id)."""
    body, sep, ref = str(text).rpartition(";")
    body, ref = body.strip(), ref.strip()
    if not sep or not body or not ref:
        raise CareBridgeError(f"{option} {text!r} needs a text and a DOI or URL: 'Author et al. 2024;10.1234/abcd'")
    r = ref.lower()
    if r.startswith(("http://", "https://")) and not re.match(r"^https?://(dx\.)?doi\.org/", r):
        return Citation(text=body, url=parse_http_url(ref, option))
    return Citation(text=body, doi=parse_doi(ref, option))


def parse_tags(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or []:
        for t in str(v).split(","):
            t = " ".join(t.split()).lower()
            if t and t not in out:
                out.append(t)
    if values and not out:
        raise CareBridgeError("--tag is empty; give a word such as 'nuclei' or 'tribolium'")
    return tuple(out)


def parse_description(text: str | None) -> str | None:
    if text is None:
        return None
    s = " ".join(str(text).split())
    if not s:
        raise CareBridgeError("--description is empty; give one or two sentences on what the model restores")
    if len(s) > MAX_DESCRIPTION:
        raise CareBridgeError(f"--description has {len(s)} characters; bioimage.io allows at most {MAX_DESCRIPTION}")
    return s


def existing_image(path: str | Path | None, option: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise CareBridgeError(f"{option} {p} does not exist; give a TIFF from your own data")
    if p.suffix.lower() not in (".tif", ".tiff"):
        raise CareBridgeError(f"{option} {p} is not a .tif/.tiff file; save the image as TIFF")
    return p


def read_user_image(path: Path, option: str):
    """The TIFF at ``path`` as a float32 array (size-1 axes dropped; a channel axis the file declares, e.g.
    ImageJ's ``CYX``, moved last), for ``test_input``/``sample_input``."""
    import numpy as np

    from ..io.tiff import read_image

    arr, meta = read_image(path)
    axes = getattr(meta, "axes", None) or ""
    if len(axes) == arr.ndim and axes.count("C") == 1 and not axes.endswith("C"):
        arr = np.moveaxis(arr, axes.index("C"), -1)
    return np.asarray(arr, dtype=np.float32)


@dataclass(frozen=True)
class CuratedMetadata:
    """Everything the export options give, parsed; ``export_kwargs`` maps it onto :func:`export_bundle`."""

    authors: tuple[Person, ...] = ()
    maintainers: tuple[Person, ...] = ()
    description: str | None = None
    tags: tuple[str, ...] = ()
    cite: tuple[Citation, ...] = ()
    git_repo: str | None = None
    sample_image: Path | None = None
    test_image: Path | None = None

    def export_kwargs(self) -> dict:
        kw: dict = {}
        if self.authors:
            kw["authors"] = [a.as_rdf() for a in self.authors]
        if self.maintainers:
            kw["maintainers"] = [m.as_rdf() for m in self.maintainers]
        if self.description:
            kw["description"] = self.description
        if self.tags:
            kw["tags"] = list(self.tags)
        if self.cite:
            kw["cite"] = [c.as_rdf() for c in self.cite]
        if self.git_repo:
            kw["git_repo"] = self.git_repo
        if self.test_image is not None:
            kw["test_input"] = read_user_image(self.test_image, "--test-image")
        if self.sample_image is not None:
            kw["sample_input"] = read_user_image(self.sample_image, "--sample-image")
        return kw


def parse_export_metadata(
    *,
    authors: list[str] | None = None,
    maintainers: list[str] | None = None,
    description: str | None = None,
    tags: list[str] | None = None,
    cite: list[str] | None = None,
    git_repo: str | None = None,
    sample_image: str | Path | None = None,
    test_image: str | Path | None = None,
) -> CuratedMetadata:
    """All export metadata options at once (each raw string as typed) → :class:`CuratedMetadata`."""
    return CuratedMetadata(
        authors=tuple(parse_person(a, "--author") for a in authors or []),
        maintainers=tuple(parse_person(m, "--maintainer", need_github=True) for m in maintainers or []),
        description=parse_description(description),
        tags=parse_tags(tags),
        cite=tuple(parse_citation(c) for c in cite or []),
        git_repo=parse_http_url(git_repo, "--git-repo") if git_repo is not None else None,
        sample_image=existing_image(sample_image, "--sample-image"),
        test_image=existing_image(test_image, "--test-image"),
    )
