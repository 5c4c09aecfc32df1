"""Regenerate the CSBDeep reference fixtures used by tests/bundle/test_csbdeep_import.py.

Run with the real CSBDeep in a SEPARATE virtual environment (never the project's):

    python3 -m venv /tmp/csbvenv
    /tmp/csbvenv/bin/pip install "csbdeep==0.8.2" "tensorflow-cpu==2.21.0"
    /tmp/csbvenv/bin/python tests/bundle/data/make_csbdeep_fixtures.py tests/bundle/data

Measured: csbdeep 0.8.2 imports, builds, trains (with train_tensorboard=False; TF 2.21 ships no tensorboard)
and predicts under Keras 3.15.1 / TF 2.21. Each fixture is a CSBDeep model folder (config.json,
weights_best.h5 written by CSBDeep's own checkpointing) plus input.npy and CSBDeep's prediction
(``CARE.predict`` with its default PercentileNormalizer(2, 99.8) and no tiling) in prediction.npy.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from csbdeep.models import CARE, Config

CASES = {
    "csbdeep_2d": dict(axes="YX", n_channel_in=1, n_channel_out=1, unet_n_depth=2, unet_kern_size=3),
    "csbdeep_2d_2to1_relu": dict(axes="YX", n_channel_in=2, n_channel_out=1, unet_n_depth=1, unet_kern_size=3,
                                 unet_last_activation="relu"),
    "csbdeep_3d": dict(axes="ZYX", n_channel_in=1, n_channel_out=1, unet_n_depth=1, unet_kern_size=3),
}


def main(out: Path) -> None:
    rng = np.random.default_rng(0)
    for name, kw in CASES.items():
        folder = out / name
        axes = kw.pop("axes")
        cfg = Config(axes, unet_n_first=4, train_epochs=2, train_steps_per_epoch=3, train_batch_size=4,
                     train_tensorboard=False, **kw)
        model = CARE(cfg, name, basedir=str(out))
        shape = (8,) + (16,) * len(axes) + (cfg.n_channel_in,)
        x = rng.gamma(2.0, 20.0, size=shape).astype(np.float32)
        y = (x.mean(axis=-1, keepdims=True) * 1.5)[..., : cfg.n_channel_out]
        y = np.repeat(y, cfg.n_channel_out, axis=-1)
        model.train(x, y, validation_data=(x[:2], y[:2]))
        test_shape = (8, 24, 32) if len(axes) == 3 else (32, 40)
        if os.environ.get("CSBDEEP_LARGE_TEST_IMAGES"):  # room for an interior beyond the receptive field
            test_shape = (40, 64, 72) if len(axes) == 3 else (120, 136)
        img = rng.gamma(2.0, 30.0, size=test_shape + (cfg.n_channel_in,)).astype(np.float32) + 100
        img_axes = axes + "C"
        pred = model.predict(img, img_axes)  # PercentileNormalizer(2, 99.8), PadAndCropResizer, no tiles
        np.save(folder / "input.npy", img)
        np.save(folder / "prediction.npy", pred.astype(np.float32))
        (folder / "fixture.json").write_text(json.dumps({"axes": img_axes, "csbdeep": "0.8.2"}))
        for extra in ("weights_last.h5", "weights_now.h5"):
            (folder / extra).unlink(missing_ok=True)
        print(name, img.shape, pred.shape)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
