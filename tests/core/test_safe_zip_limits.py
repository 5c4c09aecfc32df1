"""Zip limits key on absolute sizes: a small sparse attachment (ratio ~1000) is fine, large bombs are not, and a
full disk while extracting says so (not "corrupt"), leaving nothing behind."""

import errno
import zipfile

import pytest

from care_bridge.bundle import safe_zip
from care_bridge.bundle.safe_zip import ZipLimits, safe_extract
from care_bridge.errors import BundleError


def _zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def test_a_sparse_two_mib_attachment_is_not_a_bomb(tmp_path):
    z = _zip(tmp_path / "b.zip", [("rdf.yaml", "type: model\n"), ("labels.bin", b"\0" * (2 << 20))])
    info = zipfile.ZipFile(z).getinfo("labels.bin")
    assert info.file_size / info.compress_size > 900  # the ratio the old rule refused
    out = safe_extract(z, tmp_path / "out")
    assert (out / "labels.bin").stat().st_size == 2 << 20


def test_large_bombs_and_totals_are_refused(tmp_path):
    z = _zip(tmp_path / "b.zip", [("big.bin", b"\0" * (3 << 20))])
    with pytest.raises(BundleError, match="compression ratio"):
        safe_extract(z, tmp_path / "o1", limits=ZipLimits(ratio_min_bytes=1 << 20))
    with pytest.raises(BundleError, match="exceed|limit"):
        safe_extract(z, tmp_path / "o2", limits=ZipLimits(max_total_bytes=1 << 20, max_entry_bytes=1 << 20))
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_a_full_disk_while_extracting_is_named_as_such(tmp_path, monkeypatch):
    z = _zip(tmp_path / "b.zip", [("rdf.yaml", "type: model\n"), ("w.bin", b"1" * 4096)])
    real_open = open

    def full(path, mode="r", *a, **k):
        if "x" in mode and str(path).endswith("w.bin"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(safe_zip, "open", full, raising=False)
    with pytest.raises(BundleError, match="no space left on device while extracting b.zip"):
        safe_extract(z, tmp_path / "out")
    assert not (tmp_path / "out").exists()
