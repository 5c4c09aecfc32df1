import json

import numpy as np
import pytest

from care_bridge.frontend import load_restorer
from care_bridge.errors import CareBridgeError
from care_bridge.evaluate import ssim


def test_tiny_care_model_improves_ssim_over_its_noisy_input(tmp_path):
    """A few seconds of training on generated data must measurably restore a held-out image."""
    from care_bridge.data.imaging import synthetic_pair
    from care_bridge.data.patches import create_patches
    from care_bridge.train import train_from_patch_file

    rng = np.random.default_rng(0)
    pairs = [(f"{i}", *synthetic_pair((128, 128), photons=5, rng=rng)) for i in range(4)]
    create_patches(iter(pairs), "YX", (32, 32), 64, tmp_path / "p.npz", progress=False)
    train_from_patch_file(tmp_path / "p.npz", tmp_path / "m", epochs=6, steps_per_epoch=30, batch_size=16,
                          unet_n_first=16, progress=False)
    low, high = synthetic_pair((128, 128), photons=5, rng=np.random.default_rng(99))
    restored = load_restorer(tmp_path / "m").restore(low, "YX").image
    s_in, s_out = ssim(low, high), ssim(restored, high)
    assert s_out > s_in + 0.15, (s_in, s_out)


def test_model_folder_has_checkpoints_curve_and_provenance(tiny_model):
    m = tiny_model("2d")
    for f in ("config.yaml", "weights_best.weights.h5", "weights_last.weights.h5", "history.csv",
              "training_curve.png", "provenance.json", "train_state.json"):
        assert (m / f).is_file(), f
    prov = json.loads((m / "provenance.json").read_text())
    assert prov["epochs"] == 2 and prov["n_patches_train"] > 0 and "tensorflow" in prov["versions"]
    assert (m / "training_curve.png").read_bytes()[:4] == b"\x89PNG"


def _copy_with_epochs(tiny_model, tmp_path, epochs: int):
    """A copy of the trained tiny 2D model folder whose config asks for ``epochs``, and its patch file."""
    import shutil

    from care_bridge.models import CareConfig

    src = tiny_model("2d")
    m = tmp_path / "m"
    shutil.copytree(src, m)
    cfg = CareConfig.load(m)
    cfg.epochs = epochs
    cfg.save(m)
    return m, src.parent / "2d_patches.npz"


def test_resume_continues_from_the_last_epoch(tiny_model, tmp_path):
    from care_bridge.models import CareConfig
    from care_bridge.train import train_from_patch_file

    m, patches = _copy_with_epochs(tiny_model, tmp_path, 4)
    cfg = CareConfig.load(m)
    cfg.seed = 3  # trained with --seed 3: resuming without --seed must hold out the same patches
    cfg.save(m)
    state = json.loads((m / "train_state.json").read_text())
    state["validation_split"]["seed"] = 3  # the training state records the split it drew
    (m / "train_state.json").write_text(json.dumps(state))
    with pytest.raises(CareBridgeError, match="already holds a model"):
        train_from_patch_file(patches, m, progress=False)
    res = train_from_patch_file(patches, m, resume=True, progress=False)
    assert res.epochs_run == 4
    assert json.loads((m / "provenance.json").read_text())["data"]["validation_split_seed"] == 3
    rows = (m / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4  # header + epochs 0..3, the first two from before the interruption
    assert json.loads((m / "train_state.json").read_text())["epoch"] == 4
    # a changed epoch count is honoured (regression: --resume --epochs was silently ignored)
    res = train_from_patch_file(patches, m, resume=True, progress=False, epochs=5)
    assert res.epochs_run == 5 and CareConfig.load(m).epochs == 5
    with pytest.raises(CareBridgeError, match="unet_depth cannot change"):
        train_from_patch_file(patches, m, resume=True, progress=False, epochs=6, unet_depth=3)
    assert not list(m.glob(".part-*"))  # checkpoints were renamed into place


def test_a_damaged_checkpoint_is_one_line_naming_the_file(tiny_model, tmp_path):
    from care_bridge.train import train_from_patch_file

    m, patches = _copy_with_epochs(tiny_model, tmp_path, 4)
    last = m / "weights_last.weights.h5"
    last.write_bytes(last.read_bytes()[:100])  # truncated, as by a kill during a save in place
    with pytest.raises(CareBridgeError, match="weights_last.weights.h5 is damaged") as e:
        train_from_patch_file(patches, m, resume=True, progress=False)
    assert "weights_best.weights.h5" in str(e.value) and "\n" not in str(e.value)


def test_laplace_nll_matches_its_closed_form():
    from care_bridge.models.losses import laplace_nll_numpy  # imports Keras: not at collection

    import keras

    from care_bridge.models.losses import laplace_nll

    y = np.array([[1.0], [2.0]], np.float32)[None]
    mu = np.array([[0.5], [2.0]], np.float32)[None]
    s = np.array([[0.5], [1.0]], np.float32)[None]
    # by hand: |1-0.5|/0.5 + log(1) = 1 ; |2-2|/1 + log(2) = 0.693147 ; mean = 0.846574
    expected = (1.0 + np.log(2.0)) / 2
    assert laplace_nll_numpy(y, mu, s) == pytest.approx(expected, rel=1e-6)
    got = float(keras.ops.convert_to_numpy(laplace_nll(1)(y, np.concatenate([mu, s], -1))))
    assert got == pytest.approx(expected, rel=1e-4)
