"""Spec 0.4 bundles, their ``bioimageio update-format`` conversion and the equivalent spec 0.5 bundle are read
alike and restore identically (#13): the spec's defaults (omitted axis ids, scale, halo, processing axes) are
filled by care_bridge's own parser, which the runtime-only install uses too; bioimageio.spec's converter is run
here as the reference."""

from __future__ import annotations

import numpy as np
import pytest

from care_bridge import runtime
from care_bridge.bundle import open_bundle
from care_bridge.bundle.inspect import inspect_bundle
from care_bridge.errors import BundleError

from zoo_bundles import update_format, write_v04, write_v05

# (0.4 preprocessing, the same in 0.5, input channels)
PRE = {
    "scale_range per channel": (
        [{"name": "scale_range", "kwargs": {"mode": "per_sample", "axes": "xy", "min_percentile": 1.0,
                                            "max_percentile": 99.8}}],
        [{"id": "scale_range", "kwargs": {"axes": ["x", "y"], "min_percentile": 1.0, "max_percentile": 99.8}}], 2),
    "scale_range jointly": (
        [{"name": "scale_range", "kwargs": {"mode": "per_sample", "axes": "cxy", "min_percentile": 2.0,
                                            "max_percentile": 99.0}}],
        [{"id": "scale_range", "kwargs": {"axes": ["channel", "y", "x"], "min_percentile": 2.0,
                                          "max_percentile": 99.0}}], 2),
    "zero_mean_unit_variance per sample": (
        [{"name": "zero_mean_unit_variance", "kwargs": {"mode": "per_sample", "axes": "yx"}}],
        [{"id": "zero_mean_unit_variance", "kwargs": {"axes": ["y", "x"]}}], 2),
    "zero_mean_unit_variance fixed per channel": (
        [{"name": "zero_mean_unit_variance", "kwargs": {"mode": "fixed", "axes": "xy", "mean": [0.3, 0.6],
                                                        "std": [0.2, 0.5]}}],
        [{"id": "fixed_zero_mean_unit_variance", "kwargs": {"axis": "channel", "mean": [0.3, 0.6],
                                                            "std": [0.2, 0.5]}}], 2),
}
POST04 = [{"name": "scale_linear", "kwargs": {"axes": "xy", "gain": [2.0], "offset": [0.5]}},
          {"name": "clip", "kwargs": {"min": -1.0, "max": 3.0}}]
POST05 = [{"id": "scale_linear", "kwargs": {"axis": "channel", "gain": [2.0], "offset": [0.5]}},
          {"id": "clip", "kwargs": {"min": -1.0, "max": 3.0}}]


def _image(c_in: int, shape=(70, 90)) -> np.ndarray:
    rng = np.random.default_rng(7)
    img = rng.gamma(2.0, 50.0, (c_in, *shape)).astype(np.float32)
    img[-1] *= 3.0  # channels of different brightness: per-channel and joint statistics differ
    return img


def _ops(info) -> list:
    """The processing ops but the float32 casts, with the (unordered) reduction axes sorted."""
    return [{"id": op["id"], "kwargs": {k: sorted(v) if k == "axes" else v for k, v in op["kwargs"].items()}}
            for op in info.preprocessing + info.postprocessing if op["id"] != "ensure_dtype"]


