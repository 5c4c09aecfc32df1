"""The reliability experiment of the CARE paper (Weigert et al. 2018, Fig. 5), on synthetic data: an ensemble of
probabilistic networks trained on filaments (tubules) is applied to held-out filaments, to an image whose right
half holds granules instead (other structures: out of distribution) and to filaments at a tenth of the photons;
the disagreement D should rise where the input is unlike the training data. Reports the mean D inside vs outside
such regions, the Spearman correlation of the pixel error with D, and the ECE of the 0.05 ... 0.95 central
intervals before and after recalibration (fitted on one held-out set, measured on another).

Used by ``examples/reliability/run.py`` (figures) and ``benchmarks/reliability.py`` (table + JSON).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SHAPE = (128, 128)
PHOTONS = 20.0


@dataclass(frozen=True)
class Settings:
    members: int = 5
    n_train: int = 8
    n_patches: int = 128
    patch: int = 64
    epochs: int = 30
    steps_per_epoch: int = 40
    depth: int = 2
    filters: int = 16
    n_calibration: int = 3
    n_test: int = 3
    seed: int = 0


QUICK = Settings(members=2, n_train=3, n_patches=32, epochs=2, steps_per_epoch=4, depth=1, filters=8,
                 n_calibration=1, n_test=1)


def _pair(structure_left: str, structure_right: str | None, photons: float, rng):
    """(low, high, in-distribution mask) of one ``SHAPE`` image: the left half ``structure_left``, the right half
    ``structure_right`` (or the same), acquired by :func:`care_bridge.data.imaging.synthetic_pair`."""
    from ..data.imaging import synthetic_pair
    from ..data.structures import ground_truth

    truth = ground_truth(SHAPE, structure_left, rng)
    mask = np.ones(SHAPE, bool)
    if structure_right is not None:
        other = ground_truth(SHAPE, structure_right, rng)
        half = SHAPE[1] // 2
        truth[:, half:] = other[:, half:] / max(float(other.max()), 1e-6) * float(truth.max())
        mask[:, half:] = False
    low, high = synthetic_pair(SHAPE, photons=photons, rng=rng, truth=truth)
    return low, high, mask


def _write_pairs(folder: Path, pairs) -> tuple[Path, Path]:
    import tifffile

    for d in ("low", "high"):
        (folder / d).mkdir(parents=True, exist_ok=True)
    for k, (lo, hi, _) in enumerate(pairs):
        tifffile.imwrite(folder / "low" / f"img{k:02d}.tif", lo)
        tifffile.imwrite(folder / "high" / f"img{k:02d}.tif", hi)
    return folder / "low", folder / "high"


def build_ensemble(work: Path, s: Settings) -> Path:
    """Training pairs → patches → an ensemble of ``s.members`` → one bundle; returns the bundle (reused when it
    exists; an interrupted ensemble resumes)."""
    from ..data.pairs import iter_pairs
    from ..data.patches import create_patches
    from ..export import export_bundle
    from ..train import train_ensemble

    rng = np.random.default_rng(s.seed)
    low, high = _write_pairs(work / "train", [_pair("tubules", None, PHOTONS, rng) for _ in range(s.n_train)])
    patches, model, bundle = work / "patches.npz", work / "ensemble", work / "ensemble.zip"
    if bundle.exists():
        return bundle
    if not patches.exists():
        create_patches(iter_pairs(low, high, "YX"), "YX", (s.patch, s.patch), s.n_patches, patches, seed=s.seed,
                       progress=False, description="simulated filaments, 20 photons")
    train_ensemble(patches, model, members=s.members, resume=(model / "ensemble.yaml").exists(), progress=False,
                   epochs=s.epochs, steps_per_epoch=s.steps_per_epoch, unet_depth=s.depth, unet_n_first=s.filters,
                   batch_size=8, seed=s.seed)
    export_bundle(model, bundle, overwrite=True)
    return bundle


def evaluate_ensemble(bundle: Path, work: Path, s: Settings) -> tuple[dict, dict]:
    """The numbers of the experiment and the arrays the figures need."""
    from scipy.stats import spearmanr

    from .. import runtime
    from ..describe import ReadoutRequest
    from ..export.recalibrate import truth_in_output_units, calibrate, write_recalibrated_bundle, write_report

    rng = np.random.default_rng(s.seed + 1000)
    r = runtime.load(bundle)
    req = ReadoutRequest(std=True, disagreement=True, interval=True, level=0.9, members=True)
    cal_low, cal_high = _write_pairs(work / "calibration",
                                     [_pair("tubules", None, PHOTONS, rng) for _ in range(s.n_calibration)])
    test_low, test_high = _write_pairs(work / "test", [_pair("tubules", None, PHOTONS, rng) for _ in range(s.n_test)])
    report, _ = calibrate(r, cal_low, cal_high)
    files = write_report(report, work / "calibration_report")
    cal_bundle = write_recalibrated_bundle(bundle, work / "ensemble_calibrated.zip", report, files, overwrite=True)
    held_out_before, _ = calibrate(r, test_low, test_high)
    held_out_after, _ = calibrate(runtime.load(cal_bundle), test_low, test_high)

    cases = {"in distribution": _pair("tubules", None, PHOTONS, rng),
             "granules on the right half": _pair("tubules", "granules", PHOTONS, rng),
             f"{PHOTONS / 10:g} photons": _pair("tubules", None, PHOTONS / 10, rng)}
    out: dict = {"settings": asdict(s), "bundle": str(bundle), "cases": {}}
    arrays: dict = {}
    for name, (lo, hi, mask) in cases.items():
        t0 = time.perf_counter()
        res = r.restore(lo, "YX", readouts=req)
        seconds = time.perf_counter() - t0
        truth = truth_in_output_units(r, lo, hi, "YX")
        err = np.abs(res.image - truth)
        d = res.readouts.disagreement
        # where there is structure (the brighter half of each region's truth), not empty background
        inside = np.zeros_like(mask)
        for region in (mask, ~mask):
            if region.any():
                inside |= region & (truth > np.percentile(truth[region], 50))
        row = {"mean_D": float(d.mean()), "mean_D_structure": float(d[inside].mean()),
               "error_vs_D_spearman": float(spearmanr(err.ravel(), d.ravel()).statistic),
               "error_vs_D_spearman_structure": float(spearmanr(err[inside], d[inside]).statistic),
               "seconds": seconds}
        if not mask.all():
            row["mean_D_in_distribution_half"] = float(d[mask & inside].mean())
            row["mean_D_out_of_distribution_half"] = float(d[~mask & inside].mean())
        out["cases"][name] = row
        arrays[name] = {"low": lo, "truth": truth, "restoration": res, "mask": mask}
    out["calibration"] = {
        "fitted_on": report.pairs, "factor": report.factor,
        "ece_fit_set_before": report.ece_before, "ece_fit_set_after": report.ece_after,
        "ece_held_out_before": held_out_before.ece_before, "ece_held_out_after": held_out_after.ece_before,
        "coverage_held_out_before": held_out_before.coverage_before,
        "coverage_held_out_after": held_out_after.coverage_before, "levels": report.levels,
    }
    return out, arrays


def table(result: dict) -> str:
    """The numbers as a printable table."""
    lines = ["D on structure pixels (the brighter half of each region's truth); rho: Spearman(|error|, D) on them",
             f"{'case':<28} {'mean D':>7} {'D (ID half)':>11} {'D (OOD half)':>12} {'rho(err, D)':>11}"]
    for name, row in result["cases"].items():
        idh, ood = (row.get(k) for k in ("mean_D_in_distribution_half", "mean_D_out_of_distribution_half"))
        idh, ood = ("-" if v is None else f"{v:.3f}" for v in (idh, ood))
        lines.append(f"{name:<28} {row['mean_D_structure']:7.3f} {idh:>11} {ood:>12} "
                     f"{row['error_vs_D_spearman_structure']:11.3f}")
    c = result["calibration"]
    lines.append(f"ECE of the central intervals, held-out pairs: {c['ece_held_out_before']:.4f} before, "
                 f"{c['ece_held_out_after']:.4f} after recalibration (factor {c['factor']:.3g} fitted on other pairs)")
    return "\n".join(lines)


def figures(arrays: dict, result: dict, folder: Path) -> list[Path]:
    """Fig. 5-like panels (input, two members, mean, D) for the half-granules image; a line profile with the 90%
    band and the truth; the reliability diagram before and after recalibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io.figures import save_figure

    folder.mkdir(parents=True, exist_ok=True)
    a = arrays["granules on the right half"]
    res = a["restoration"]
    members = res.readouts.members
    panels = [("input (right half: granules)", a["low"]), ("member 1", members[0]), ("member 2", members[1]),
              ("ensemble mean", res.image), ("disagreement D", res.readouts.disagreement)]
    fig, axs = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.3), dpi=110)
    for ax, (title, img) in zip(axs, panels):
        if title.startswith("disagreement"):
            im = ax.imshow(img, cmap="magma", vmin=0, vmax=max(float(img.max()), 1e-3))
            fig.colorbar(im, ax=ax, fraction=0.046)
        else:
            ax.imshow(img, cmap="gray", vmin=np.percentile(img, 1), vmax=np.percentile(img, 99.8))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    row = int(np.argmax(a["truth"][:, : a["truth"].shape[1] // 2].max(axis=1)))
    for ax in axs:
        ax.axhline(row, color="c", lw=0.6)
    out = [save_figure(fig, folder / "reliability_panels.png")]
    fig, ax = plt.subplots(figsize=(8, 3), dpi=110)
    x = np.arange(res.image.shape[1])
    ax.fill_between(x, res.readouts.lower[row], res.readouts.upper[row], color="tab:blue", alpha=0.25,
                    label="90% interval")
    ax.plot(x, res.image[row], color="tab:blue", lw=1, label="ensemble mean")
    ax.plot(x, a["truth"][row], color="k", lw=1, ls="--", label="ground truth")
    ax2 = ax.twinx()
    ax2.plot(x, res.readouts.disagreement[row], color="tab:red", lw=0.8, label="D")
    ax2.set_ylabel("D", color="tab:red")
    ax.axvline(x[-1] / 2, color="0.5", lw=0.5)
    ax.set_xlabel("x (px); right of the line: granules, never seen in training")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("line profile (cyan line above): ensemble mean, 90% interval, ground truth (high-SNR) and D",
                 fontsize=9)
    fig.tight_layout()
    out.append(save_figure(fig, folder / "reliability_profile.png"))
    c = result["calibration"]
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=110)
    ax.plot([0, 1], [0, 1], "--", color="0.6")
    ax.plot(c["levels"], c["coverage_held_out_before"], "o-", ms=3, label=f"before (ECE {c['ece_held_out_before']:.3f})")
    ax.plot(c["levels"], c["coverage_held_out_after"], "s-", ms=3, label=f"after (ECE {c['ece_held_out_after']:.3f})")
    ax.set_xlabel("nominal level")
    ax.set_ylabel("observed coverage (held-out pairs)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.append(save_figure(fig, folder / "reliability_calibration.png"))
    return out


def run(work: str | Path, settings: Settings = Settings(), *, figure_dir: Path | None = None) -> dict:
    """Build (or reuse) the ensemble in ``work``, evaluate it, write ``reliability.json`` (and figures)."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    bundle = build_ensemble(work, settings)
    built = time.perf_counter() - t0
    result, arrays = evaluate_ensemble(bundle, work, settings)
    result["build_seconds"] = built
    (work / "reliability.json").write_text(json.dumps(result, indent=2))
    if figure_dir is not None:
        result["figures"] = [str(p) for p in figures(arrays, result, figure_dir)]
    return result
