"""Training throughput: care_bridge vs. the csbdeep package, the same network on the same patches in one run.

    nice python benchmarks/train_throughput.py [--epochs 3] [--steps 10] [--patch 64] [--n-patches 256]

The network is CARE's default 2D U-Net in both (depth 2, 32 first filters, kernel 5, residual, linear output, MAE,
Adam 4e-4, batch 16). The parent process makes one set of normalized patches from simulated low/high-SNR pairs
(``care_bridge.data``) and its train/validation split, and hands the same arrays to each program, each in its own
process: csbdeep trains through ``CARE.train``, care_bridge through ``care_bridge.train.train``, each with its own
callbacks (checkpoints every epoch, learning-rate schedule, logs). A Keras callback added to ``Model.fit`` in each
process records when training starts and each epoch ends (after the programs' own callbacks). Steps/s count the
epochs after the first (which also traces the graph), validation and per-epoch checkpointing included, since every
epoch pays them; the first epoch and the whole call are reported too. Keep runs short on a shared machine.
Prints a table and writes ``benchmarks/results/train_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
NET = {"depth": 2, "n_first": 32, "kern": 5}


def _timed_fit(model_cls) -> list[float]:
    """Make ``model_cls.fit`` record ``perf_counter`` at training start and at each epoch's end; returns the list."""
    import keras

    marks: list[float] = []

    class EpochClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            marks.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            marks.append(time.perf_counter())

    fit = model_cls.fit

    def timed(self, *args, callbacks=None, **kwargs):
        return fit(self, *args, callbacks=[*(callbacks or []), EpochClock()], **kwargs)

    model_cls.fit = timed
    return marks


def _arrays(path: str):
    import numpy as np

    with np.load(path) as d:
        return d["X"], d["Y"], d["Xv"], d["Yv"]


def run_csbdeep(data: str, out: str, epochs: int, steps: int, batch: int) -> dict:
    import csbdeep
    from csbdeep.models import CARE, Config

    X, Y, Xv, Yv = _arrays(data)
    cfg = Config("YX", n_channel_in=1, n_channel_out=1, unet_n_depth=NET["depth"], unet_n_first=NET["n_first"],
                 unet_kern_size=NET["kern"], train_batch_size=batch, train_epochs=epochs,
                 train_steps_per_epoch=steps, train_tensorboard=False)
    model = CARE(cfg, "csbdeep", basedir=out)
    marks = _timed_fit(type(model.keras_model))
    t0 = time.perf_counter()
    hist = model.train(X, Y, validation_data=(Xv, Yv))
    total = time.perf_counter() - t0
    return {"marks": marks, "total_s": total, "final_loss": float(hist.history["loss"][-1]),
            "n_params": int(model.keras_model.count_params()), "version": csbdeep.__version__}


def run_care_bridge(data: str, out: str, epochs: int, steps: int, batch: int) -> dict:
    import keras

    from care_bridge import __version__
    from care_bridge.models.config import CareConfig
    from care_bridge.models.factory import build_network
    from care_bridge.train import train

    X, Y, Xv, Yv = _arrays(data)
    cfg = CareConfig(name="care_bridge", unet_depth=NET["depth"], unet_n_first=NET["n_first"],
                     unet_kern_size=NET["kern"], batch_size=batch, epochs=epochs, steps_per_epoch=steps)
    marks = _timed_fit(keras.Model)
    t0 = time.perf_counter()
    res = train(cfg, X, Y, Xv, Yv, Path(out) / "care_bridge", progress=False)
    total = time.perf_counter() - t0
    return {"marks": marks, "total_s": total, "final_loss": res.final_loss,
            "n_params": int(build_network(cfg).count_params()), "version": __version__}


