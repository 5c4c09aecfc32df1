"""Shared helpers for the Fiji tests: every ImageJ runs in a subprocess under xvfb-run (a JVM that touched AWT can
keep a Python process from exiting, and ImageJ 1.x macros need an X server)."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

REPO = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).parent / "helpers"
MACROS = REPO / "fiji_macros"
IJ_JAR = os.environ.get("CARE_BRIDGE_IJ_JAR", "/usr/share/java/ij.jar")
TIMEOUT = 60


@dataclass
class Run:
    """Exit code and output of one ImageJ run."""

    rc: int
    out: str
    err: str

    def line(self, prefix: str) -> str:
        for ln in self.out.splitlines():
            if ln.startswith(prefix):
                return ln
        raise AssertionError(f"no line starting with {prefix!r} in output:\n{self.out}\n{self.err}")


def run_cmd(cmd: list[str], tmp: Path, env_extra: dict | None = None, *, timeout: float = TIMEOUT) -> Run:
    """Run ``cmd`` under xvfb-run in its own process group; on timeout the whole group (Xvfb, java) is killed."""
    env = dict(os.environ, TMPDIR=str(tmp), KERAS_BACKEND="tensorflow", **(env_extra or {}))
    p = subprocess.Popen(["xvfb-run", "-a", *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env, cwd=REPO, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        raise AssertionError(f"timed out after {timeout} s (a modal ImageJ dialog?): {cmd}\n{out}\n{err}") from None
    return Run(p.returncode, out, err)


def leftovers(tmpdir: Path) -> list[str]:
    """Temporary files a CARE macro left behind (ignores JVM/ImageJ housekeeping files)."""
    return sorted(p.name for p in tmpdir.rglob("*") if "care_bridge" in str(p.relative_to(tmpdir)))


def write_tiff(path: Path, arr: np.ndarray, axes: str, *, pixel=(0.1, 0.1), spacing=None, unit="um",
               info: str | None = "test info") -> Path:
    """An ImageJ hyperstack TIFF with calibration and an Info property, like a Fiji user's file."""
    md: dict = {"axes": axes, "unit": unit}
    if spacing is not None:
        md["spacing"] = spacing
    if info is not None:
        md["Info"] = info
    tifffile.imwrite(path, arr, imagej=True, metadata=md, resolution=(1 / pixel[0], 1 / pixel[1]))
    return path


def restore_args(**kw) -> str:
    """Options for helpers/restore_file.ijm (the driver macro that opens, restores and saves)."""
    kw.setdefault("restore", str(MACROS / "CARE_Restore.ijm"))
    return " ".join(f"{k}=[{v}]" for k, v in kw.items())
