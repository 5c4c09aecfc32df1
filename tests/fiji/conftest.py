"""Fixtures for the Fiji tests: ImageJ runs in subprocesses under xvfb-run (see fiji_testlib)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fiji_testlib import IJ_JAR, Run, run_cmd


@pytest.fixture
def run_hosted(imagej_tools, tmp_path):
    """Run a macro in an ImageJ hosted by Python (``python -m care_bridge.fiji``)."""
    tmpdir = tmp_path / "jvm_tmp"
    tmpdir.mkdir()

    def run(macro: str | Path, arg: str = "") -> Run:
        entry = ["-m", "care_bridge.fiji"]
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
