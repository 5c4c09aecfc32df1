"""Same job, same answer: every front end gives the same pixels and the same calibration.

For each mode (plain 2D, 3D, multi-channel, probabilistic, isotropic, upsampling, projection — tiny real ONNX
bundles run by the real Restorer) and each spelling of the tiling options a user may type (``auto``, ``none``,
``4``, ``2,2``, ``[2 2]``, ``2x2``, memory budgets ``512M``/``2G``), the restoration made by

* the Python API (``runtime.load(...).restore`` with the Python value of the option),
* the CLI (``care-bridge predict``, in-process; and as a separate process for one spelling per mode),
* the KNIME nodes (Bundle Reader → Restorer with the dialog's strings, on the knime.extension test double),
* Fiji hosted (Python hosts ImageJ; the macro's options go through the bridge) and
* Fiji standalone (plain ImageJ runs the macro, which runs the command line)

has the same bits, and every one is calibrated as derived by hand (pixel sizes X/Y 0.1 µm, Z 0.8 µm in; out:
isotropic ×4 → Z 0.2, upsampling ×2 → Z 0.4, projection → no Z). The Fiji front ends run all their jobs in one
ImageJ each (tests/frontend/helpers/matrix_jobs.ijm).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from care_bridge import runtime
from care_bridge.cli.main import main as cli_main
from care_bridge.describe import ReadoutRequest
from care_bridge.frontend import output_meta
from care_bridge.frontend.jobs import readout_outputs
from care_bridge.io import read_image, write_image

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS / "fiji"))
from fiji_testlib import IJ_JAR, MACROS, run_cmd  # noqa: E402

CLI = Path(sys.executable).with_name("care-bridge")
PIXEL, Z_STEP = 0.1, 0.8
MODES = {  # kind: (file axes, shape, expected output pixel sizes)
    "2d": ("YX", (44, 52), {"X": 0.1, "Y": 0.1}),
    "3d": ("ZYX", (8, 36, 40), {"X": 0.1, "Y": 0.1, "Z": 0.8}),
    "2d_multichannel": ("CYX", (2, 40, 44), {"X": 0.1, "Y": 0.1}),
    "2d_probabilistic": ("YX", (40, 48), {"X": 0.1, "Y": 0.1}),
    "2d_ensemble": ("YX", (40, 48), {"X": 0.1, "Y": 0.1}),
    "3d_ensemble": ("ZYX", (6, 32, 36), {"X": 0.1, "Y": 0.1, "Z": 0.8}),
    "isotropic": ("ZYX", (5, 32, 36), {"X": 0.1, "Y": 0.1, "Z": 0.2}),  # input plane k on output plane 4k
    "upsampling": ("ZYX", (6, 32, 36), {"X": 0.1, "Y": 0.1, "Z": 0.4}),
    "projection": ("ZYX", (6, 32, 36), {"X": 0.1, "Y": 0.1}),
}
NET_3D = {"3d", "upsampling", "projection", "isotropic", "3d_ensemble"}  # tiles are counted on Z, Y, X
# readouts asked for (as typed: readouts, level, n_samples) and the same request as a Python value
READOUTS = {
    "2d_probabilistic": (("std,interval,samples", "0.9", "2"), ReadoutRequest(std=True, interval=True, samples=2)),
    "2d_ensemble": (("std,disagreement,interval,samples", "95%", "3"),
                    ReadoutRequest(std=True, disagreement=True, interval=True, level=0.95, samples=3)),
    "3d_ensemble": (("disagreement interval", "0.8", ""), ReadoutRequest(disagreement=True, interval=True, level=0.8)),
}


def readout_files(mode: str, out: Path) -> list[Path]:
    """The readout TIFFs restoring ``mode`` into ``out`` gives (the samples' GIF preview is the CLI's only)."""
    if mode not in READOUTS:
        return []
    return [p for p in readout_outputs(out, READOUTS[mode][1]) if p.suffix == ".tif"]
SPELLINGS_2D = ["auto", "none", "4", "2,2", "[2 2]", "2x2"]
SPELLINGS_3D = ["auto", "none", "4", "1,2,2", "[1 2 2]"]
BUDGETS = ["512M", "2G"]
PYTHON_VALUE = {"auto": None, "none": 1, "4": 4, "2,2": (2, 2), "[2 2]": (2, 2), "2x2": (2, 2), "1,2,2": (1, 2, 2),
                "[1 2 2]": (1, 2, 2), "512M": 512 * 2**20, "2G": 2 * 2**30}


def _cases() -> list[tuple[str, str, str]]:
    """(mode, n_tiles spelling, memory budget spelling or "")."""
    out = []
    for mode in MODES:
        for sp in SPELLINGS_3D if mode in NET_3D else SPELLINGS_2D:
            out.append((mode, sp, ""))
        for b in BUDGETS:
            out.append((mode, "auto", b))
    return out


CASES = _cases()


def _case_id(case) -> str:
    mode, sp, b = case
    return f"{mode}-{sp.replace(' ', '_')}" + (f"-{b}" if b else "")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, onnx_bundle) -> dict[str, tuple[Path, Path]]:
    """Per mode: (bundle, input TIFF with ImageJ calibration as a Fiji user's file has it)."""
    root = tmp_path_factory.mktemp("matrix_inputs")
    rng = np.random.default_rng(5)
    out = {}
    for mode, (axes, shape, _) in MODES.items():
        arr = (rng.poisson(30, shape) + 60 * (np.indices(shape).sum(0) % 5)).astype(np.uint16)
        md = {"axes": axes, "unit": "micron"}
        if "Z" in axes:
            md["spacing"] = Z_STEP
        p = root / f"{mode}.tif"
        tifffile.imwrite(p, arr, imagej=True, metadata=md, resolution=(1 / PIXEL, 1 / PIXEL))
        out[mode] = (onnx_bundle(mode), p)
    return out


def _calibration(path: Path) -> tuple[dict[str, float], str | None]:
    _, meta = read_image(path)
    return {a: round(v, 6) for a, v in meta.pixel_size.items()}, meta.unit


def _bits(path: Path) -> np.ndarray:
    a, _ = read_image(path)
    assert a.dtype == np.float32
    return a.view(np.uint32)


def _scale(path: Path) -> Path:
    return path.with_name(path.stem + "_scale.tif")


# ------------------------------------------------------------------------------------------- the front ends
def run_python(bundle: Path, src: Path, out: Path, spelling: str, budget: str) -> None:
    """The Python API: runtime.load(...).restore with the option's Python value; calibrated by the contract."""
    image, meta = read_image(src)
    r = runtime.load(bundle, engine="onnxruntime")
    mode = src.stem
    res = r.restore(image, meta.axes, n_tiles=PYTHON_VALUE[spelling],
                    memory_budget=PYTHON_VALUE[budget] if budget else None,
                    readouts=READOUTS[mode][1] if mode in READOUTS else ReadoutRequest())
    m = output_meta(meta, r, meta.axes, image.shape)
    write_image(out, res.image, res.axes, meta=m)
    if res.scale is not None:
        write_image(_scale(out), res.scale, res.axes, meta=m)
    for (_, arr, stacked), path in zip(res.readouts.images(), readout_files(mode, out)):
        write_image(path, arr, ("T" if stacked else "") + res.axes, meta=m)


def _cli_args(bundle, src, out, spelling, budget) -> list[str]:
    args = ["predict", "--bundle", str(bundle), "--input", str(src), "--output", str(out), "--engine", "onnxruntime",
            "--n-tiles", spelling, "--quiet"]
    if src.stem in READOUTS:
        kinds, level, n = READOUTS[src.stem][0]
        args += ["--readouts", kinds, "--level", level] + (["--n-samples", n] if n else [])
    return args + (["--memory-budget", budget] if budget else [])


def run_cli(bundle: Path, src: Path, out: Path, spelling: str, budget: str) -> None:
    assert cli_main(_cli_args(bundle, src, out, spelling, budget)) == 0


def run_knime(bundle: Path, src: Path, out: Path, spelling: str, budget: str, *, knext, ext) -> None:
    """Bundle Reader → Restorer nodes, settings typed as strings in their dialogs."""
    import pandas as pd

    from care_bridge import knime_nodes as kn

    reader = knext.double_nodes["care_bundle_reader"].factory()
    knext.double_inject(reader, {"bundle": str(bundle), "engine": "onnxruntime"})
    ctx = knext.ExecutionContext(workflow_dir=str(out.parent / "wf"))
    model = reader.execute(ctx)
    node = knext.double_nodes["care_restorer"].factory()
    folder = out.parent / (out.stem + "_knime")
    settings = {"output_folder": str(folder), "engine": "onnxruntime", "n_tiles": spelling, "memory_budget": budget}
    if src.stem in READOUTS:
        kinds, level, n = READOUTS[src.stem][0]
        settings.update({"readouts": kinds, "level": level, "n_samples": n or "16"})
    knext.double_inject(node, settings)
    images = knext.Table.from_pandas(pd.DataFrame({kn.IMAGE_COLUMN: [str(src)]}))
    df = node.execute(ctx, images, model).to_pandas()
    assert df["restore_status"].tolist() == ["ok"], df["restore_error"].tolist()
    (folder / src.name).rename(out)
    if (folder / _scale(src).name).exists():
        (folder / _scale(src).name).rename(_scale(out))
    for made, want in zip(readout_files(src.stem, folder / src.name), readout_files(src.stem, out)):
        assert made.is_file(), f"KNIME wrote no {made.name}"
        made.rename(want)
    for col in kn.readout_columns(kn.RestoreOptions(restore=_contract_of(settings))):
        assert Path(df[col].iloc[0]).name in {p.name for p in readout_files(src.stem, folder / src.name)}


def _contract_of(settings: dict):
    from care_bridge.frontend import restore_options

    return restore_options(settings)


# ----------------------------------------------------------------------------------------- Fiji, batched
def _fiji_jobs(inputs, root: Path, via: str, cases) -> tuple[Path, dict]:
    root.mkdir(parents=True, exist_ok=True)
    lines, outs = [], {}
    for k, case in enumerate(cases):
        mode, sp, b = case
        bundle, src = inputs[mode]
        out = root / f"job{k}.tif"
        outs[case] = out
        kinds, level, n = READOUTS[mode][0] if mode in READOUTS else ("", "", "")
        lines.append("\t".join([str(k), str(src), str(out), str(bundle), sp or "-", b or "-", via,
                                str(CLI) if via == "standalone" else "-", kinds or "-", level or "-", n or "-"]))
    jobs = root / "jobs.txt"
    jobs.write_text("\n".join(lines) + "\n")
    return jobs, outs


def _run_fiji(imagej_tools, inputs, tmp_path_factory, via: str, cases):
    root = tmp_path_factory.mktemp(f"fiji_{via}")
    jobs, outs = _fiji_jobs(inputs, root / "out", via, cases)
    arg = f"jobs=[{jobs}] restore=[{MACROS / 'CARE_Restore.ijm'}]"
    tmp = root / "tmp"
    tmp.mkdir()
    if via == "hosted":
        r = run_cmd([sys.executable, "-m", "care_bridge.fiji", str(HERE / "helpers" / "matrix_jobs.ijm"), arg], tmp,
                    {"_JAVA_OPTIONS": f"-Djava.io.tmpdir={tmp}"}, timeout=600)
    else:
        home = root / "home"
        home.mkdir()
        r = run_cmd(["java", f"-Duser.home={home}", f"-Djava.io.tmpdir={tmp}", "-jar", IJ_JAR, "-batch",
                     str(HERE / "helpers" / "matrix_jobs.ijm"), arg], tmp, timeout=600)
    replies = {ln.split(" ", 2)[1]: ln.split(" ", 2)[2] if ln.count(" ") >= 2 else ""
               for ln in r.out.splitlines() if ln.startswith("JOB ")}
    return r, outs, replies


STANDALONE = CASES  # standalone runs the command line once per job (about 0.3 s each)


@pytest.fixture(scope="module")
def fiji_hosted(imagej_tools, inputs, tmp_path_factory):
    return _run_fiji(imagej_tools, inputs, tmp_path_factory, "hosted", CASES)


@pytest.fixture(scope="module")
def fiji_standalone(imagej_tools, inputs, tmp_path_factory):
    return _run_fiji(imagej_tools, inputs, tmp_path_factory, "standalone", STANDALONE)


# ------------------------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def knime(request):
    sys.path.insert(0, str(TESTS / "knime" / "doubles"))
    sys.path.insert(1, str(TESTS.parent / "knime_workflows" / "care_bridge_knime"))
    knext = importlib.import_module("knime.extension")
    assert "doubles" in Path(knext.__file__).parts
    return knext, importlib.import_module("care_bridge_nodes")


@pytest.fixture(scope="module")
def references(inputs, tmp_path_factory) -> dict[str, Path]:
    """Per mode: the untiled restoration (CLI, --n-tiles none) every case is compared with."""
    root = tmp_path_factory.mktemp("references")
    out = {}
    for mode, (bundle, src) in inputs.items():
        out[mode] = root / f"{mode}.tif"
        run_cli(bundle, src, out[mode], "none", "")
    return out


def _check(path: Path, ref: Path, mode: str, who: str) -> None:
    assert path.is_file(), f"{who} wrote no output"
    got, want = read_image(path)[0], read_image(ref)[0]
    assert got.shape == want.shape, f"{who}: shape {got.shape} != {want.shape}"
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, float(np.abs(want).max())), f"{who}: tiled != untiled"
    px, unit = _calibration(path)
    assert px == MODES[mode][2], f"{who}: pixel sizes {px}, expected {MODES[mode][2]}"
    assert unit == "micron", f"{who}: unit {unit!r}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_python_cli_and_knime_agree_bit_for_bit(case, inputs, references, knime, tmp_path):
    mode, sp, b = case
    bundle, src = inputs[mode]
    outs = {}
    for who, fn in (("python", run_python), ("cli", run_cli)):
        outs[who] = tmp_path / f"{who}.tif"
        fn(bundle, src, outs[who], sp, b)
    outs["knime"] = tmp_path / "knime.tif"
    run_knime(bundle, src, outs["knime"], sp, b, knext=knime[0], ext=knime[1])
    for who, p in outs.items():
        _check(p, references[mode], mode, who)
        assert np.array_equal(_bits(p), _bits(outs["cli"])), f"{who} differs from the CLI"
        assert _calibration(p) == _calibration(outs["cli"]), f"{who}: calibration differs from the CLI"
        if mode == "2d_probabilistic":
            assert np.array_equal(_bits(_scale(p)), _bits(_scale(outs["cli"]))), f"{who}: scale differs"
        _check_readouts(mode, p, outs["cli"], who)


