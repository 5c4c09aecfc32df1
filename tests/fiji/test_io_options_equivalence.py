"""Same job, same answer for the I/O options (issue #12): plane-wise restoration, chosen channels and the output
pixel type give the same pixels and the same calibration through the Python API, the CLI (in-process and as a
process), the KNIME Restorer, Fiji hosted and Fiji standalone; OME-TIFF metadata (pixel sizes in another unit,
time interval, channel names) survives every file-writing front end.

Expected calibrations are derived by hand: a 2D model run plane by plane keeps the stack's X/Y 0.1 µm and Z 0.8
µm; chosen channels keep X/Y and carry their names in the chosen order.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from fiji_testlib import MACROS, restore_args

from care_bridge import runtime
from care_bridge.cli.main import main as cli_main
from care_bridge.frontend import output_meta
from care_bridge.io import read_image, write_image
from care_bridge.io.tiff import cast_to

TESTS = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).resolve().parent / "helpers" / "restore_file.ijm"
CLI = Path(sys.executable).with_name("care-bridge")

# case: (file axes, shape, options as typed, Python keyword values, expected output axes, expected pixel sizes)
CASES = {
    "planewise": ("ZYX", (3, 36, 40), {"planewise": "true"}, {"planewise": True}, "ZYX",
                  {"X": 0.1, "Y": 0.1, "Z": 0.8}),
    "channels": ("CYX", (3, 36, 40), {"channels": "2,0"}, {"channels": (2, 0)}, "CYX", {"X": 0.1, "Y": 0.1}),
    "planewise_channel": ("ZCYX", (3, 2, 36, 40), {"planewise": "yes", "channels": "1"},
                          {"planewise": True, "channels": (1,)}, "ZYX", {"X": 0.1, "Y": 0.1, "Z": 0.8}),
    "dtype_input": ("YX", (36, 40), {"dtype": "input"}, {"dtype": "input"}, "YX", {"X": 0.1, "Y": 0.1}),
}


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("io_inputs")
    rng = np.random.default_rng(3)
    out = {}
    for name, (axes, shape, *_rest) in CASES.items():
        arr = (rng.poisson(40, shape) + 50 * (np.indices(shape).sum(0) % 7)).astype(np.uint16)
        md = {"axes": axes, "unit": "micron"}
        if "Z" in axes:
            md["spacing"] = 0.8
        out[name] = root / f"{name}.tif"
        tifffile.imwrite(out[name], arr, imagej=True, metadata=md, resolution=(10.0, 10.0))
    return out


def _python(bundle: Path, src: Path, out: Path, kw: dict) -> None:
    image, meta = read_image(src)
    r = runtime.load(bundle, engine="onnxruntime")
    res = r.restore(image, meta.axes, planewise=kw.get("planewise", False), channels=kw.get("channels"))
    m = output_meta(meta, r, meta.axes, image.shape, channels=kw.get("channels"))
    write_image(out, res.image, res.axes, meta=m, dtype=image.dtype if kw.get("dtype") == "input" else None)


def _cli_args(bundle: Path, src: Path, out: Path, typed: dict) -> list[str]:
    args = ["predict", "--bundle", str(bundle), "--input", str(src), "--output", str(out), "--engine", "onnxruntime",
            "--quiet"]
    for k, v in typed.items():
        args.append(f"--{k.replace('_', '-')}={v}")
    return args


def _knime(bundle: Path, src: Path, out: Path, typed: dict) -> None:
    import pandas as pd

    sys.path.insert(0, str(TESTS / "knime" / "doubles"))
    sys.path.insert(1, str(TESTS.parent / "knime_workflows" / "care_bridge_knime"))
    knext = importlib.import_module("knime.extension")
    assert "doubles" in Path(knext.__file__).parts
    importlib.import_module("care_bridge_nodes")
    from care_bridge import knime_nodes as kn

    reader = knext.double_nodes["care_bundle_reader"].factory()
    knext.double_inject(reader, {"bundle": str(bundle), "engine": "onnxruntime"})
    ctx = knext.ExecutionContext(workflow_dir=str(out.parent / "wf"))
    model = reader.execute(ctx)
    node = knext.double_nodes["care_restorer"].factory()
    folder = out.parent / "knime_out"
    settings = {"output_folder": str(folder), "engine": "onnxruntime"}
    settings.update({k: (v in ("true", "yes")) if k == "planewise" else v for k, v in typed.items()})
    knext.double_inject(node, settings)
    df = node.execute(ctx, knext.Table.from_pandas(pd.DataFrame({kn.IMAGE_COLUMN: [str(src)]})), model).to_pandas()
    assert df["restore_status"].tolist() == ["ok"], df["restore_error"].tolist()
    (folder / src.name).rename(out)


def _same(a: Path, b: Path, who: str) -> None:
    x, mx = read_image(a)
    y, my = read_image(b)
    assert x.dtype == y.dtype and x.shape == y.shape, f"{who}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
    assert np.array_equal(x.view(np.uint8), y.view(np.uint8)), f"{who}: pixels differ from the CLI"
    assert {k: round(v, 6) for k, v in mx.pixel_size.items()} == {k: round(v, 6) for k, v in my.pixel_size.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_python_cli_process_and_knime_agree(name, images, onnx_bundle, tmp_path):
    axes, _shape, typed, kw, out_axes, px = CASES[name]
    bundle, src = onnx_bundle("2d"), images[name]
    outs = {w: tmp_path / f"{w}.tif" for w in ("python", "cli", "process", "knime")}
    _python(bundle, src, outs["python"], kw)
    assert cli_main(_cli_args(bundle, src, outs["cli"], typed)) == 0
    r = subprocess.run([str(CLI), *_cli_args(bundle, src, outs["process"], typed)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    _knime(bundle, src, outs["knime"], typed)
    ref, meta = read_image(outs["cli"])
    assert meta.axes == out_axes and {k: round(v, 6) for k, v in meta.pixel_size.items()} == px
    assert ref.dtype == (np.uint16 if kw.get("dtype") == "input" else np.float32)
    for who in ("python", "process", "knime"):
        _same(outs[who], outs["cli"], who)
    # by hand: the restoration of a chosen channel / plane is the plain 2D restoration of that plane
    image, _ = read_image(src)
    r2 = runtime.load(bundle, engine="onnxruntime")
    if name == "planewise":
        assert np.array_equal(ref[1], r2.restore(image[1], "YX").image)
    if name == "channels":
        assert np.array_equal(ref[0], r2.restore(image[2], "YX").image)
        assert np.array_equal(ref[1], r2.restore(image[0], "YX").image)
    if name == "planewise_channel":
        assert np.array_equal(ref[2], r2.restore(image[2, 1], "YX").image)
    if name == "dtype_input":
        want = r2.restore(image, "YX").image
        assert np.array_equal(ref, cast_to(want, np.uint16))


@pytest.mark.parametrize("way", ["hosted", "standalone"])
@pytest.mark.parametrize("name", list(CASES))
def test_fiji_agrees_with_the_cli(name, way, images, onnx_bundle, tmp_path, run_hosted, run_standalone):
    axes, _shape, typed, kw, out_axes, px = CASES[name]
    bundle, src = onnx_bundle("2d"), images[name]
    out = tmp_path / "fiji.tif"
    args = restore_args(**{"in": src}, bundle=bundle, out=out, engine="onnxruntime", **typed)
    r = run_hosted(DRIVER, args) if way == "hosted" else run_standalone(DRIVER, args + f" cli=[{CLI}]")
    assert r.rc == 0 and out.is_file(), r.out + r.err
    assert cli_main(_cli_args(bundle, src, tmp_path / "cli.tif", typed)) == 0
    _same(out, tmp_path / "cli.tif", f"Fiji {way}")


def test_ome_metadata_survives_every_file_writing_front_end(onnx_bundle, tmp_path):
    """OME-TIFF in (T, C, Y, X; pixel size in nm, a time increment, channel names) → OME-TIFF out, by default."""
    rng = np.random.default_rng(4)
    src = tmp_path / "movie.ome.tif"
    tifffile.imwrite(src, rng.integers(0, 3000, (3, 2, 36, 40), dtype=np.uint16), ome=True, photometric="minisblack",
                     metadata={"axes": "TCYX", "PhysicalSizeX": 65.0, "PhysicalSizeXUnit": "nm",
                               "PhysicalSizeY": 65.0, "PhysicalSizeYUnit": "nm", "TimeIncrement": 1.5,
                               "TimeIncrementUnit": "s", "Channel": {"Name": ["GFP", "mCherry"]}})
    bundle = onnx_bundle("2d")
    typed, kw = {"channels": "1,0"}, {"channels": (1, 0)}
    outs = {w: tmp_path / f"{w}.ome.tif" for w in ("python", "cli", "knime")}
    image, meta = read_image(src)
    assert meta.format == "ome-tiff" and meta.axes == "TCYX"
    r = runtime.load(bundle, engine="onnxruntime")
    res = r.restore(image, meta.axes, channels=kw["channels"])
    write_image(outs["python"], res.image, res.axes, meta=output_meta(meta, r, meta.axes, image.shape,
                                                                     channels=kw["channels"]), format="ome-tiff")
    assert cli_main(_cli_args(bundle, src, outs["cli"], typed)) == 0
    (tmp_path / "k").mkdir()
    _knime(bundle, src, tmp_path / "k" / "knime.ome.tif", typed)
    (tmp_path / "k" / "knime.ome.tif").rename(outs["knime"])
    for who, p in outs.items():
        with tifffile.TiffFile(p) as tf:
            assert tf.is_ome, f"{who}: not an OME-TIFF"
        x, m = read_image(p)
        assert m.axes == "TCYX" and x.dtype == np.float32, who
        assert m.pixel_size == pytest.approx({"X": 65.0, "Y": 65.0}) and m.unit == "nm", who
        assert m.time_interval == 1.5 and m.time_unit == "s", who
        assert m.channel_names == ["mCherry", "GFP"], who
        _same(p, outs["cli"], who)


def test_output_format_can_be_forced(onnx_bundle, images, tmp_path):
    bundle, src = onnx_bundle("2d"), images["channels"]
    assert cli_main(_cli_args(bundle, src, tmp_path / "o.tif", {"output_format": "ome-tiff", "channels": "0,1,2"})) == 0
    with tifffile.TiffFile(tmp_path / "o.tif") as tf:
        assert tf.is_ome and not tf.is_imagej
    x, m = read_image(tmp_path / "o.tif")
    assert m.pixel_size == pytest.approx({"X": 0.1, "Y": 0.1}) and m.axes == "CYX"
