"""The error of the opt-in precisions: OpenVINO bf16 (and fp32) against ONNX Runtime fp32 on the same bundle.

    python benchmarks/precision_error.py [--epochs 10] [--size 512] [--images 3]

Networks: the CARE default 2D network (depth 2, 32 filters, kernel 5) trained like the demo bundle
(``scripts/make_demo_assets.py``: generated widefield pairs, 5 vs 5000 photons, 64x64 patches) for ``--epochs``
epochs, the same network with random weights (what the speed benchmarks run), and the embedded demo bundle
(16 filters, 25 epochs). Each restores ``--images`` held-out generated images (``--size``², 5 photons) untiled
and with automatic tiles; errors are |OpenVINO − ONNX Runtime fp32| in image units over the dynamic range
(max − min) of the fp32 restoration: the maximum, the 99.9th percentile and the mean over all pixels.
Also checks that each engine's output is bit-identical tiled and untiled. Prints a table and writes
``benchmarks/results/precision_error.json``. Needs the ``train`` and ``openvino`` extras and a CPU with bf16.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CARE_BRIDGE_NO_PROGRESS", "1")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def trained_default_2d(work: Path, epochs: int) -> Path:
    """The CARE default 2D network trained on generated pairs (the demo's recipe, 32 first-layer filters)."""
    import numpy as np

    from care_bridge.data.imaging import synthetic_pair
    from care_bridge.data.patches import create_patches
    from care_bridge.export import export_bundle
    from care_bridge.train import train_from_patch_file

    rng = np.random.default_rng(2018)
    pairs = [(f"{i}", *synthetic_pair((256, 256), photons=5, rng=rng)) for i in range(8)]
    create_patches(iter(pairs), "YX", (64, 64), 64, work / "patches.npz", progress=False,
                   description="generated: 8 synthetic 256x256 widefield pairs, 5 vs 5000 photons")
    train_from_patch_file(work / "patches.npz", work / "care_default", epochs=epochs, steps_per_epoch=40,
                          batch_size=16, name="care_default_trained", progress=False)
    return export_bundle(work / "care_default", work / "care_default_trained.zip")


def random_default_2d(work: Path) -> Path:
    sys.path.insert(0, str(HERE))
    from predict_throughput import make_model_dir

    from care_bridge.export import export_bundle

    return export_bundle(make_model_dir(work, "YX"), work / "care_default_random.zip")


def measure(bundle: Path, images: list) -> dict:
    import numpy as np

    from care_bridge import runtime

    engines = {"onnxruntime fp32": runtime.load(bundle, engine="onnxruntime"),
               "openvino fp32": runtime.load(bundle, engine="openvino", precision="fp32"),
               "openvino bf16": runtime.load(bundle, engine="openvino", precision="bf16")}
    out: dict[str, dict] = {name: {"max": 0.0, "p999": 0.0, "mean": 0.0, "tiled_identical": True} for name in engines}
    for x in images:
        ref = engines["onnxruntime fp32"].restore(x, "YX", n_tiles=1).image
        span = float(ref.max() - ref.min())
        for name, r in engines.items():
            y = r.restore(x, "YX", n_tiles=1).image
            tiled = r.restore(x, "YX").image  # automatic tiles (the default)
            tiled_small = r.restore(x, "YX", n_tiles=(3, 2)).image
            d = np.abs(y - ref) / span
            o = out[name]
            o["max"] = max(o["max"], float(d.max()))
            o["p999"] = max(o["p999"], float(np.percentile(d, 99.9)))
            o["mean"] = max(o["mean"], float(d.mean()))
            o["tiled_identical"] &= bool(np.array_equal(y, tiled) and np.array_equal(y, tiled_small))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10, help="training epochs of the default network (0: skip it)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--images", type=int, default=3)
    a = ap.parse_args()
    import numpy as np

    from care_bridge.data.imaging import synthetic_pair

    work = Path(tempfile.mkdtemp(prefix="cb_prec_"))
    rng = np.random.default_rng(99)
    images = [synthetic_pair((a.size, a.size), photons=5, rng=rng)[0].astype(np.float32) for _ in range(a.images)]
    bundles = {}
    if a.epochs:
        t0 = time.perf_counter()
        bundles[f"CARE default 2D, trained ({a.epochs} epochs)"] = trained_default_2d(work, a.epochs)
        print(f"trained and exported in {time.perf_counter() - t0:.0f} s", flush=True)
    bundles["CARE default 2D, random weights"] = random_default_2d(work)
    bundles["demo bundle (16 filters, trained)"] = ROOT / "care_bridge" / "assets" / "demo_bundle.zip"
    rows = []
    for net, b in bundles.items():
        for eng, o in measure(b, images).items():
            rows.append({"network": net, "engine": eng, **o})
            print(f"{net:<40} {eng:<17} max {o['max']:.2e}  p99.9 {o['p999']:.2e}  mean {o['mean']:.2e}  "
                  f"tiled==untiled {o['tiled_identical']}", flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    machine = {"platform": platform.platform(), "cpus": os.cpu_count()}
    (HERE / "results" / "precision_error.json").write_text(json.dumps({"args": vars(a), "machine": machine,
                                                                       "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
