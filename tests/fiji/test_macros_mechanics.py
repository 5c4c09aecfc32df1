"""The macros in a real ImageJ 1.x, both ways (hosted: Python runs ImageJ; standalone: ImageJ runs the real
``care-bridge`` command line), with real tiny ONNX bundles: results equal the CLI's, calibration, titles, Info,
cleanup, the folder job and the model description are the same on both paths, and every bad input stops with
one message and leaves the user's images alone. Regressions of issue 9: ``n_tiles=[2 2]`` standalone, the
folder macro writing through the runtime's atomic writer, Model Info opening bundles safely with the same text
on both paths, isotropic calibration."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fiji_testlib import HELPERS, MACROS, leftovers, restore_args, write_tiff

from care_bridge.io import read_image

DRIVER = HELPERS / "restore_file.ijm"
CLI = Path(sys.executable).with_name("care-bridge")


@pytest.fixture(scope="module")
def broken_bundle(tmp_path_factory) -> Path:
    from onnx_bundles import write_bundle

    return write_bundle("2d", tmp_path_factory.mktemp("broken"), corrupt_weights=True, name="broken_model")


@pytest.fixture
def images(tmp_path) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    d = {
        "zyx": write_tiff(tmp_path / "stack.tif", rng.integers(0, 4000, (6, 24, 20), dtype=np.uint16), "ZYX",
                          spacing=0.5),
        "yx8": write_tiff(tmp_path / "plane.tif", rng.integers(0, 255, (24, 20), dtype=np.uint8), "YX"),
        "rgb": tmp_path / "rgb.tif",
    }
    import tifffile

    tifffile.imwrite(d["rgb"], rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), photometric="rgb")
    return d


def _cli(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 1), r.stderr
    return r


def _same_pixels(a: Path, b: Path) -> None:
    x, y = read_image(a)[0], read_image(b)[0]
    assert x.dtype == y.dtype == np.float32 and np.array_equal(x.view(np.uint32), y.view(np.uint32))


def _run(way, macro, args, run_hosted, run_standalone):
    if way == "hosted":
        return run_hosted(macro, args), run_hosted.tmpdir
    return run_standalone(macro, args + f" cli=[{CLI}]"), run_standalone.tmpdir


@pytest.mark.parametrize("way", ["hosted", "standalone"])
def test_restore_keeps_calibration_info_and_input(way, images, onnx_bundle, tmp_path, run_hosted, run_standalone):
    out = tmp_path / "out.tif"
    args = restore_args(**{"in": images["zyx"]}, bundle=onnx_bundle("3d"), out=out, n_tiles="1 2 2")  # typed as n_tiles=[1 2 2]
    r, tmpdir = _run(way, DRIVER, args, run_hosted, run_standalone)
    assert r.rc == 0, r.out + r.err
    _cli("predict", "--bundle", onnx_bundle("3d"), "--input", images["zyx"], "--output", tmp_path / "cli.tif")
    _same_pixels(out, tmp_path / "cli.tif")
    _, meta = read_image(out)
    assert meta.axes == "ZYX" and meta.pixel_size == pytest.approx({"X": 0.1, "Y": 0.1, "Z": 0.5})
    assert "title=[stack-CARE]" in r.line("RESULT") and "info=[test info]" in r.line("RESULT")
    assert r.line("INPUT") == "INPUT title=[stack.tif] images_before=1 images_after=2"
    assert leftovers(tmpdir) == []


@pytest.mark.parametrize("way", ["hosted", "standalone"])
def test_isotropic_calibration_is_the_step_over_the_factor(way, onnx_bundle, tmp_path, run_hosted, run_standalone):
    """Regression: with 0.8 µm Z steps, ×4 gave 0.8 (CLI, KNIME) and 0.218 (Fiji); input plane k lands on
    output plane 4k, so the spacing is 0.2 µm — on every path."""
    src = write_tiff(tmp_path / "aniso.tif", np.random.default_rng(2).integers(0, 999, (5, 24, 28), dtype=np.uint16),
                     "ZYX", spacing=0.8)
    args = restore_args(**{"in": src}, bundle=onnx_bundle("isotropic"), out=tmp_path / "iso.tif")
    r, _ = _run(way, DRIVER, args, run_hosted, run_standalone)
    assert r.rc == 0, r.out + r.err
    arr, meta = read_image(tmp_path / "iso.tif")
    assert arr.shape == (17, 24, 28)
    assert meta.pixel_size == pytest.approx({"X": 0.1, "Y": 0.1, "Z": 0.2})


@pytest.mark.parametrize("way", ["hosted", "standalone"])
def test_probabilistic_bundle_gives_a_scale_image(way, images, onnx_bundle, tmp_path, run_hosted, run_standalone):
    out = tmp_path / "o.tif"
    r, _ = _run(way, DRIVER, restore_args(**{"in": images["yx8"]}, bundle=onnx_bundle("2d_probabilistic"), out=out),
                run_hosted, run_standalone)
    assert r.rc == 0, r.out + r.err
    assert r.line("SCALE") == "SCALE title=[plane-CARE-scale]"
    _cli("predict", "--bundle", onnx_bundle("2d_probabilistic"), "--input", images["yx8"], "--output",
         tmp_path / "cli.tif")
    _same_pixels(out, tmp_path / "cli.tif")
    _same_pixels(tmp_path / "o_scale.tif", tmp_path / "cli_scale.tif")


@pytest.mark.parametrize("way", ["hosted", "standalone"])
@pytest.mark.parametrize("case,message", [
    ("no_image", "no image is open; open an image first"),
    ("missing_bundle", "does not exist; check the path"),
    ("rgb", "is an RGB image; convert it first"),
    ("stack_on_2d_model", "this is a 2D model (YX) and the image has a Z axis"),
    ("bad_tiles", "n_tiles='two' is not understood"),
    ("broken_weights", "model.onnx is not a valid ONNX model"),
])
def test_bad_input_stops_with_a_message_and_leaves_images_alone(way, case, message, images, onnx_bundle,
                                                                 broken_bundle, tmp_path, run_hosted, run_standalone):
    src = {"rgb": images["rgb"], "stack_on_2d_model": images["zyx"]}.get(case, images["yx8"])
    bundle = {"missing_bundle": tmp_path / "nope.zip", "broken_weights": broken_bundle}.get(case, onnx_bundle("2d"))
    if case == "missing_bundle":
        message = "does not exist"
    args = restore_args(**{"in": src}, bundle=bundle, out=tmp_path / "out.tif",
                        n_tiles="two" if case == "bad_tiles" else "auto", no_image="1" if case == "no_image" else "")
    r, tmpdir = _run(way, DRIVER, args, run_hosted, run_standalone)
    assert "CARE Restore: " in r.out and message in r.out, r.out + r.err
    assert r.line("REPLY") == "REPLY [aborted]"
    images_before = 0 if case == "no_image" else 1
    assert f"images_before={images_before} images_after={images_before}" in r.out
    assert not (tmp_path / "out.tif").exists()
    assert leftovers(tmpdir) == []


def test_missing_cli_names_the_fix_and_cleans_up(images, onnx_bundle, tmp_path, run_standalone):
    args = restore_args(**{"in": images["yx8"]}, bundle=onnx_bundle("2d"), out=tmp_path / "o.tif",
                        cli=tmp_path / "no" / "care-bridge")
    r = run_standalone(DRIVER, args)
    assert "care-bridge command line was not found" in r.out and "cli=[/path/to/care-bridge]" in r.out, r.out
    assert "images_before=1 images_after=1" in r.out
    assert leftovers(run_standalone.tmpdir) == []


def test_cli_path_is_remembered_in_preferences(images, onnx_bundle, tmp_path, run_standalone):
    macro = tmp_path / "twice.ijm"
    b = onnx_bundle("2d")
    macro.write_text(
        f'open("{images["yx8"]}");\n'
        f'r1 = runMacro("{MACROS / "CARE_Restore.ijm"}", "bundle=[{b}] via=[standalone] cli=[{CLI}]");\n'
        f'r2 = runMacro("{MACROS / "CARE_Restore.ijm"}", "bundle=[{b}] via=[standalone]");\n'
        'print("R1 " + r1); print("R2 " + r2); print("PREF " + call("ij.Prefs.get", "care_bridge.cli", "unset"));\n'
    )
    r = run_standalone(macro)
    assert r.line("R1").startswith("R1 image=") and r.line("R2").startswith("R2 image="), r.out
    assert r.line("PREF") == f"PREF {CLI}"


@pytest.mark.parametrize("way", ["hosted", "standalone"])
def test_folder_macro_is_the_clis_folder_job(way, onnx_bundle, tmp_path, run_hosted, run_standalone):
    """Regression: CARE Restore Folder re-saved results through ImageJ's saveAs; now both paths run the same
    folder job as `care-bridge predict DIR` (same names, same bytes, atomic writes), a bad file is skipped."""
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(2)
    for i in range(2):
        write_tiff(src / f"img{i}.tif", rng.integers(0, 999, (20, 24), dtype=np.uint16), "YX")
    (src / "corrupt.tif").write_bytes(b"not a tiff")
    (src / "notes.txt").write_text("skip me")
    bundle = onnx_bundle("2d_probabilistic")
    ref = _cli("predict", "--bundle", bundle, "--input", src, "--output", tmp_path / "cli", "--suffix=-CARE")
    assert "corrupt.tif" in ref.stderr
    dst = tmp_path / "out"
    args = f"input=[{src}] output=[{dst}] bundle=[{bundle}] suffix=[-CARE] n_tiles=[2 2]"
    r, _ = _run(way, MACROS / "CARE_Restore_Folder.ijm", args, run_hosted, run_standalone)
    assert "FAILED corrupt.tif" in r.out, r.out + r.err
    assert "restored=2 failed=1" in r.out
    want = sorted(p.name for p in (tmp_path / "cli").iterdir())
    assert want == ["img0-CARE.tif", "img0-CARE_scale.tif", "img1-CARE.tif", "img1-CARE_scale.tif"]
    assert sorted(p.name for p in dst.iterdir()) == want  # nothing half-written, no temporary files
    for name in want:
        assert (dst / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name


@pytest.mark.parametrize("way", ["hosted", "standalone"])
def test_model_info_is_the_inspect_text_on_both_paths(way, onnx_bundle, tmp_path, run_hosted, run_standalone):
    bundle = onnx_bundle("2d_probabilistic")
    r, _ = _run(way, MACROS / "CARE_Model_Info.ijm", f"bundle=[{bundle}] via=[{way}]", run_hosted, run_standalone)
    assert r.rc == 0, r.out + r.err
    inspect = _cli("inspect", bundle).stdout.strip()
    assert "probabilistic" in inspect and "axes          : YX" in inspect
    assert inspect in r.out, r.out


@pytest.mark.parametrize("way", ["hosted", "standalone"])
def test_model_info_refuses_a_tampered_bundle(way, onnx_bundle, tmp_path, run_hosted, run_standalone):
    """Regression: the hosted path opened the zip by hand, bypassing open_bundle's checks."""
    import zipfile

    bad = tmp_path / "tampered.zip"
    with zipfile.ZipFile(onnx_bundle("2d")) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            zout.writestr(item, data + b"x" if item.filename == "model.onnx" else data)
    r, _ = _run(way, MACROS / "CARE_Model_Info.ijm", f"bundle=[{bad}] via=[{way}]", run_hosted, run_standalone)
    assert "CARE Model Info:" in r.out and "sha256" in r.out, r.out + r.err


