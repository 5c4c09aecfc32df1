"""The macros in a real ImageJ 1.x, both ways, with a stand-in runtime (y = 2x + 1): options, results,
calibration, cleanup and every bad-input message. Bit-identity with the real runtime: test_identity.py."""

import sys
from pathlib import Path

import numpy as np
import pytest
from fiji_testlib import HELPERS, MACROS, leftovers, restore_args, write_tiff

from care_bridge.io import read_image

DRIVER = HELPERS / "restore_file.ijm"


@pytest.fixture
def fake_cli(tmp_path) -> Path:
    """An executable stand-in for care-bridge that runs helpers/fake_care_bridge.py with this Python."""
    p = tmp_path / "bin" / "care-bridge"
    p.parent.mkdir()
    script = HELPERS / "fake_care_bridge.py"
    p.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')
    p.chmod(0o755)
    return p


@pytest.fixture
def images(tmp_path) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    d = {
        "zcyx": write_tiff(tmp_path / "hyper.tif", rng.integers(0, 4000, (3, 2, 24, 20), dtype=np.uint16), "ZCYX",
                           spacing=0.5),
        "yx8": write_tiff(tmp_path / "plane.tif", rng.integers(0, 255, (24, 20), dtype=np.uint8), "YX"),
        "rgb": tmp_path / "rgb.tif",
    }
    import tifffile

    tifffile.imwrite(d["rgb"], rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), photometric="rgb")
    (tmp_path / "fake_prob_model.zip").write_bytes(b"PK")
    (tmp_path / "fake_model.zip").write_bytes(b"PK")
    (tmp_path / "broken_model.zip").write_bytes(b"PK")
    return d


def _check_result(out: Path, src: Path):
    a, _ = read_image(src)
    b, meta = read_image(out)
    assert b.dtype == np.float32 and np.array_equal(b, a.astype(np.float32) * 2 + 1)
    return meta


@pytest.mark.parametrize("way", ["hosted", "standalone"])
def test_restore_keeps_calibration_info_and_input(way, images, tmp_path, fake_cli, run_hosted, run_standalone):
    out = tmp_path / "out.tif"
    kw = dict(bundle=tmp_path / "fake_prob_model.zip", out=out)
    if way == "hosted":
        r = run_hosted(DRIVER, restore_args(**{"in": images["zcyx"]}, **kw), fake=True)
        tmpdir = run_hosted.tmpdir
    else:
        r = run_standalone(DRIVER, restore_args(**{"in": images["zcyx"]}, cli=fake_cli, **kw))
        tmpdir = run_standalone.tmpdir
    assert r.rc == 0, r.out + r.err
    meta = _check_result(out, images["zcyx"])
    assert meta.axes == "ZCYX" and meta.pixel_size == pytest.approx({"X": 0.1, "Y": 0.1, "Z": 0.5})
    assert "title=[hyper-CARE]" in r.line("RESULT") and "info=[test info]" in r.line("RESULT")
    assert r.line("INPUT") == "INPUT title=[hyper.tif] images_before=1 images_after=3"
    scale, _ = read_image(tmp_path / "out_scale.tif")
    assert np.all(scale == 0.5)
    assert leftovers(tmpdir) == []


def test_hosted_8bit_plane(images, tmp_path, run_hosted):
    out = tmp_path / "o.tif"
    r = run_hosted(DRIVER, restore_args(**{"in": images["yx8"]}, bundle=tmp_path / "fake_model.zip", out=out),
                   fake=True)
    assert r.rc == 0, r.out + r.err
    _check_result(out, images["yx8"])
    assert not (tmp_path / "o_scale.tif").exists()


