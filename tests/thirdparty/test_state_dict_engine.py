"""``pytorch_state_dict`` bundles run safely (#13): the archive is read as data (never unpickled), the network is
care_bridge's own re-implementation of an allow-listed architecture (CAREamics' UNet), and such a bundle runs
through the same runtime and front ends as the other engines: equal to the plain PyTorch forward, tiled equal to
untiled bit for bit, ``validate`` passing. Forged archives and architectures are one-line errors (exit 2).

CAREamics itself does not install beside torch 2.13 (CAREamics 0.3.5 needs a torchvision pinned to torch 2.11), so
the bundles are made here the way CAREamics makes them (``torch.save(model.state_dict())`` of a network with its
module tree, rdf kwargs as ``UNetConfig.model_dump()``), by :class:`torch_nets.CareamicsStyleUNet`.

Needs PyTorch (``pip install 'care_bridge[torch]'``); skipped without it."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from care_bridge import runtime
from care_bridge.errors import BundleError
from care_bridge.runtime.state_dict_reader import read_state_dict

from zoo_bundles import float_state_dict_archive, sha, state_dict_pickle, torch_save_archive, write_v04, write_v05

torch = pytest.importorskip("torch")

from torch_nets import careamics_kwargs, careamics_style_unet  # noqa: E402

NONE = [{"id": "ensure_dtype", "kwargs": {"dtype": "float32"}}]
HALO = 32  # the depth-2 U-Net's receptive-field radius is under 30 input pixels (bilinear upsampling included)


def _arch(**kw) -> dict:
    return {"import_from": "careamics.models.unet", "callable": "UNet", "kwargs": careamics_kwargs(**kw)}


def _net(**kw):
    return careamics_style_unet(**{k: v for k, v in careamics_kwargs(**kw).items() if k != "architecture"})


def _forward(net):
    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(x)).numpy()
    return run


def _bundle(tmp_path, name="sd", *, net=None, pre=None, v04=False, **arch_kw):
    net = net or _net(**arch_kw)
    pt = tmp_path / f"{name}.pt"
    torch.save(net.state_dict(), pt)
    if v04:
        return write_v04(tmp_path / name, size=(96, 4), halo=HALO, pre=pre, weights_file=pt,
                         architecture="careamics.models.unet.UNet", kwargs=careamics_kwargs(**arch_kw),
                         network=_forward(net))
    return write_v05(tmp_path / name, c_in=careamics_kwargs(**arch_kw)["in_channels"], size=(96, 4), halo=HALO,
                     pre=pre, weights_file=pt, architecture=_arch(**arch_kw), network=_forward(net))


def _image(shape, seed=11) -> np.ndarray:
    return np.random.default_rng(seed).gamma(2.0, 40.0, shape).astype(np.float32)


# ---- the reader ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_the_reader_reads_what_torch_save_writes_without_unpickling(tmp_path, protocol):
    base = torch.arange(40, dtype=torch.float32)
    sd = {"w": torch.randn(3, 2, 3, 3), "f64": torch.randn(4, dtype=torch.float64),
          "f16": torch.randn(5).half(), "bf16": torch.randn(6).bfloat16(), "n": torch.tensor(7),
          "i": torch.arange(5, dtype=torch.int32), "b": torch.tensor([True, False]),
          "view": base[3:13].view(2, 5), "t": base.view(5, 8).t(), "empty": torch.zeros(0, 3)}
    torch.save(sd, tmp_path / "sd.pt", pickle_protocol=protocol)
    got = read_state_dict(tmp_path / "sd.pt")
    assert list(got) == list(sd)
    for k, t in sd.items():
        want = (t.float() if t.dtype == torch.bfloat16 else t).numpy()
        assert got[k].dtype == want.dtype and got[k].shape == want.shape, k
        np.testing.assert_array_equal(got[k], want)


def test_the_reader_and_the_architectures_do_not_import_torch(tmp_path):
    torch.save(_net().state_dict(), tmp_path / "w.pt")
    code = ("import sys; from care_bridge.runtime.state_dict_reader import read_state_dict; "
            "from care_bridge.runtime import torch_architectures as a; "
            f"d = read_state_dict({str(tmp_path / 'w.pt')!r}); a.resolve_architecture({{'architecture': "
            f"{_arch()!r}}}); assert 'torch' not in sys.modules, 'torch imported'; print(len(d))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(_net().state_dict())


def test_a_hand_made_archive_is_one_torch_load_reads_too(tmp_path):
    """Control for the forged archives below: the writer makes what torch.save makes."""
    arrays = {"a.weight": np.random.default_rng(0).random((2, 1, 3, 3), np.float32), "a.bias": np.ones(2, np.float32)}
    p = float_state_dict_archive(tmp_path / "hand.pt", arrays)
    loaded = torch.load(p, weights_only=True)
    for k, a in arrays.items():
        np.testing.assert_array_equal(loaded[k].numpy(), a)
        np.testing.assert_array_equal(read_state_dict(p)[k], a)


def test_a_pickle_that_would_run_a_command_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    evil = b"\x80\x02cos\nsystem\nX" + len(f"touch {marker}").to_bytes(4, "little") + f"touch {marker}".encode()
    evil += b"\x85R."
    pickle.loads(evil)  # control: unpickled, it runs the command
    assert marker.exists()
    marker.unlink()
    p = torch_save_archive(tmp_path / "evil.pt", evil, {})
    with pytest.raises(BundleError, match=r"names 'os.system', which a state dict never holds") as e:
        read_state_dict(p)
    assert "\n" not in str(e.value) and not marker.exists()


W = {"c.weight": np.ones((2, 1, 3, 3), np.float32), "c.bias": np.zeros(2, np.float32)}


@pytest.mark.parametrize("forge, message", [
    ({"ordered": b"builtins\neval"}, r"names 'builtins.eval'"),
    ({"rebuild": b"torch\nFloatStorage"}, r"calls 'torch.FloatStorage', which only names a type"),
    ({"stype": "EvilStorage"}, r"names 'torch.EvilStorage'"),
    ({"numel": 10**6}, r"should hold 1000000 elements .* archive entry is 72 bytes"),
    ({"offset": 10}, r"tensor 'c.weight' .* reaches element 27 of a storage of 18"),
    ({"size": (2, 1, 3, 4)}, r"reaches element"),
    ({"size": (1 << 40,), "numel": 18}, r"stride|arguments other than"),
    ({"data": b"\x00" * 8}, r"archive entry is 8 bytes"),
    ({"byteorder": b"big"}, r"byte order is b'big'.*little-endian"),
])
def test_forged_archives_are_one_line_errors(tmp_path, forge, message):
    p = float_state_dict_archive(tmp_path / "forged.pt", W, **forge)
    with pytest.raises(BundleError, match=message) as e:
        read_state_dict(p)
    assert "\n" not in str(e.value)


def test_the_reader_bounds_what_it_allocates(tmp_path):
    # a stride of 0 would make numpy copy one element 2^33 times: refused by size before anything is copied
    tensors = {"big": ("FloatStorage", "0", 1, 0, (1 << 33,), (0,))}
    p = torch_save_archive(tmp_path / "big.pt", state_dict_pickle(tensors), {"0": b"\x00" * 4})
    with pytest.raises(BundleError, match=r"tensors hold 34359738368 bytes, over the limit"):
        read_state_dict(p)
    with pytest.raises(BundleError, match=r"storages hold 80 bytes, over the limit of 64"):
        read_state_dict(float_state_dict_archive(tmp_path / "w.pt", W), max_bytes=64)
    (tmp_path / "raw.pt").write_bytes(pickle.dumps({"a": 1}))  # not a zip: a bare pickle is the legacy format
    with pytest.raises(BundleError, match=r"legacy format"):
        read_state_dict(tmp_path / "raw.pt")
    checkpoint = {"epoch": 3, "state_dict": {}}
    torch.save(checkpoint, tmp_path / "ckpt.pt")
    with pytest.raises(BundleError, match=r"'epoch' is a int, not a tensor"):
        read_state_dict(tmp_path / "ckpt.pt")


# ---- the architecture -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [
    {}, {"in_channels": 2, "num_classes": 2, "depth": 3, "n2v2": True},
    {"conv_dims": 3, "use_batch_norm": False}, {"conv_dims": 3, "n2v2": True, "depth": 1},
    {"in_channels": 2, "num_classes": 2, "independent_channels": False, "residual": True, "final_activation": "Sigmoid"},
])
def test_care_bridge_builds_careamics_unet_with_its_keys_and_numerics(kw):
    from care_bridge.runtime.torch_architectures import build_network, load_weights, resolve_architecture

    ref = _net(**kw)
    arch = resolve_architecture({"architecture": _arch(**kw)})
    mine = build_network(arch)
    assert list(mine.state_dict()) == list(ref.state_dict())
    load_weights(mine, {k: v.numpy() for k, v in ref.state_dict().items()}, arch)
    full = careamics_kwargs(**kw)
    x = torch.randn((1, full["in_channels"]) + ((40, 24) if full["conv_dims"] == 2 else (8, 16, 24)))
    with torch.no_grad():
        assert torch.equal(mine(x), ref(x))


def test_the_allow_list_and_the_builders_name_the_same_architectures():
    from care_bridge.bundle.architectures import ARCHITECTURES
    from care_bridge.runtime.torch_architectures import _BUILDERS

    assert set(ARCHITECTURES) == set(_BUILDERS) == {"careamics.models.unet.UNet"}


# ---- through the runtime and the front ends ---------------------------------------------------------------------

def test_a_state_dict_bundle_restores_like_plain_pytorch_and_tiles_like_untiled(tmp_path):
    net = _net()
    r = runtime.load(_bundle(tmp_path, net=net, pre=NONE))  # auto: the only runnable weights are the state dict
    assert r.engine.name == "torch" and type(r.engine).__name__ == "TorchStateDictEngine"
    img = _image((96, 112))
    untiled = r.restore(img, "YX", n_tiles=1)
    assert untiled.engine == "torch"
    with torch.no_grad():
        plain = net(torch.from_numpy(img)[None, None]).numpy()[0, 0]
    span = float(plain.max() - plain.min())
    # the engine itself on the whole image, and the restoration away from the halo-padded border
    direct = r.engine.run(img[None, :, :, None])[0][0, :, :, 0]
    assert np.abs(direct - plain).max() <= 1e-5 * span
    inner = (slice(HALO, -HALO),) * 2
    assert np.abs(untiled.image[inner] - plain[inner]).max() <= 1e-5 * span
    for n in ((2, 2), (3, 4)):
        tiled = r.restore(img, "YX", n_tiles=n)
        assert tiled.n_tiles == n
        np.testing.assert_array_equal(tiled.image, untiled.image)  # bit-identical (oneDNN off, as TorchScript)


def test_a_04_bundle_names_the_architecture_as_a_string_and_restores_the_same(tmp_path):
    net = _net()
    a = runtime.load(_bundle(tmp_path, "v05", net=net))
    b = runtime.load(_bundle(tmp_path, "v04", net=net, v04=True))
    img = _image((64, 80))
    np.testing.assert_array_equal(a.restore(img, "YX").image, b.restore(img, "YX").image)


def test_predict_and_validate_from_the_command_line(tmp_path, capsys):
    import tifffile

    from care_bridge.cli.main import main

    folder = _bundle(tmp_path)
    img = _image((70, 90))
    tifffile.imwrite(tmp_path / "in.tif", img)
    for engine, out in (("torch", "a.tif"), ("auto", "b.tif")):
        rc = main(["predict", "--bundle", str(folder), "--input", str(tmp_path / "in.tif"), "--output",
                   str(tmp_path / out), "--engine", engine])
        assert rc == 0
    assert "engine torch" in capsys.readouterr().out
    api = runtime.load(folder).restore(img, "YX").image
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "a.tif"), api)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "b.tif"), api)
    assert main(["validate", str(folder)]) == 0
    assert "reproduce pytorch_state_dict  PASS" in capsys.readouterr().out


def test_validate_passes_a_state_dict_bundle_and_inspect_says_it_runs(tmp_path):
    from care_bridge.bundle.inspect import inspect_bundle, render_inspection
    from care_bridge.export.validate import validate_bundle

    # scale_range preprocessing, two input channels mixed (independent_channels false), N2V2 pooling
    folder = _bundle(tmp_path, in_channels=2, independent_channels=False, n2v2=True)
    rep = validate_bundle(folder)
    row = next(c for c in rep.checks if c.name == "reproduce pytorch_state_dict")
    assert rep.passed and row.passed, rep.render()
    d = inspect_bundle(folder)
    w = d["weights"]["pytorch_state_dict"]
    assert w["runnable_here"] and w["architecture"] == "careamics.models.unet.UNet"
    assert "built by care_bridge's own code" in render_inspection(d)


# ---- refusals, through the CLI: exit 2, one line ---------------------------------------------------------------------

def _edit_weights(folder, edit):
    rdf = yaml.safe_load((folder / "rdf.yaml").read_text())
    edit(rdf["weights"]["pytorch_state_dict"])
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
    return folder


def _forged_bundle(tmp_path, archive):
    return write_v05(tmp_path / "forged", size=(96, 4), halo=HALO, weights_file=archive, architecture=_arch(),
                     network=lambda x: x[:, :1])


def _legacy(tmp_path):
    p = tmp_path / "legacy.pt"
    torch.save(_net().state_dict(), p, _use_new_zipfile_serialization=False)
    return _forged_bundle(tmp_path, p)


def _file_architecture(tmp_path):
    folder = _bundle(tmp_path)
    (folder / "unet.py").write_text("import os\nos.system('touch pwned')\nclass UNet: pass\n")
    return _edit_weights(folder, lambda w: w.update(architecture={
        "source": "unet.py", "callable": "UNet", "sha256": sha(folder / "unet.py"), "kwargs": {}}))


REFUSALS = {
    "os_system_global": (lambda t: _forged_bundle(t, float_state_dict_archive(t / "w.pt", W, ordered=b"os\nsystem")),
                         r"names 'os.system'"),
    "reduce_of_a_type": (lambda t: _forged_bundle(t, float_state_dict_archive(t / "w.pt", W,
                                                                              rebuild=b"torch\nFloatStorage")),
                         r"calls 'torch.FloatStorage'"),
    "storage_beyond_the_file": (lambda t: _forged_bundle(t, float_state_dict_archive(t / "w.pt", W, numel=4096)),
                                r"should hold 4096 elements"),
    "offset_beyond_the_storage": (lambda t: _forged_bundle(t, float_state_dict_archive(t / "w.pt", W, offset=17)),
                                  r"reaches element"),
    "big_endian": (lambda t: _forged_bundle(t, float_state_dict_archive(t / "w.pt", W, byteorder=b"big")),
                   r"little-endian"),
    "legacy_format": (_legacy, r"legacy format"),
    "architecture_file": (_file_architecture, r"Python code in a file \(unet.py\), which care_bridge never runs"),
    "unknown_import_from": (lambda t: _edit_weights(_bundle(t), lambda w: w["architecture"].update(
        import_from="evil.models")), r"'evil.models.UNet' is not one care_bridge builds.*known: careamics"),
    "kwarg_out_of_range": (lambda t: _edit_weights(_bundle(t), lambda w: w["architecture"]["kwargs"].update(
        depth=99)), r"kwarg depth=99; it must be an int in 1..10"),
    "kwarg_of_the_wrong_type": (lambda t: _edit_weights(_bundle(t), lambda w: w["architecture"]["kwargs"].update(
        num_channels_init="8")), r"kwarg num_channels_init='8'"),
    "unknown_kwarg": (lambda t: _edit_weights(_bundle(t), lambda w: w["architecture"]["kwargs"].update(
        hook="os.system")), r"unknown kwargs hook"),
    "kwargs_that_do_not_match_the_weights": (lambda t: _edit_weights(_bundle(t), lambda w: w["architecture"][
        "kwargs"].update(num_channels_init=16)), r"tensor 'encoder.encoder_blocks.0.conv1.weight' has shape"),
    "too_many_parameters": (lambda t: _edit_weights(_bundle(t), lambda w: w["architecture"]["kwargs"].update(
        depth=10, num_channels_init=1024)), r"parameters, over the limit"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_are_one_line_with_exit_2(tmp_path, capsys, case):
    import tifffile

    from care_bridge.cli.main import main

    build, message = REFUSALS[case]
    folder = build(tmp_path)
    tifffile.imwrite(tmp_path / "in.tif", _image((40, 48)))
    for engine in ("auto", "torch"):
        rc = main(["predict", "--bundle", str(folder), "--input", str(tmp_path / "in.tif"), "--output",
                   str(tmp_path / f"out_{engine}.tif"), "--engine", engine])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1, err
        assert re.search(message, err), err
        assert not (tmp_path / f"out_{engine}.tif").exists()
    assert not (tmp_path / "pwned").exists() and not any(tmp_path.rglob("pwned"))


def test_mutated_pickles_are_read_or_refused_never_a_crash(tmp_path):
    """Fuzz: bytes of a real state dict's data.pkl flipped, inserted or cut; the reader returns tensors or raises a
    one-line BundleError, nothing else (and never imports or runs anything: there is nothing to run)."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    import zipfile

    torch.save(_net(depth=1).state_dict(), tmp_path / "w.pt")
    with zipfile.ZipFile(tmp_path / "w.pt") as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        entries = {n: z.read(n) for n in z.namelist()}
    pkl = entries[name]

    @hypothesis.settings(max_examples=300, deadline=None, database=None)
    @hypothesis.given(st.lists(st.tuples(st.integers(0, len(pkl) - 1), st.integers(0, 255), st.sampled_from(
        ["set", "insert", "cut"])), min_size=1, max_size=4))
    def check(edits):
        data = bytearray(pkl)
        for at, value, how in edits:
            at = min(at, len(data) - 1)
            if how == "set":
                data[at] = value
            elif how == "insert":
                data.insert(at, value)
            else:
                del data[at:at + 1 + value % 8]
        p = tmp_path / "m.pt"
        with zipfile.ZipFile(p, "w") as z:
            for n, b in entries.items():
                z.writestr(n, bytes(data) if n == name else b)
        try:
            out = read_state_dict(p)
        except BundleError as e:
            assert "\n" not in str(e)
        else:
            assert all(isinstance(v, np.ndarray) for v in out.values())

    check()


def test_validate_and_inspect_name_the_refusal_of_an_architecture_file(tmp_path):
    from care_bridge.bundle.inspect import inspect_bundle, render_inspection
    from care_bridge.export.validate import validate_bundle

    folder = _file_architecture(tmp_path)
    row = next(c for c in validate_bundle(folder).checks if c.name == "reproduce pytorch_state_dict")
    assert row.passed is False and "Python code in a file" in row.detail
    d = inspect_bundle(folder)
    assert not d["weights"]["pytorch_state_dict"]["runnable_here"]
    assert "architecture file unet.py:UNet is not one it builds" in render_inspection(d)
    assert not any(tmp_path.rglob("pwned"))