def make_patches(work: Path, n_patches: int, patch: int, seed: int) -> dict:
    """One set of normalized patches (4 simulated 5-photon images) and care_bridge's split of it."""
    import numpy as np

    from care_bridge.data.imaging import synthetic_pair
    from care_bridge.data.patches import create_patches, load_patches

    rng = np.random.default_rng(seed)
    size = max(4 * patch, 128)
    pairs = [(f"img{i}", *synthetic_pair((size, size), photons=5, rng=rng)) for i in range(4)]
    create_patches(iter(pairs), "YX", (patch, patch), n_patches // 4, work / "patches.npz", progress=False,
                   seed=seed)
    X, Y, Xv, Yv, _, meta = load_patches(work / "patches.npz", seed=seed)
    np.savez(work / "arrays.npz", X=X, Y=Y, Xv=Xv, Yv=Yv)
    return {"n_train": len(X), "n_validation": len(Xv), "patch": [patch, patch],
            "validation_split": meta["validation_split"]["by"]}


def _installed(*names: str) -> str:
    for n in names:
        try:
            return version(n)
        except PackageNotFoundError:
            pass
    return "?"


def machine() -> dict:
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": model, "logical_cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10, help="steps per epoch")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--n-patches", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        c = json.loads(a.case)
        fn = run_csbdeep if c.pop("program") == "csbdeep" else run_care_bridge
        print(json.dumps(fn(**c)))
        return 0
    if a.epochs < 2:
        ap.error("--epochs must be >= 2 (the first epoch is not counted in steps/s)")
    work = Path(tempfile.mkdtemp(prefix="cb_train_tp_"))
    data = make_patches(work, a.n_patches, a.patch, a.seed)
    tf_version = _installed("tensorflow", "tensorflow-cpu")  # not imported: each program imports it on its own
    print(f"{data['n_train']} training / {data['n_validation']} validation patches {a.patch}x{a.patch}, batch "
          f"{a.batch}, {a.epochs} epochs x {a.steps} steps, CARE default 2D U-Net; TensorFlow {tf_version}, "
          f"{os.cpu_count()} logical CPUs")
    rows = []
    for program in ("csbdeep", "care_bridge"):
        case = {"program": program, "data": str(work / "arrays.npz"), "out": str(work / program),
                "epochs": a.epochs, "steps": a.steps, "batch": a.batch}
        p = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True)
        if p.returncode != 0:
            rows.append({"program": program, "error": p.stderr.strip().splitlines()[-3:]})
            print(f"{program:<12} ERROR {rows[-1]['error']}")
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        m = r.pop("marks")
        steady = (a.epochs - 1) * a.steps / (m[-1] - m[1])
        rows.append({"program": f"{program} {r.pop('version')}", "steps_per_s": steady,
                     "patches_per_s": steady * a.batch, "first_epoch_s": m[1] - m[0],
                     "epoch_s": [b - c for b, c in zip(m[1:], m[:-1])], **r})
    ok = [r for r in rows if "error" not in r]
    print(f"{'program':<22} {'steps/s':>8} {'patches/s':>10} {'1st epoch':>10} {'whole call':>11} {'ratio':>6}")
    for r in ok:
        ratio = r["steps_per_s"] / ok[0]["steps_per_s"]
        r["ratio_to_csbdeep"] = ratio if ok[0]["program"].startswith("csbdeep") else None
        print(f"{r['program']:<22} {r['steps_per_s']:8.3f} {r['patches_per_s']:10.1f} {r['first_epoch_s']:9.1f}s "
              f"{r['total_s']:10.1f}s {ratio:5.2f}x")
    if len({r["n_params"] for r in ok}) > 1:
        print("note: the two networks differ in size:", {r["program"]: r["n_params"] for r in ok})
    (HERE / "results").mkdir(exist_ok=True)
    out = {"args": {k: v for k, v in vars(a).items() if k != "case"}, "data": data, "machine": machine(),
           "tensorflow": tf_version, "rows": rows}
    (HERE / "results" / "train_throughput.json").write_text(json.dumps(out, indent=2))
    print(f"written to {HERE / 'results' / 'train_throughput.json'}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
