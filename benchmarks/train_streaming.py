"""Training from a memory-mapped patch file vs. the same patches in memory: steps/s and peak memory.

    nice python benchmarks/train_streaming.py [--n-patches 8000] [--patch 64] [--steps 15] [--epochs 2]

The parent writes one patch file (``care_bridge.data.patch_store``: uncompressed, memory-mappable) of random
float32 patches and its split; each mode then trains the same small 2D U-Net (depth 2, 16 first filters, batch 16,
seed 0) in its own process, so that each peak is its own: ``mapped`` through ``train_from_patch_file`` (the
patches stay on disk, each batch reads its rows at their offsets in the file), ``memory`` with the file's arrays
read into memory first (``open_patch_file(mmap=False)``, as for an older compressed file). Both feed the same
batches, so their losses must agree. Steps/s count the epochs after the first (which traces the graph),
validation included.
Peak memory is ``VmHWM`` of ``/proc/self/status`` (resident set high-water mark: TensorFlow itself is most of it),
with ``RssAnon`` (the process's own memory) and ``RssFile`` (mapped files: libraries) at the end.
Prints a table and writes ``benchmarks/results/train_streaming.json``.
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
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CARE_BRIDGE_NO_PROGRESS", "1")
HERE = Path(__file__).resolve().parent


def _status() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmHWM", "RssAnon", "RssFile"):
            out[k] = int(v.split()[0]) * 1024
    return out


def child(mode: str, patches: str, work: str, steps: int, epochs: int) -> dict:
    import keras

    from care_bridge.data.patch_store import PatchRows, open_patch_file
    from care_bridge.data.patches import split_validation_indices
    from care_bridge.models import CareConfig
    from care_bridge.train import train, train_from_patch_file

    from train_throughput import timed_fit  # this folder is on sys.path (run as a script)

    marks = timed_fit(keras.Model)  # perf_counter at training start and at each epoch's end
    net = dict(epochs=epochs, steps_per_epoch=steps, batch_size=16, unet_depth=2, unet_n_first=16, seed=0)
    before = _status()
    if mode == "mapped":
        res = train_from_patch_file(patches, Path(work) / mode, progress=False, **net)
    else:
        pf = open_patch_file(patches, mmap=False)
        t, v, how = split_validation_indices(len(pf.X), fraction=0.1, seed=0, sources=pf.sources)
        cfg = CareConfig.from_dict({"axes": "YX", "n_channel_in": 1, "n_channel_out": 1, **net}, source="benchmark")
        res = train(cfg, PatchRows(pf.X, t), PatchRows(pf.Y, t), PatchRows(pf.X, v), PatchRows(pf.Y, v),
                    Path(work) / mode, progress=False, split={"by": how["by"], "fraction": 0.1, "seed": 0})
    # the data side alone: gathering one batch (X and Y) from where the patches are held
    from care_bridge.data.patches import load_patches
    from care_bridge.train.batches import BatchStream

    if mode == "mapped":
        Xt, Yt, *_ = load_patches(patches, lazy=True)
    else:
        Xt, Yt = PatchRows(pf.X, t), PatchRows(pf.Y, t)
    stream = BatchStream(Xt, Yt, batch_size=16, seed=0)
    stream.batch(0)
    t0 = time.perf_counter()
    for j in range(1, 201):
        stream.batch(j)
    gather_ms = (time.perf_counter() - t0) / 200 * 1e3
    later = marks[2:] if len(marks) > 2 else marks[1:]
    rate = (len(later) - 1) * steps / (later[-1] - later[0]) if len(later) > 1 else steps / (marks[1] - marks[0])
    return {"mode": mode, "steps_per_s": rate, "first_epoch_s": marks[1] - marks[0], "gather_ms": gather_ms,
            "final_loss": res.final_loss, "final_val_loss": res.final_val_loss,
            "peak_rss_bytes": _status()["VmHWM"], "at_start": before, "at_end": _status()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-patches", type=int, default=8000)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--child", nargs=3, metavar=("MODE", "PATCHES", "WORK"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(*a.child, a.steps, a.epochs)))
        return
    import numpy as np

    from care_bridge.data.patches import save_patches

    with tempfile.TemporaryDirectory() as work:
        patches = Path(work) / "patches.npz"
        rng = np.random.default_rng(0)
        X = rng.random((a.n_patches, a.patch, a.patch, 1), dtype=np.float32)
        save_patches(patches, X, X + 0.1 * rng.standard_normal(X.shape, dtype=np.float32), "YX", {},
                     sources=np.arange(a.n_patches, dtype=np.int32) // 100)
        del X
        rows = []
        for mode in ("mapped", "memory"):
            cmd = [sys.executable, __file__, "--child", mode, str(patches), work, "--steps", str(a.steps),
                   "--epochs", str(a.epochs)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
        size = patches.stat().st_size
    mib = 1 << 20
    print(f"patch file {size / mib:.0f} MiB ({a.n_patches} patches {a.patch}x{a.patch}, X and Y); "
          f"{a.epochs} epochs x {a.steps} steps, batch 16")
    print(f"{'mode':<8} {'steps/s':>8} {'batch gather':>13} {'peak RSS':>10} {'RssAnon':>9} {'RssFile':>9} "
          f"{'final loss':>11}")
    for r in rows:
        print(f"{r['mode']:<8} {r['steps_per_s']:8.2f} {r['gather_ms']:10.2f} ms {r['peak_rss_bytes'] / mib:8.0f} M "
              f"{r['at_end']['RssAnon'] / mib:7.0f} M {r['at_end']['RssFile'] / mib:7.0f} M {r['final_loss']:11.6f}")
    result = {"file_bytes": size, "n_patches": a.n_patches, "patch": a.patch, "steps": a.steps, "epochs": a.epochs,
              "batch_size": 16, "cpu_count": os.cpu_count(), "python": platform.python_version(), "rows": rows}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "train_streaming.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
