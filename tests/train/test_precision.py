"""Training in bf16 (mixed precision): the hardware check, the option's parsing, the network's dtypes, and a real
training run whose float32 bundle restores as the trained network does."""

import json
import zipfile

import numpy as np
import pytest

from care_bridge.errors import CareBridgeError
from care_bridge.frontend.options import parse_training_precision
from care_bridge.train.precision import check_training_precision, cpu_bf16_flags, cpu_flags

SAPPHIRE = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile amx_bf16\n"
SKYLAKE = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\nflags\t\t: fpu sse avx2 avx512f avx512bw\n"
BF16_HERE = bool(cpu_bf16_flags())


def test_cpu_flags_are_read_from_cpuinfo_text():
    assert cpu_flags(SKYLAKE) == {"fpu", "sse", "avx2", "avx512f", "avx512bw"}
    assert cpu_flags("processor : 0\n") == set()
    assert cpu_bf16_flags(SAPPHIRE) == ["avx512_bf16", "amx_bf16"]
    assert cpu_bf16_flags(SKYLAKE) == []


def test_bf16_is_allowed_with_bf16_instructions_or_a_gpu_and_refused_otherwise():
    assert check_training_precision("fp32", cpuinfo=SKYLAKE, gpus=0) == "fp32"
    assert check_training_precision("bf16", cpuinfo=SAPPHIRE, gpus=0) == "bf16"
    assert check_training_precision("bf16", cpuinfo=SKYLAKE, gpus=1) == "bf16"
    with pytest.raises(CareBridgeError, match=r"bf16 needs a CPU with bf16 instructions .* train in fp32") as e:
        check_training_precision("bf16", cpuinfo=SKYLAKE, gpus=0)
    assert "\n" not in str(e.value)
    with pytest.raises(CareBridgeError, match="unknown"):
        check_training_precision("fp16", cpuinfo=SAPPHIRE, gpus=1)


@pytest.mark.parametrize("text,expected", [(None, "fp32"), ("", "fp32"), ("FP32", "fp32"), ("float32", "fp32"),
                                           ("bf16", "bf16"), (" BFloat16 ", "bf16")])
def test_training_precision_spellings(text, expected):
    assert parse_training_precision(text) == expected


@pytest.mark.parametrize("text", ["fp16", "half", "int8"])
def test_training_precision_refuses_what_training_cannot_do(text):
    with pytest.raises(CareBridgeError, match="fp32"):
        parse_training_precision(text)


@pytest.mark.parametrize("kind", ["unet", "probabilistic", "upsampling"])
def test_bf16_network_computes_its_body_in_bfloat16_and_its_head_in_float32(kind):
    from care_bridge.models.config import CareConfig
    from care_bridge.models.factory import build_network

    cfg = {"unet": CareConfig(unet_n_first=8),
           "probabilistic": CareConfig(unet_n_first=8, probabilistic=True),
           "upsampling": CareConfig(mode="upsampling", axes="ZYX", unet_n_first=4, procedure={"factor": 2})}[kind]
    mixed, plain = build_network(cfg, precision="bf16"), build_network(cfg)
    convs = [lay for lay in _layers(mixed) if type(lay).__name__.startswith("Conv") and lay.trainable]
    body = [lay for lay in convs if lay.name not in ("mean", "scale")]
    head = [lay for lay in convs if lay.name in ("mean", "scale")]
    assert body and head
    assert {lay.compute_dtype for lay in body} == {"bfloat16"}
    assert {lay.compute_dtype for lay in head} == {"float32"}
    assert {w.dtype for w in mixed.weights} == {"float32"}
    assert {lay.compute_dtype for lay in _layers(plain)} == {"float32"}
    assert mixed.output.dtype == "float32"
    # the same float32 variables: the trained weights load into the network that export builds
    plain.set_weights(mixed.get_weights())
    shape = (1, 8, 32, 32, 1) if cfg.ndim == 3 else (1, 64, 64, 1)
    x = np.random.default_rng(0).random(shape, np.float32)
    a, b = np.asarray(mixed(x)), np.asarray(plain(x))
    assert a.dtype == np.float32
    # bfloat16 keeps 8 significant bits: relative rounding 2**-9 per operation, a few hundred summed per pixel
    assert 0 < np.abs(a - b).max() < 0.05 * max(1.0, float(np.abs(b).max())), np.abs(a - b).max()


