"""Curated metadata on export (`--author`, `--maintainer`, `--description`, `--tag`, `--cite`, `--git-repo`,
`--test-image`, `--sample-image`) and the offline zoo check (`export --check-zoo`, `validate --zoo`).

One bundle is exported through the real CLI with every option and a user TIFF (module fixture) under a socket
guard: bioimageio.spec would otherwise HEAD-request the git repo and look the GitHub users up."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from bundle_helpers import read_rdf, rewrite_zip, set_sha

from care_bridge.cli.main import main

AUTHOR = ("Ada Lovelace", "ada-lab", "Institute of Examples", "0000-0002-1825-0097")
PLAIN_AUTHOR = "Charles Babbage"
MAINTAINER = ("Grace Hopper", "gracehopper")
DESCRIPTION = "Denoises spinning-disk images of zebrafish nuclei."
TAGS = ["zebrafish", "nuclei"]
CITE = [("Lovelace et al. 2026, the data", "10.5281/zenodo.1234567"),
        ("CSBDeep documentation", "https://csbdeep.bioimagecomputing.com/doc/")]
GIT_REPO = "https://github.com/ada-lab/zebrafish-care"


class _NoNetwork:
    """Refuses (and records) every connection and name lookup while active."""

    def __init__(self):
        self.attempts: list = []

    def __enter__(self):
        self._saved = (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo, socket.create_connection)

        def refuse(*args, **kwargs):
            self.attempts.append(args[1:] if args and isinstance(args[0], socket.socket) else args)
            raise OSError("network access in a test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.getaddrinfo = refuse
        socket.create_connection = refuse
        return self

    def __exit__(self, *exc):
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo, socket.create_connection = self._saved


@pytest.fixture(scope="module")
def user_images(tmp_path_factory) -> tuple[Path, Path]:
    """Two TIFFs 'from the user's data' (uint16, not multiples of the step, so they are center-cropped)."""
    d = tmp_path_factory.mktemp("user")
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:91, :102]
    cells = 300 * np.exp(-((yy - 40) ** 2 + (xx - 50) ** 2) / 200.0)
    test = (rng.poisson(cells + 20)).astype(np.uint16)
    sample = (rng.poisson(np.roll(cells, 20, axis=1) + 30)).astype(np.uint16)
    tifffile.imwrite(d / "test.tif", test)
    tifffile.imwrite(d / "sample.tif", sample)
    return d / "test.tif", d / "sample.tif"


@pytest.fixture(scope="module")
def curated(model_2d: Path, user_images, tmp_path_factory):
    """(bundle, exit status, stdout, network attempts) of one `care-bridge export ... --check-zoo`."""
    test_tif, sample_tif = user_images
    out = tmp_path_factory.mktemp("curated") / "curated.zip"
    argv = ["export", str(model_2d), "--out", str(out), "--weights", "onnx",
            "--author", ";".join(AUTHOR), "--author", PLAIN_AUTHOR, "--maintainer", ";".join(MAINTAINER),
            "--description", DESCRIPTION, "--git-repo", GIT_REPO,
            "--test-image", str(test_tif), "--sample-image", str(sample_tif), "--check-zoo"]
    for t in TAGS:
        argv += ["--tag", t]
    for text, ref in CITE:
        argv += ["--cite", f"{text};{ref}"]
    buf = io.StringIO()
    real_stdout = sys.stdout
    with _NoNetwork() as guard:
        sys.stdout = buf
        try:
            code = main(argv)
        finally:
            sys.stdout = real_stdout
    return out, code, buf.getvalue(), guard.attempts


def test_export_with_every_option_passes_the_zoo_check_offline(curated):
    out, code, stdout, attempts = curated
    assert code == 0, stdout
    assert "nothing missing" in stdout and "sample_tensor" not in stdout
    assert attempts == []
    # bioimageio.spec's own verdict, independent of care_bridge's wording: no alert or warning at all
    from care_bridge.export.zoo import load_description_offline

    with zipfile.ZipFile(out) as zf:
        zf.extractall(out.parent / "unpacked")
    rdf = read_rdf(out)
    with _NoNetwork() as guard:
        descr = load_description_offline(out.parent / "unpacked" / "rdf.yaml", rdf)
    assert guard.attempts == []
    summary = descr.validation_summary
    assert summary.status == "valid-format"
    assert [(w.loc, w.msg) for d in summary.details for w in d.warnings] == []
    # control: the guard sees what bioimageio.spec does on its own (a GitHub user lookup)
    from bioimageio.spec import load_description

    with _NoNetwork() as guard:
        load_description(out, perform_io_checks=True)
    assert guard.attempts


