"""Table-in/table-out logic behind the KNIME nodes.

The KNIME extension (``knime_workflows/care_bridge_knime``) and the stock Python Script node workflow both call
these functions; nothing here imports KNIME. Each function takes and returns a pandas DataFrame with one row
per image, so it can be tested and benchmarked without KNIME. Restoring goes through the same runtime calls
as ``care-bridge predict`` (:func:`care_bridge.io.read_image` → ``Restorer.restore`` →
:func:`care_bridge.io.write_image`), which is what makes the outputs identical.

Bad rows never stop a table: a missing or unreadable file, or an image that does not fit the model, gives that
row ``status == "error"`` and a one-line message, unless ``fail_on_error`` is set. A node never overwrites a
file it did not write: see :class:`OutputGuard`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .bundle.safe_zip import sha256_file
from .errors import CareBridgeError
from .frontend.naming import output_path
from .frontend.options import RestoreOptions as ContractOptions
from .frontend.options import ENGINES, PRECISIONS, parse_n_tiles  # noqa: F401 - part of this interface (extension, tests)
from .frontend.options import parse_training_precision

IMAGE_COLUMN = "image_path"
TARGET_COLUMN = "target_path"
RESTORED_COLUMN = "restored_path"
SCALE_COLUMN = "scale_path"  # filled for probabilistic bundles, missing otherwise
RESTORE_COLUMNS = (RESTORED_COLUMN, SCALE_COLUMN, "restore_status", "restore_error", "restore_seconds")
METRIC_COLUMNS = ("nrmse", "psnr", "ssim")
EVALUATE_COLUMNS = (*METRIC_COLUMNS, "evaluate_status", "evaluate_error")
MODEL_COLUMNS = (
    "bundle_path", "bundle_sha256", "model_name", "axes", "n_channel_in", "n_channel_out", "probabilistic", "mode",
)
MANIFEST_NAME = ".care_bridge_outputs.json"
KNIME_WORKFLOW_URL = "knime://knime.workflow/"

Progress = Callable[[float, str], None]

# Arrow types of the columns the nodes write. KNIME moves tables as Arrow; a column left to type inference that
# holds no value at all (restore_error when every row succeeded, scale_path for a non-probabilistic bundle, an
# empty table) would become Arrow's null type, which KNIME shows as a "void" column, unlike what configure declared.
ROW_ID_COLUMN = "<RowID>"  # KNIME's RowID: the first column of every table KNIME hands Python as pyarrow
STRING_COLUMNS = frozenset({
    IMAGE_COLUMN, TARGET_COLUMN, "restore_status", "restore_error", "evaluate_status", "evaluate_error",
    "bundle_path", "bundle_sha256", "model_name", "axes", "mode",
})


def column_arrow_type(name: str):
    """The ``pyarrow`` type of a column the nodes write (every ``*_path`` column is a string), or ``None`` for a
    column they do not write."""
    import pyarrow as pa

    if name == "restore_seconds" or name in METRIC_COLUMNS:
        return pa.float64()
    if name in ("n_channel_in", "n_channel_out"):
        return pa.int64()
    if name == "probabilistic":
        return pa.bool_()
    if name in STRING_COLUMNS or name.endswith("_path"):
        return pa.string()
    return None


def arrow_table(df: pd.DataFrame, base=None):
    """``df`` as the ``pyarrow.Table`` a node hands KNIME (``Table.from_pyarrow``): ``<RowID>`` first, then every
    column with an explicit type, so all-empty columns keep their type.

    ``base`` is the node's input as ``Table.to_pyarrow()`` (``<RowID>`` first): its RowIDs and columns are kept
    exactly as they came (types included) and ``df`` (same rows, same order) supplies only the columns it adds.
    Without ``base`` the RowIDs come from ``df``'s index as KNIME's ``from_pandas`` makes them (an integer ``n``
    becomes ``Row{n}``). A column the nodes do not write keeps the type Arrow infers, and a string type if it holds
    no value at all."""
    import pyarrow as pa

    fields, arrays = [], []
    if base is not None:
        if base.num_columns == 0 or base.schema.names[0] != ROW_ID_COLUMN:
            raise CareBridgeError(f"the input table has no {ROW_ID_COLUMN} column first; pass Table.to_pyarrow()")
        if base.num_rows != len(df):
            raise CareBridgeError(f"{len(df)} result rows for {base.num_rows} input rows")
        fields, arrays = list(base.schema), list(base.columns)
    else:
        ids = [f"Row{i}" for i in df.index] if pd.api.types.is_integer_dtype(df.index) else [str(i) for i in df.index]
        fields, arrays = [pa.field(ROW_ID_COLUMN, pa.string())], [pa.array(ids, pa.string())]
    kept = {f.name for f in fields}
    for name in df.columns:
        if name in kept:
            continue
        t = column_arrow_type(str(name))
        if t is None:
            arr = pa.array(df[name], from_pandas=True)
            if pa.types.is_null(arr.type):
                arr = arr.cast(pa.string())
        else:
            arr = pa.array(df[name].astype(object), type=t, from_pandas=True)
        fields.append(pa.field(str(name), arr.type))
        arrays.append(arr)
    chunked = [a if isinstance(a, pa.ChunkedArray) else pa.chunked_array([a], a.type) for a in arrays]
    return pa.Table.from_arrays(chunked, schema=pa.schema(fields)).combine_chunks()


def resolve_path(text: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """A path as typed in a node dialog: absolute, ``knime://knime.workflow/…`` (relative to the workflow
    folder, ``data_dir``'s parent) or relative (to the workflow data area ``data_dir``)."""
    s = str(text).strip()
    if not s:
        raise CareBridgeError("a path option is empty; type a file or folder path")
    if s.startswith(KNIME_WORKFLOW_URL):
        if data_dir is None:
            raise CareBridgeError(f"{s} needs a workflow to resolve against; give an absolute path")
        return (Path(data_dir).parent / s[len(KNIME_WORKFLOW_URL):]).resolve()
    if s.startswith("knime://"):
        raise CareBridgeError(f"{s}: only knime://knime.workflow/ URLs are supported; give a file path")
    p = Path(s).expanduser()
    if not p.is_absolute():
        if data_dir is None:
            raise CareBridgeError(f"relative path {s} needs a workflow to resolve against; give an absolute path")
        p = Path(data_dir) / p
    return p.resolve()


