"""Image metadata in and out (issue #12): ImageJ hyperstacks and OME-TIFF, values checked against what was
written by tifffile directly (not by care_bridge's writer), and care_bridge's writer read back."""

import numpy as np
import pytest
import tifffile

from care_bridge.errors import CareBridgeError
from care_bridge.io import ImageMeta, read_image, write_image
from care_bridge.io.ome import parse_ome
from care_bridge.io.tiff import cast_to


def test_imagej_frame_interval_info_labels_and_calibration(tmp_path):
    p = tmp_path / "ij.tif"
    a = np.zeros((3, 2, 8, 9), np.uint16)  # T Z Y X
    tifffile.imwrite(p, a, imagej=True, resolution=(4.0, 5.0), metadata={
        "axes": "TZYX", "finterval": 2.5, "unit": "micron", "spacing": 0.75, "Info": "Exposure=20ms\nLaser=488",
        "Labels": [f"t{t}z{z}" for t in range(3) for z in range(2)]})
    x, m = read_image(p)
    assert x.shape == (3, 2, 8, 9) and m.axes == "TZYX" and m.format == "imagej"
    assert m.pixel_size == pytest.approx({"X": 0.25, "Y": 0.2, "Z": 0.75}) and m.unit == "micron"
    assert m.time_interval == 2.5 and m.info == "Exposure=20ms\nLaser=488" and m.labels[3] == "t1z1"
    out = tmp_path / "out.tif"
    write_image(out, x.astype(np.float32), "TZYX", meta=m)
    with tifffile.TiffFile(out) as tf:
        ij = tf.imagej_metadata
    assert ij["finterval"] == 2.5 and ij["Info"] == "Exposure=20ms\nLaser=488" and ij["Labels"][3] == "t1z1"
    assert ij["spacing"] == 0.75 and ij["unit"] == "micron"


def test_labels_are_dropped_when_the_planes_change(tmp_path):
    m = ImageMeta(labels=["a", "b", "c"])
    write_image(tmp_path / "o.tif", np.zeros((5, 4, 4), np.float32), "ZYX", meta=m)
    with tifffile.TiffFile(tmp_path / "o.tif") as tf:
        assert "Labels" not in tf.imagej_metadata


def test_ome_units_are_converted_to_the_x_unit():
    xml = ('<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="Image:0"><Pixels '
           'ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" SizeX="4" SizeY="4" SizeZ="3" SizeC="2" SizeT="1" '
           'PhysicalSizeX="0.1" PhysicalSizeY="100" PhysicalSizeYUnit="nm" PhysicalSizeZ="0.002" '
           'PhysicalSizeZUnit="mm" TimeIncrement="250" TimeIncrementUnit="ms"><Channel ID="Channel:0:0" '
           'Name="GFP"/><Channel ID="Channel:0:1" Name="RFP"/></Pixels></Image></OME>')
    got = parse_ome(xml)
    assert got["unit"] == "µm"  # the OME default unit of PhysicalSizeX
    assert got["pixel_size"] == pytest.approx({"X": 0.1, "Y": 0.1, "Z": 2.0})
    assert got["time_interval"] == 250 and got["time_unit"] == "ms" and got["channel_names"] == ["GFP", "RFP"]
    assert parse_ome("<not xml") == {} and parse_ome(None) == {}


def test_cast_to_rounds_half_to_even_and_clips():
    x = np.array([-3.2, 0.5, 1.5, 2.5, 65535.4, 70000.0], np.float32)
    assert cast_to(x, np.uint16).tolist() == [0, 0, 2, 2, 65535, 65535]
    assert cast_to(x, np.int8).tolist() == [-3, 0, 2, 2, 127, 127]
    with pytest.raises(CareBridgeError, match="ImageJ TIFF cannot hold int32"):
        write_image("/tmp/never.tif", np.zeros((2, 2), np.int32), "YX", dtype=np.int32)
