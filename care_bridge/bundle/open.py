"""``open_bundle``: read a bioimage.io model bundle (zip or unpacked folder) safely.

Nothing from a bundle is ever executed: ``rdf.yaml`` is read with a bounded safe loader (:mod:`.yaml_safe`: no
objects, no aliases, limited size and nesting), test tensors with
``numpy.load(allow_pickle=False)``, zips are extracted by :mod:`care_bridge.bundle.safe_zip` into a fresh
temporary folder (removed by :meth:`Bundle.close` or when the Bundle is garbage collected), and every file the
rdf names is checked against its sha256 before use.
"""

from __future__ import annotations

import shutil
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import tempdirs
from ..errors import BundleError
from ..describe import ModelInfo
from .rdf_parse import check_format, info_from_care_block, info_from_tensors
from .safe_zip import DEFAULT_LIMITS, ZipLimits, safe_extract, verify_files
from .yaml_safe import MAX_BYTES, load_untrusted_yaml

__all__ = ["Bundle", "open_bundle", "RDF_NAMES"]

RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")


@dataclass
class Bundle:
    """An opened bundle.

    ``formats`` maps bioimage.io weight format → local path (the TF SavedModel as an unpacked folder).
    ``test_inputs``/``test_outputs`` are the test tensors in the bundle's own layouts
    (``info.input_layout`` / ``info.output_layout``, e.g. ``"byxc"``); see :meth:`runtime_tensor`.
    ``care_bridge`` is the rdf's ``config.care_bridge`` block (None for third-party bundles).
    """

    source: Path
    root: Path
    rdf: dict[str, Any]
    info: ModelInfo
    formats: dict[str, Path]
    test_inputs: list[np.ndarray]
    test_outputs: list[np.ndarray]
    care_bridge: dict[str, Any] | None = None
    _cleanup: Any = field(default=None, repr=False)

    @property
    def format_version(self) -> str:
        return str(self.rdf.get("format_version"))

    def runtime_tensor(self, x: np.ndarray, *, output: bool = False) -> np.ndarray:
        """A test tensor moved from the bundle layout to the runtime's ``"S<axes>C"`` (float32)."""
        lay = self.info.output_layout if output else self.info.input_layout
        rt = "b" + "".join(a for a in lay if a not in "bc") + "c"
        return np.ascontiguousarray(np.transpose(x, [lay.index(a) for a in rt]), dtype=np.float32)

    def close(self) -> None:
        """Remove the temporary extraction folders (a no-op for unpacked folders)."""
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _rmtree_all(paths: list[Path]) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)


def read_rdf(root: Path, where: str) -> dict[str, Any]:
    """The bundle's rdf.yaml (or bioimageio.yaml), read with the bounded safe loader, format/type checked."""
    for name in RDF_NAMES:
        p = root / name
        if p.is_file():
            break
    else:
        raise BundleError(f"{where}: no rdf.yaml in the bundle; this is not a bioimage.io model bundle")
    if p.stat().st_size > MAX_BYTES:
        raise BundleError(f"{where}: rdf.yaml is {p.stat().st_size} bytes; descriptions over 4 MiB are refused")
    try:
        rdf = load_untrusted_yaml(p.read_bytes())
    except BundleError as e:
        raise BundleError(f"{where}: {e}") from None
    return check_format(rdf, where)


def _is_url(src: str) -> bool:
    return "://" in src


def referenced_files(rdf: dict[str, Any]) -> dict[str, str | None]:
    """Every local file the rdf names (weights, test/sample tensors, docs, covers, attachments) → sha256."""
    out: dict[str, str | None] = {}

    def add(d: Any) -> None:
        if isinstance(d, dict) and isinstance(d.get("source"), str) and not _is_url(d["source"]):
            out[d["source"]] = d.get("sha256")
        elif isinstance(d, str) and not _is_url(d):
            out[d] = None

    for w in (rdf.get("weights") or {}).values():
        if isinstance(w, dict):
            add(w)
            add(w.get("external_data"))
            add(w.get("architecture"))
            add(w.get("dependencies"))
    for t in list(rdf.get("inputs") or []) + list(rdf.get("outputs") or []):
        if isinstance(t, dict):
            add(t.get("test_tensor"))
            add(t.get("sample_tensor"))
    add(rdf.get("documentation"))
    for c in rdf.get("covers") or []:
        add(c)
    for a in rdf.get("attachments") or []:
        add(a)
    return out


