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
    with pytest.raises(BundleError, match=r"expands to \d+ nodes through its aliases"):
        load_untrusted_yaml(BILLION_LAUGHS)
    assert time.perf_counter() - t0 < 5  # counted, never expanded (9**9 items)


def test_a_few_shared_objects_are_fine():
    """PyYAML writes anchors and aliases for shared objects; a real description may contain them."""
    import yaml

    shared = {"type": "space", "id": "x"}
    text = yaml.safe_dump({"inputs": [{"axes": [shared]}, {"axes": [shared]}]})
    assert "&" in text and "*" in text
    assert load_untrusted_yaml(text) == {"inputs": [{"axes": [shared]}, {"axes": [shared]}]}


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
    with pytest.raises(BundleError, match="bomb.zip: rdf.yaml expands to"):
        open_bundle(z)
