"""Macro option strings, as ImageJ's run("…", "key=[value]") passes them."""

import pytest

from care_bridge.errors import CareBridgeError
from care_bridge.fiji.api import result_title
from care_bridge.fiji.options import format_options, n_tiles_for_runtime, parse_n_tiles, parse_options


def test_parse_options_brackets_flags_and_trailing_space():
    assert parse_options("op=restore bundle=[/a b/m.zip] n_tiles=auto plane ") == {
        "op": "restore", "bundle": "/a b/m.zip", "n_tiles": "auto", "plane": ""}
    assert parse_options(None) == {}


def test_format_then_parse_is_identity():
    opts = {"bundle": "/x y/[z.zip", "engine": "onnxruntime"}
    assert parse_options(format_options(**opts)) == opts
    with pytest.raises(CareBridgeError, match="]"):
        format_options(bundle="a]b")


@pytest.mark.parametrize("text,expected", [("auto", None), ("", None), ("4", (4,)), ("2,4,4", (2, 4, 4)),
                                           ("2x2", (2, 2))])
def test_parse_n_tiles(text, expected):
    assert parse_n_tiles(text) == expected


@pytest.mark.parametrize("bad", ["two", "0,2", "-1"])
def test_bad_n_tiles_names_the_fix(bad):
    with pytest.raises(CareBridgeError, match="n_tiles"):
        parse_n_tiles(bad)


def test_single_tile_count_is_spread_by_the_runtime():
    assert n_tiles_for_runtime((4,)) == 4 and n_tiles_for_runtime((2, 2)) == (2, 2)


def test_result_title_strips_tiff_extension():
    assert result_title("cells.tif") == "cells-CARE"
    assert result_title("a.b.OME.TIFF") == "a.b-CARE"
    assert result_title("Untitled") == "Untitled-CARE"
