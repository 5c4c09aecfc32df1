"""Round-trips numpy → ImagePlus → numpy in a real ImageJ 1.x (JPype, headless) and prints one JSON report."""

import json
import os
import sys

import numpy as np

from care_bridge.fiji import start_imagej
from care_bridge.fiji.convert import array_to_imageplus, copy_calibration, imageplus_to_array, meta_from_imageplus


def bits(a: np.ndarray) -> np.ndarray:
    return a.view({1: np.uint8, 2: np.uint16, 4: np.uint32}[a.itemsize])


def main() -> dict:
    start_imagej(headless=True)
    rng = np.random.default_rng(0)
    f32 = rng.normal(size=(2, 3, 2, 17, 23)).astype(np.float32)
    f32[0, 0, 0, 0, :3] = [np.nan, np.inf, -0.0]
    cases = {
        "u8_yx": (rng.integers(0, 256, (31, 45), dtype=np.uint8), "YX"),
        "u16_zyx": (rng.integers(0, 65536, (5, 31, 45), dtype=np.uint16), "ZYX"),
        "f32_cyx": (rng.normal(size=(3, 16, 9)).astype(np.float32), "CYX"),
        "f32_tzcyx": (f32, "TZCYX"),
        "u16_tyx": (rng.integers(0, 65536, (4, 8, 8), dtype=np.uint16), "TYX"),
    }
    report: dict = {}
    for name, (arr, axes) in cases.items():
        imp = array_to_imageplus(arr, axes, name)
        back, back_axes = imageplus_to_array(imp)
        report[name] = {
            "axes": back_axes,
            "dtype": str(back.dtype),
            "equal": back.shape == arr.shape and bool(np.array_equal(bits(back), bits(arr))),
            "dims": [int(imp.getNChannels()), int(imp.getNSlices()), int(imp.getNFrames())],
            "composite": bool(imp.isComposite()),
        }
    src = array_to_imageplus(cases["u16_zyx"][0], "ZYX", "src")
    cal = src.getCalibration()
    cal.pixelWidth, cal.pixelHeight, cal.pixelDepth = 0.2, 0.3, 1.5
    cal.setUnit("micron")
    cal.frameInterval = 2.5
    src.setProperty("Info", "acquired 2024")
    src.setProperty("custom", "value")
    dst = array_to_imageplus(rng.normal(size=(20, 31, 45)).astype(np.float32), "ZYX", "dst")
    copy_calibration(src, dst, {"Z": 0.25})
    dc = dst.getCalibration()
    meta = meta_from_imageplus(src)
    report["calibration"] = {
        "pixel": [float(dc.pixelWidth), float(dc.pixelHeight), float(dc.pixelDepth)],
        "unit": str(dc.getUnit()),
        "frame_interval": float(dc.frameInterval),
        "info": str(dst.getProperty("Info")),
        "custom": str(dst.getProperty("custom")),
        "source_pixel_depth": float(src.getCalibration().pixelDepth),
        "meta": [meta.pixel_size, meta.unit],
    }
    rgb = src.getProcessor().convertToRGB()
    try:
        imageplus_to_array(type(src)("rgb", rgb))
        report["rgb_error"] = ""
    except Exception as e:
        report["rgb_error"] = str(e)
    return report


if __name__ == "__main__":
    print("REPORT " + json.dumps(main()))
    sys.stdout.flush()
    os._exit(0)