@pytest.mark.parametrize("name", list(PRE))
def test_a_04_bundle_its_update_format_conversion_and_the_05_bundle_restore_identically(tmp_path, name):
    pre04, pre05, c_in = PRE[name]
    kind = "unet"
    b04 = write_v04(tmp_path / "v04", kind=kind, c_in=c_in, size=(32, 8), halo=8, pre=pre04, post=POST04)
    b05 = write_v05(tmp_path / "v05", kind=kind, c_in=c_in, size=(32, 8), halo=8, pre=pre05, post=POST05)
    conv = update_format(b04, tmp_path / "updated")
    assert "0.5." in (conv / "rdf.yaml").read_text().split("format_version:")[1].split("\n")[0]
    infos = {}
    for tag, folder in (("0.4", b04), ("update-format", conv), ("0.5", b05)):
        with open_bundle(folder) as b:
            infos[tag] = b.info
    for tag, info in infos.items():
        ref = infos["0.5"]
        assert (info.axes, info.halo, info.step, info.min_size, info.scale, info.input_layout, info.output_layout,
                info.n_channel_in, info.n_channel_out) == (ref.axes, ref.halo, ref.step, ref.min_size, ref.scale,
                                                           ref.input_layout, ref.output_layout, ref.n_channel_in,
                                                           ref.n_channel_out), tag
        assert _ops(info) == _ops(ref), tag
    img = _image(c_in)
    out = {}
    for tag, folder in (("0.4", b04), ("update-format", conv), ("0.5", b05)):
        r = runtime.load(folder)
        out[tag] = r.restore(img, "CYX", n_tiles=1).image
        tiled = r.restore(img, "CYX", n_tiles=(2, 3))
        assert tiled.n_tiles == (2, 3)
        np.testing.assert_array_equal(tiled.image, out[tag], err_msg=f"{tag}: tiled != untiled")
    np.testing.assert_array_equal(out["0.4"], out["0.5"])
    np.testing.assert_array_equal(out["update-format"], out["0.5"])


def test_the_spec_processing_defaults_are_filled(tmp_path):
    """``scale_range`` without ``axes`` normalizes every axis jointly (spec 0.5's default); with axes it runs per
    channel unless they name the channel axis (whatever its id)."""
    joint = write_v05(tmp_path / "joint", c_in=2, pre=[{"id": "scale_range", "kwargs": {"max_percentile": 99.0}}])
    named = write_v05(tmp_path / "named", c_in=2, pre=[{"id": "scale_range", "kwargs": {
        "axes": ["channel", "y", "x"], "max_percentile": 99.0}}])
    per_channel = write_v05(tmp_path / "per", c_in=2, pre=[{"id": "scale_range", "kwargs": {
        "axes": ["y", "x"], "max_percentile": 99.0}}])
    with open_bundle(joint) as b:
        assert b.info.preprocessing[0]["kwargs"]["axes"] == ["b", "c", "y", "x"]
    img = _image(2)
    a, b_, c = (runtime.load(f).restore(img, "CYX").image for f in (joint, named, per_channel))
    np.testing.assert_array_equal(a, b_)
    assert np.abs(a - c).max() > 1e-3


def test_omitted_axis_ids_take_the_spec_defaults(tmp_path):
    """The issue's case: an update-format'ed description omits the x axis id (the default); before #13 this was
    "tensor 'raw' has a space axis ''"."""
    folder = write_v05(tmp_path / "omit", omit_defaults=True)
    text = (folder / "rdf.yaml").read_text()
    assert "\n    id: x" not in text and "  - type: space\n" in text
    full = write_v05(tmp_path / "full")
    with open_bundle(folder) as b, open_bundle(full) as f:
        assert b.info == f.info
        assert [a["id"] for a in b.rdf["inputs"][0]["axes"]] == ["batch", "channel", "y", "x"]


def test_update_format_of_a_05_bundle_reads_the_same(tmp_path):
    b05 = write_v05(tmp_path / "v05", kind="unet", size=(32, 8), halo=8)
    conv = update_format(b05, tmp_path / "updated")
    with open_bundle(b05) as a, open_bundle(conv) as b:
        assert _ops(a.info) == _ops(b.info)
        assert (a.info.axes, a.info.halo, a.info.step, a.info.min_size) == (b.info.axes, b.info.halo, b.info.step,
                                                                             b.info.min_size)


def test_a_04_bundle_with_fixed_shape_and_its_conversion(tmp_path):
    b04 = write_v04(tmp_path / "v04", size=48, halo=4)
    conv = update_format(b04, tmp_path / "updated")
    for folder in (b04, conv):
        with open_bundle(folder) as b:
            assert (b.info.step, b.info.min_size, b.info.halo) == ((0, 0), (48, 48), (4, 4))
    img = _image(1, (100, 70))[0]
    a, b = (runtime.load(f).restore(img, "YX").image for f in (b04, conv))
    np.testing.assert_array_equal(a, b)


