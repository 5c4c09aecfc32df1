"""OME-TIFF metadata through every mode's geometry (issue #12), values derived by hand: an OME-TIFF stack with
X/Y 0.1 µm, Z 0.8 µm, a 2 s time increment and a channel name, restored by the CLI into an OME-TIFF."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from care_bridge.cli.main import main
from care_bridge.io import read_image

# kind: (expected pixel sizes of the output, expected output axes)
EXPECTED = {
    "3d": ({"X": 0.1, "Y": 0.1, "Z": 0.8}, "TZYX"),
    "isotropic": ({"X": 0.1, "Y": 0.1, "Z": 0.2}, "TZYX"),  # x4 along Z: input plane k on output plane 4k
    "upsampling": ({"X": 0.1, "Y": 0.1, "Z": 0.4}, "TZYX"),  # x2 along Z
    "projection": ({"X": 0.1, "Y": 0.1}, "TYX"),  # Z is gone
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_ome_metadata_is_rescaled_by_each_mode(kind, onnx_bundle, tmp_path):
    src = tmp_path / "stack.ome.tif"
    rng = np.random.default_rng(2)
    tifffile.imwrite(src, rng.integers(0, 2000, (2, 1, 6, 32, 36), dtype=np.uint16), ome=True,
                     photometric="minisblack", metadata={
                         "axes": "TCZYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, "PhysicalSizeZ": 800,
                         "PhysicalSizeZUnit": "nm", "TimeIncrement": 2.0, "Channel": {"Name": ["Lifeact"]}})
    out = tmp_path / "out.ome.tif"
    assert main(["predict", "--bundle", str(onnx_bundle(kind)), "--input", str(src), "--output", str(out),
                 "--quiet"]) == 0
    px, axes = EXPECTED[kind]
    x, meta = read_image(out)
    assert meta.format == "ome-tiff" and meta.axes == axes
    assert meta.pixel_size == pytest.approx(px) and meta.unit == "µm"
    assert meta.time_interval == 2.0
