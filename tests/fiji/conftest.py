"""Fixtures for the Fiji tests: ImageJ runs in subprocesses under xvfb-run (see fiji_testlib)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from fiji_testlib import HELPERS, IJ_JAR, Run, run_cmd


@pytest.fixture(scope="session")
def imagej_tools() -> None:
    """Fail (not skip) when the ImageJ toolchain CI installs is missing: imagej, a JRE, xvfb-run."""
    missing = [n for n in ("java", "xvfb-run") if shutil.which(n) is None]
    if not Path(IJ_JAR).is_file():
        missing.append(IJ_JAR)
    assert not missing, f"missing {missing}: apt-get install -y imagej default-jre-headless xvfb xauth"

@pytest.fixture
def run_hosted(imagej_tools, tmp_path):
    """Run a macro in an ImageJ hosted by Python (``python -m care_bridge.fiji``); ``fake=True`` uses the fake
    runtime of helpers/fake_host.py."""
    tmpdir = tmp_path / "jvm_tmp"
    tmpdir.mkdir()

    def run(macro: str | Path, arg: str = "", *, fake: bool = False) -> Run:
        entry = [str(HELPERS / "fake_host.py")] if fake else ["-m", "care_bridge.fiji"]
        # _JAVA_OPTIONS reaches the in-process JVM too: its temporary folder becomes tmpdir
        return run_cmd([sys.executable, *entry, str(macro), arg], tmpdir,
                       {"_JAVA_OPTIONS": f"-Djava.io.tmpdir={tmpdir}"})

    run.tmpdir = tmpdir
    return run

@pytest.fixture
def run_standalone(imagej_tools, tmp_path):
    """Run a macro in a plain ImageJ 1.x started by itself: ``java -jar ij.jar -batch MACRO ARG``."""
    tmpdir = tmp_path / "ij_tmp"
    tmpdir.mkdir()
    home = tmp_path / "home"
    home.mkdir()

    def run(macro: str | Path, arg: str = "") -> Run:
        return run_cmd(["java", f"-Duser.home={home}", f"-Djava.io.tmpdir={tmpdir}", "-jar", IJ_JAR, "-batch",
                        str(macro), arg], tmpdir)

    run.tmpdir = tmpdir
    return run