def _layers(model):
    for lay in model.layers:
        if hasattr(lay, "layers"):
            yield from _layers(lay)
        else:
            yield lay


def test_the_cli_refuses_bf16_without_bf16_hardware_before_writing(tmp_path, monkeypatch, capsys):
    import care_bridge.train.precision as precision
    from care_bridge.cli.main import main
    from care_bridge.data.imaging import synthetic_pair
    from care_bridge.data.patches import create_patches

    rng = np.random.default_rng(0)
    pairs = [(f"{i}", *synthetic_pair((64, 64), photons=5, rng=rng)) for i in range(2)]
    create_patches(iter(pairs), "YX", (16, 16), 8, tmp_path / "p.npz", progress=False)
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda cpuinfo=None: [])
    monkeypatch.setattr(precision, "_gpu_count", lambda: 0)
    code = main(["train", "--data", str(tmp_path / "p.npz"), "--out", str(tmp_path / "m"), "--epochs", "1",
                 "--precision", "bf16", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "bf16 instructions" in err[0], err
    assert not (tmp_path / "m").exists()
    code = main(["train", "--data", str(tmp_path / "p.npz"), "--out", str(tmp_path / "m2"), "--precision", "fp16"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "training precision 'fp16'" in err[0], err
    assert not (tmp_path / "m2").exists()


@pytest.mark.skipif(not BF16_HERE, reason="this CPU has no bf16 instructions (the refusal is tested above)")
def test_bf16_training_exports_a_float32_bundle_that_restores_as_the_trained_network(tmp_path):
    from care_bridge.data.imaging import synthetic_pair
    from care_bridge.data.patches import create_patches
    from care_bridge.export import export_bundle
    from care_bridge.frontend import load_restorer
    from care_bridge.models import CareConfig
    from care_bridge.train import train_from_patch_file

    rng = np.random.default_rng(0)
    pairs = [(f"{i}", *synthetic_pair((96, 96), photons=5, rng=rng)) for i in range(3)]
    create_patches(iter(pairs), "YX", (32, 32), 24, tmp_path / "p.npz", progress=False)
    m = tmp_path / "m"
    res = train_from_patch_file(tmp_path / "p.npz", m, epochs=2, steps_per_epoch=4, batch_size=8, unet_n_first=8,
                                precision="bf16", progress=False)
    assert res.epochs_run == 2 and np.isfinite(res.final_loss)
    cfg = CareConfig.load(m)
    assert cfg.precision == "bf16"
    # the exported ONNX graph is float32 throughout: no bfloat16 tensor or cast survives the training arithmetic
    import onnx

    bundle = export_bundle(m, tmp_path / "m.zip")
    with zipfile.ZipFile(bundle) as z:
        name = next(n for n in z.namelist() if n.endswith(".onnx"))
        graph = onnx.load_from_string(z.read(name)).graph
    types = {t.type.tensor_type.elem_type for t in [*graph.input, *graph.output, *graph.value_info]}
    types |= {i.data_type for i in graph.initializer}
    assert onnx.TensorProto.BFLOAT16 not in types and onnx.TensorProto.FLOAT in types
    casts = [a.i for n in graph.node if n.op_type == "Cast" for a in n.attribute if a.name == "to"]
    assert onnx.TensorProto.BFLOAT16 not in casts
    # the bundle (ONNX) restores as the model folder does (Keras, the float32 network with the best weights)
    x = synthetic_pair((64, 64), photons=5, rng=np.random.default_rng(7))[0]
    from_bundle = load_restorer(bundle).restore(x, "YX").image
    from_folder = load_restorer(m).restore(x, "YX").image
    assert np.allclose(from_bundle, from_folder, rtol=1e-4, atol=1e-4 * float(np.ptp(from_folder)))
    # a resumed run may change the arithmetic (float32 weights and optimizer state either way)
    res = train_from_patch_file(tmp_path / "p.npz", m, epochs=3, resume=True, precision="fp32", progress=False)
    assert res.epochs_run == 3 and CareConfig.load(m).precision == "fp32"
    assert json.loads((m / "provenance.json").read_text())["epochs"] == 3
