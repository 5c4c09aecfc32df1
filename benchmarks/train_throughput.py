"""Training throughput: care_bridge vs. the csbdeep package, the same network on the same patches in one run.

    nice python benchmarks/train_throughput.py [--epochs 3] [--steps 10] [--patch 64] [--n-patches 256]
        [--axes YX|ZYX] [--programs csbdeep,care_bridge,care_bridge_bf16,csbdeep_bf16]

The network is CARE's default U-Net in both (depth 2, 32 first filters, kernel 5 in 2D / 3 in 3D, residual, linear
output, MAE, Adam 4e-4, batch 16; ``--axes ZYX``: 3D patches of ``--patch-z`` x patch x patch). Programs:
``csbdeep`` and ``care_bridge`` train in float32; ``care_bridge_bf16`` is ``care-bridge train --precision bf16``
(mixed precision: bfloat16 body, float32 variables, head and loss; needs bf16 instructions); ``csbdeep_bf16`` is
csbdeep with Keras' global ``mixed_bfloat16`` policy set before it builds its network (not a csbdeep option: every
layer, its output and residual addition included, computes in bfloat16), to show what the arithmetic alone gives. The parent process makes one set of normalized patches from simulated low/high-SNR pairs
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
NET = {"depth": 2, "n_first": 32}
PROGRAMS = {"csbdeep": ("csbdeep", "fp32"), "care_bridge": ("care_bridge", "fp32"),
            "care_bridge_bf16": ("care_bridge", "bf16"), "csbdeep_bf16": ("csbdeep", "bf16")}


def _kern(axes: str) -> int:
    return 5 if len(axes) == 2 else 3  # CARE's defaults


def timed_fit(model_cls) -> list[float]:
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


def run_csbdeep(data: str, out: str, epochs: int, steps: int, batch: int, axes: str = "YX",
                precision: str = "fp32") -> dict:
    import csbdeep
    import keras
    from csbdeep.models import CARE, Config

    if precision == "bf16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    X, Y, Xv, Yv = _arrays(data)
    cfg = Config(axes, n_channel_in=1, n_channel_out=1, unet_n_depth=NET["depth"], unet_n_first=NET["n_first"],
                 unet_kern_size=_kern(axes), train_batch_size=batch, train_epochs=epochs,
                 train_steps_per_epoch=steps, train_tensorboard=False)
    model = CARE(cfg, "csbdeep", basedir=out)
    marks = timed_fit(type(model.keras_model))
    t0 = time.perf_counter()
    hist = model.train(X, Y, validation_data=(Xv, Yv))
    total = time.perf_counter() - t0
    return {"marks": marks, "total_s": total, "final_loss": float(hist.history["loss"][-1]),
            "n_params": int(model.keras_model.count_params()), "version": csbdeep.__version__}


def run_care_bridge(data: str, out: str, epochs: int, steps: int, batch: int, axes: str = "YX",
                    precision: str = "fp32") -> dict:
    import keras

    from care_bridge import __version__
    from care_bridge.models.config import CareConfig
    from care_bridge.models.factory import build_network
    from care_bridge.train import train

    X, Y, Xv, Yv = _arrays(data)
    cfg = CareConfig(name="care_bridge", axes=axes, unet_depth=NET["depth"], unet_n_first=NET["n_first"],
                     unet_kern_size=_kern(axes), batch_size=batch, epochs=epochs, steps_per_epoch=steps,
                     precision=precision)
    marks = timed_fit(keras.Model)
    t0 = time.perf_counter()
    res = train(cfg, X, Y, Xv, Yv, Path(out) / "care_bridge", progress=False)
    total = time.perf_counter() - t0
    return {"marks": marks, "total_s": total, "final_loss": res.final_loss,
            "n_params": int(build_network(cfg).count_params()), "version": __version__}


def make_patches(work: Path, n_patches: int, patch: tuple[int, ...], seed: int) -> dict:
    """One set of normalized patches (4 simulated 5-photon images or stacks) and care_bridge's split of it."""
    import numpy as np

    from care_bridge.data.imaging import synthetic_pair
    from care_bridge.data.patches import create_patches, load_patches

    rng = np.random.default_rng(seed)
    size = tuple(max(2 * p, 32) if i < len(patch) - 2 else max(4 * p, 128) for i, p in enumerate(patch))
    axes = "ZYX"[-len(patch):]
    pairs = [(f"img{i}", *synthetic_pair(size, photons=5, rng=rng)) for i in range(4)]
    create_patches(iter(pairs), axes, patch, n_patches // 4, work / "patches.npz", progress=False, seed=seed)
    X, Y, Xv, Yv, _, meta = load_patches(work / "patches.npz", seed=seed)
    np.savez(work / "arrays.npz", X=X, Y=Y, Xv=Xv, Yv=Yv)
    return {"n_train": len(X), "n_validation": len(Xv), "patch": list(patch),
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
    ap.add_argument("--patch", type=int, default=64, help="patch size in Y and X")
    ap.add_argument("--patch-z", type=int, default=16, help="patch size in Z (--axes ZYX)")
    ap.add_argument("--axes", choices=["YX", "ZYX"], default="YX")
    ap.add_argument("--programs", default="csbdeep,care_bridge,care_bridge_bf16",
                    help=f"comma-separated, in order (the ratio is to the first): {', '.join(PROGRAMS)}")
    ap.add_argument("--n-patches", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        c = json.loads(a.case)
        program, c["precision"] = PROGRAMS[c.pop("program")]
        fn = run_csbdeep if program == "csbdeep" else run_care_bridge
        print(json.dumps(fn(**c)))
        return 0
    if a.epochs < 2:
        ap.error("--epochs must be >= 2 (the first epoch is not counted in steps/s)")
    programs = [p.strip() for p in a.programs.split(",") if p.strip()]
    unknown = [p for p in programs if p not in PROGRAMS]
    if unknown:
        ap.error(f"unknown program(s) {', '.join(unknown)}; choose from {', '.join(PROGRAMS)}")
    patch = ((a.patch_z,) if a.axes == "ZYX" else ()) + (a.patch, a.patch)
    work = Path(tempfile.mkdtemp(prefix="cb_train_tp_"))
    data = make_patches(work, a.n_patches, patch, a.seed)
    tf_version = _installed("tensorflow", "tensorflow-cpu")  # not imported: each program imports it on its own
    print(f"{data['n_train']} training / {data['n_validation']} validation patches {'x'.join(map(str, patch))}, "
          f"batch {a.batch}, {a.epochs} epochs x {a.steps} steps, CARE default {len(patch)}D U-Net; TensorFlow "
          f"{tf_version}, {os.cpu_count()} logical CPUs")
    rows = []
    for program in programs:
        case = {"program": program, "data": str(work / "arrays.npz"), "out": str(work / program),
                "epochs": a.epochs, "steps": a.steps, "batch": a.batch, "axes": a.axes}
        p = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True)
        if p.returncode != 0:
            rows.append({"program": program, "error": p.stderr.strip().splitlines()[-3:]})
            print(f"{program:<12} ERROR {rows[-1]['error']}")
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        m = r.pop("marks")
        steady = (a.epochs - 1) * a.steps / (m[-1] - m[1])
        label = program.replace("_bf16", "") + f" {r.pop('version')}" + (" bf16" if program.endswith("bf16") else "")
        rows.append({"program": label, "steps_per_s": steady,
                     "patches_per_s": steady * a.batch, "first_epoch_s": m[1] - m[0],
                     "epoch_s": [b - c for b, c in zip(m[1:], m[:-1])], **r})
    ok = [r for r in rows if "error" not in r]
    print(f"{'program':<27} {'steps/s':>8} {'patches/s':>10} {'1st epoch':>10} {'whole call':>11} {'ratio':>6}")
    for r in ok:
        ratio = r["steps_per_s"] / ok[0]["steps_per_s"]
        r["ratio_to_csbdeep"] = ratio if ok[0]["program"].startswith("csbdeep") else None
        print(f"{r['program']:<27} {r['steps_per_s']:8.3f} {r['patches_per_s']:10.1f} {r['first_epoch_s']:9.1f}s "
              f"{r['total_s']:10.1f}s {ratio:5.2f}x")
    print("final training losses:", ", ".join(f"{r['program']} {r['final_loss']:.4f}" for r in ok))
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