@pytest.mark.parametrize("way", ["hosted", "standalone"])
@pytest.mark.parametrize("case,message", [
    ("no_image", "no image is open; open an image first"),
    ("missing_bundle", "does not exist; check the path"),
    ("rgb", "is an RGB image; convert it first"),
    ("runtime_failure", None),
])
def test_bad_input_stops_with_a_message_and_leaves_images_alone(way, case, message, images, tmp_path, fake_cli,
                                                                 run_hosted, run_standalone):
    src = images["rgb"] if case == "rgb" else images["zcyx"]
    bundle = {"missing_bundle": tmp_path / "nope.zip", "runtime_failure": tmp_path / "broken_model.zip"}.get(
        case, tmp_path / "fake_model.zip")
    args = restore_args(**{"in": src}, bundle=bundle, out=tmp_path / "out.tif", no_image="1" if case == "no_image" else "")
    if way == "hosted":
        r, tmpdir = run_hosted(DRIVER, args, fake=True), run_hosted.tmpdir
    else:
        r, tmpdir = run_standalone(DRIVER, args + f" cli=[{fake_cli}]"), run_standalone.tmpdir
    if message is None:  # the runtime itself fails: hosted = internal error, standalone = the CLI's message
        message = "simulated crash inside the runtime" if way == "hosted" else "bundle is broken; re-export it"
    assert f"CARE Restore: " in r.out and message in r.out, r.out + r.err
    assert r.line("REPLY") == "REPLY [aborted]"
    images_before = 0 if case == "no_image" else 1
    assert f"images_before={images_before} images_after={images_before}" in r.out
    assert not (tmp_path / "out.tif").exists()
    assert leftovers(tmpdir) == []


def test_missing_cli_names_the_fix_and_cleans_up(images, tmp_path, run_standalone):
    args = restore_args(**{"in": images["zcyx"]}, bundle=tmp_path / "fake_model.zip", out=tmp_path / "o.tif",
                        cli=tmp_path / "no" / "care-bridge")
    r = run_standalone(DRIVER, args)
    assert "care-bridge command line was not found" in r.out and "cli=[/path/to/care-bridge]" in r.out, r.out
    assert "images_before=1 images_after=1" in r.out
    assert leftovers(run_standalone.tmpdir) == []


def test_cli_path_is_remembered_in_preferences(images, tmp_path, fake_cli, run_standalone):
    macro = tmp_path / "twice.ijm"
    first = f"cli=[{fake_cli}]"
    macro.write_text(
        f'open("{images["yx8"]}");\n'
        f'r1 = runMacro("{MACROS / "CARE_Restore.ijm"}", "bundle=[{tmp_path / "fake_model.zip"}] via=[standalone] {first}");\n'
        f'r2 = runMacro("{MACROS / "CARE_Restore.ijm"}", "bundle=[{tmp_path / "fake_model.zip"}] via=[standalone]");\n'
        'print("R1 " + r1); print("R2 " + r2); print("PREF " + call("ij.Prefs.get", "care_bridge.cli", "unset"));\n'
    )
    r = run_standalone(macro)
    assert r.line("R1").startswith("R1 image=") and r.line("R2").startswith("R2 image="), r.out
    assert r.line("PREF") == f"PREF {fake_cli}"


@pytest.mark.parametrize("way", ["hosted", "standalone"])
def test_folder_restores_every_tiff_and_skips_failures(way, tmp_path, fake_cli, run_hosted, run_standalone):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(2)
    for i in range(2):
        write_tiff(src / f"img{i}.tif", rng.integers(0, 999, (12, 10), dtype=np.uint16), "YX")
    (src / "corrupt.tif").write_bytes(b"not a tiff")
    (src / "notes.txt").write_text("skip me")
    dst = tmp_path / "out"
    args = f"input=[{src}] output=[{dst}] bundle=[{tmp_path / 'fake_model.zip'}]"
    (tmp_path / "fake_model.zip").write_bytes(b"PK")
    macro = MACROS / "CARE_Restore_Folder.ijm"
    r = run_hosted(macro, args, fake=True) if way == "hosted" else run_standalone(macro, args + f" cli=[{fake_cli}]")
    assert "FAILED corrupt.tif" in r.out, r.out + r.err
    assert "restored=2 failed=1 skipped_not_tiff=1" in r.out
    assert sorted(p.name for p in dst.iterdir()) == ["img0-CARE.tif", "img1-CARE.tif"]
    _check_result(dst / "img1-CARE.tif", src / "img1.tif")


def test_model_info_hosted(tmp_path, run_hosted):
    (tmp_path / "fake_prob_model.zip").write_bytes(b"PK")
    r = run_hosted(MACROS / "CARE_Model_Info.ijm", f"bundle=[{tmp_path / 'fake_prob_model.zip'}]", fake=True)
    assert r.rc == 0 and "network axes: YX" in r.out and "probabilistic: yes" in r.out, r.out + r.err


def test_model_info_missing_bundle(tmp_path, run_standalone):
    r = run_standalone(MACROS / "CARE_Model_Info.ijm", f"bundle=[{tmp_path / 'none.zip'}]")
    assert "CARE Model Info: bundle" in r.out and "does not exist" in r.out
