"""Host ImageJ like ``python -m care_bridge.fiji`` but with a fake runtime (y = 2x + 1; scale = 0.5 when the
bundle's name contains "prob"): tests the macro↔Python mechanism without a trained bundle."""

import os
import sys
from types import SimpleNamespace

import numpy as np

from care_bridge.errors import CareBridgeError
from care_bridge.fiji import __main__ as entry
from care_bridge.fiji import api, handlers


class FakeRestorer:
    def __init__(self, bundle: str):
        self.prob = "prob" in os.path.basename(bundle)
        self.info = SimpleNamespace(name="fake", axes="YX", mode="denoise", procedure={}, n_channel_in=1,
                                    n_channel_out=1, probabilistic=self.prob, step=(4, 4), halo=(2, 2),
                                    min_size=(4, 4), scale=(1.0, 1.0), percentile_low=2.0,
                                    percentile_high=99.8, eps=1e-6, denormalize="input_percentiles",
                                    pixel_size=None, description="fake")
        self.engine = SimpleNamespace(name="fake")

    def restore(self, image, axes, n_tiles=None):
        if "fail" in axes.lower() or image.size == 7:
            raise CareBridgeError("fake failure")
        y = image.astype(np.float32) * 2 + 1
        s = np.full_like(y, 0.5) if self.prob else None
        return SimpleNamespace(image=y, axes=axes, scale=s, engine="fake", n_tiles=(1, 1))


def fake_load(bundle, engine="auto"):
    if not os.path.exists(bundle):
        raise CareBridgeError(f"bundle {bundle} does not exist; check the path")
    if "broken" in os.path.basename(bundle):
        raise RuntimeError("simulated crash inside the runtime")
    return FakeRestorer(str(bundle))


api.load_restorer = fake_load
handlers.load_restorer = fake_load

if __name__ == "__main__":
    rc = entry.main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
