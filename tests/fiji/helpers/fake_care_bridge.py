#!/usr/bin/env python3
"""Stand-in for the care-bridge command line (y = 2x + 1), same options and error convention."""
import sys

import numpy as np

from care_bridge.errors import CareBridgeError
from care_bridge.io import read_image, write_image

args = sys.argv[1:]
opt = dict(zip(args[1::2], args[2::2]))
try:
    if args[:1] != ["predict"]:
        raise CareBridgeError("the fake only predicts")
    if "broken" in opt["--bundle"]:
        raise CareBridgeError("bundle is broken; re-export it")
    img, meta = read_image(opt["--input"])
    write_image(opt["--output"], img.astype(np.float32) * 2 + 1, meta.axes, meta=meta)
    if "prob" in opt["--bundle"]:
        write_image(opt["--output"].replace(".tif", "_scale.tif"), np.full(img.shape, 0.5, np.float32), meta.axes,
                    meta=meta)
except CareBridgeError as e:
    print(f"care-bridge: error: {e}", file=sys.stderr)
    sys.exit(2)