def test_model_info_missing_bundle(tmp_path, run_standalone):
    r = run_standalone(MACROS / "CARE_Model_Info.ijm", f"bundle=[{tmp_path / 'none.zip'}]")
    assert "CARE Model Info: bundle" in r.out and "does not exist" in r.out


def test_paths_with_shell_characters_are_never_interpreted(images, onnx_bundle, tmp_path, run_standalone):
    """The standalone macros run care-bridge without any shell (on Windows they used ``cmd /c``, where such a path
    could run a command): a bundle and an output in folders named with shell syntax work, and nothing runs."""
    import shutil

    odd = tmp_path / "a&b|c;$(touch PWNED)`touch PWNED2`'x %PATH%"
    odd.mkdir()
    bundle = odd / "model.zip"
    shutil.copy(onnx_bundle("2d"), bundle)
    out = odd / "out.tif"
    r = run_standalone(DRIVER, restore_args(**{"in": images["yx8"]}, bundle=bundle, out=out, cli=CLI))
    assert r.rc == 0 and out.is_file(), r.out + r.err
    info = run_standalone(MACROS / "CARE_Model_Info.ijm", f"bundle=[{bundle}] via=[standalone] cli=[{CLI}]")
    assert "tiny 2d" in info.out, info.out
    for where in (tmp_path, odd, Path.cwd(), run_standalone.tmpdir):
        assert not list(Path(where).glob("PWNED*")), "a shell interpreted the path"
