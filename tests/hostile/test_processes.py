"""Interruptions and traces, in real processes (issue #14).

* A restoration stopped with SIGTERM exits 143 and leaves no output, no ``.part`` file and no temporary folder.
* One killed with SIGKILL (no clean-up possible) leaves its temporary folder; the next run removes it, and the
  hidden ``.part`` file of a killed writer, and writes its output.
* No network, no traces: every command runs under a preloaded C library that refuses and records every
  internet ``connect`` and name lookup, including those made by native code (onnxruntime's telemetry is C++);
  the process stays alive long enough for onnxruntime's telemetry (measured: about 9 s after import) and must
  record nothing, write nothing under ``$HOME`` and leave the temporary folder empty.
* Training killed mid-run continues with ``--resume`` from its last finished epoch.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from onnx_bundles import write_bundle

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "care_bridge.cli.main"]
TRAP_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
static void note(const char *what) {
  const char *log = getenv("NET_TRAP_LOG");
  if (!log) return;
  int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) return;
  char buf[400];
  int n = snprintf(buf, sizeof buf, "%d %s\n", (int)getpid(), what);
  if (n > 0) { ssize_t w = write(fd, buf, (size_t)n); (void)w; }
  close(fd);
}
int connect(int s, const struct sockaddr *a, socklen_t l) {
  if (a && (a->sa_family == AF_INET || a->sa_family == AF_INET6)) {
    note("connect");
    errno = ECONNREFUSED;
    return -1;
  }
  int (*real)(int, const struct sockaddr *, socklen_t) =
      (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
  return real(s, a, l);
}
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
  char buf[300];
  snprintf(buf, sizeof buf, "getaddrinfo %s", node ? node : "-");
  note(buf);
  return EAI_FAIL;
}
"""


