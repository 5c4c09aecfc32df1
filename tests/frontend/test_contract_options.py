"""The front-end contract parses every option once: what each spelling a user may type in the CLI, an ImageJ
macro or a KNIME dialog means (the equivalence matrix then checks that every front end uses it)."""

import pytest

from care_bridge.describe import ReadoutRequest
from care_bridge.errors import CareBridgeError
from care_bridge.frontend import options as o
from care_bridge.frontend.naming import output_path, result_title, scale_path
from care_bridge.runtime.pipeline import spread_tiles, tile_counts


@pytest.mark.parametrize("text,expected", [
    ("auto", None), ("", None), (None, None), ("AUTO", None),
    ("none", 1),                       # one tile: no tiling
    ("4", 4), (" 4 ", 4), (4, 4),      # one number: the runtime spreads it over Y and X
    ("2,2", (2, 2)), ("2x2", (2, 2)), ("2 2", (2, 2)), ("[2 2]", (2, 2)), ("(2, 2)", (2, 2)),
    ("1,4,4", (1, 4, 4)), ("[1 4 4]", (1, 4, 4)), ((1, 4, 4), (1, 4, 4)), ([3], 3),
])
def test_n_tiles_spellings(text, expected):
    assert o.parse_n_tiles(text) == expected


@pytest.mark.parametrize("bad", ["two", "0,2", "-1", "2,,y", "2,x", "2,", "x2", "1,2,2,2", "2.5", True, "[2 2", 0])
def test_bad_n_tiles_is_one_line_naming_the_option(bad):
    with pytest.raises(CareBridgeError, match="n_tiles") as e:
        o.parse_n_tiles(bad)
    assert "\n" not in str(e.value)


def test_one_number_spreads_over_y_and_x_by_factors_of_two():
    # derived by hand: 4 = 2 x 2 on (Y, X); 8 = 2 x 4; 3 is prime and goes to X alone
    assert spread_tiles(4, 2) == (2, 2) and spread_tiles(4, 3) == (1, 2, 2)
    assert spread_tiles(8, 2) == (2, 4) and spread_tiles(3, 2) == (1, 3) and spread_tiles(1, 3) == (1, 1, 1)
    assert tile_counts(4, "YX") == (2, 2) and tile_counts((2, 3), "YX") == (2, 3)
    with pytest.raises(CareBridgeError, match="needs 3 values"):
        tile_counts((2, 2), "ZYX")


@pytest.mark.parametrize("text,expected", [
    ("512M", 512 * 2**20), ("2G", 2 * 2**30), ("2g", 2 * 2**30), ("2GB", 2 * 2**30), ("2GiB", 2 * 2**30),
    ("1.5e9", 1.5e9), ("64k", None), ("auto", None), ("", None), (None, None), (2e9, 2e9),
])
def test_memory_budget_spellings(text, expected):
    if text == "64k":
        with pytest.raises(CareBridgeError, match="at least 1M"):
            o.parse_memory_budget(text)
    else:
        assert o.parse_memory_budget(text) == expected


@pytest.mark.parametrize("bad", ["lots", "2X", "-1G", "nan"])
def test_bad_memory_budget(bad):
    with pytest.raises(CareBridgeError, match="memory budget"):
        o.parse_memory_budget(bad)


def test_engine_bool_axes_suffix():
    assert o.parse_engine(None) == "auto" and o.parse_engine("ONNXRuntime") == "onnxruntime"
    with pytest.raises(CareBridgeError, match="engine 'caffe' is unknown"):  # torch is an engine since #13
        o.parse_engine("caffe")
    assert o.parse_bool("true") and o.parse_bool("1") and o.parse_bool(True)
    assert not o.parse_bool("") and not o.parse_bool("false") and not o.parse_bool(None)
    with pytest.raises(CareBridgeError, match="overwrite"):
        o.parse_bool("maybe", "overwrite")
    assert o.parse_axes("zyx") == "ZYX" and o.parse_axes("") is None
    with pytest.raises(CareBridgeError, match="axes"):
        o.parse_axes("ZZY")
    with pytest.raises(CareBridgeError, match="suffix"):
        o.parse_suffix("../x")


def test_restore_options_from_a_mapping_of_strings():
    got = o.restore_options({"n_tiles": "[2 2]", "memory_budget": "512M", "engine": "onnxruntime",
                             "overwrite": "true", "axes": "tyx", "suffix": "-CARE", "bundle": "ignored"})
    assert got == o.RestoreOptions(engine="onnxruntime", n_tiles=(2, 2), memory_budget=512 * 2**20, axes="TYX",
                                   overwrite=True, suffix="-CARE")
    assert o.restore_options({}) == o.RestoreOptions()


