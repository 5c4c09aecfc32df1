"""Fuzzing the untrusted inputs (issue #14): rdf.yaml, bundle zips, ONNX graphs and TIFF files.

Each target mutates a valid input (structure-aware for rdf.yaml, byte-level for the binary formats) and feeds it
to the code a user's command runs; the only acceptable outcomes are success or a one-line
:class:`~care_bridge.errors.CareBridgeError`. Any other exception is a finding: minimize it (hypothesis prints
the smallest failing example) and add it to the catalogue (``catalogue.py``) as a regression test.

The run is bounded for CI: ``CARE_BRIDGE_FUZZ_EXAMPLES`` examples per target (default 120), derandomized so
that CI is reproducible. For a longer exploratory run: ``CARE_BRIDGE_FUZZ_EXAMPLES=5000
CARE_BRIDGE_FUZZ_RANDOM=1 pytest tests/hostile/test_fuzz.py``.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from care_bridge.errors import CareBridgeError
from onnx_bundles import write_bundle

EXAMPLES = int(os.environ.get("CARE_BRIDGE_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize=os.environ.get("CARE_BRIDGE_FUZZ_RANDOM") != "1",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def _one_line(e: CareBridgeError) -> None:
    msg = str(e)
    assert msg and "\n" not in msg and len(msg) < 2000, msg


@pytest.fixture(scope="module")
def seed_bundle(tmp_path_factory) -> Path:
    """An unpacked tiny bundle (ONNX weights, test tensors, rdf.yaml with sha256s)."""
    root = tmp_path_factory.mktemp("fuzz_seed")
    z = write_bundle("2d", root)
    folder = root / "unpacked"
    with zipfile.ZipFile(z) as zf:
        zf.extractall(folder)
    return folder


# ------------------------------------------------------------------ byte mutations
@st.composite
def mutations(draw, size: int, hot: int | None = None):
    """A list of edits of a byte string of ``size`` bytes; ``hot`` biases positions to the first bytes (headers)."""
    edits = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "zero"]))
        limit = min(size - 1, hot) if hot and draw(st.booleans()) else size - 1
        pos = draw(st.integers(0, max(limit, 0)))
        if kind == "flip":
            edits.append((kind, pos, 1 << draw(st.integers(0, 7))))
        elif kind == "set":
            edits.append((kind, pos, draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01]))))
        elif kind == "insert":
            edits.append((kind, pos, draw(st.binary(min_size=1, max_size=16))))
        elif kind == "delete":
            edits.append((kind, pos, draw(st.integers(1, 64))))
        elif kind == "zero":
            edits.append((kind, pos, draw(st.integers(1, 8))))
        else:
            edits.append((kind, pos, None))
    return edits


def apply_mutations(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for kind, pos, arg in edits:
        pos = min(pos, max(len(b) - 1, 0))
        if not b:
            break
        if kind == "flip":
            b[pos] ^= arg
        elif kind == "set":
            b[pos] = arg
        elif kind == "insert":
            b[pos:pos] = arg
        elif kind == "delete":
            del b[pos:pos + arg]
        elif kind == "zero":
            b[pos:pos + arg] = bytes(len(b[pos:pos + arg]))
        else:
            del b[pos:]
    return bytes(b)


# ------------------------------------------------------------------ rdf.yaml (structure-aware)
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**63), st.sampled_from([0, -1, 10**12, 2**31]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["../../etc/passwd", "/etc/passwd", "https://example.org/w.onnx", "", "x" * 300, "ZYX", "bcyx"]),
    st.lists(st.integers(-3, 3), max_size=4), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@st.composite
def rdf_edits(draw, rdf: dict):
    paths = [p for p in _paths(rdf) if p]
    return [(draw(st.sampled_from(paths)), draw(st.sampled_from(["delete", "replace", "wrap"])), draw(ODD_VALUES))
            for _ in range(draw(st.integers(1, 4)))]


def apply_rdf_edits(rdf: dict, edits) -> dict:
    import copy

    rdf = copy.deepcopy(rdf)
    for path, kind, value in edits:
        node = rdf
        try:
            for k in path[:-1]:
                node = node[k]
            key = path[-1]
            if kind == "delete":
                del node[key]
            elif kind == "replace":
                node[key] = value
            else:
                node[key] = [node[key]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed the path
    return rdf


def _restore_and_inspect(folder: Path) -> None:
    from care_bridge import runtime
    from care_bridge.frontend import describe_bundle_text

    try:
        describe_bundle_text(folder)
        r = runtime.load(folder)
        r.restore(np.random.default_rng(0).random((24, 20)).astype(np.float32), "YX", n_tiles=(2, 2))
    except CareBridgeError as e:
        _one_line(e)


@FUZZ
@given(data=st.data())
def test_fuzz_rdf_structure(seed_bundle, tmp_path_factory, data):
    rdf = yaml.safe_load((seed_bundle / "rdf.yaml").read_text())
    edited = apply_rdf_edits(rdf, data.draw(rdf_edits(rdf)))
    folder = tmp_path_factory.mktemp("rdf")
    shutil.copytree(seed_bundle, folder, dirs_exist_ok=True)
    (folder / "rdf.yaml").write_text(yaml.safe_dump(edited, sort_keys=False))
    _restore_and_inspect(folder)


@FUZZ
@given(data=st.data())
def test_fuzz_rdf_text(seed_bundle, tmp_path_factory, data):
    text = (seed_bundle / "rdf.yaml").read_bytes()
    folder = tmp_path_factory.mktemp("rdftext")
    shutil.copytree(seed_bundle, folder, dirs_exist_ok=True)
    (folder / "rdf.yaml").write_bytes(apply_mutations(text, data.draw(mutations(len(text)))))
    _restore_and_inspect(folder)


# ------------------------------------------------------------------ zip structure
@FUZZ
@given(data=st.data())
def test_fuzz_bundle_zip_bytes(seed_bundle, tmp_path_factory, data):
    from care_bridge.bundle import open_bundle

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(seed_bundle.iterdir()):
            zf.write(p, p.name)
    raw = buf.getvalue()
    # local headers, and the central directory at the end: both hot spots
    edits = data.draw(mutations(len(raw), hot=256))
    if data.draw(st.booleans()):
        edits = [(k, len(raw) - 1 - min(p, 200), a) if k != "truncate" else (k, p, a) for k, p, a in edits]
    path = tmp_path_factory.mktemp("zip") / "b.zip"
    path.write_bytes(apply_mutations(raw, edits))
    try:
        b = open_bundle(path)
        b.close() if hasattr(b, "close") else None
    except CareBridgeError as e:
        _one_line(e)


# ------------------------------------------------------------------ ONNX graphs
@FUZZ
@given(data=st.data())
def test_fuzz_onnx_bytes(seed_bundle, tmp_path_factory, data):
    from care_bridge.bundle import open_bundle
    from care_bridge.runtime.engines import OnnxEngine
    from care_bridge.runtime.onnx_guard import check_onnx_model

    raw = (seed_bundle / "model.onnx").read_bytes()
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    path.write_bytes(apply_mutations(raw, data.draw(mutations(len(raw), hot=400))))
    info = open_bundle(seed_bundle).info
    try:
        check_onnx_model(path)
        engine = OnnxEngine(path, info)
        engine.run(np.zeros((1, 24, 20, 1), np.float32))
    except CareBridgeError as e:
        _one_line(e)


# ------------------------------------------------------------------ TIFF files
def _seed_tiffs() -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for kw, arr in [({}, rng.integers(0, 4000, (32, 40), dtype=np.uint16)),
                    ({"compression": "zlib", "tile": (16, 16)}, rng.random((32, 32)).astype(np.float32)),
                    ({"imagej": True, "metadata": {"axes": "ZYX", "spacing": 0.5, "unit": "um"},
                      "resolution": (4.0, 4.0)}, rng.integers(0, 255, (3, 16, 16), dtype=np.uint8))]:
        buf = io.BytesIO()
        tifffile.imwrite(buf, arr, **kw)
        out.append(buf.getvalue())
    return out


SEED_TIFFS = _seed_tiffs()


@FUZZ
@given(data=st.data())
def test_fuzz_tiff_bytes(tmp_path_factory, data):
    from care_bridge.io import read_image

    raw = SEED_TIFFS[data.draw(st.integers(0, len(SEED_TIFFS) - 1))]
    path = tmp_path_factory.mktemp("tiff") / "x.tif"
    path.write_bytes(apply_mutations(raw, data.draw(mutations(len(raw), hot=64))))
    try:
        arr, _meta = read_image(path, max_bytes=64 << 20)
        assert arr.nbytes <= 64 << 20
    except CareBridgeError as e:
        _one_line(e)


def test_fuzz_finding_an_author_without_a_name_still_inspects(seed_bundle, tmp_path):
    """Found by test_fuzz_rdf_structure (``authors[0].name`` deleted): ``inspect`` crashed while rendering."""
    from care_bridge.frontend import describe_bundle_text

    folder = tmp_path / "b"
    shutil.copytree(seed_bundle, folder)
    rdf = yaml.safe_load((folder / "rdf.yaml").read_text())
    rdf["authors"] = [{"github_user": "someone"}]
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
    assert "authors       : ?;" in describe_bundle_text(folder)