def _env(tmp: Path, home: Path, **extra) -> dict:
    env = dict(os.environ, TMPDIR=str(tmp), HOME=str(home), CARE_BRIDGE_NO_PROGRESS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("ORT_DISABLE_TELEMETRY", None)  # care_bridge must set it itself
    env.update(extra)
    return env


@pytest.fixture
def dirs(tmp_path):
    out = {n: tmp_path / n for n in ("tmp", "home", "work")}
    for d in out.values():
        d.mkdir()
    return out


def _big_image(path: Path, shape=(4096, 4096)) -> Path:
    tifffile.imwrite(path, (np.random.default_rng(0).random(shape) * 1000).astype(np.uint16))
    return path


def _wait_for(pred, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def _start_predict(dirs, bundle: Path, image: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(CLI + ["predict", "--bundle", str(bundle), "--input", str(image), "--output", str(out),
                                   "--n-tiles", "256,256", "--quiet"], env=_env(dirs["tmp"], dirs["home"]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _process_folders(tmp: Path) -> list[Path]:
    return [p for p in tmp.iterdir() if p.name.startswith("care_bridge-")]


def test_sigterm_during_predict_leaves_nothing(dirs):
    bundle = write_bundle("2d", dirs["work"])
    image, out = _big_image(dirs["work"] / "big.tif"), dirs["work"] / "out.tif"
    p = _start_predict(dirs, bundle, image, out)
    _wait_for(lambda: _process_folders(dirs["tmp"]) or p.poll() is not None)  # the bundle is being extracted
    time.sleep(1.0)
    assert p.poll() is None, "the restoration ended before it could be interrupted; make it longer"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == ["care-bridge: terminated; nothing was left half-written"]
    assert not out.exists() and not list(dirs["work"].glob(".*.part"))
    assert not list(dirs["tmp"].iterdir()), "the temporary folder was not removed"


def test_after_sigkill_the_next_run_removes_what_the_killed_one_left(dirs):
    bundle = write_bundle("2d", dirs["work"])
    image, out = _big_image(dirs["work"] / "big.tif"), dirs["work"] / "out.tif"
    p = _start_predict(dirs, bundle, image, out)
    _wait_for(lambda: _process_folders(dirs["tmp"]) or p.poll() is not None)
    time.sleep(0.5)
    p.kill()
    p.communicate(timeout=60)
    left = _process_folders(dirs["tmp"])
    assert left, "SIGKILL is expected to leave the process' temporary folder behind"
    # a killed writer's hidden temporary output (the name carries its process id; that process is gone)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = dirs["work"] / f".out.tif.{dead.pid}.abc123.part"
    stale.write_bytes(b"half an image")
    alive = dirs["work"] / f".out.tif.{os.getpid()}.def456.part"  # this test's process is alive: kept
    alive.write_bytes(b"someone else's work in progress")
    small = dirs["work"] / "small.tif"
    tifffile.imwrite(small, np.random.default_rng(1).random((64, 64)).astype(np.float32))
    r = subprocess.run(CLI + ["predict", "--bundle", str(bundle), "--input", str(small), "--output", str(out),
                              "--quiet"], env=_env(dirs["tmp"], dirs["home"]), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert tifffile.imread(out).shape == (64, 64)
    assert not stale.exists() and alive.exists()
    assert not list(dirs["tmp"].iterdir()), "the killed run's temporary folder is still there"


def _compile_trap(folder: Path) -> Path:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no C compiler: the network trap cannot be built")
        pytest.skip("no C compiler to build the network trap")
    src, lib = folder / "nettrap.c", folder / "libnettrap.so"
    src.write_text(TRAP_C)
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(lib), str(src), "-ldl"], check=True)
    return lib


def _traced(lib: Path, log: Path, dirs, code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = _env(dirs["tmp"], dirs["home"], LD_PRELOAD=str(lib), NET_TRAP_LOG=str(log))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=dirs["work"])


def test_the_network_trap_sees_python_and_native_connections(tmp_path, dirs):
    lib = _compile_trap(tmp_path)
    log = tmp_path / "control.log"
    r = _traced(lib, log, dirs, """
        import ctypes, socket
        try:
            socket.socket().connect(("127.0.0.1", 9))
        except OSError:
            pass
        libc = ctypes.CDLL(None)
        res = ctypes.c_void_p()
        libc.getaddrinfo(b"telemetry.example.org", None, None, ctypes.byref(res))
    """)
    assert r.returncode == 0, r.stderr
    seen = log.read_text()
    assert " connect\n" in seen and "getaddrinfo telemetry.example.org" in seen


def test_commands_make_no_network_connection_and_leave_no_traces(tmp_path, dirs):
    lib = _compile_trap(tmp_path)
    bundle = write_bundle("2d", dirs["work"])
    image = dirs["work"] / "img.tif"
    tifffile.imwrite(image, np.random.default_rng(0).random((64, 64)).astype(np.float32))
    log = tmp_path / "net.log"
    r = _traced(lib, log, dirs, f"""
        import time
        from care_bridge.cli.main import main
        t0 = time.monotonic()
        assert main(["inspect", {str(bundle)!r}]) == 0
        assert main(["predict", "--bundle", {str(bundle)!r}, "--input", {str(image)!r}, "--output", "out.tif",
                     "--quiet"]) == 0
        assert main(["predict", "--bundle", {str(bundle)!r}, "--input", "missing.tif", "--output", "x.tif",
                     "--quiet"]) == 2
        time.sleep(max(0.0, 13.0 - (time.monotonic() - t0)))  # onnxruntime's telemetry starts ~9 s after import
    """)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (dirs["work"] / "out.tif").is_file()
    assert not log.exists(), f"network activity: {log.read_text()[:500]}"
    assert not list(dirs["home"].rglob("*")), "something was written under $HOME"
    assert not list(dirs["tmp"].iterdir()), f"temporary files left: {list(dirs['tmp'].iterdir())[:5]}"


@pytest.mark.tf
def test_training_killed_mid_run_resumes_from_its_last_epoch(tmp_path, dirs):
    from tiny_models import make_pairs

    from care_bridge.data.patches import create_patches

    patches = tmp_path / "p.npz"
    create_patches(iter(make_pairs("2d")), "YX", (16, 16), 12, patches, progress=False)
    model = dirs["work"] / "m"
    args = ["--data", str(patches), "--out", str(model), "--steps-per-epoch", "2", "--batch-size", "4",
            "--filters", "4", "--depth", "1", "--quiet"]
    env = _env(dirs["tmp"], dirs["home"])
    p = subprocess.Popen(CLI + ["train", *args, "--epochs", "1000"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    state = model / "train_state.json"

    def epochs_done() -> int:
        try:
            return int(json.loads(state.read_text())["epoch"])
        except (OSError, ValueError, KeyError):
            return 0

    _wait_for(lambda: epochs_done() >= 2 or p.poll() is not None, timeout=300)
    p.kill()
    p.communicate(timeout=60)
    done = epochs_done()
    assert 2 <= done < 1000
    rows_before = (model / "history.csv").read_text().strip().splitlines()
    r = subprocess.run(CLI + ["train", *args, "--epochs", str(done + 2), "--resume"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = (model / "history.csv").read_text().strip().splitlines()
    assert rows[: len(rows_before)] == rows_before[: len(rows)]  # the finished epochs are kept as they were
    assert len(rows) == 1 + done + 2 and json.loads(state.read_text())["epoch"] == done + 2
    assert not list(model.glob(".part-*")) and not list(model.glob(".*.part"))