def test_the_rdf_holds_the_metadata_given(curated, user_images):
    out, code, _, _ = curated
    rdf = read_rdf(out)
    name, gh, aff, orcid = AUTHOR
    assert rdf["authors"] == [{"name": name, "github_user": gh, "affiliation": aff, "orcid": orcid},
                              {"name": PLAIN_AUTHOR}]
    assert rdf["maintainers"] == [{"name": MAINTAINER[0], "github_user": MAINTAINER[1]}]
    assert rdf["description"] == DESCRIPTION
    assert rdf["git_repo"] == GIT_REPO
    assert "care" in rdf["tags"] and rdf["tags"][-len(TAGS):] == TAGS
    assert rdf["cite"][0]["doi"] == "10.1038/s41592-018-0216-7"  # the CARE paper stays first
    assert [(c["text"], c.get("doi") or c.get("url")) for c in rdf["cite"][1:]] == CITE
    # the user's images: test tensor = the test TIFF's center crop, sample = the sample TIFF's
    test_tif, sample_tif = user_images
    (inp,), (outp,) = rdf["inputs"], rdf["outputs"]
    with zipfile.ZipFile(out) as zf:
        x = np.load(io.BytesIO(zf.read(inp["test_tensor"]["source"])))
        sample = tifffile.imread(io.BytesIO(zf.read(inp["sample_tensor"]["source"])))
        sample_out = tifffile.imread(io.BytesIO(zf.read(outp["sample_tensor"]["source"])))
        readme = zf.read("README.md").decode()
    user = tifffile.imread(test_tif).astype(np.float32)
    assert x.shape[1:3] == (90, 102)  # multiples of the step 2, centered
    np.testing.assert_array_equal(x[0, ..., 0], user[0:90, :])
    users_sample = tifffile.imread(sample_tif).astype(np.float32)
    np.testing.assert_array_equal(sample, users_sample[0:90, :])
    assert sample_out.shape == sample.shape and np.isfinite(sample_out).all()
    for text in (DESCRIPTION, MAINTAINER[0], "@" + gh, orcid, GIT_REPO, CITE[0][1], CITE[1][1]):
        assert text in readme


def test_a_bundle_without_curated_metadata_gets_one_line_per_ask(bundle_2d: Path, capsys):
    with _NoNetwork() as guard:
        code = main(["validate", "--zoo", str(bundle_2d)])
    out = capsys.readouterr().out
    assert code == 1 and guard.attempts == []
    asks = [line for line in out.splitlines() if line.startswith("- ")]
    assert any(a.startswith("- inputs.0.sample_tensor") and "--sample-image" in a for a in asks)
    assert any(a.startswith("- outputs.0.sample_tensor") for a in asks)
    assert any(a.startswith("- maintainers") and "--maintainer" in a for a in asks)
    assert any(a.startswith("- git_repo") and "--git-repo" in a for a in asks)


def test_remote_files_missing_cover_and_validation_section_are_asked_for_offline(curated, tmp_path):
    import hashlib

    out = curated[0]
    doc = b"# A model\n\nNo word on how it was checked.\n"

    def edit(rdf):
        rdf["covers"] = []
        rdf["cite"].append({"text": "Archive", "url": "https://zenodo.org/records/1234567"})
        rdf["inputs"][0]["sample_tensor"] = {"source": "https://zenodo.org/records/1234567/files/sample.tif"}
        set_sha(rdf, "README.md", hashlib.sha256(doc).hexdigest())

    edited = rewrite_zip(out, tmp_path / "edited.zip", replace={"README.md": doc}, rdf_edit=edit)
    from care_bridge.export.zoo import check_zoo

    with _NoNetwork() as guard:
        report = check_zoo(edited)
    assert guard.attempts == []
    assert not report.ok
    assert any(a.startswith("https://zenodo.org/records/1234567/files/sample.tif: a remote file") for a in report.asks)
    assert any(a.startswith("covers: none") for a in report.asks)
    # the spec's own documentation check (a '# Validation' section) needs file checks, so run it on local files only
    ok_remote = rewrite_zip(out, tmp_path / "doc_only.zip", replace={"README.md": doc},
                            rdf_edit=lambda rdf: set_sha(rdf, "README.md", hashlib.sha256(doc).hexdigest()))
    with _NoNetwork() as guard:
        report = check_zoo(ok_remote)
    assert guard.attempts == []
    assert [a for a in report.asks if a.startswith("documentation")] == [
        "documentation: no '# Validation' section; describe how the model was validated on unseen data"]


@pytest.mark.parametrize("option, value, words", [
    ("--author", "Ada;ada_lab", "not a GitHub user"),
    ("--author", "Ada;;;0000-0002-1825-0098", "wrong check digit"),
    ("--maintainer", "Grace Hopper", "no GitHub user"),
    ("--cite", "Some paper;10.12/abc", "is not a DOI"),
    ("--cite", "no reference here", "needs a text and a DOI or URL"),
    ("--git-repo", "github.com/lab/x", "not an http(s) URL"),
    ("--test-image", "missing.tif", "does not exist"),
    ("--sample-image", "missing.tif", "does not exist"),
])
def test_a_malformed_option_is_a_one_line_error(option, value, words, model_2d, tmp_path, capsys):
    code = main(["export", str(model_2d), "--out", str(tmp_path / "x.zip"), option, value])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("care-bridge: error: ") and words in err, err
    assert option in err
    assert list(tmp_path.iterdir()) == []


def test_the_installed_command_refuses_a_bad_orcid_with_status_2(tmp_path):
    p = subprocess.run([sys.executable, "-m", "care_bridge.cli.main", "export", str(tmp_path), "--out",
                        str(tmp_path / "x.zip"), "--author", "Ada;;;1234-5678-9012-3456"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and "ORCID" in p.stderr