def _check_readouts(mode: str, got: Path, cli: Path, who: str) -> None:
    """Every readout file: the CLI's bits and calibration."""
    want = readout_files(mode, cli)
    assert len(want) == {"2d_probabilistic": 4, "2d_ensemble": 5, "3d_ensemble": 3}.get(mode, 0)
    for g, w in zip(readout_files(mode, got), want):
        assert g.is_file(), f"{who} wrote no {g.name}"
        assert np.array_equal(_bits(g), _bits(w)), f"{who}: readout {g.name} differs from the CLI"
        assert _calibration(g) == _calibration(w), f"{who}: calibration of {g.name} differs from the CLI"


@pytest.mark.parametrize("mode", list(MODES))
def test_cli_in_a_separate_process_agrees(mode, inputs, tmp_path):
    bundle, src = inputs[mode]
    sp = "4"
    r = subprocess.run([str(CLI), *_cli_args(bundle, src, tmp_path / "sub.tif", sp, "")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    run_cli(bundle, src, tmp_path / "inproc.tif", sp, "")
    assert tmp_path.joinpath("sub.tif").read_bytes() == tmp_path.joinpath("inproc.tif").read_bytes()


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_fiji_hosted_agrees_with_the_cli(case, inputs, references, fiji_hosted, tmp_path):
    _fiji_case(case, inputs, references, fiji_hosted, tmp_path, "hosted")


@pytest.mark.parametrize("case", STANDALONE, ids=_case_id)
def test_fiji_standalone_agrees_with_the_cli(case, inputs, references, fiji_standalone, tmp_path):
    _fiji_case(case, inputs, references, fiji_standalone, tmp_path, "standalone")


def _fiji_case(case, inputs, references, run, tmp_path, via):
    r, outs, replies = run
    mode, sp, b = case
    got = outs[case]
    key = str(list(outs).index(case))
    assert replies.get(key, "").startswith("image="), f"{via}: {replies.get(key)!r}\n{r.out[-2000:]}\n{r.err[-2000:]}"
    bundle, src = inputs[mode]
    run_cli(bundle, src, tmp_path / "cli.tif", sp, b)
    _check(got, references[mode], mode, f"fiji {via}")
    assert np.array_equal(_bits(got), _bits(tmp_path / "cli.tif")), f"fiji {via} differs from the CLI"
    assert _calibration(got) == _calibration(tmp_path / "cli.tif"), f"fiji {via}: calibration differs from the CLI"
    if mode == "2d_probabilistic":
        assert np.array_equal(_bits(_scale(got)), _bits(_scale(tmp_path / "cli.tif")))
    _check_readouts(mode, got, tmp_path / "cli.tif", f"fiji {via}")


def test_reference_calibration_is_what_the_input_says(inputs, references):
    """The hand-derived expectations start from the input's own calibration (a guard on the test itself)."""
    for mode, (_, src) in inputs.items():
        px, unit = _calibration(src)
        assert px == {a: v for a, v in {"X": PIXEL, "Y": PIXEL, "Z": Z_STEP}.items() if a in MODES[mode][0]}
        assert unit == "micron"
