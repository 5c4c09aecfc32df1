"""Deep ensembles, training and export side: ``care-bridge train --ensemble`` (members with their own seeds
and one validation split, resumable), the ensemble folder (``ensemble.yaml`` + member model folders), one
bundle with outputs ``mean``/``member_mean``/``member_scale``, and the model-folder restorer.

Tiny on purpose (2 members, depth 1, 4 filters, 2 epochs of 2 steps) so the file runs in about a minute on
2 cores; the export runs bioimageio.core.test_model for both weight formats itself.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from care_bridge.errors import CareBridgeError

TINY = ["--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "4", "--filters", "4", "--depth", "1",
        "--quiet"]
BASE_SEED = 3


def _cli(*args) -> int:
    from care_bridge.cli.main import main

    return main([str(a) for a in args])


def _one_line_error(capsys, needle: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("care-bridge:")]
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def patches(tmp_path_factory) -> Path:
    from tiny_models import make_pairs

    from care_bridge.data.patches import create_patches

    p = tmp_path_factory.mktemp("ensemble") / "patches.npz"
    create_patches(iter(make_pairs("2d", n=2)), "YX", (32, 32), 10, p, progress=False)
    return p


@pytest.fixture(scope="module")
def trained(patches):
    """The ensemble trained through the CLI, and what each member's trainer was given (seed, patches)."""
    from care_bridge.train import trainer

    seen: dict[str, tuple] = {}
    real = trainer.train

    def spy(config, X, Y, X_val, Y_val, out_dir, **kw):
        seen[Path(out_dir).name] = (config.seed, X.copy(), X_val.copy())
        return real(config, X, Y, X_val, Y_val, out_dir, **kw)

    out = patches.parent / "ens"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainer, "train", spy)
        assert _cli("train", "--data", patches, "--out", out, "--ensemble", "2", "--seed", BASE_SEED, *TINY) == 0
    return out, seen


@pytest.fixture(scope="module")
def bundle(trained, tmp_path_factory) -> Path:
    from care_bridge.export import export_bundle

    return export_bundle(trained[0], tmp_path_factory.mktemp("ens_bundle") / "ens.zip")


def _copy(trained, tmp_path: Path) -> Path:
    dst = tmp_path / "ens"
    shutil.copytree(trained[0], dst)
    return dst


def test_members_have_their_own_seeds_and_one_validation_split(trained, patches):
    from care_bridge.data.patches import load_patches
    from care_bridge.models import CareConfig, load_model
    from care_bridge.models.ensemble import EnsembleConfig, is_ensemble_folder

    out, seen = trained
    assert is_ensemble_folder(out) and not (out / "config.yaml").exists()
    raw = yaml.safe_load((out / "ensemble.yaml").read_text())
    assert raw["schema_version"] == 1 and raw["members"] == ["member_00", "member_01"]
    assert raw["base_seed"] == BASE_SEED and isinstance(raw["created"], str)
    ens = EnsembleConfig.load(out)
    assert ens.members == ("member_00", "member_01") and ens.base_seed == BASE_SEED
    configs = [CareConfig.load(out / m) for m in ens.members]
    assert [c.seed for c in configs] == [BASE_SEED, BASE_SEED + 1]
    assert all(c.probabilistic and c.loss == "laplace" and c.name == "ens" for c in configs)
    # the trainer got each member's seed, the same training and validation patches: those of the base seed
    assert [seen[m][0] for m in ens.members] == [BASE_SEED, BASE_SEED + 1]
    _, _, xv, _, _, _ = load_patches(patches, seed=BASE_SEED)
    for m in ens.members:
        np.testing.assert_array_equal(seen[m][2], xv)
        np.testing.assert_array_equal(seen[m][1], seen["member_00"][1])
        prov = json.loads((out / m / "provenance.json").read_text())
        assert prov["data"]["validation_split_seed"] == BASE_SEED and prov["epochs"] == 2
    w0, w1 = (load_model(out / m)[1].get_weights() for m in ens.members)
    assert any(not np.array_equal(a, b) for a, b in zip(w0, w1))  # different initializations


