"""ImagePlus ↔ numpy in a real ImageJ 1.x: bit-exact for 8/16/32-bit, stacks and hyperstacks; calibration."""

import json
import subprocess
import sys

import pytest

from fiji_testlib import HELPERS, REPO


@pytest.fixture(scope="module")
def report(imagej_tools) -> dict:
    p = subprocess.run([sys.executable, str(HELPERS / "convert_roundtrip.py")], capture_output=True, text=True,
                       timeout=120, cwd=REPO, env={"PATH": "/usr/bin:/bin", "HOME": str(REPO)})
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("REPORT ")]
    assert line, p.stdout + p.stderr
    return json.loads(line[0][7:])


@pytest.mark.parametrize("case,axes,dtype", [
    ("u8_yx", "YX", "uint8"), ("u16_zyx", "ZYX", "uint16"), ("f32_cyx", "CYX", "float32"),
    ("f32_tzcyx", "TZCYX", "float32"), ("u16_tyx", "TYX", "uint16"),
])
def test_pixels_round_trip_bit_exactly(report, case, axes, dtype):
    r = report[case]
    assert r["equal"], r
    assert (r["axes"], r["dtype"]) == (axes, dtype)


def test_hyperstack_dimensions_and_composite(report):
    assert report["f32_tzcyx"]["dims"] == [2, 3, 2]
    assert report["f32_tzcyx"]["composite"] and report["f32_cyx"]["composite"]
    assert report["u16_tyx"]["dims"] == [1, 1, 4]


def test_calibration_and_properties_are_copied_with_size_ratio(report):
    c = report["calibration"]
    assert c["pixel"] == [0.2, 0.3, 1.5 / 4]
    assert c["unit"] == "micron" and c["frame_interval"] == 2.5
    assert c["info"] == "acquired 2024" and c["custom"] == "value"
    assert c["source_pixel_depth"] == 1.5  # the source is untouched
    assert c["meta"] == [{"X": 0.2, "Y": 0.3, "Z": 1.5}, "micron"]


def test_rgb_is_refused_with_the_fix(report):
    assert "RGB" in report["rgb_error"] and "16-bit" in report["rgb_error"]
