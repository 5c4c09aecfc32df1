"""care_bridge vs. the csbdeep package, the same network on the same input in the same run.

    python benchmarks/csbdeep_side_by_side.py [--size 2048] [--n-tiles 3]
    python benchmarks/csbdeep_side_by_side.py --3d [--shape 64,512,512] [--n-tiles 2]

csbdeep builds its default CARE network (2D: depth 2, 32 filters, kernel 5; ``--3d``: depth 2, 32 filters,
kernel 3 — csbdeep's ``Config`` defaults; random weights) and saves it as a CSBDeep model folder;
``care-bridge import-csbdeep`` turns that into a bundle; then each program restores the same image, each in its
own subprocess (so TensorFlow state and peak memory are separate). Rows (``--programs`` picks a subset):
csbdeep (2D: n x n tiles; 3D: untiled and 1 x n x n tiles); care_bridge's default (the engine ``--engine auto``
picks here: OpenVINO fp32 with the ``openvino`` extra, else ONNX Runtime) with automatic tiles and untiled;
care_bridge onnxruntime/tensorflow with csbdeep's tiles (2D) and onnxruntime with automatic tiles; the opt-in
bf16 (a CPU with bf16 instructions); bioimageio.core 0.11 on the ONNX weights, untiled and blockwise; and the
bare engine sessions on the whole image (no normalization or tiling: the engine's own cost).
Prints a table (time, MVox/s, GFLOP/s from :func:`care_bridge.models.flops.unet_flops_per_voxel`, its fraction
of the machine's numpy sgemm ceiling measured in the same run, ratio to the first row, peak RSS) and writes
``benchmarks/results/csbdeep_side_by_side[_3d_ZxYxX][_PROGRAMS].json``.
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
from side_by_side import run_cases, sgemm_ceiling_gflops, time_calls  # noqa: E402


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


def _onnx_path(bundle: str) -> str:
    import zipfile

    z = zipfile.ZipFile(bundle)
    name = next(n for n in z.namelist() if n.endswith(".onnx"))
    out = Path(tempfile.mkdtemp(prefix="cb_bare_")) / "weights.onnx"
    out.write_bytes(z.read(name))
    return str(out)


def run_bare(bundle: str, engine: str, shape: list[int], repeats: int) -> dict:
    """The bundle's ONNX weights in a bare engine session on the whole (normalized-looking) image: no
    normalization, no tiling, no stitching — what the engine alone costs (OpenVINO compiled for the image's
    static shape, as care_bridge's engine does per block)."""
    from care_bridge.framework_env import configure_onnxruntime, configure_openvino

    path = _onnx_path(bundle)
    full = (1, *shape, 1)
    if engine == "onnxruntime":
        configure_onnxruntime()
        import onnxruntime as ort

        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name

        def call(x):
            sess.run(None, {name: x.reshape(full)})
    else:
        configure_openvino()
        import openvino as ov

        core = ov.Core()
        model = core.read_model(path)
        model.reshape({model.inputs[0].get_any_name(): list(full)})
        req = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
                                                "INFERENCE_NUM_THREADS": os.cpu_count()}).create_infer_request()

        def call(x):
            req.infer({0: x.reshape(full)}, share_inputs=True)
    return {**time_calls(lambda x: call(x / 20.0), tuple(shape), repeats), "n_tiles": [1] * len(shape)}


def run_core(bundle: str, shape: list[int], n_tiles: list[int] | None, repeats: int) -> dict:
    """bioimageio.core 0.11 (the bioimage.io reference runtime) on the bundle's ONNX weights, with its own
    pre/postprocessing: untiled (``n_tiles`` None) or blockwise with ``blocksize_parameter`` chosen so that about
    ``n_tiles`` blocks cover each lateral axis."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from bioimageio.core import create_prediction_pipeline, load_description, predict

    descr = load_description(bundle)
    pp = create_prediction_pipeline(descr, weight_format="onnx")
    ids = [str(a.id) for a in descr.inputs[0].axes]
    spatial = [a for a in ids if a in "zyx"]
    tid = descr.inputs[0].id

    def call(x):
        arr = x.reshape([dict(zip(spatial, x.shape)).get(a, 1) for a in ids])
        if n_tiles is None:
            predict(model=pp, inputs={tid: arr})
        else:
            predict(model=pp, inputs={tid: arr}, blocksize_parameter=max(1, shape[-1] // n_tiles[-1] // 16))
    return {**time_calls(call, tuple(shape), repeats), "n_tiles": n_tiles or [1] * len(shape)}


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
    ap.add_argument("--programs", default="all", help="which rows to run (comma-separated): all, or programs "
                    "(csbdeep, care_bridge, core = bioimageio.core, bare = bare engine sessions) and engines "
                    "(onnxruntime, openvino, tensorflow)")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        c = json.loads(a.case)
        fn = {"csbdeep": run_csbdeep, "care_bridge": run_care_bridge, "core": run_core, "bare": run_bare}
        print(json.dumps(fn[c.pop("program")](**c)))
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
    precisions = openvino_precisions()
    default = "openvino" if precisions else "onnxruntime"  # what --engine auto picks on this CPU
    cb = {"program": "care_bridge", "bundle": bundle, **common}
    cases.append((f"care_bridge default ({default} fp32, auto tiles)", {**cb, "engine": default, "n_tiles": None}))
    cases.append((f"care_bridge {default} fp32, untiled", {**cb, "engine": default, "n_tiles": [1] * len(shape)}))
    if default != "onnxruntime":
        cases.append(("care_bridge onnxruntime (auto tiles)", {**cb, "engine": "onnxruntime", "n_tiles": None}))
    for precision in precisions[1:]:
        cases.append((f"care_bridge openvino {precision} (auto tiles)",
                      {**cb, "engine": "openvino", "precision": precision, "n_tiles": None}))
    cases.append(("bioimageio.core 0.11 (onnx, untiled)", {"program": "core", "bundle": bundle, **common,
                                                           "n_tiles": None}))
    cases.append((f"bioimageio.core 0.11 (onnx, ~{tiled} blocks)", {"program": "core", "bundle": bundle, **common,
                                                                   "n_tiles": fixed}))
    for e in ["onnxruntime"] + (["openvino"] if precisions else []):
        cases.append((f"bare {e} session, whole image", {"program": "bare", "bundle": bundle, "engine": e, **common}))
    if a.programs != "all":
        cases = [c for c in cases if {c[1]["program"], c[1].get("engine")} & set(a.programs.split(","))]
    print(f"{'x'.join(map(str, shape))}, csbdeep tiles {tiled}, CARE default {len(shape)}D network "
          f"({fpv / 1e6:.2f} MFLOP/voxel), {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    load_before = os.getloadavg()
    ceiling = sgemm_ceiling_gflops()
    print(f"sgemm ceiling (numpy float32 4096x4096 matmul, {os.cpu_count()} cores): {ceiling:.0f} GFLOP/s")
    rows = run_cases(__file__, cases, math.prod(shape), fpv, ceiling)
    (HERE / "results").mkdir(exist_ok=True)
    name = "csbdeep_side_by_side" + ("_3d_" + "x".join(map(str, shape)) if three_d else "")
    name += "" if a.programs == "all" else "_" + a.programs.replace(",", "_")
    (HERE / "results" / f"{name}.json").write_text(json.dumps(
        {"args": vars(a), "shape": shape, "flops_per_voxel": fpv, "cpu_count": os.cpu_count(),
         "sgemm_ceiling_gflops": ceiling,
         "load_average_before": load_before, "load_average_after": os.getloadavg(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