def test_resume_skips_finished_members_and_finishes_an_interrupted_one(trained, patches, tmp_path, capsys):
    from care_bridge.models import CareConfig

    ens = _copy(trained, tmp_path)
    # member_01 was interrupted after 2 of its 3 epochs: no provenance.json yet
    m1 = ens / "member_01"
    (m1 / "provenance.json").unlink()
    cfg = CareConfig.load(m1)
    cfg.epochs = 3
    cfg.save(m1)
    before = {f.name: f.read_bytes() for f in (ens / "member_00").iterdir() if f.is_file()}
    capsys.readouterr()
    assert _cli("train", "--data", patches, "--out", ens, "--resume", "--quiet") == 0
    out = capsys.readouterr().out
    assert "trained 1 of 2 ensemble members" in out and "already finished: member_00" in out, out
    assert {f.name: f.read_bytes() for f in (ens / "member_00").iterdir() if f.is_file()} == before
    assert json.loads((m1 / "train_state.json").read_text())["epoch"] == 3
    assert json.loads((m1 / "provenance.json").read_text())["epochs"] == 3
    assert len((m1 / "history.csv").read_text().strip().splitlines()) == 1 + 3
    assert CareConfig.load(m1).seed == BASE_SEED + 1
    # everything finished: resuming trains nothing (and touches nothing); a new run into the ensemble folder is
    # refused like for one model
    state = {m: (ens / m / "weights_last.weights.h5").read_bytes() for m in ("member_00", "member_01")}
    assert _cli("train", "--data", patches, "--out", ens, "--resume", "--quiet") == 0
    assert "nothing to train" in capsys.readouterr().out
    assert {m: (ens / m / "weights_last.weights.h5").read_bytes() for m in state} == state
    assert _cli("train", "--data", patches, "--out", ens, "--ensemble", "2", *TINY) == 2
    _one_line_error(capsys, "already holds a model")


@pytest.mark.parametrize("killed", ["in its first epoch", "before it started"])
def test_resume_starts_a_member_that_has_no_epoch_yet_afresh(trained, patches, tmp_path, killed):
    from care_bridge.models import CareConfig
    from care_bridge.train import train_ensemble

    ens = _copy(trained, tmp_path)
    m1 = ens / "member_01"
    if killed == "before it started":
        shutil.rmtree(m1)
    else:
        for f in m1.iterdir():  # only config.yaml had been written
            if f.name != "config.yaml":
                shutil.rmtree(f) if f.is_dir() else f.unlink()
    res = train_ensemble(patches, ens, resume=True, progress=False)
    assert res.skipped == ("member_00",) and list(res.trained) == ["member_01"]
    assert res.trained["member_01"].epochs_run == 2
    cfg = CareConfig.load(m1)  # the settings of the run (its own config.yaml, else member_00's), its own seed
    assert cfg.seed == BASE_SEED + 1 and cfg.name == "ens" and cfg.probabilistic
    assert (cfg.unet_depth, cfg.unet_n_first, cfg.epochs, cfg.steps_per_epoch) == (1, 4, 2, 2)
    assert (m1 / "provenance.json").is_file() and json.loads((m1 / "train_state.json").read_text())["epoch"] == 2


def test_cli_refuses_a_one_member_ensemble_and_non_laplace_losses(patches, tmp_path, capsys):
    from care_bridge.cli.main import build_parser

    args = build_parser().parse_args(["train", "--data", "p.npz", "--out", "o", "--ensemble"])
    assert args.ensemble == 5
    out = tmp_path / "ens"
    for m in ("1", "0"):
        assert _cli("train", "--data", patches, "--out", out, "--ensemble", m, *TINY) == 2
        _one_line_error(capsys, "an ensemble needs at least 2 members")
    for loss in ("mae", "mse"):
        assert _cli("train", "--data", patches, "--out", out, "--ensemble", "--loss", loss, *TINY) == 2
        _one_line_error(capsys, f"--loss {loss}")
    assert not out.exists()


def test_load_ensemble_refuses_members_of_different_architectures(trained, tmp_path):
    from care_bridge.models import CareConfig
    from care_bridge.models.ensemble import load_ensemble

    ens = _copy(trained, tmp_path)
    cfg = CareConfig.load(ens / "member_01")
    cfg.unet_n_first = 8
    cfg.save(ens / "member_01")
    with pytest.raises(CareBridgeError, match=r"member_01 differs from member_00 in unet_n_first") as e:
        load_ensemble(ens)
    assert "\n" not in str(e.value)
    cfg = CareConfig.from_dict({**cfg.model_dump(), "unet_n_first": 4, "probabilistic": False, "loss": "mae"})
    cfg.save(ens / "member_01")
    with pytest.raises(CareBridgeError, match="member_01 is not probabilistic"):
        load_ensemble(ens)


