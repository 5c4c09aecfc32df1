"""Macro option strings, as ImageJ's run("…", "key=[value]") passes them."""

import pytest

from care_bridge.errors import CareBridgeError
from care_bridge.fiji.options import format_options, parse_options


def test_parse_options_brackets_flags_and_trailing_space():
    assert parse_options("op=restore bundle=[/a b/m.zip] n_tiles=auto plane ") == {
        "op": "restore", "bundle": "/a b/m.zip", "n_tiles": "auto", "plane": ""}
    assert parse_options(None) == {}


def test_format_then_parse_is_identity():
    opts = {"bundle": "/x y/[z.zip", "engine": "onnxruntime"}
    assert parse_options(format_options(**opts)) == opts
    with pytest.raises(CareBridgeError, match="]"):
        format_options(bundle="a]b")
