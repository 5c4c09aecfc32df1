"""rdf.yaml is untrusted: alias bombs, deep nesting and huge files are refused while parsing, in one line."""

import time
import zipfile

import pytest

from care_bridge.bundle import open_bundle
from care_bridge.bundle.yaml_safe import load_untrusted_yaml
from care_bridge.errors import BundleError

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def test_alias_bomb_is_refused_before_it_expands():
    t0 = time.perf_counter()
    with pytest.raises(BundleError, match="YAML aliases"):
        load_untrusted_yaml(BILLION_LAUGHS)
    assert time.perf_counter() - t0 < 5  # refused while parsing, not after expanding 9**9 items


@pytest.mark.parametrize("text,needle", [
    ("a: " + "[" * 200 + "]" * 200, "nests deeper than 64"),
    ("a: !!python/object:os.system ls", "not valid YAML"),
    ("a: [1, 2", "not valid YAML"),
    ("x" * (5 << 20), "over 4 MiB"),
])
def test_malformed_descriptions_are_one_line_errors(text, needle):
    with pytest.raises(BundleError, match=needle) as e:
        load_untrusted_yaml(text)
    assert "\n" not in str(e.value)


def test_yaml_12_floats_and_plain_values_still_parse():
    assert load_untrusted_yaml("eps: 1e-06\nlist: [1, 2.5, x]\nd: {a: 1}\nanchor: &k 3\n") == {
        "eps": 1e-06, "list": [1, 2.5, "x"], "d": {"a": 1}, "anchor": 3}


def test_open_bundle_refuses_an_alias_bomb_rdf(tmp_path):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("rdf.yaml", BILLION_LAUGHS)
    with pytest.raises(BundleError, match="bomb.zip: rdf.yaml uses YAML aliases"):
        open_bundle(z)
