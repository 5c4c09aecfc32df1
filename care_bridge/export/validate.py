"""``validate_bundle``: is a bundle well-formed, intact, and do its weights reproduce its test tensors?

Checks, in order (each a row of the report):
1. ``open``: safe extraction, ``format_version`` 0.5.x, every named file present with matching sha256,
   a network description this runtime can execute.
2. ``schema``: bioimage.io spec 0.5 validation with ``bioimageio.spec`` (when installed).
3. ``reproduce <format>``: each weight format available through :mod:`care_bridge.runtime.engines` (and
   ``keras_v3`` when Keras is installed) run on the normalized test input; max abs difference to the test
   output(s) must be ``<= tolerance``. ``pytorch_state_dict`` runs on the torch engine when care_bridge builds its
   architecture (:mod:`care_bridge.runtime.torch_architectures`), else its row fails with the refusal.
4. ``bioimageio.core <format>``: optional, ``bioimageio.core.test_model`` per weight format; never for
   ``pytorch_state_dict``, which bioimageio.core loads by importing the architecture the bundle names.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CareBridgeError


@dataclass(frozen=True)
class Check:
    """One row of a validation report; ``passed`` is None for a skipped check."""

    name: str
    passed: bool | None
    detail: str = ""


@dataclass
class ValidationReport:
    source: str
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no check failed and at least one weight format was reproduced."""
        return all(c.passed is not False for c in self.checks) and any(
            c.passed and c.name.startswith(("reproduce", "bioimageio.core")) for c in self.checks
        )

    @property
    def ok(self) -> bool:
        """Alias of :attr:`passed` (the CLI's name)."""
        return self.passed

    def render(self) -> str:
        """The pass/fail table of :func:`render_report`."""
        return render_report(self)

    def to_dict(self) -> dict:
        return {"source": self.source, "passed": self.passed,
                "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks]}


def render_report(report: ValidationReport) -> str:
    """A plain-text pass/fail table, one line per check, then the overall verdict."""
    width = max([len(c.name) for c in report.checks] + [5])
    lines = [f"bundle: {report.source}", f"{'check'.ljust(width)}  result  detail", "-" * (width + 40)]
    for c in report.checks:
        res = {True: "PASS", False: "FAIL", None: "skip"}[c.passed]
        lines.append(f"{c.name.ljust(width)}  {res:<6}  {c.detail}")
    lines.append(f"overall: {'PASS' if report.passed else 'FAIL'}")
    return "\n".join(lines)


def _schema_check(bundle) -> Check:
    if importlib.util.find_spec("bioimageio.spec") is None:
        return Check("schema", None, "bioimageio.spec not installed")
    from bioimageio.spec import load_description
    from bioimageio.spec.common import InvalidDescr

    rdf = next(p for p in (bundle.root / "rdf.yaml", bundle.root / "bioimageio.yaml") if p.is_file())
    descr = load_description(str(rdf), perform_io_checks=False)
    if isinstance(descr, InvalidDescr):
        summary = descr.validation_summary
        for d in summary.details:
            for e in d.errors:
                loc = ".".join(str(x) for x in e.loc)
                return Check("schema", False, " ".join(f"{loc}: {e.msg}".split())[:300])
        return Check("schema", False, f"status {summary.status}")
    return Check("schema", True, f"bioimage.io model spec {descr.format_version}")


def _normalized_test_input(bundle) -> np.ndarray:
    """The test input as the network receives it (``"S<axes>C"``): CARE's percentile normalization, or a
    third-party bundle's preprocessing run by the runtime's own ops (every op the bundle reader accepts)."""
    from ..normalize import apply_normalization, percentile_stats
    from ..runtime.pipeline import prepare_input

    x = bundle.runtime_tensor(bundle.test_inputs[0])
    info = bundle.info
    if bundle.care_bridge is not None:
        stats = percentile_stats(x[0], channel_axis=-1, low=info.percentile_low, high=info.percentile_high,
                                 eps=info.eps)
        return apply_normalization(x, stats)
    from ..runtime import ops

    prepared, _ = prepare_input(tuple(info.preprocessing), x[0])
    return ops.apply_all(prepared, x[0])[None]


def _finish(bundle, outs: list[np.ndarray]) -> list[np.ndarray]:
    """A third-party bundle's test outputs are after its postprocessing: apply it (the runtime's ops)."""
    if bundle.care_bridge is not None or not bundle.info.postprocessing:
        return outs
    from ..runtime.pipeline import postprocess

    return [postprocess(bundle.info, o[0])[None] for o in outs]


def _compare(name: str, outs: list[np.ndarray], expected: list[np.ndarray], tolerance: float) -> Check:
    if len(outs) != len(expected) or any(o.shape != e.shape for o, e in zip(outs, expected)):
        return Check(name, False, f"output shapes {[o.shape for o in outs]} != test {[e.shape for e in expected]}")
    d = float(max(np.abs(o - e).max() for o, e in zip(outs, expected)))
    return Check(name, d <= tolerance, f"max abs diff {d:.2e} (tolerance {tolerance:g})")


def _keras_outputs(path: Path, x: np.ndarray) -> list[np.ndarray]:

    from ..framework_env import configure_tensorflow

    configure_tensorflow()
    import keras

    from .weights import run_keras

    model = keras.models.load_model(path, compile=False, safe_mode=True)  # safe mode: no Lambda code
    return run_keras(model, x)


def validate_bundle(
    path: str | Path, *, tolerance: float = 1e-4, core: bool = False, engines: tuple[str, ...] | None = None
) -> ValidationReport:
    """Validate a bundle zip/folder; never raises for a bad bundle (the failure is a row of the report)."""
    from ..runtime.engines import make_engine, tensorflow_available, torch_available
    from ..bundle.open import open_bundle

    report = ValidationReport(str(path))
    try:
        bundle = open_bundle(path)
    except CareBridgeError as e:
        report.checks.append(Check("open", False, str(e)))
        return report
    with bundle:
        report.checks.append(Check("open", True, f"format_version {bundle.format_version}, files and sha256 ok"))
        report.checks.append(_schema_check(bundle))
        if not bundle.test_inputs or len(bundle.test_outputs) != len(bundle.info.output_names):
            report.checks.append(Check("test tensors", False, "the bundle lacks test input/output tensors"))
            return report
        x = _normalized_test_input(bundle)
        expected = [bundle.runtime_tensor(t, output=True) for t in bundle.test_outputs]
        runnable = {"onnx": "onnxruntime", "tensorflow_saved_model_bundle": "tensorflow", "torchscript": "torch",
                    "pytorch_state_dict": "torch"}
        for fmt in bundle.formats:
            name = f"reproduce {fmt}"
            engine = runnable.get(fmt)
            if engines is not None and (engine or fmt) not in engines:
                continue
            if engine == "tensorflow" and not tensorflow_available():
                report.checks.append(Check(name, None, "TensorFlow not installed"))
            elif engine == "torch" and not torch_available():
                report.checks.append(Check(name, None, "PyTorch not installed (pip install 'care_bridge[torch]')"))
            elif engine is not None:
                try:
                    # this format's weights only (torch runs torchscript and pytorch_state_dict)
                    eng = make_engine(engine, {fmt: bundle.formats[fmt]}, bundle.info,
                                      weights=bundle.rdf.get("weights"))
                    outs = _finish(bundle, eng.run(x))
                    report.checks.append(_compare(name, outs, expected, tolerance))
                except CareBridgeError as e:
                    report.checks.append(Check(name, False, str(e)))
            elif fmt == "keras_v3" and importlib.util.find_spec("keras") is not None:
                try:
                    outs = _finish(bundle, _keras_outputs(bundle.formats[fmt], x))
                    report.checks.append(_compare(name, outs, expected, tolerance))
                except Exception as e:  # a corrupt or unsafe .keras file
                    report.checks.append(Check(name, False, f"cannot load: {' '.join(str(e).split())[:200]}"))
            else:
                report.checks.append(Check(name, None, "no engine for this format here"))
        if core:
            from .core_test import run_test_model

            from ..runtime.onnx_guard import check_onnx_model
            from ..runtime.tf_guard import check_saved_model

            # bioimageio.core would load (run) the weights: they pass care_bridge's checks first
            guards = {"tensorflow_saved_model_bundle": check_saved_model, "onnx": check_onnx_model}
            for fmt in bundle.formats:
                if fmt == "pytorch_state_dict":  # bioimageio.core would import the module or file the rdf names
                    report.checks.append(Check(f"bioimageio.core {fmt}", None, "not run: bioimageio.core loads "
                                               "pytorch_state_dict by importing the architecture's code"))
                    continue
                if fmt in guards:
                    try:
                        guards[fmt](bundle.formats[fmt])
                    except CareBridgeError as e:
                        report.checks.append(Check(f"bioimageio.core {fmt}", False, f"not run: {e}"))
                        continue
                res = run_test_model(bundle.source, fmt)
                report.checks.append(Check(f"bioimageio.core {fmt}", res.passed, res.message or "test_model passed"))
    return report
