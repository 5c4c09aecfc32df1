"""Per-image overhead of the KNIME node logic over the plain runtime.

    python benchmarks/knime_overhead.py [--bundle B.zip] [--engine onnxruntime] [--repeats 3]

Two workloads: 100 small images (128x128) and 5 large ones (1024x1024), 2D, with a CARE-default network
(random weights, exported as a bundle unless ``--bundle`` is given). "plain" calls
``care_bridge.frontend.restore_file`` once per file, as ``care-bridge predict`` does; "node" runs what the
CARE Restorer node runs (``care_bridge.knime_nodes.restore_table``: the table, the output guard, the manifest,
per-row status and timing) on a table of the same files. Each is timed ``--repeats`` times into fresh output
folders, alternating; the minimum counts. KNIME's own cost (moving the table to and from Java via Arrow, a
few ms per table, not per image) is not included: it needs a real KNIME.

On a shared machine the network's time varies more than the node's overhead, so each workload also runs with a
"null network" (same reading and writing, the image passed through unchanged): its node − plain difference is
the node's bookkeeping alone. Prints a table and writes ``benchmarks/results/knime_overhead.json``.
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
RESULTS = HERE / "results"
WORKLOADS = {"100 small (128x128)": (100, (128, 128)), "5 large (1024x1024)": (5, (1024, 1024))}


class NullRestorer:
    """The real restorer's interface with the network replaced by a pass-through (isolates the overhead)."""

    def __init__(self, real):
        self.info = real.info
        self.mode = real.mode  # its geometry calibrates the output

    def restore(self, image, axes, *, n_tiles=None, memory_budget=None, progress=False):
        from care_bridge.runtime import Restoration

        return Restoration(image.astype("float32"), axes, None, "null", (1,) * len(self.info.axes))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_bundle(root: Path) -> Path:
    """A CARE-default 2D network with random weights, exported as a bundle (needs the train extra)."""
    import keras

    from care_bridge.export import export_bundle
    from care_bridge.models import CareConfig
    from care_bridge.models.folder import write_model_folder
    from care_bridge.models.unet import build_unet

    cfg = CareConfig(axes="YX", name="care_default_yx")
    keras.utils.set_random_seed(0)
    d = write_model_folder(root / "care_default_yx", cfg, build_unet(cfg),
                           provenance={"data": {"description": "random weights (benchmark)"}})
    return export_bundle(d, root / "care_default_yx.zip", run_core_tests=False)


def make_images(folder: Path, n: int, shape: tuple[int, ...]) -> list[Path]:
    import numpy as np
    import tifffile

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = folder / f"img{i:03d}.tif"
        tifffile.imwrite(p, rng.poisson(30, size=shape).astype(np.uint16))
        paths.append(p)
    return paths


def time_plain(restorer, files: list[Path], out: Path) -> float:
    from care_bridge.frontend import restore_file

    out.mkdir()
    t0 = time.perf_counter()
    for f in files:
        restore_file(restorer, f, out / f.name)
    return time.perf_counter() - t0


def time_node(restorer, files: list[Path], out: Path) -> float:
    import pandas as pd

    from care_bridge import knime_nodes as kn

    t0 = time.perf_counter()
    table = pd.DataFrame({kn.IMAGE_COLUMN: [str(f) for f in files]})
    res = kn.restore_table(table, restorer, out)
    elapsed = time.perf_counter() - t0
    assert (res["restore_status"] == "ok").all(), res["restore_error"].dropna().tolist()[:1]
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--engine", default="onnxruntime", help="the engine of KNIME's runtime-only environment")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import tifffile

    from care_bridge import knime_nodes as kn

    rows = []
    with tempfile.TemporaryDirectory(prefix="care_knime_bench_") as tmp:
        root = Path(tmp)
        log("preparing the bundle")
        bundle = args.bundle or make_bundle(root / "model")
        log("bundle ready")
        restorer = kn.load_restorer(bundle, engine=args.engine)
        for label, (n, shape) in WORKLOADS.items():
            files = make_images(root / f"in_{n}", n, shape)
            restorer.restore(tifffile.imread(files[0]), "YX")  # warm-up: onnxruntime plans once per shape
            for net, rest in (("CARE default", restorer), ("null network", NullRestorer(restorer))):
                plain, node = [], []
                for r in range(args.repeats):
                    plain.append(time_plain(rest, files, root / f"plain_{n}_{net}_{r}"))
                    node.append(time_node(rest, files, root / f"node_{n}_{net}_{r}"))
                    log(f"{label}, {net}, repeat {r + 1}: plain {plain[-1]:.2f} s, node {node[-1]:.2f} s")
                p, q = min(plain), min(node)
                rows.append({"workload": label, "network": net, "images": n, "shape": list(shape), "plain_s": p,
                             "node_s": q, "plain_per_image_ms": 1e3 * p / n, "node_per_image_ms": 1e3 * q / n,
                             "overhead_per_image_ms": 1e3 * (q - p) / n, "overhead_percent": 100 * (q - p) / p})
    head = (f"{'workload':<22}{'network':<14}{'plain ms/img':>14}{'node ms/img':>13}{'overhead ms/img':>17}"
            f"{'overhead %':>12}")
    print(f"engine {args.engine}, {os.cpu_count()} CPU(s), best of {args.repeats}")
    print(head)
    for r in rows:
        print(f"{r['workload']:<22}{r['network']:<14}{r['plain_per_image_ms']:>14.2f}"
              f"{r['node_per_image_ms']:>13.2f}{r['overhead_per_image_ms']:>17.2f}{r['overhead_percent']:>11.1f}%")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"engine": args.engine, "repeats": args.repeats, "cpus": os.cpu_count(), "python": sys.version.split()[0],
           "platform": platform.platform(), "bundle": "given" if args.bundle else "CARE default 2D, random weights",
           "not_included": "KNIME's Arrow table transfer (needs a real KNIME)", "results": rows}
    (RESULTS / "knime_overhead.json").write_text(json.dumps(out, indent=2))
    print(f"written to {RESULTS / 'knime_overhead.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