def _load_npy(path: Path, where: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise BundleError(f"{where}: test tensor {path.name} is not a plain .npy array ({e}); refusing") from e


def _saved_model_folder(root: Path, where: str) -> Path:
    if (root / "saved_model.pb").is_file():
        return root
    subs = [p for p in root.iterdir() if p.is_dir()]
    if len(subs) == 1 and (subs[0] / "saved_model.pb").is_file():
        return subs[0]
    raise BundleError(f"{where}: the TF SavedModel zip holds no saved_model.pb; the bundle is corrupt")


def open_bundle(path: str | Path, *, limits: ZipLimits = DEFAULT_LIMITS, verify: bool = True) -> Bundle:
    """Open a bundle ``.zip`` or unpacked bundle folder; check format, files and sha256; describe the network.

    Raises :class:`BundleError` (one line, naming the problem) for malformed, tampered or unsupported bundles.
    """
    source = Path(path)
    where = source.name
    temps: list[Path] = []
    try:
        if source.is_dir():
            root = source
        elif source.is_file():
            root = safe_extract(source, limits=limits)
            temps.append(root)
        else:
            raise BundleError(f"bundle {source} does not exist; give a bundle .zip or an unpacked bundle folder")
        rdf = read_rdf(root, where)
        files = referenced_files(rdf)
        if verify:
            verify_files(root, files, where)
        care = (rdf.get("config") or {}).get("care_bridge") if isinstance(rdf.get("config"), dict) else None
        try:
            info = info_from_care_block(rdf, where) if care is not None else info_from_tensors(rdf, where)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError, StopIteration, OverflowError) as e:
            # the description's values are checked where they are read; a combination the checks did not foresee
            # is still a malformed description, not a crash (found by tests/hostile/test_fuzz.py)
            raise BundleError(f"{where}: rdf.yaml is malformed ({type(e).__name__}: {str(e)[:120]}); check it "
                              "against the bioimage.io model spec 0.5") from None
        formats: dict[str, Path] = {}
        for fmt, w in (rdf.get("weights") or {}).items():
            src = w.get("source") if isinstance(w, dict) else None
            if not isinstance(src, str) or _is_url(src):
                continue  # remote weights are not fetched: the runtime works offline
            local = root / src
            if fmt == "tensorflow_saved_model_bundle":
                if local.is_dir():
                    local = _saved_model_folder(local, where)
                else:
                    tmp = tempdirs.mkdtemp("care_bridge_tf_")
                    temps.append(tmp)
                    local = _saved_model_folder(safe_extract(local, tmp / "saved_model", limits=limits), where)
            formats[fmt] = local
        if not formats:
            raise BundleError(f"{where}: the bundle contains no local weights")
        tests_in, tests_out = [], []
        for t, dest in [(t, tests_in) for t in rdf.get("inputs") or []] + [
            (t, tests_out) for t in rdf.get("outputs") or []
        ]:
            tt = t.get("test_tensor") if isinstance(t, dict) else None
            if isinstance(tt, dict) and isinstance(tt.get("source"), str) and not _is_url(tt["source"]):
                dest.append(_load_npy(root / tt["source"], where))
    except BaseException:
        _rmtree_all(temps)
        raise
    bundle = Bundle(source, root, rdf, info, formats, tests_in, tests_out, care)
    bundle._cleanup = weakref.finalize(bundle, _rmtree_all, temps)
    return bundle