def test_naming():
    assert result_title("cells.tif") == "cells-CARE" and result_title("a.b.OME.TIFF") == "a.b-CARE"
    assert result_title("Untitled") == "Untitled-CARE"
    assert output_path("/o", "/i/cells.tif", "") .as_posix() == "/o/cells.tif"
    assert output_path("/o", "/i/cells.TIFF", "-CARE").as_posix() == "/o/cells-CARE.TIFF"
    assert output_path("/o", "/i/raw.png", "").as_posix() == "/o/raw.tif"
    assert scale_path("/o/cells.tif").as_posix() == "/o/cells_scale.tif"


def test_the_macros_title_rule_is_the_pythons():
    """CARE_Restore.ijm computes result titles itself (both Fiji paths use it); it must match result_title."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "fiji_macros" / "CARE_Restore.ijm").read_text()
    assert 'exts = newArray(".ome.tiff", ".ome.tif", ".tiff", ".tif");' in text
    assert '+ "-CARE";' in text
    from care_bridge.frontend.naming import _TIFF_EXTS

    assert _TIFF_EXTS == (".ome.tiff", ".ome.tif", ".tiff", ".tif")


@pytest.mark.parametrize("text,want", [
    ("", ()), ("none", ()), ("std", ("std",)), ("disagreement,std", ("std", "disagreement")),
    ("interval samples", ("interval", "samples")), ("STD; Interval", ("std", "interval")),
    (["samples", "std"], ("std", "samples")),
])
def test_readout_spellings(text, want):
    assert o.parse_readouts(text) == want


def test_unknown_readout_names_the_choices():
    with pytest.raises(CareBridgeError, match="readout 'variance' is unknown; choose from std, disagreement"):
        o.parse_readouts("std,variance")


@pytest.mark.parametrize("text,want", [(None, 0.9), ("", 0.9), ("0.95", 0.95), ("95%", 0.95), ("80", 0.8),
                                       (0.5, 0.5)])
def test_level_spellings(text, want):
    assert o.parse_level(text) == pytest.approx(want)


@pytest.mark.parametrize("text", ["0", "100", "1", "-0.2", "abc", "150%"])
def test_bad_levels(text):
    with pytest.raises(CareBridgeError, match="level"):
        o.parse_level(text)


@pytest.mark.parametrize("text", ["0", "-3", "2.5", "1001", "many"])
def test_bad_sample_counts(text):
    with pytest.raises(CareBridgeError, match="n_samples"):
        o.parse_n_samples(text)


def test_readouts_in_the_restore_options():
    got = o.restore_options({"readouts": "interval,samples", "level": "95%", "n_samples": "4"})
    assert got.readouts == ReadoutRequest(interval=True, level=0.95, samples=4)
    assert o.restore_options({"n_samples": "4"}).readouts == ReadoutRequest()  # samples only when asked for


@pytest.mark.parametrize("text,want", [(None, None), ("", None), ("all", None), ("0,2", (0, 2)), ("2 0", (2, 0)),
                                       ("[1]", (1,)), ("(0, 3)", (0, 3)), ([1, 0], (1, 0))])
def test_channel_spellings(text, want):
    assert o.parse_channels(text) == want


@pytest.mark.parametrize("text", ["a", "1,1", "-1", "0;2", [True], "1.5"])
def test_bad_channels(text):
    with pytest.raises(CareBridgeError, match="channels"):
        o.parse_channels(text)


@pytest.mark.parametrize("text,want", [(None, "auto"), ("", "auto"), ("OME", "ome-tiff"), ("ome.tif", "ome-tiff"),
                                       ("ImageJ", "imagej"), ("tiff", "imagej"), ("ome_tiff", "ome-tiff")])
def test_output_format_spellings(text, want):
    assert o.parse_output_format(text) == want


@pytest.mark.parametrize("text,want", [(None, "float32"), ("", "float32"), ("float", "float32"), ("input", "input"),
                                       ("same", "input")])
def test_dtype_spellings(text, want):
    assert o.parse_dtype(text) == want


def test_io_options_in_the_restore_options_and_their_errors():
    got = o.restore_options({"planewise": "yes", "channels": "1,0", "output_format": "ome", "dtype": "input"})
    assert (got.planewise, got.channels, got.output_format, got.dtype) == (True, (1, 0), "ome-tiff", "input")
    for key, bad in (("output_format", "png"), ("dtype", "int8"), ("planewise", "maybe")):
        with pytest.raises(CareBridgeError, match=key.replace("_", " ") if key != "planewise" else key):
            o.restore_options({key: bad})
