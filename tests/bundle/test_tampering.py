"""Tampered and malicious bundles are refused with a one-line BundleError, and nothing is extracted."""

from __future__ import annotations

import hashlib
import io
import stat
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from bundle_helpers import rewrite_zip, set_sha

from care_bridge import tempdirs
from care_bridge.bundle import open_bundle
from care_bridge.bundle.safe_zip import ZipLimits, safe_extract
from care_bridge.errors import BundleError


@pytest.fixture()
def tmpdir_watch(tmp_path, monkeypatch):
    """Redirect temporary folders into a watched folder; yields a function listing what is left there."""
    watched = tmp_path / "tmp"
    watched.mkdir()
    tempdirs.cleanup()  # care_bridge's per-process temporary folder is made anew inside the watched one
    monkeypatch.setattr(tempfile, "tempdir", str(watched))

    def left() -> list[str]:
        root = tempdirs._root  # the (empty) per-process folder itself does not count
        return sorted(str(p.relative_to(watched)) for p in watched.rglob("*") if p != root)

    yield left
    tempdirs.cleanup()


def _refused(path: Path, match: str, left) -> BundleError:
    with pytest.raises(BundleError, match=match) as e:
        open_bundle(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert left() == []  # no extraction folder survives a refusal
    return e.value


def test_intact_bundle_opens_and_cleans_up(bundle_2d, tmpdir_watch):
    b = open_bundle(bundle_2d)
    assert tmpdir_watch() != []
    b.close()
    assert tmpdir_watch() == []


def test_edited_file_fails_its_sha256(bundle_2d, tmp_path, tmpdir_watch):
    y = np.zeros((1, 64, 64, 1), np.float32)
    buf = io.BytesIO()
    np.save(buf, y)
    bad = rewrite_zip(bundle_2d, tmp_path / "edited.zip", replace={"test_output.npy": buf.getvalue()})
    _refused(bad, r"sha256 of 'test_output.npy'", tmpdir_watch)


def test_edited_weights_fail_their_sha256(bundle_2d, tmp_path, tmpdir_watch):
    with zipfile.ZipFile(bundle_2d) as zf:
        onnx = bytearray(zf.read("weights.onnx"))
    onnx[-10] ^= 0xFF
    bad = rewrite_zip(bundle_2d, tmp_path / "w.zip", replace={"weights.onnx": bytes(onnx)})
    _refused(bad, r"sha256 of 'weights.onnx'", tmpdir_watch)


def test_missing_file_is_refused(bundle_2d, tmp_path, tmpdir_watch):
    bad = rewrite_zip(bundle_2d, tmp_path / "missing.zip", replace={"weights.onnx": None})
    _refused(bad, r"'weights.onnx' named in rdf.yaml is missing", tmpdir_watch)


def test_zip_slip_entry_is_refused(bundle_2d, tmp_path, tmpdir_watch):
    bad = rewrite_zip(bundle_2d, tmp_path / "slip.zip", extra=[("../../evil.txt", b"pwned")])
    _refused(bad, r"'../../evil.txt' contains '..'", tmpdir_watch)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_absolute_path_entry_is_refused(bundle_2d, tmp_path, tmpdir_watch):
    info = zipfile.ZipInfo("placeholder")
    info.filename = "/tmp/care_bridge_evil.txt"  # ZipInfo() strips a leading slash; set it as an attacker would
    bad = rewrite_zip(bundle_2d, tmp_path / "abs.zip", extra=[(info, b"pwned")])
    _refused(bad, r"absolute path", tmpdir_watch)
    assert not Path("/tmp/care_bridge_evil.txt").exists()


def test_symlink_entry_is_refused(bundle_2d, tmp_path, tmpdir_watch):
    info = zipfile.ZipInfo("link_to_passwd")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    bad = rewrite_zip(bundle_2d, tmp_path / "link.zip", extra=[(info, b"/etc/passwd")])
    _refused(bad, r"'link_to_passwd' is a symbolic link", tmpdir_watch)


def test_duplicate_entry_is_refused(bundle_2d, tmp_path, tmpdir_watch):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it is told to write
        bad = rewrite_zip(bundle_2d, tmp_path / "dup.zip", extra=[("weights.onnx", b"other weights")])
    _refused(bad, r"duplicate entry 'weights.onnx'", tmpdir_watch)


def test_zip_bomb_ratio_is_refused(bundle_2d, tmp_path, tmpdir_watch):
    bad = rewrite_zip(bundle_2d, tmp_path / "bomb.zip", extra=[("padding.bin", b"\0" * (80 << 20))])
    _refused(bad, r"'padding.bin' has compression ratio \d+, over 200", tmpdir_watch)


def test_total_size_limit_is_configurable(bundle_2d, tmp_path, tmpdir_watch):
    with pytest.raises(BundleError, match="uncompressed size exceeds 1000 bytes"):
        open_bundle(bundle_2d, limits=ZipLimits(max_total_bytes=1000))
    assert tmpdir_watch() == []
    with pytest.raises(BundleError, match="extraction folder .* already exists"):
        safe_extract(bundle_2d, tmp_path)  # never extracts into an existing folder


@pytest.mark.parametrize("version", ["0.6.0", "1.0", None])
def test_unknown_format_version_is_refused(bundle_2d, tmp_path, tmpdir_watch, version):
    def edit(rdf):
        if version is None:
            del rdf["format_version"]
        else:
            rdf["format_version"] = version

    bad = rewrite_zip(bundle_2d, tmp_path / "fv.zip", rdf_edit=edit)
    _refused(bad, r"format_version .* is not supported; care_bridge reads bioimage.io model spec 0.4.x and 0.5.x",
             tmpdir_watch)


def test_a_05_description_labelled_04_is_refused_by_the_04_rules(bundle_2d, tmp_path, tmpdir_watch):
    bad = rewrite_zip(bundle_2d, tmp_path / "fv.zip", rdf_edit=lambda rdf: rdf.update(format_version="0.4.10"))
    _refused(bad, r"spec 0.4 axes are a string", tmpdir_watch)


def test_non_model_resource_is_refused(bundle_2d, tmp_path, tmpdir_watch):
    bad = rewrite_zip(bundle_2d, tmp_path / "ds.zip", rdf_edit=lambda r: r.update(type="dataset"))
    _refused(bad, r"resource type 'dataset' is not 'model'", tmpdir_watch)


def test_yaml_python_tags_are_not_executed(bundle_2d, tmp_path, tmpdir_watch):
    marker = tmp_path / "executed"
    rdf_text = f"format_version: 0.5.12\ntype: model\nname: !!python/object/apply:os.system ['touch {marker}']\n"
    bad = rewrite_zip(bundle_2d, tmp_path / "tag.zip", replace={"rdf.yaml": rdf_text.encode()})
    _refused(bad, r"rdf.yaml is not valid YAML", tmpdir_watch)
    assert not marker.exists()


def test_pickled_test_tensor_is_refused_even_with_matching_sha256(bundle_2d, tmp_path, tmpdir_watch):
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    bad = rewrite_zip(bundle_2d, tmp_path / "pickle.zip", replace={"test_input.npy": data},
                      rdf_edit=lambda r: set_sha(r, "test_input.npy", digest))
    _refused(bad, r"test tensor test_input.npy is not a plain .npy array", tmpdir_watch)


def test_rdf_paths_escaping_the_bundle_are_refused(bundle_2d, tmp_path, tmpdir_watch):
    def edit(rdf):
        rdf["weights"]["onnx"]["source"] = "../outside.onnx"

    bad = rewrite_zip(bundle_2d, tmp_path / "esc.zip", rdf_edit=edit)
    _refused(bad, r"'../outside.onnx' contains '..'", tmpdir_watch)


def test_inconsistent_care_bridge_block_is_refused(bundle_2d, tmp_path, tmpdir_watch):
    def edit(rdf):
        rdf["config"]["care_bridge"]["network"]["percentile_high"] = 99.0

    bad = rewrite_zip(bundle_2d, tmp_path / "inc.zip", rdf_edit=edit)
    _refused(bad, r"config.care_bridge disagrees", tmpdir_watch)


def test_not_a_zip_and_missing_path(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(BundleError, match="not a readable zip"):
        open_bundle(junk)
    with pytest.raises(BundleError, match="does not exist"):
        open_bundle(tmp_path / "nope.zip")