def load_restorer(bundle: str | os.PathLike, *, engine: str = "auto", precision: str = "fp32"):
    """Load a bundle with the front-end contract's loader (which checks the engine name and parses the
    "Precision" setting: fp32 unless bf16/fp16 is asked for); every failure is a one-line :class:`CareBridgeError`."""
    from .frontend import load_restorer as contract  # importing the runtime loads onnxruntime

    return contract(bundle, engine, precision)


def describe_bundle(bundle: str | os.PathLike, *, engine: str = "auto") -> pd.DataFrame:
    """The model table (one row, :data:`MODEL_COLUMNS`) that CARE Bundle Reader and CARE Trainer output."""
    p = Path(bundle).resolve()
    info = load_restorer(p, engine=engine).info
    row = {
        "bundle_path": str(p), "bundle_sha256": sha256_file(p) if p.is_file() else "", "model_name": info.name,
        "axes": info.axes, "n_channel_in": int(info.n_channel_in), "n_channel_out": int(info.n_channel_out),
        "probabilistic": bool(info.probabilistic), "mode": info.mode,
    }
    return pd.DataFrame([row], columns=list(MODEL_COLUMNS))


def bundle_from_model_table(model: pd.DataFrame) -> Path:
    """The bundle path in a model table; fails unless it has exactly one row and the file is unchanged."""
    missing = [c for c in ("bundle_path", "bundle_sha256") if c not in model.columns]
    if missing:
        raise CareBridgeError(
            f"the model input lacks column(s) {', '.join(missing)}; connect a CARE Bundle Reader or CARE Trainer"
        )
    if len(model) != 1:
        raise CareBridgeError(f"the model input has {len(model)} rows; it must describe exactly one bundle")
    p = Path(str(model["bundle_path"].iloc[0]))
    if not p.exists():
        raise CareBridgeError(f"bundle {p} does not exist any more; re-run the CARE Bundle Reader")
    want = str(model["bundle_sha256"].iloc[0] or "")
    if want and p.is_file() and sha256_file(p) != want:
        raise CareBridgeError(f"bundle {p} changed since it was read; re-run the CARE Bundle Reader")
    return p