def test_ensemble_exports_as_one_bundle(trained, bundle):
    import keras

    from care_bridge.models import CareConfig

    out, _ = trained
    with zipfile.ZipFile(bundle) as zf:
        rdf = yaml.safe_load(zf.read("rdf.yaml"))
        readme = zf.read("README.md").decode()
        names = set(zf.namelist())
        zf.extract("weights.keras", out.parent / "unzipped")
    assert [o["id"] for o in rdf["outputs"]] == ["mean", "member_mean", "member_scale"]
    channels = {o["id"]: next(a for a in o["axes"] if a["type"] == "channel")["channel_names"] for o in rdf["outputs"]}
    assert channels == {"mean": ["mean0"], "member_mean": ["member0_c0", "member1_c0"],
                        "member_scale": ["member0_c0", "member1_c0"]}
    assert {o["id"]: [a.get("halo") for a in o["axes"]] for o in rdf["outputs"]}["member_scale"] == \
        [a.get("halo") for a in rdf["outputs"][0]["axes"]]
    assert set(rdf["weights"]) == {"keras_v3", "onnx"}
    assert {"test_mean.npy", "test_member_mean.npy", "test_member_scale.npy"} <= names
    care = rdf["config"]["care_bridge"]
    assert care["probabilistic"] is True and care["outputs"] == ["mean", "member_mean", "member_scale"]
    assert care["network"] == CareConfig.load(out / "member_00").model_dump(mode="json")
    ens = care["ensemble"]
    assert ens["members"] == 2 and ens["member_seeds"] == [BASE_SEED, BASE_SEED + 1]
    assert ens["member_names"] == ["member_00", "member_01"]
    assert ens["channel_order"] == "member-major: channel m*C + c" and "equal-weight mixture" in ens["combination"]
    applies = care["output_denormalization"]["applies_to"]
    affine = "y = y_n * (p_high - p_low) + p_low"
    assert applies == {"mean": affine, "member_mean": affine, "member_scale": "s = s_n * (p_high - p_low)"}
    assert "tensorflow_saved_model_bundle" in care["omitted_weight_formats"]
    assert "ensemble of 2 members" in readme and "equal-weight mixture" in readme
    net = keras.models.load_model(out.parent / "unzipped" / "weights.keras", compile=False, safe_mode=True)
    assert [layer.name for layer in net.layers if isinstance(layer, keras.Model)] == ["member_0", "member_1"]


def _batch() -> np.ndarray:
    return np.random.default_rng(0).normal(0.3, 0.2, (2, 32, 32, 1)).astype(np.float32)


def test_runtime_reads_the_ensemble_bundle_and_its_mean_is_the_members_average(bundle):
    from care_bridge import runtime

    r = runtime.load(bundle)
    assert r.info.ensemble == 2 and r.info.output_names == ("mean", "member_mean", "member_scale")
    assert not r.info.probabilistic and r.engine.name in ("openvino", "onnxruntime")  # auto: the ONNX weights
    mean, member_mean, member_scale = r.engine.run(_batch())
    assert mean.shape == (2, 32, 32, 1) and member_mean.shape == member_scale.shape == (2, 32, 32, 2)
    assert np.abs(mean - member_mean.mean(axis=-1, keepdims=True)).max() <= 1e-6
    assert (member_scale > 0).all()


def test_model_folder_and_bundle_restorers_agree(trained, bundle):
    from care_bridge import runtime
    from care_bridge.export.weights import bundle_network
    from care_bridge.frontend import load_restorer
    from care_bridge.models import load_model

    out, _ = trained
    folder = load_restorer(out)  # an ensemble folder is a model folder for the front ends
    assert folder.engine.name == "keras" and folder.info.ensemble == 2 and not folder.info.probabilistic
    assert folder.info.output_names == ("mean", "member_mean", "member_scale")
    x = _batch()
    ys_folder = folder.engine.run(x)
    ys_bundle = runtime.load(bundle).engine.run(x)
    for name, a, b in zip(folder.info.output_names, ys_folder, ys_bundle):
        assert a.shape == b.shape and np.abs(a - b).max() <= 1e-5, name
    for k in range(2):  # member-major channels: member k's own network
        cfg, model = load_model(out / f"member_{k:02d}")
        mean_k, scale_k = (np.asarray(t) for t in bundle_network(cfg, model)(x))
        np.testing.assert_allclose(ys_folder[1][..., k:k + 1], mean_k, atol=1e-6)
        np.testing.assert_allclose(ys_folder[2][..., k:k + 1], scale_k, atol=1e-6)
