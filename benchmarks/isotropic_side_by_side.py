"""Isotropic reconstruction: care_bridge vs csbdeep's ``IsotropicCARE.predict``, the same network (CSBDeep's
default 2D CARE net, random weights) on the same stack in the same run, each in its own subprocess.

    python benchmarks/isotropic_side_by_side.py [--shape 32,256,256] [--factor 4] [--repeats 2]

care_bridge is run twice: with its default (one slice per engine call on the CPU) and with slices batched per
call as a GPU engine does (``max_batch = 32``, as many as fit the memory budget). Prints a table and writes
``benchmarks/results/isotropic_side_by_side.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from side_by_side import run_cases, time_calls  # noqa: E402


def run_csbdeep(model_dir: str, shape, factor: float, repeats: int) -> dict:
    from csbdeep.data import PercentileNormalizer
    from csbdeep.models import IsotropicCARE

    model = IsotropicCARE(None, Path(model_dir).name, basedir=str(Path(model_dir).parent))
    return time_calls(lambda x: model.predict(x, "ZYX", factor=factor, normalizer=PercentileNormalizer()),
                      tuple(shape), repeats)


def run_care_bridge(bundle: str, shape, repeats: int, max_batch: int | None = None) -> dict:
    from care_bridge import runtime

    r = runtime.load(bundle, engine="onnxruntime")
    if max_batch is not None:
        r.engine.max_batch = max_batch
    return time_calls(lambda x: r.restore(x, "ZYX"), tuple(shape), repeats)


def isotropic_bundle(imported: Path, out: Path, factor: float) -> Path:
    """The imported (denoising) bundle with its procedure switched to isotropic reconstruction: the same
    weights, run by care_bridge's isotropic procedure."""
    import yaml

    with zipfile.ZipFile(imported) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for n in zin.namelist():
            data = zin.read(n)
            if n == "rdf.yaml":
                rdf = yaml.safe_load(data)
                care = rdf["config"]["care_bridge"]
                care["mode"] = "isotropic"
                care["procedure"] = {"factor": float(factor), "combine": "geometric"}
                if isinstance(care.get("network"), dict):
                    care["network"]["mode"] = "isotropic"
                data = yaml.safe_dump(rdf, sort_keys=False).encode()
            zout.writestr(n, data)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="32,256,256")
    ap.add_argument("--factor", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        c = json.loads(a.case)
        fn = run_csbdeep if c.pop("program") == "csbdeep" else run_care_bridge
        print(json.dumps(fn(**c)))
        return 0
    shape = tuple(int(v) for v in a.shape.split(","))
    work = Path(tempfile.mkdtemp(prefix="cb_iso_"))
    from csbdeep.models import Config, IsotropicCARE

    cfg = Config("YX", n_channel_in=1, n_channel_out=1, unet_n_depth=2, unet_n_first=32, unet_kern_size=5,
                 train_tensorboard=False)
    model = IsotropicCARE(cfg, "csbdeep_iso", basedir=str(work))
    model.keras_model.save_weights(str(work / "csbdeep_iso" / "weights_best.h5"))
    from care_bridge.export.csbdeep_import import import_csbdeep

    bundle = isotropic_bundle(import_csbdeep(work / "csbdeep_iso", work / "imported.zip"), work / "iso.zip", a.factor)
    common = {"shape": shape, "repeats": a.repeats}
    cases = [("csbdeep 0.8.2 (IsotropicCARE.predict)",
              {"program": "csbdeep", "model_dir": str(work / "csbdeep_iso"), "factor": a.factor, **common}),
             ("care_bridge (onnxruntime, default)", {"program": "care_bridge", "bundle": str(bundle), **common}),
             ("care_bridge (onnxruntime, slices batched)",
              {"program": "care_bridge", "bundle": str(bundle), "max_batch": 32, **common})]
    vox = shape[1] * shape[2] * round((shape[0] - 1) * a.factor + 1)
    print(f"stack {shape}, isotropic x{a.factor:g}, CARE default 2D network, {os.cpu_count()} cores")
    rows = run_cases(__file__, cases, vox)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "isotropic_side_by_side.json").write_text(
        json.dumps({"args": vars(a), "cpu_count": os.cpu_count(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
