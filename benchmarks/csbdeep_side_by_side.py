"""care_bridge vs. the csbdeep package, the same network on the same input in the same run.

    python benchmarks/csbdeep_side_by_side.py [--size 2048] [--n-tiles 3]

csbdeep builds its default 2D CARE network (depth 2, 32 filters, kernel 5; random weights) and saves it as a
CSBDeep model folder; ``care-bridge import-csbdeep`` turns that into a bundle; then each program restores the same
image with the same tiling, each in its own subprocess (so TensorFlow state and peak memory are separate).
With the ``openvino`` extra installed, care_bridge's openvino engine runs too, at fp32 and (on a CPU with bf16
instructions) at the opt-in bf16, both with automatic tiles.
Prints a table and writes ``benchmarks/results/csbdeep_side_by_side.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from side_by_side import run_cases, time_calls  # noqa: E402


def make_csbdeep_model(root: Path) -> Path:
    from csbdeep.models import CARE, Config

    cfg = Config("YX", n_channel_in=1, n_channel_out=1, unet_n_depth=2, unet_n_first=32, unet_kern_size=5,
                 train_tensorboard=False)
    model = CARE(cfg, "csbdeep_default", basedir=str(root))
    model.keras_model.save_weights(str(root / "csbdeep_default" / "weights_best.h5"))
    return root / "csbdeep_default"


def run_csbdeep(model_dir: str, size: int, n_tiles: int, repeats: int) -> dict:
    from csbdeep.models import CARE

    model = CARE(None, Path(model_dir).name, basedir=str(Path(model_dir).parent))
    return time_calls(lambda x: model.predict(x, "YX", n_tiles=(n_tiles, n_tiles)), (size, size), repeats)


def run_care_bridge(bundle: str, engine: str, size: int, n_tiles: int, repeats: int, precision: str = "fp32") -> dict:
    from care_bridge import runtime

    r = runtime.load(bundle, engine=engine, precision=precision)
    tiles = None if n_tiles == 0 else (n_tiles, n_tiles)  # 0: care_bridge's default (automatic from the budget)
    return time_calls(lambda x: r.restore(x, "YX", n_tiles=tiles), (size, size), repeats)


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
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--n-tiles", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        c = json.loads(a.case)
        fn = run_csbdeep if c.pop("program") == "csbdeep" else run_care_bridge
        print(json.dumps(fn(**c)))
        return 0
    work = Path(tempfile.mkdtemp(prefix="cb_csb_"))
    model_dir = make_csbdeep_model(work)
    from care_bridge.export.csbdeep_import import import_csbdeep

    bundle = import_csbdeep(model_dir, work / "imported.zip")
    common = {"size": a.size, "n_tiles": a.n_tiles, "repeats": a.repeats}
    cases = [("csbdeep 0.8.2 (CARE.predict)", {"program": "csbdeep", "model_dir": str(model_dir), **common})]
    for e in ("onnxruntime", "tensorflow"):
        cases.append((f"care_bridge ({e})", {"program": "care_bridge", "bundle": str(bundle), "engine": e, **common}))
    cases.append(("care_bridge default (onnxruntime, auto tiles)",
                  {"program": "care_bridge", "bundle": str(bundle), "engine": "onnxruntime", **common, "n_tiles": 0}))
    for precision in openvino_precisions():
        cases.append((f"care_bridge openvino {precision} (auto tiles)",
                      {"program": "care_bridge", "bundle": str(bundle), "engine": "openvino", "precision": precision,
                       **common, "n_tiles": 0}))
    print(f"{a.size}x{a.size}, {a.n_tiles}x{a.n_tiles} tiles, CARE default 2D network")
    rows = run_cases(__file__, cases, a.size * a.size)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "csbdeep_side_by_side.json").write_text(json.dumps({"args": vars(a), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
