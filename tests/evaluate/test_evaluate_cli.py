"""`care-bridge evaluate --prediction … --target … --baselines`, as the README shows it (it crashed when
scikit-image's noise estimate lacked PyWavelets)."""

import numpy as np
import tifffile

from care_bridge.cli.main import main


def test_evaluate_with_baselines_prints_one_row_per_method(tmp_path, capsys):
    rng = np.random.default_rng(0)
    truth = np.kron(rng.random((8, 8)), np.ones((8, 8))).astype(np.float32) * 100
    tifffile.imwrite(tmp_path / "high.tif", truth)
    tifffile.imwrite(tmp_path / "restored.tif", (truth + rng.normal(0, 10, truth.shape)).astype(np.float32))
    assert main(["evaluate", "--prediction", str(tmp_path / "restored.tif"), "--target", str(tmp_path / "high.tif"),
                 "--baselines"]) == 0
    rows = [ln.split() for ln in capsys.readouterr().out.splitlines()[1:]]
    assert [r[0] for r in rows] == ["restored.tif", "gaussian(restored.tif)", "median(restored.tif)",
                                    "nl_means(restored.tif)"]
    nrmse = {r[0]: float(r[1]) for r in rows}
    assert nrmse["gaussian(restored.tif)"] < nrmse["restored.tif"]  # smoothing a noisy blocky image helps