def list_images(folder: str | os.PathLike, *, pattern: str = "*.tif*",
                target_folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """Files in ``folder`` matching ``pattern`` (sorted) as :data:`IMAGE_COLUMN`; with ``target_folder``, the
    file of the same name there as :data:`TARGET_COLUMN` (pairs for training and evaluation)."""
    src = Path(folder)
    if not src.is_dir():
        raise CareBridgeError(f"image folder {src} does not exist; check the path")
    files = sorted(p for p in src.glob(pattern) if p.is_file() and not p.name.startswith("."))
    if not files:
        raise CareBridgeError(f"no files match {pattern!r} in {src}; check the folder and the pattern")
    df = pd.DataFrame({IMAGE_COLUMN: [str(p.resolve()) for p in files]})
    if target_folder is not None:
        tgt = Path(target_folder)
        if not tgt.is_dir():
            raise CareBridgeError(f"target folder {tgt} does not exist; check the path")
        lonely = [p.name for p in files if not (tgt / p.name).is_file()]
        if lonely:
            raise CareBridgeError(f"{len(lonely)} image(s) have no file of the same name in {tgt}, e.g. {lonely[0]}")
        df[TARGET_COLUMN] = [str((tgt / p.name).resolve()) for p in files]
    return df


class OutputGuard:
    """Decides which files a node may write into ``folder``.

    New files are always allowed. An existing file is replaced only with ``overwrite`` *and* if this node wrote
    it earlier and nobody changed it since (size and mtime recorded in ``folder/.care_bridge_outputs.json``).
    Input files and two rows writing the same name are refused.
    """

    def __init__(self, folder: Path, *, overwrite: bool, protected: set[Path] = frozenset()):
        self.folder, self.overwrite, self.protected = folder, overwrite, protected
        self._manifest = folder / MANIFEST_NAME
        try:
            self._files: dict[str, dict[str, int]] = json.loads(self._manifest.read_text())["files"]
        except (OSError, ValueError, KeyError, TypeError):
            self._files = {}  # unreadable manifest: nothing counts as ours, the safe direction
        self._claimed: set[str] = set()

    def claim(self, path: Path) -> bool:
        """Reserve ``path``; return whether it replaces an earlier output. Raises if it may not be written."""
        if path.resolve() in self.protected:
            raise CareBridgeError(f"output {path} is one of the inputs; choose another output folder or suffix")
        if path.name in self._claimed:
            raise CareBridgeError(f"another row already writes {path.name}; input names must be unique")
        replace = path.exists()
        if replace:
            if not self.overwrite:
                raise CareBridgeError(f"output {path} already exists; enable 'Overwrite' or choose another folder")
            st, rec = path.stat(), self._files.get(path.name)
            if rec != {"size": st.st_size, "mtime_ns": st.st_mtime_ns}:
                raise CareBridgeError(f"output {path} exists and was not written by this node; it is never replaced")
        self._claimed.add(path.name)
        return replace

    def record(self, path: Path) -> None:
        st = path.stat()
        self._files[path.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}

    def save(self) -> None:
        """Write the manifest atomically (temporary file + rename)."""
        fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST_NAME}.", dir=self.folder)
        with os.fdopen(fd, "w") as f:
            json.dump({"written_by": "care_bridge.knime_nodes", "files": self._files}, f, indent=0, sort_keys=True)
        os.replace(tmp, self._manifest)


@dataclass(frozen=True)
class RestoreOptions:
    """What the CARE Restorer dialog sets besides the model and the output folder: the table's image column,
    whether a bad row stops the node, and the restoration options of the front-end contract (``restore``,
    parsed from the dialog's strings by :meth:`from_settings`; the engine is the model port's)."""

    image_column: str = IMAGE_COLUMN
    fail_on_error: bool = False
    restore: ContractOptions = ContractOptions()

    @classmethod
    def from_settings(cls, *, image_column: str = IMAGE_COLUMN, fail_on_error: bool = False,
                      **texts: object) -> RestoreOptions:
        """Parse the dialog's strings (``n_tiles``, ``axes``, ``suffix``, ``overwrite``, ``memory_budget``,
        ``readouts``, ``level``, ``n_samples``, ``planewise``, ``channels``, ``output_format``, ``dtype``) with :func:`care_bridge.frontend.restore_options`, exactly as
        the CLI and the macros do."""
        from .frontend import restore_options

        return cls(image_column=image_column, fail_on_error=fail_on_error, restore=restore_options(texts))


def readout_columns(options: RestoreOptions) -> tuple[str, ...]:
    """The path columns the requested readouts add, one per readout image: ``std_path``, ``disagreement_path``,
    ``lower_path``, ``upper_path``, ``samples_path`` (fixed names; the files carry the level: ``_lower90.tif``)."""
    return tuple(f"{f}_path" for f in options.restore.readouts.image_fields)


def _cell_path(value: Any) -> Path:
    if value is None or (not isinstance(value, str) and pd.isna(value)) or not str(value).strip():
        raise CareBridgeError("the path cell is empty")
    return Path(str(value))


def _check_new_columns(df: pd.DataFrame, names: tuple[str, ...]) -> None:
    clash = [c for c in names if c in df.columns]
    if clash:
        raise CareBridgeError(f"the input already has column(s) {', '.join(clash)}; rename or remove them first")


