"""``care-bridge calibrate``: how well a probabilistic or ensemble bundle's intervals cover the truth on
held-out pairs, and a recalibrated copy of the bundle.

Calibration of regression (Kuleshov, Fenner & Ermon, ICML 2018), as the CARE paper validates its
probabilistic networks (Weigert et al. 2018, Fig. 5 and Methods "Reliability measures and calibration"): for
each nominal level ``p`` the fraction of ground-truth pixels inside the predicted central ``p`` interval
(the reliability curve; a calibrated model lies on the diagonal) and the expected calibration error (ECE, the
mean ``|coverage - p|``; :mod:`care_bridge.laplace_mixture`). Recalibration multiplies every Laplace scale by
one factor fitted to minimise the ECE; it is stored as ``config.care_bridge.calibration`` and every front end
applies it through the runtime.

Units: the prediction is in the runtime's output units (CARE maps the network output back with the *input's*
percentiles); the ground truth is brought into the same units the way the network was trained to predict it:
normalized with the model's percentiles (per channel, whole image), then mapped with the input's percentiles.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import laplace_mixture as lm
from ..bundle.safe_zip import sha256_file
from ..describe import ReadoutRequest
from ..errors import CareBridgeError
from ..io import atomic_path, read_image
from ..io.atomic import check_output_path
from ..normalize import apply_denormalization, apply_normalization, percentile_stats

REPORT_PNG, REPORT_JSON = "calibration.png", "calibration.json"


@dataclass
class CalibrationReport:
    """Reliability curves before and after recalibration, on ``n_pixels`` pixels of ``pairs``."""

    levels: list[float]
    coverage_before: list[float]
    coverage_after: list[float]
    ece_before: float
    ece_after: float
    factor: float  # fitted now, on top of the bundle's existing factor
    total_factor: float  # what the recalibrated bundle stores
    n_pixels: int
    pairs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def summary(self) -> str:
        return (f"ECE {self.ece_before:.4f} -> {self.ece_after:.4f} after scaling every Laplace scale by "
                f"{self.factor:.4g} ({len(self.pairs)} pair(s), {self.n_pixels} pixels)")


def _pairs(low: Path, high: Path) -> list[tuple[str, Path, Path]]:
    from ..data.pairs import find_pairs

    return [(p.name, p.low, p.high) for p in find_pairs(low, high)]


def truth_in_output_units(restorer, low: np.ndarray, high: np.ndarray, axes: str) -> np.ndarray:
    """``high`` (axes ``axes`` without loops) normalized with the model's percentiles and mapped back with the
    input's, channels last like the prediction's ``C`` handling."""
    info = restorer.info
    ch = "C" in axes
    lo_c = np.moveaxis(low, axes.index("C"), -1) if ch else low[..., None]
    hi_c = np.moveaxis(high, axes.index("C"), -1) if ch else high[..., None]
    kw = dict(low=info.percentile_low, high=info.percentile_high, eps=info.eps)
    y = apply_normalization(hi_c.astype(np.float32), percentile_stats(hi_c, -1, **kw))
    if info.denormalize == "input_percentiles":
        y = apply_denormalization(y, percentile_stats(lo_c, -1, **kw))
    return np.moveaxis(y, -1, axes.index("C")) if ch else y[..., 0]


def calibrate(restorer, low_dir: str | Path, high_dir: str | Path, *, axes: str | None = None,
              n_tiles=None, progress: bool = False) -> tuple[CalibrationReport, tuple]:
    """Restore every low image of the held-out pairs, compare its predicted distribution with the high image,
    and fit the scale factor. Returns the report and ``(central levels before, after)`` per pixel."""
    info = restorer.info
    if not info.distributional:
        raise CareBridgeError("calibration needs a probabilistic or ensemble bundle; this one predicts only an "
                              "image (train with --probabilistic or --ensemble)")
    ys, mus, bs, names = [], [], [], []
    for name, lp, hp in _pairs(Path(low_dir), Path(high_dir)):
        x, meta = read_image(lp)
        y, _ = read_image(hp)
        ax = (axes or meta.axes or "").upper() or (info.axes if x.ndim == len(info.axes) else None)
        if not ax or any(a in ax for a in "TS"):
            raise CareBridgeError(f"pair {name}: give images with the network's axes {info.axes} (+ C), one per file; "
                                  "pass --axes if the file does not say")
        res = restorer.restore(x, ax, n_tiles=n_tiles, readouts=ReadoutRequest(members=True), progress=progress)
        if y.shape != res.image.shape:
            raise CareBridgeError(f"pair {name}: the high image has shape {y.shape} but the restoration "
                                  f"{res.image.shape}; calibration pairs must be registered (same grid as the output)")
        truth = truth_in_output_units(restorer, x, y, res.axes)
        if not np.isfinite(truth).all():
            raise CareBridgeError(f"pair {name}: the high image has NaN/Inf values; give finite images")
        ys.append(truth.ravel())
        mus.append(res.readouts.members.reshape(info.ensemble, -1))
        bs.append(res.readouts.member_scales.reshape(info.ensemble, -1))
        names.append(name)
    y, mu, b = np.concatenate(ys), np.concatenate(mus, axis=1), np.concatenate(bs, axis=1)
    before = lm.central_level(y, mu, b)
    factor = lm.fit_scale_factor(y, mu, b)
    after = lm.central_level(y, mu, b * factor)
    levels = [float(v) for v in lm.CALIBRATION_LEVELS]
    report = CalibrationReport(
        levels=levels,
        coverage_before=[float(v) for v in lm.calibration_curve(before)],
        coverage_after=[float(v) for v in lm.calibration_curve(after)],
        ece_before=lm.expected_calibration_error(before), ece_after=lm.expected_calibration_error(after),
        factor=factor, total_factor=factor * info.scale_calibration, n_pixels=int(y.size), pairs=names)
    return report, (before, after)


def plot_report(report: CalibrationReport, path: Path) -> Path:
    """The reliability diagram: observed coverage over nominal level, before and after recalibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io.figures import save_figure

    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=120)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="calibrated")
    ax.plot(report.levels, report.coverage_before, "o-", ms=3, label=f"before (ECE {report.ece_before:.3f})")
    ax.plot(report.levels, report.coverage_after, "s-", ms=3,
            label=f"after x{report.factor:.3g} (ECE {report.ece_after:.3f})")
    ax.set_xlabel("nominal level of the central interval")
    ax.set_ylabel("fraction of ground-truth pixels inside")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("calibration on held-out pairs")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def write_report(report: CalibrationReport, folder: Path) -> tuple[Path, Path]:
    """``calibration.png`` and ``calibration.json`` in ``folder`` (created), each written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    png = plot_report(report, folder / REPORT_PNG)
    js = folder / REPORT_JSON
    with atomic_path(js, overwrite=True) as tmp:
        tmp.write_text(json.dumps(report.to_dict(), indent=2))
    return png, js


def write_recalibrated_bundle(bundle: Path, out_zip: Path, report: CalibrationReport, report_files: tuple[Path, Path],
                              *, overwrite: bool = False) -> Path:
    """A copy of the bundle zip ``bundle`` whose ``config.care_bridge.calibration`` holds the fitted factor (and
    the curves), with the report's PNG and JSON as attachments; the weights and test tensors are unchanged."""
    import yaml

    from ..bundle.yaml_safe import load_untrusted_yaml
    from .weights import fixed_zip_info

    check_output_path(out_zip, overwrite=overwrite)
    if not str(out_zip).endswith(".zip"):
        raise CareBridgeError(f"bundle path {out_zip} must end with .zip")
    if not zipfile.is_zipfile(bundle):
        raise CareBridgeError(f"{bundle} is not a bundle zip; recalibrated copies are made from .zip bundles")
    with zipfile.ZipFile(bundle) as zin:
        names = zin.namelist()
        rdf_name = next((n for n in names if n.rsplit("/", 1)[-1] == "rdf.yaml"), None)
        if rdf_name is None:
            raise CareBridgeError(f"{bundle} has no rdf.yaml")
        prefix = rdf_name[: -len("rdf.yaml")]
        rdf = load_untrusted_yaml(zin.read(rdf_name), what=f"{bundle.name}: rdf.yaml")
        care = rdf["config"]["care_bridge"]
        care["calibration"] = {
            "method": "scale", "factor": float(report.total_factor),
            "applies_to": "every Laplace scale (member_scale / scale) before intervals, std and samples; the "
                          "disagreement D is computed from the same scaled members",
            "ece_before": report.ece_before, "ece_after": report.ece_after, "levels": report.levels,
            "coverage_before": report.coverage_before, "coverage_after": report.coverage_after,
            "n_pixels": report.n_pixels, "pairs": report.pairs,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "reference": "Kuleshov, Fenner & Ermon, Accurate uncertainties for deep learning using calibrated "
                         "regression, ICML 2018",
        }
        attach = [a for a in (rdf.get("attachments") or []) if a.get("source") not in (REPORT_PNG, REPORT_JSON)]
        rdf["attachments"] = attach + [{"source": f.name, "sha256": sha256_file(f)} for f in report_files]
        with atomic_path(out_zip, overwrite=overwrite) as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
                for n in names:
                    if n in (prefix + REPORT_PNG, prefix + REPORT_JSON):
                        continue
                    if n == rdf_name:
                        buf = io.StringIO()
                        yaml.safe_dump(rdf, buf, sort_keys=False, allow_unicode=True, width=110)
                        zout.writestr(fixed_zip_info(n), buf.getvalue().encode("utf-8"))
                    else:
                        zout.writestr(fixed_zip_info(n), zin.read(n))
                for f in report_files:
                    zout.writestr(fixed_zip_info(prefix + f.name), f.read_bytes())
    return Path(out_zip)
