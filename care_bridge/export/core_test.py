"""Running ``bioimageio.core.test_model`` on a bundle, the way the bioimage.io CI would.

Two measured pitfalls are handled here: bioimageio.core selects Keras' backend from ``KERAS_BACKEND`` and
defaults to ``torch`` (NOTES pitfall 5), and its TF adapter unzips SavedModels into
``./bioimageio_unzipped_tf_weights`` relative to the current directory (pitfall 3), so tests run in a
temporary working directory that is removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import tempdirs
from ..framework_env import configure_tensorflow  # noqa: E402

configure_tensorflow()


@dataclass(frozen=True)
class CoreTestResult:
    """Outcome of ``test_model`` for one weight format; ``message`` is the first failure (one line)."""

    weight_format: str
    passed: bool
    message: str = ""


def _first_error(summary) -> str:
    for detail in summary.details:
        if detail.status == "failed":
            for err in detail.errors:
                loc = ".".join(str(x) for x in err.loc)
                return " ".join(f"{detail.name}: {loc} {err.msg}".split())[:400]
            return detail.name
    return f"status {summary.status}"


def _test_model_offline(source: Path, weight_format: str):
    """``test_model`` without network access: bioimageio.spec HEAD-requests metadata URLs (git_repo, cite urls)
    and looks GitHub users up at api.github.com while loading with file checks (see :mod:`.zoo`). A bundle that
    names neither is tested from its path as before; otherwise its description is loaded here, offline, and
    handed to ``test_model`` (which then uses it as is)."""
    import bioimageio.core

    from .zoo import load_description_offline, offline_spec, rdf_github_users, rdf_urls

    rdf = _read_rdf(source)
    users = rdf_github_users(rdf)
    if not users and not rdf_urls(rdf)[0]:
        return bioimageio.core.test_model(str(source), weight_format=weight_format)
    descr = load_description_offline(source, rdf)
    with offline_spec(users):
        return bioimageio.core.test_model(descr, weight_format=weight_format)


def _read_rdf(source: Path) -> dict:
    import zipfile

    import yaml

    try:
        if source.is_dir():
            text = (source / "rdf.yaml").read_text(encoding="utf-8")
        elif zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zf:
                text = zf.read("rdf.yaml").decode("utf-8")
        else:
            text = source.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except Exception:  # test_model reports an unreadable description itself
        return {}
    return data if isinstance(data, dict) else {}


def run_test_model(source: str | Path, weight_format: str) -> CoreTestResult:
    """``bioimageio.core.test_model(source, weight_format)`` in a temporary CWD with Keras on TensorFlow."""
    import bioimageio.core
    from bioimageio.core._settings import settings

    previous = settings.keras_backend
    settings.keras_backend = "tensorflow"  # Keras is already imported with the TensorFlow backend here
    source = Path(source).resolve()
    cwd = Path.cwd()
    try:
        with tempfile.TemporaryDirectory(prefix="care_bridge_core_test_", dir=tempdirs.process_temp_root()) as tmp:
            os.chdir(tmp)
            try:
                summary = _test_model_offline(source, weight_format)
            finally:
                os.chdir(cwd)
    finally:
        with contextlib.suppress(Exception):
            settings.keras_backend = previous
    if summary.status == "passed":
        return CoreTestResult(weight_format, True)
    return CoreTestResult(weight_format, False, _first_error(summary))
