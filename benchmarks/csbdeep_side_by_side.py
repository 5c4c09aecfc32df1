"""care_bridge vs. the csbdeep package, the same network on the same input in the same run.

    python benchmarks/csbdeep_side_by_side.py [--size 2048] [--n-tiles 3]
    python benchmarks/csbdeep_side_by_side.py --3d [--shape 64,512,512] [--n-tiles 2]

csbdeep builds its default CARE network (2D: depth 2, 32 filters, kernel 5; ``--3d``: depth 2, 32 filters,
kernel 3 — csbdeep's ``Config`` defaults; random weights) and saves it as a CSBDeep model folder;
``care-bridge import-csbdeep`` turns that into a bundle; then each program restores the same image, each in its
own subprocess (so TensorFlow state and peak memory are separate). 2D: csbdeep and care_bridge (onnxruntime,
tensorflow) with the same ``--n-tiles`` x ``--n-tiles`` tiles, and care_bridge's default (automatic tiles).
3D: csbdeep untiled and with 1 x n x n tiles, care_bridge's default (onnxruntime, automatic tiles).
With the ``openvino`` extra installed, care_bridge's openvino engine runs too, at fp32 and (on a CPU with bf16
instructions) at the opt-in bf16, both with automatic tiles.
Prints a table (time, MVox/s, GFLOP/s from :func:`care_bridge.models.flops.unet_flops_per_voxel`, ratio to
the first row, peak RSS) and writes ``benchmarks/results/csbdeep_side_by_side[_3d_ZxYxX][_PROGRAMS].json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from side_by_side import run_cases, time_calls  # noqa: E402


def make_csbdeep_model(root: Path, axes: str = "YX") -> Path:
    from csbdeep.models import CARE, Config

    cfg = Config(axes, n_channel_in=1, n_channel_out=1, unet_n_depth=2, unet_n_first=32,
                 unet_kern_size=5 if axes == "YX" else 3, train_tensorboard=False)
    model = CARE(cfg, "csbdeep_default", basedir=str(root))
    model.keras_model.save_weights(str(root / "csbdeep_default" / "weights_best.h5"))
    return root / "csbdeep_default"


def run_csbdeep(model_dir: str, shape: list[int], n_tiles: list[int], repeats: int) -> dict:
    from csbdeep.models import CARE

    model = CARE(None, Path(model_dir).name, basedir=str(Path(model_dir).parent))
    axes = "ZYX"[-len(shape):]
    out = time_calls(lambda x: model.predict(x, axes, n_tiles=tuple(n_tiles)), tuple(shape), repeats)
    return {**out, "n_tiles": list(n_tiles)}


def run_care_bridge(bundle: str, engine: str, shape: list[int], n_tiles: list[int] | None, repeats: int,
                    precision: str = "fp32") -> dict:
    from care_bridge import runtime

    r = runtime.load(bundle, engine=engine, precision=precision)
    axes = "ZYX"[-len(shape):]
    tiles = None if n_tiles is None else tuple(n_tiles)  # None: care_bridge's default (automatic from the budget)
    last = {}

    def predict(x):
        last["res"] = r.restore(x, axes, n_tiles=tiles)

    out = time_calls(predict, tuple(shape), repeats)
    return {**out, "n_tiles": list(last["res"].n_tiles)}


def openvino_precisions() -> list[str]:
    """The precisions care_bridge's openvino engine runs here: none without the extra, bf16 where the CPU has it."""
    from care_bridge.framework_env import configure_openvino

    configure_openvino()  # as the engine does: no telemetry package in this process either
    try:
        import openvino as ov
    except ImportError:
        return []
    return ["fp32"] + (["bf16"] if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES") else [])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=2048, help="2D: a size x size image")
    ap.add_argument("--3d", dest="three_d", action="store_true", help="the CARE default 3D network on --shape")
    ap.add_argument("--shape", default="64,512,512", help="with --3d: Z,Y,X")
    ap.add_argument("--n-tiles", type=int, default=None, help="tiles per lateral axis (default 3 in 2D, 2 in 3D)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--programs", default="csbdeep,care_bridge", help="which rows to run: programs (csbdeep, care_bridge) or care_bridge engines")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        c = json.loads(a.case)
        fn = run_csbdeep if c.pop("program") == "csbdeep" else run_care_bridge
        print(json.dumps(fn(**c)))
        return 0
    three_d = a.three_d
    shape = [int(v) for v in a.shape.split(",")] if three_d else [a.size, a.size]
    axes = "ZYX" if three_d else "YX"
    n = a.n_tiles or (2 if three_d else 3)
    fixed = [1] * (len(shape) - 2) + [n, n]
    work = Path(tempfile.mkdtemp(prefix="cb_csb_"))
    model_dir = make_csbdeep_model(work, axes)
    from care_bridge.export.csbdeep_import import import_csbdeep
    from care_bridge.models import CareConfig
    from care_bridge.models.flops import unet_flops_per_voxel

    bundle = str(import_csbdeep(model_dir, work / "imported.zip"))
    fpv = unet_flops_per_voxel(CareConfig(axes=axes))  # csbdeep's defaults are care_bridge's (depth 2, 32, 5/3)
    common = {"shape": shape, "repeats": a.repeats}
    csb = {"program": "csbdeep", "model_dir": str(model_dir), **common}
    tiled = "x".join(map(str, fixed))
    if three_d:
        cases = [("csbdeep 0.8.2 (CARE.predict, untiled)", {**csb, "n_tiles": [1] * len(shape)}),
                 (f"csbdeep 0.8.2 (CARE.predict, {tiled} tiles)", {**csb, "n_tiles": fixed})]
    else:
        cases = [("csbdeep 0.8.2 (CARE.predict)", {**csb, "n_tiles": fixed})]
        for e in ("onnxruntime", "tensorflow"):
            cases.append((f"care_bridge ({e})",
                          {"program": "care_bridge", "bundle": bundle, "engine": e, **common, "n_tiles": fixed}))
    cases.append(("care_bridge default (onnxruntime, auto tiles)",
                  {"program": "care_bridge", "bundle": bundle, "engine": "onnxruntime", **common, "n_tiles": None}))
    for precision in openvino_precisions():
        cases.append((f"care_bridge openvino {precision} (auto tiles)",
                      {"program": "care_bridge", "bundle": bundle, "engine": "openvino", "precision": precision,
                       **common, "n_tiles": None}))
    cases = [c for c in cases if {c[1]["program"], c[1].get("engine")} & set(a.programs.split(","))]
    print(f"{'x'.join(map(str, shape))}, csbdeep tiles {tiled}, CARE default {len(shape)}D network "
          f"({fpv / 1e6:.2f} MFLOP/voxel), {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    load_before = os.getloadavg()
    rows = run_cases(__file__, cases, math.prod(shape), fpv)
    (HERE / "results").mkdir(exist_ok=True)
    name = "csbdeep_side_by_side" + ("_3d_" + "x".join(map(str, shape)) if three_d else "")
    name += "" if a.programs == "csbdeep,care_bridge" else "_" + a.programs.replace(",", "_")
    (HERE / "results" / f"{name}.json").write_text(json.dumps(
        {"args": vars(a), "shape": shape, "flops_per_voxel": fpv, "cpu_count": os.cpu_count(),
         "load_average_before": load_before, "load_average_after": os.getloadavg(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
