"""``python -m care_bridge.export.onnx_child FOLDER``: convert ``FOLDER/net.keras`` (configuration in
``FOLDER/config.json``) to ``FOLDER/net.onnx`` in a fresh process, whose ``PYTHONHASHSEED`` the parent fixes;
exit status 1 when the outputs still have the wrong rank (see :data:`care_bridge.export.weights.RETRY_HASH_SEEDS`)."""

from __future__ import annotations

import sys
from pathlib import Path


def main(folder: str) -> int:
    from ..framework_env import configure_tensorflow

    configure_tensorflow()
    import keras
    import onnx

    from ..models.config import CareConfig
    from .weights import convert_onnx, onnx_output_ranks_ok

    root = Path(folder)
    config = CareConfig.model_validate_json((root / "config.json").read_text())
    net = keras.models.load_model(root / "net.keras", compile=False)  # safe mode: our own file, no Lambda layers
    proto = convert_onnx(config, net)
    if not onnx_output_ranks_ok(config, proto, net):
        return 1
    onnx.save(proto, str(root / "net.onnx"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