def restore_table(
    df: pd.DataFrame, restorer, output_folder: str | os.PathLike, options: RestoreOptions = RestoreOptions(), *,
    progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """Restore every image of ``df[options.image_column]`` with ``restorer`` (from :func:`load_restorer`).

    Each file goes through :func:`care_bridge.frontend.restore_file`, the function ``care-bridge predict``
    calls. Returns ``df`` with :data:`RESTORE_COLUMNS` appended: the written paths, ``"ok"``/``"error"``, the
    message and the seconds spent on the row (reading, restoring and writing).
    """
    from dataclasses import replace as _replace

    from .frontend import error_line, restore_file, scale_path
    from .frontend.jobs import readout_outputs

    if options.image_column not in df.columns:
        raise CareBridgeError(f"the input has no column {options.image_column!r}; choose the image path column")
    extra_cols = readout_columns(options)
    columns = RESTORE_COLUMNS[:2] + extra_cols + RESTORE_COLUMNS[2:]
    _check_new_columns(df, columns)
    out_dir = Path(output_folder)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CareBridgeError(f"output folder {out_dir} cannot be created ({e.strerror}); choose another") from e
    if not os.access(out_dir, os.W_OK):
        raise CareBridgeError(f"output folder {out_dir} is not writable; choose another")
    protected = {Path(str(v)).resolve() for v in df[options.image_column] if isinstance(v, str) and v.strip()}
    guard = OutputGuard(out_dir, overwrite=options.restore.overwrite, protected=protected)
    prob = bool(restorer.info.probabilistic)
    cols: dict[str, list] = {c: [] for c in columns}
    n = len(df)
    try:
        for i, value in enumerate(df[options.image_column]):
            if cancelled is not None and cancelled():
                raise RuntimeError("execution was cancelled")
            t0 = time.perf_counter()
            written: list[str | None] = [None] * (2 + len(extra_cols))
            try:
                src = _cell_path(value)
                out = output_path(out_dir, src, options.restore.suffix)
                extra = readout_outputs(out, options.restore.readouts)  # TIFFs in column order, then the GIF
                targets = [out, scale_path(out) if prob else None, *extra]
                replace = any([guard.claim(t) for t in targets if t is not None])
                fr = restore_file(restorer, src, out, _replace(options.restore, overwrite=replace))
                for k, target in enumerate((fr.output, fr.scale_output, *fr.readout_outputs)):
                    if target is not None and target.exists():
                        guard.record(target)
                        if k < len(written):
                            written[k] = str(target)
                status, message = "ok", None
            except (CareBridgeError, OSError, MemoryError) as e:  # a bad row must not end the table
                status, message = "error", error_line(e)
            except (ValueError, RuntimeError) as e:
                status, message = "error", f"{type(e).__name__}: {e}"
            if status == "error" and options.fail_on_error:
                raise CareBridgeError(f"row {i + 1} ({value}): {message}")
            for key, val in zip(columns, (*written, status, message, time.perf_counter() - t0)):
                cols[key].append(val)
            if progress is not None:
                progress((i + 1) / max(n, 1), f"restored {i + 1} of {n}")
    finally:
        guard.save()
    out_df = df.copy()
    for key in columns:
        out_df[key] = pd.Series(cols[key], index=df.index, dtype="float64" if key == "restore_seconds" else object)
    return out_df


def evaluate_table(
    df: pd.DataFrame, prediction_column: str = RESTORED_COLUMN, target_column: str = TARGET_COLUMN, *,
    fail_on_error: bool = False, progress: Progress | None = None,
) -> pd.DataFrame:
    """Append NRMSE, PSNR and SSIM (``care_bridge.evaluate``, the CARE paper's normalization) per row."""
    from . import evaluate
    from .io import read_image

    for c in (prediction_column, target_column):
        if c not in df.columns:
            raise CareBridgeError(f"the input has no column {c!r}; choose the prediction and ground-truth columns")
    _check_new_columns(df, EVALUATE_COLUMNS)
    cols: dict[str, list] = {c: [] for c in EVALUATE_COLUMNS}
    n = len(df)
    for i, (p, g) in enumerate(zip(df[prediction_column], df[target_column])):
        vals = [math.nan] * 3
        try:
            pred, _ = read_image(_cell_path(p))
            gt, _ = read_image(_cell_path(g))
            sc = evaluate.scores(pred, gt)
            vals = [float(sc.nrmse), float(sc.psnr), float(sc.ssim)]
            status, message = "ok", None
        except CareBridgeError as e:
            status, message = "error", str(e)
        except (OSError, ValueError) as e:
            status, message = "error", f"{type(e).__name__}: {e}"
        if status == "error" and fail_on_error:
            raise CareBridgeError(f"row {i + 1}: {message}")
        for key, val in zip(EVALUATE_COLUMNS, (*vals, status, message)):
            cols[key].append(val)
        if progress is not None:
            progress((i + 1) / max(n, 1), f"evaluated {i + 1} of {n}")
    out = df.copy()
    for key in EVALUATE_COLUMNS:
        out[key] = pd.Series(cols[key], index=df.index, dtype="float64" if key in METRIC_COLUMNS else object)
    return out


@dataclass(frozen=True)
class TrainSettings:
    """What the CARE Trainer dialog sets: patch sampling (``care-bridge datagen``) and training."""

    axes: str = "YX"  # of the raw images: YX, ZYX, CYX or CZYX
    patch_size: int = 64  # per Y and X
    patch_size_z: int = 16
    n_patches_per_image: int = 64
    epochs: int = 100
    steps_per_epoch: int = 100
    batch_size: int = 16
    unet_n_first: int = 32
    probabilistic: bool = False
    seed: int = 0
    precision: str = "fp32"  # of training: fp32 or bf16 (care-bridge train --precision)


def _link_pairs(df: pd.DataFrame, low_column: str, high_column: str, root: Path) -> tuple[Path, Path]:
    """Link (or copy) the table's pairs into ``root/low`` and ``root/high`` under matching names, so any table
    (not only one folder) feeds the folder-based patch sampler."""
    dirs = root / "low", root / "high"
    for d, col in zip(dirs, (low_column, high_column)):
        d.mkdir()
        for i, v in enumerate(df[col]):
            src = _cell_path(v)
            if not src.is_file():
                raise CareBridgeError(f"training file {src} does not exist; check row {i + 1}")
            link = d / f"{i:06d}.tif"
            try:
                link.symlink_to(src.resolve())
            except OSError:  # no symlinks (e.g. Windows without the right): copy
                link.write_bytes(src.read_bytes())
    return dirs


def train_table(
    df: pd.DataFrame, bundle_path: str | os.PathLike, settings: TrainSettings = TrainSettings(), *,
    low_column: str = IMAGE_COLUMN, high_column: str = TARGET_COLUMN, overwrite: bool = False,
    work_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Sample patches from the pairs of ``df``, train CARE and export a bioimage.io bundle to ``bundle_path``;
    returns the bundle's model table. Needs the ``train`` extra (TensorFlow)."""
    for c in (low_column, high_column):
        if c not in df.columns:
            raise CareBridgeError(f"the input has no column {c!r}; choose the low and high SNR columns")
    if len(df) == 0:
        raise CareBridgeError("the training table is empty; list at least one low/high pair")
    try:
        from .data.pairs import iter_pairs
        from .data.patches import create_patches
        from .export import export_bundle
        from .train import train_from_patch_file
        from .train.precision import check_training_precision
    except ImportError as e:
        raise CareBridgeError(f"training needs the 'train' extra ({e}); pip install 'care_bridge[train]'") from e
    precision = check_training_precision(parse_training_precision(settings.precision))  # before any work
    out = Path(bundle_path)
    if out.suffix != ".zip":
        raise CareBridgeError(f"bundle path {out} must end with .zip")
    out.parent.mkdir(parents=True, exist_ok=True)
    guard = OutputGuard(out.parent, overwrite=overwrite)
    replace = guard.claim(out)
    s = settings
    nd = sum(a in "ZYX" for a in s.axes)
    patch = ((s.patch_size_z,) if nd == 3 else ()) + (s.patch_size, s.patch_size)
    with tempfile.TemporaryDirectory(prefix="care_knime_train_", dir=work_dir) as tmp:
        low, high = _link_pairs(df, low_column, high_column, Path(tmp))
        patches = Path(tmp) / "patches.npz"
        create_patches(iter_pairs(low, high, s.axes), s.axes, patch, s.n_patches_per_image, patches, seed=s.seed,
                       progress=False, description="pairs from a KNIME table")
        train_from_patch_file(patches, Path(tmp) / "model", epochs=s.epochs, steps_per_epoch=s.steps_per_epoch,
                              batch_size=s.batch_size, unet_n_first=s.unet_n_first,
                              probabilistic=s.probabilistic or None, seed=s.seed, progress=False,
                              precision=precision)
        export_bundle(Path(tmp) / "model", out, overwrite=replace)  # written atomically, checked by core tests
    guard.record(out)
    guard.save()
    return describe_bundle(out)
