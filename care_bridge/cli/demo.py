"""``care-bridge demo``: the main job on the embedded default.

Restores the embedded low-SNR sample with the embedded CARE bundle (both made reproducibly by
``scripts/make_demo_assets.py`` from generated data), writes the restoration (TIFF) and a before/after PNG, and
prints NRMSE/PSNR/SSIM of input and restoration against the sample's high-SNR ground truth.
``--train`` instead trains a tiny model on freshly generated data first (a few minutes on a CPU).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import CareBridgeError
from .common import Command

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default out/demo)")
    p.add_argument("--engine", default="auto", choices=["auto", "onnxruntime", "tensorflow"])
    p.add_argument("--train", action="store_true",
                   help="train a tiny model on generated data instead of using the embedded bundle")


def save_before_after(low, restored, high, path: Path, titles=("input (low SNR)", "CARE", "ground truth")) -> Path:
    """A PNG with input | restoration | ground truth side by side (each shown with its own 0.5/99.8 range)."""
    from ..io.figures import save_panels

    panels = [(t, a) for t, a in zip(titles, (low, restored, high)) if a is not None]
    return save_panels(path, panels, panel_size=(4, 4.3), dpi=100, fontsize=12)


def _demo(args) -> int:
    import numpy as np

    from ..evaluate import scores
    from ..frontend import load_restorer
    from ..io import read_image, write_image

    args.out.mkdir(parents=True, exist_ok=True)
    if args.train:
        bundle, low, high = _train_tiny(args.out)
        engine = None
    else:
        bundle = ASSETS / "demo_bundle.zip"
        if not bundle.is_file():
            raise CareBridgeError(f"embedded bundle {bundle} is missing; run scripts/make_demo_assets.py")
        low, _ = read_image(ASSETS / "demo_low.tif")
        high, _ = read_image(ASSETS / "demo_high.tif")
        engine = args.engine
    t0 = time.time()
    r = load_restorer(bundle, engine or "auto")
    res = r.restore(low, "YX")
    dt = time.time() - t0
    tif = write_image(args.out / "restored.tif", res.image, res.axes, overwrite=True)
    png = save_before_after(low, res.image, high, args.out / "before_after.png")
    s_in, s_out = scores(low.astype(np.float32), high), scores(res.image, high)
    print(f"model: {bundle}  (engine {res.engine}, {dt:.2f} s)")
    print(f"{'':10}{'NRMSE':>8}{'PSNR/dB':>10}{'SSIM':>8}")
    print(f"{'input':10}{s_in.nrmse:8.4f}{s_in.psnr:10.2f}{s_in.ssim:8.4f}")
    print(f"{'CARE':10}{s_out.nrmse:8.4f}{s_out.psnr:10.2f}{s_out.ssim:8.4f}")
    print(f"restoration: {tif}\nbefore/after: {png}")
    return 0


def _train_tiny(out: Path):
    import numpy as np

    from ..data.imaging import synthetic_pair
    from ..data.patches import create_patches
    from ..train import train_from_patch_file

    rng = np.random.default_rng(0)
    pairs = [(f"{i}", *synthetic_pair((128, 128), photons=5, rng=rng)) for i in range(6)]
    create_patches(iter(pairs), "YX", (32, 32), 64, out / "patches.npz", overwrite=True, progress=False)
    model = out / "model"
    if model.exists():
        import shutil

        shutil.rmtree(model)
    train_from_patch_file(out / "patches.npz", model, epochs=10, steps_per_epoch=30, batch_size=16,
                          unet_n_first=16, progress=False)
    low, high = synthetic_pair((256, 256), photons=5, rng=np.random.default_rng(123))
    return model, low, high


DEMO = Command(
    "demo", "restore the embedded sample with the embedded bundle (the main job)",
    __doc__.split("\n", 1)[1].strip(), _args, _demo,
)