def test_04_inspect_names_the_files_version_and_the_runtime_reads_its_tensors(tmp_path):
    b04 = write_v04(tmp_path / "v04")
    d = inspect_bundle(b04)
    assert d["format_version"] == "0.4.10" and d["axes"] == "YX" and d["test_tensors"]["inputs"] == [[1, 1, 32, 32]]


@pytest.mark.parametrize("edit, match", [
    (lambda r: r["inputs"][0].update(axes="bcyxx"), "distinct letters"),
    (lambda r: r["inputs"][0].update(axes=["b", "c"]), "axes"),
    (lambda r: r["inputs"][0]["shape"].update(min=[1, 1, 16]), "one per axis"),
    (lambda r: r["inputs"][0].update(shape=[1, 10**9, 16, 16]), "shape is 1000000000"),
    (lambda r: r["outputs"][0].update(halo="4"), "halo"),
    (lambda r: r["inputs"][0]["preprocessing"].append({"name": "scale_mean_variance", "kwargs": {
        "mode": "per_sample", "reference_tensor": "raw"}}), "processing op 'scale_mean_variance'"),
    (lambda r: r["inputs"][0].update(preprocessing=[{"name": "scale_linear", "kwargs": {"axes": "x", "gain": 2.0}}]),
     "leave more than one axis"),
    (lambda r: r.update(attachments=["a.txt"]), "attachments must be a mapping"),
])
def test_malformed_04_descriptions_are_one_line(tmp_path, edit, match):
    import yaml

    folder = write_v04(tmp_path / "v04")
    rdf = yaml.safe_load((folder / "rdf.yaml").read_text())
    edit(rdf)
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    with pytest.raises(BundleError, match=match) as e:
        open_bundle(folder)
    assert "\n" not in str(e.value)


ODD = [None, [], {}, "x", -1, 0, 2.5, 1e300, True, [[]], [{}], {"a": 1}, "bcyx" * 10]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def test_every_odd_value_anywhere_in_a_04_description_is_a_one_line_error_or_read(tmp_path):
    """The 0.4 conversion runs before the description is checked: any value of any kind anywhere is either read
    or refused with a BundleError (open_bundle turns the listed errors of the later reading into one too)."""
    import copy

    import yaml

    from care_bridge.bundle.rdf_parse import check_format, info_from_tensors

    rdf = yaml.safe_load((write_v04(tmp_path / "v04", pre=PRE["scale_range jointly"][0], post=POST04)
                          / "rdf.yaml").read_text())
    tried = 0
    for path in list(_paths(rdf))[1:]:
        if path[0] in ("format_version", "type"):
            continue
        for value in ODD:
            bad = copy.deepcopy(rdf)
            node = bad
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value
            tried += 1
            try:
                converted = check_format(bad, "fuzz")  # before open_bundle's net: BundleError only
            except BundleError as e:
                assert "\n" not in str(e)
                continue
            try:
                info_from_tensors(converted, "fuzz")
            except BundleError as e:
                assert "\n" not in str(e)
            except (AttributeError, TypeError, KeyError, IndexError, ValueError, StopIteration, OverflowError):
                pass  # open_bundle reports these as "rdf.yaml is malformed" (one line)
    assert tried > 500


def test_restoring_a_04_bundle_imports_no_pydantic_bioimageio_or_torch(tmp_path):
    import json
    import os
    import subprocess
    import sys

    folder = write_v04(tmp_path / "v04", kind="unet", size=(32, 8), halo=8)
    code = (f"import json, sys, numpy as np\nfrom care_bridge import runtime\nr = runtime.load({str(folder)!r})\n"
            "r.restore(np.random.default_rng(0).random((70, 50)).astype('float32'), 'YX', n_tiles=(2, 2))\n"
            "print(json.dumps(sorted(m for m in ('pydantic', 'bioimageio', 'torch', 'tensorflow') "
            "if any(k == m or k.startswith(m + '.') for k in sys.modules))))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []
