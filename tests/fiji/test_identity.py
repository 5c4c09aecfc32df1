"""What ImageJ saves after CARE Restore is bit-identical to `care-bridge predict` with the same bundle, engine
and tiling — hosted (Python runs ImageJ) and standalone (ImageJ runs the command line), 2D, 3D, multi-channel
and probabilistic (scale image too)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fiji_testlib import HELPERS, restore_args, write_tiff

from care_bridge.io import read_image

CLI = Path(sys.executable).parent / "care-bridge"
CASES = {  # kind: (axes, shape, n_tiles)
    "2d": ("YX", (72, 88), "2,2"),
    "3d": ("ZYX", (12, 40, 48), "1,2,2"),
    "2d_multichannel": ("CYX", (2, 64, 72), "2,1"),
    "2d_probabilistic": ("YX", (64, 64), "auto"),
}


def _input(tmp_path: Path, kind: str) -> Path:
    axes, shape, _ = CASES[kind]
    rng = np.random.default_rng(3)
    arr = (rng.poisson(40, shape) + 100 * (np.indices(shape).sum(0) % 7)).astype(np.uint16)
    return write_tiff(tmp_path / f"{kind}.tif", arr, axes, spacing=0.7 if "Z" in axes else None)


def _reference(bundle: Path, src: Path, out: Path, n_tiles: str) -> None:
    cmd = [str(CLI), "predict", "--bundle", str(bundle), "--input", str(src), "--output", str(out),
           "--engine", "onnxruntime", "--quiet"]
    if n_tiles != "auto":
        cmd += ["--n-tiles", n_tiles]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def _bits(path: Path) -> np.ndarray:
    a, _ = read_image(path)
    assert a.dtype == np.float32
    return a.view(np.uint32)


@pytest.mark.parametrize("way", ["hosted", "standalone"])
@pytest.mark.parametrize("kind", list(CASES))
def test_saved_result_is_bit_identical_to_cli(kind, way, tiny_bundle, tmp_path, run_hosted, run_standalone):
    bundle = tiny_bundle(kind)
    src = _input(tmp_path, kind)
    n_tiles = CASES[kind][2]
    _reference(bundle, src, tmp_path / "ref.tif", n_tiles)
    args = restore_args(**{"in": src}, out=tmp_path / "fiji.tif", bundle=bundle, n_tiles=n_tiles,
                        engine="onnxruntime", via=way)
    r = run_hosted(HELPERS / "restore_file.ijm", args) if way == "hosted" else run_standalone(
        HELPERS / "restore_file.ijm", args + f" cli=[{CLI}]")
    assert r.rc == 0 and "REPLY image=" in r.out, r.out + r.err
    ref, got = _bits(tmp_path / "ref.tif"), _bits(tmp_path / "fiji.tif")
    assert got.shape == ref.shape and np.array_equal(got, ref)
    if kind == "2d_probabilistic":
        assert np.array_equal(_bits(tmp_path / "fiji_scale.tif"), _bits(tmp_path / "ref_scale.tif"))


@pytest.mark.parametrize("way", ["hosted", "standalone"])
def test_2d_model_on_a_stack_is_refused_with_a_message(way, tiny_bundle, tmp_path, run_hosted, run_standalone):
    src = _input(tmp_path, "3d")
    args = restore_args(**{"in": src}, out=tmp_path / "o.tif", bundle=tiny_bundle("2d"), via=way)
    r = run_hosted(HELPERS / "restore_file.ijm", args) if way == "hosted" else run_standalone(
        HELPERS / "restore_file.ijm", args + f" cli=[{CLI}]")
    assert "CARE Restore: this is a 2D model" in r.out, r.out + r.err
    assert "images_before=1 images_after=1" in r.out and not (tmp_path / "o.tif").exists()


@pytest.mark.parametrize("way", ["hosted", "standalone"])
def test_model_info_describes_a_real_bundle(way, tiny_bundle, run_hosted, run_standalone):
    from fiji_testlib import MACROS

    args = f"bundle=[{tiny_bundle('2d_probabilistic')}] via=[{way}]"
    macro = MACROS / "CARE_Model_Info.ijm"
    r = run_hosted(macro, args) if way == "hosted" else run_standalone(macro, args + f" cli=[{CLI}]")
    assert r.rc == 0 and "CARE Model Info:" not in r.out, r.out + r.err
    assert "YX" in r.out and "prob" in r.out.lower(), r.out
