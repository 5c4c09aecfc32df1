"""Make the embedded default of ``care-bridge demo``: a small CARE bundle and a low/high-SNR sample.

    python scripts/make_demo_assets.py

Everything comes from generated data with fixed seeds (``care_bridge.data.imaging.synthetic_pair``: mixed
blobs/filaments/granules, Gaussian widefield PSF (NA 0.8, 520 nm), 5 photons at the brightest pixel for the
low-SNR image, 1000x more for the high-SNR one, read noise 1.5 e-, offset 100 ADU). Writes
``care_bridge/assets/{demo_bundle.zip, demo_low.tif, demo_high.tif}`` (bundle <= 5 MB: 16 first-layer filters).
TensorFlow's CPU kernels are deterministic for a fixed seed on one machine; across machines the weights may
differ in the last bits, the restoration quality does not.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CARE_BRIDGE_NO_PROGRESS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "care_bridge" / "assets"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from care_bridge.export import export_bundle
    from care_bridge.data.imaging import synthetic_pair
    from care_bridge.data.patches import create_patches
    from care_bridge.evaluate import scores
    from care_bridge.io import write_image
    from care_bridge.train import train_from_patch_file

    work = Path(tempfile.mkdtemp(prefix="cb_demo_"))
    rng = np.random.default_rng(2018)
    pairs = [(f"{i}", *synthetic_pair((256, 256), photons=5, rng=rng)) for i in range(8)]
    create_patches(iter(pairs), "YX", (64, 64), 64, work / "patches.npz", progress=False,
                   description="generated: 8 synthetic 256x256 widefield pairs, 5 vs 5000 photons")
    train_from_patch_file(work / "patches.npz", work / "care_demo", epochs=25, steps_per_epoch=40, batch_size=16,
                          unet_n_first=16, name="care_demo", progress=False)
    low, high = synthetic_pair((256, 256), photons=5, rng=np.random.default_rng(7))
    low16 = np.clip(np.round(low), 0, 65535).astype(np.uint16)
    high16 = np.clip(np.round(high), 0, 65535).astype(np.uint16)
    ASSETS.mkdir(exist_ok=True)
    from care_bridge.frontend import load_restorer

    restored = load_restorer(work / "care_demo").restore(low16, "YX").image
    s_in, s_out = scores(low16.astype(np.float32), high16), scores(restored, high16)
    validation = {"description": "one held-out generated 256x256 image (seed 7)",
                  "input": vars(s_in), "restoration": vars(s_out)}
    export_bundle(work / "care_demo", ASSETS / "demo_bundle.zip", overwrite=True, test_input=low16,
                  validation=validation)
    write_image(ASSETS / "demo_low.tif", low16, "YX", overwrite=True)
    write_image(ASSETS / "demo_high.tif", high16, "YX", overwrite=True)
    shutil.rmtree(work, ignore_errors=True)
    size = (ASSETS / "demo_bundle.zip").stat().st_size / 1e6
    print(f"input {s_in.row()}\nCARE  {s_out.row()}\nbundle {size:.2f} MB in {ASSETS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
