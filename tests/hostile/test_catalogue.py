"""Every hostile or broken input of the catalogue (issue #14) is refused as the README promises.

For each case the real ``care-bridge`` command runs (in-process, ``cli.main``) with the system temporary folder
and ``$HOME`` moved into the case's folder, and must: exit with status 2; print exactly one line on stderr,
``care-bridge: error: …``, matching the case's pattern; write nothing at the output paths; leave no hidden
``.part`` file; emit no Python warning (another line of stderr); leave every input file byte-for-byte unchanged; leave the temporary folder empty once the
process' own temporary folder is removed (bundles extracted on the way are cleaned up on error); write nothing
under ``$HOME``.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import warnings
from pathlib import Path

import pytest

from care_bridge import tempdirs
from care_bridge.cli.main import main

from catalogue import CASES, Case


def _snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if any(p == s or s in p.parents for s in skip) or p.is_dir():
            continue
        out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest() if not p.is_symlink() else "link"
    return out


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A case folder, with TMPDIR and HOME inside it and care_bridge's per-process temporary folder reset."""
    tmp, home, work = tmp_path / "tmp", tmp_path / "home", tmp_path / "case"
    for d in (tmp, home, work):
        d.mkdir()
    tempdirs.cleanup()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CARE_BRIDGE_NO_PROGRESS", "1")
    yield work, tmp, home
    tempdirs.cleanup()


def test_the_catalogue_is_large_and_names_are_unique():
    names = [c.name for c in CASES]
    assert len(names) >= 40 and len(set(names)) == len(names)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_input_is_refused_cleanly(case: Case, isolated, capsys):
    work, tmp, home = isolated
    job = case.build(work)
    capsys.readouterr()
    before = _snapshot(work, skip=tuple(job.outputs))
    with warnings.catch_warnings(record=True) as warned:  # a warning would be a second line of stderr
        warnings.simplefilter("always")
        rc = main(job.argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, f"exit status {rc}, stderr: {err!r}"
    assert len(lines) == 1 and lines[0].startswith("care-bridge: error: "), err
    assert re.search(case.expect, lines[0], re.IGNORECASE), lines[0]
    assert not [str(w.message) for w in warned if not issubclass(w.category, DeprecationWarning)]
    for out in job.outputs:
        assert not out.exists(), f"{out} was written"
    assert not [p for p in work.rglob("*.part")], "a temporary output was left behind"
    assert _snapshot(work, skip=tuple(job.outputs)) == before, "an input was modified"
    root = tempdirs._root
    leftovers = [p for p in tmp.rglob("*") if root is None or (p != root and root not in p.parents)]
    assert not leftovers, f"temporary files left outside the process folder: {leftovers[:3]}"
    if root is not None:
        assert not any(root.iterdir()), f"temporary files left in the process folder: {list(root.iterdir())[:3]}"
    assert not any(home.iterdir()), "something was written under $HOME"


def test_report_to_stdout_puts_the_error_and_the_exit_code_on_stdout(isolated, capsys):
    """What the Fiji macros read (ImageJ's exec() returns only standard output; no shell redirects stderr)."""
    work, _, _ = isolated
    assert main(["--report-to-stdout", "predict", "--bundle", str(work / "none.zip"), "--input", "x.tif",
                 "--output", str(work / "o.tif")]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"care-bridge: error: bundle {work / 'none.zip'} does not exist; check the path",
                                "care-bridge-exit=2"] and err == ""
    assert main(["--report-to-stdout", "predict", "--no-such-option"]) == 2
    out, err = capsys.readouterr()
    assert "unrecognized arguments" in out or "required" in out
    assert out.splitlines()[-1] == "care-bridge-exit=2" and err == ""
