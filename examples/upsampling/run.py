"""Axial upsampling on generated data (CPU, ~2 min): isotropic stacks subsampled 4x in Z → 3D network whose
output has 4x the planes → figure with SSIM/NRMSE vs linear interpolation.
Usage: python examples/upsampling/run.py [OUT_DIR]"""

import sys
from pathlib import Path

from care_bridge.frontend import load_restorer
from care_bridge.pipelines import isotropic as iso, upsampling as up
from care_bridge.pipelines.figures import save_panels

out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out/upsampling")
F = 4
stacks = [iso.synthetic_isotropic_volume((32, 64, 64), seed=s) for s in range(3)]
up.train_upsampling(stacks, out / "model", factor=F, patch_shape=(16, 32, 32), n_patches=128, epochs=10,
                    steps_per_epoch=25, batch_size=4, unet_n_first=16, progress=True)
gt = iso.synthetic_isotropic_volume((32, 64, 64), seed=9)
x = gt[::F]
restored = load_restorer(out / "model").restore(x, "ZYX").image
base = up.upsampling_baseline(x, F)
m = up.evaluate_upsampling(restored, base, gt)
print(m)
y = 32
save_panels(Path(__file__).parent / "upsampling.png", [
    (f"input ({x.shape[0]} planes), linear interp.\nSSIM {m['ssim']['baseline']:.3f} "
     f"NRMSE {m['nrmse']['baseline']:.3f}", base[:, y]),
    (f"CARE upsampling ({restored.shape[0]} planes)\nSSIM {m['ssim']['care']:.3f} NRMSE {m['nrmse']['care']:.3f}",
     restored[:, y]),
    ("ground truth", gt[:, y]),
], title="axial upsampling x4, XZ slice")
