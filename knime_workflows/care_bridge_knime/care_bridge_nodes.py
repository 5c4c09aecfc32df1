"""CARE nodes for KNIME Analytics Platform (pure-Python node extension, ``knime.extension`` API, KNIME AP 5.x).

The nodes are thin: each reads its settings, checks them in ``configure`` and calls the plain table-in/table-out
functions of :mod:`care_bridge.knime_nodes`, which the ``care-bridge`` CLI's runtime also executes. Paths typed
in a dialog may be absolute, relative to the workflow data area (``<workflow>/data``) or
``knime://knime.workflow/…`` URLs; relative ones can only be checked once the node executes.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import knime.extension as knext

from care_bridge import knime_nodes as logic
from care_bridge.errors import CareBridgeError

LOGGER = logging.getLogger(__name__)

category = knext.category(
    path="/community", level_id="care_bridge", name="CARE image restoration",
    description="Content-aware image restoration (CARE) for fluorescence microscopy with bioimage.io bundles.",
    icon="icons/category.png",
)


def _is_string(column) -> bool:
    return column.ktype == knext.string()


def _data_dir(ctx) -> str | None:
    """The workflow data area; only an execution context knows it."""
    getter = getattr(ctx, "get_workflow_data_area_dir", None)
    return getter() if getter is not None else None


def _resolve(text: str, ctx) -> Path | None:
    """The path a setting names, or ``None`` while it cannot be resolved yet (relative, in ``configure``)."""
    try:
        return logic.resolve_path(text, _data_dir(ctx))
    except CareBridgeError as e:
        if text.strip() and _data_dir(ctx) is None:
            return None
        raise knext.InvalidParametersError(str(e)) from None


def _pick_column(current: str | None, schema, preferred: str, what: str) -> str:
    """The configured column, else ``preferred`` if present, else the first string column."""
    names = schema.column_names
    if current:
        if current not in names:
            raise knext.InvalidParametersError(f"the {what} column {current!r} is not in the input table")
        return current
    if preferred in names:
        return preferred
    strings = [c.name for c in schema if _is_string(c)]
    if not strings:
        raise knext.InvalidParametersError(f"the input table has no string column to use as {what} paths")
    return strings[0]


def _check_new_columns(schema, names) -> None:
    clash = [n for n in names if n in schema.column_names]
    if clash:
        raise knext.InvalidParametersError(f"the input already has column(s) {', '.join(clash)}; rename them first")


def _model_schema():
    t = {"n_channel_in": knext.int64(), "n_channel_out": knext.int64(), "probabilistic": knext.bool_()}
    return knext.Schema.from_columns([knext.Column(t.get(c, knext.string()), c) for c in logic.MODEL_COLUMNS])


def _check_model_schema(schema) -> None:
    missing = [c for c in ("bundle_path", "bundle_sha256") if c not in schema.column_names]
    if missing:
        raise knext.InvalidParametersError(
            "the model input is not a CARE model table; connect a CARE Bundle Reader or CARE Trainer")


def _table(df, source=None):
    """The output table with explicit Arrow column types (``care_bridge.knime_nodes.arrow_table``): an all-empty
    column keeps the type configure declared instead of becoming "void"; ``source``'s RowIDs and columns pass
    through unchanged."""
    return knext.Table.from_pyarrow(logic.arrow_table(df, None if source is None else source.to_pyarrow()))


def _fail(e: CareBridgeError):
    """Expected failures end the node with their one-line message (no traceback in the KNIME console)."""
    return RuntimeError(str(e))


def _engine_parameter():
    return knext.StringParameter(
        "Engine", "Inference engine: 'auto' picks the fastest one installed; 'onnxruntime' needs no TensorFlow.",
        default_value="auto", enum=list(logic.ENGINES))


@knext.node(name="CARE Image Lister", id="care_image_lister", node_type=knext.NodeType.SOURCE,
            icon_path="icons/lister.png", category=category)
@knext.output_table(name="Images", description="One row per file: image_path (and target_path for pairs).")
class CareImageLister:
    """Lists the TIFF images of a folder.

    Outputs a table with the column *image_path*, sorted by file name. With a target folder, every image is
    paired with the file of the same name there (column *target_path*), as CARE Trainer and CARE Evaluator
    expect. Fails if the folder is missing, nothing matches, or an image has no partner.
    """

    folder = knext.StringParameter("Folder", "Folder with the images (relative paths: workflow data area).",
                                   default_value="images")
    pattern = knext.StringParameter("Pattern", "Glob pattern of the files to list.", default_value="*.tif*")
    target_folder = knext.StringParameter(
        "Target folder", "Optional folder with the high-SNR/ground-truth image of each file (same name).",
        default_value="")

    def configure(self, ctx):
        for text in (self.folder, self.target_folder):
            p = _resolve(text, ctx) if text.strip() else None
            if p is not None and not p.is_dir():
                raise knext.InvalidParametersError(f"folder {p} does not exist; check the path")
        cols = [knext.Column(knext.string(), logic.IMAGE_COLUMN)]
        if self.target_folder.strip():
            cols.append(knext.Column(knext.string(), logic.TARGET_COLUMN))
        return knext.Schema.from_columns(cols)

    def execute(self, ctx):
        target = _resolve(self.target_folder, ctx) if self.target_folder.strip() else None
        try:
            df = logic.list_images(_resolve(self.folder, ctx), pattern=self.pattern, target_folder=target)
        except CareBridgeError as e:
            raise _fail(e) from None
        return _table(df)


@knext.node(name="CARE Bundle Reader", id="care_bundle_reader", node_type=knext.NodeType.SOURCE,
            icon_path="icons/bundle_reader.png", category=category)
@knext.output_table(name="Model", description="One row describing the bundle: path, checksum, axes, channels.")
class CareBundleReader:
    """Reads a CARE bioimage.io bundle (.zip) and checks that it can run.

    Outputs a one-row model table (bundle path, SHA-256, name, axes, channels, probabilistic, mode) for
    CARE Restorer. A missing, corrupt or unsupported bundle fails here, in configure when the path is absolute,
    else at the start of execution, before any image is touched.
    """

    bundle = knext.StringParameter("Bundle", "The bundle .zip (relative paths: workflow data area).",
                                   default_value="care_model.zip")
    engine = _engine_parameter()

    def configure(self, ctx):
        p = _resolve(self.bundle, ctx)
        if p is not None:
            try:
                logic.describe_bundle(p, engine=self.engine)
            except CareBridgeError as e:
                raise knext.InvalidParametersError(str(e)) from None
        return _model_schema()

    def execute(self, ctx):
        try:
            return _table(logic.describe_bundle(_resolve(self.bundle, ctx), engine=self.engine))
        except CareBridgeError as e:
            raise _fail(e) from None


@knext.node(name="CARE Restorer", id="care_restorer", node_type=knext.NodeType.PREDICTOR,
            icon_path="icons/restorer.png", category=category)
@knext.input_table(name="Images", description="A table with a column of TIFF image paths.")
@knext.input_table(name="Model", description="The model table of CARE Bundle Reader or CARE Trainer.")
@knext.output_table(name="Restored", description="The input plus restored_path, scale_path, status, error, time.")
class CareRestorer:
    """Restores every image of a table with a CARE bundle, exactly as `care-bridge predict` does.

    Writes one float32 TIFF per row into the output folder (name: input name + suffix + .tif) and appends
    *restored_path*, *scale_path* (the Laplace scale image of probabilistic bundles, missing otherwise),
    *restore_status* ("ok"/"error"), *restore_error* and *restore_seconds*. A row whose file is missing,
    unreadable or does not fit the model gets an error and the others go on, unless 'Fail on error' is set.
    Existing files are never replaced unless 'Overwrite' is on, and then only files this node wrote earlier.
    """

    image_column = knext.ColumnParameter("Image column", "Column with the paths of the images to restore.",
                                         port_index=0, column_filter=_is_string)
    output_folder = knext.StringParameter("Output folder", "Where restored images go (created if missing).",
                                          default_value="restored")
    suffix = knext.StringParameter("Name suffix", "Appended to each input file name, e.g. '_care'.",
                                   default_value="")
    engine = _engine_parameter()
    precision = knext.StringParameter("Precision", "The network's arithmetic: 'fp32' (default); the opt-in 'bf16' "
                                      "(OpenVINO on a CPU with bf16 instructions, within 1e-2 of the output's range) "
                                      "or 'fp16' (a GPU).", default_value="fp32", enum=list(logic.PRECISIONS),
                                      is_advanced=True)
    n_tiles = knext.StringParameter("Tiles", "'auto', 'none', one number spread over Y and X ('4' = 2x2), or "
                                    "tiles per spatial axis such as '2,2' or '1,2,2'.",
                                    default_value="auto")
    memory_budget = knext.StringParameter("Memory budget", "Working memory of the whole restoration: the image, its "
                                          "outputs and the tiles, which get the rest when Tiles is 'auto'; e.g. "
                                          "'512M' or '2G'; empty: tiles get 512M.", default_value="", is_advanced=True)
    axes = knext.StringParameter("Axes", "Axes of the images (e.g. 'ZYX'); empty: as the TIFF declares.",
                                 default_value="", is_advanced=True)
    readouts = knext.StringParameter("Readouts", "Reliability readouts of a probabilistic or ensemble bundle, "
                                     "comma-separated: std, disagreement, interval, samples; empty: none. Each "
                                     "adds a path column (std_path, disagreement_path, lower_path/upper_path, "
                                     "samples_path).", default_value="", is_advanced=True)
    level = knext.StringParameter("Interval level", "Level of the central interval, e.g. 0.9 or 95%.",
                                  default_value="0.9", is_advanced=True)
    n_samples = knext.StringParameter("Samples", "Draws per pixel for the samples readout.", default_value="16",
                                      is_advanced=True)
    planewise = knext.BoolParameter("Plane by plane", "Run a 2D model on every Z plane of a stack.",
                                    default_value=False, is_advanced=True)
    channels = knext.StringParameter("Channels", "Run a single-channel model on each of these channels, e.g. '0,2' "
                                     "(numbered from 0); empty: as the model takes them.", default_value="",
                                     is_advanced=True)
    output_format = knext.StringParameter("Output format", "'auto' (as the input: OME-TIFF gives OME-TIFF), "
                                          "'imagej' or 'ome-tiff'.", default_value="auto", is_advanced=True)
    dtype = knext.StringParameter("Pixel type", "'float32', or 'input' (the input's type, rounded and clipped).",
                                  default_value="float32", is_advanced=True)
    overwrite = knext.BoolParameter("Overwrite", "Replace outputs this node wrote in an earlier run.",
                                    default_value=False)
    fail_on_error = knext.BoolParameter("Fail on error", "Stop at the first bad row instead of marking it.",
                                        default_value=False)

    def _options(self, column: str) -> logic.RestoreOptions:
        try:
            return logic.RestoreOptions.from_settings(
                image_column=column, fail_on_error=self.fail_on_error, axes=self.axes, n_tiles=self.n_tiles,
                memory_budget=self.memory_budget, suffix=self.suffix, overwrite=self.overwrite,
                readouts=self.readouts, level=self.level, n_samples=self.n_samples, planewise=self.planewise,
                channels=self.channels, output_format=self.output_format, dtype=self.dtype,
                precision=self.precision)
        except CareBridgeError as e:
            raise knext.InvalidParametersError(str(e)) from None

    def configure(self, ctx, images_schema, model_schema):
        self.image_column = _pick_column(self.image_column, images_schema, logic.IMAGE_COLUMN, "image")
        options = self._options(self.image_column)
        _check_model_schema(model_schema)
        names = logic.RESTORE_COLUMNS[:2] + logic.readout_columns(options) + logic.RESTORE_COLUMNS[2:]
        _check_new_columns(images_schema, names)
        _resolve(self.output_folder, ctx)
        types = [knext.string()] * (len(names) - 1) + [knext.double()]
        return images_schema.append([knext.Column(t, n) for t, n in zip(types, names)])

    def execute(self, ctx, images, model):
        options = self._options(_pick_column(self.image_column, images.schema, logic.IMAGE_COLUMN, "image"))
        try:
            restorer = logic.load_restorer(logic.bundle_from_model_table(model.to_pandas()), engine=self.engine,
                                           precision=options.restore.precision)
            out = logic.restore_table(images.to_pandas(), restorer, _resolve(self.output_folder, ctx), options,
                                      progress=ctx.set_progress, cancelled=ctx.is_canceled)
        except CareBridgeError as e:
            raise _fail(e) from None
        failed = int((out["restore_status"] != "ok").sum())
        if failed:
            ctx.set_warning(f"{failed} of {len(out)} rows failed; see the restore_error column")
        return _table(out, images)


@knext.node(name="CARE Evaluator", id="care_evaluator", node_type=knext.NodeType.MANIPULATOR,
            icon_path="icons/evaluator.png", category=category)
@knext.input_table(name="Pairs", description="A table with prediction and ground-truth path columns.")
@knext.output_table(name="Metrics", description="The input plus nrmse, psnr, ssim, status and error.")
class CareEvaluator:
    """Compares restored images with ground truth: NRMSE, PSNR and SSIM per row.

    Uses the CARE paper's normalization (care_bridge.evaluate). A row whose files are missing, unreadable or of
    different shapes gets an error status and missing metrics, unless 'Fail on error' is set.
    """

    prediction_column = knext.ColumnParameter("Prediction column", "Paths of the restored images.",
                                              port_index=0, column_filter=_is_string)
    target_column = knext.ColumnParameter("Ground-truth column", "Paths of the ground-truth images.",
                                          port_index=0, column_filter=_is_string)
    fail_on_error = knext.BoolParameter("Fail on error", "Stop at the first bad row instead of marking it.",
                                        default_value=False)

    def configure(self, ctx, schema):
        self.prediction_column = _pick_column(self.prediction_column, schema, logic.RESTORED_COLUMN, "prediction")
        self.target_column = _pick_column(self.target_column, schema, logic.TARGET_COLUMN, "ground-truth")
        _check_new_columns(schema, logic.EVALUATE_COLUMNS)
        types = [knext.double()] * 3 + [knext.string()] * 2
        return schema.append([knext.Column(t, n) for t, n in zip(types, logic.EVALUATE_COLUMNS)])

    def execute(self, ctx, table):
        try:
            pred = _pick_column(self.prediction_column, table.schema, logic.RESTORED_COLUMN, "prediction")
            gt = _pick_column(self.target_column, table.schema, logic.TARGET_COLUMN, "ground-truth")
            out = logic.evaluate_table(table.to_pandas(), pred, gt,
                                       fail_on_error=self.fail_on_error, progress=ctx.set_progress)
        except CareBridgeError as e:
            raise _fail(e) from None
        return _table(out, table)


@knext.parameter_group(label="Training")
class TrainingSettings:
    """Patch sampling (as `care-bridge datagen`) and training (as `care-bridge train`)."""

    axes = knext.StringParameter("Axes", "Axes of the raw images; C for several channels.", default_value="YX",
                                 enum=["YX", "ZYX", "CYX", "CZYX"])
    patch_size = knext.IntParameter("Patch size (YX)", "Edge length of the training patches in Y and X.",
                                    default_value=64, min_value=8)
    patch_size_z = knext.IntParameter("Patch size (Z)", "Patch depth for 3D images.", default_value=16,
                                      min_value=4)
    n_patches_per_image = knext.IntParameter("Patches per image", "Patches sampled from each pair.",
                                             default_value=64, min_value=1)
    epochs = knext.IntParameter("Epochs", "Training epochs.", default_value=100, min_value=1)
    steps_per_epoch = knext.IntParameter("Steps per epoch", "Batches per epoch.", default_value=100, min_value=1)
    batch_size = knext.IntParameter("Batch size", "Patches per batch.", default_value=16, min_value=1)
    unet_n_first = knext.IntParameter("First-layer filters", "U-Net width (filters of the first layer).",
                                      default_value=32, min_value=1, is_advanced=True)
    probabilistic = knext.BoolParameter("Probabilistic", "Predict a Laplace scale image too.", default_value=False)
    seed = knext.IntParameter("Seed", "Random seed for patch sampling and initialization.", default_value=0)
    precision = knext.StringParameter(
        "Precision", "Arithmetic of training: fp32, or bf16 (mixed precision; needs a CPU with bf16 instructions, "
        "AVX512_BF16 or AMX, or a GPU; several times faster). The bundle is float32 either way.",
        default_value="fp32", enum=["fp32", "bf16"], is_advanced=True)


@knext.node(name="CARE Trainer", id="care_trainer", node_type=knext.NodeType.LEARNER,
            icon_path="icons/trainer.png", category=category)
@knext.input_table(name="Pairs", description="A table with low-SNR and high-SNR image path columns.")
@knext.output_table(name="Model", description="The model table of the exported bundle.")
class CareTrainer:
    """Trains a CARE network on low/high-SNR pairs and exports a bioimage.io bundle (.zip).

    Needs the *train* extra of care_bridge (TensorFlow) in the extension's Python environment:
    `pip install "care_bridge[train]"`; the default environment has only the runtime, and configure fails with
    this message without it. Restoring with the bundle afterwards needs no TensorFlow.
    """

    low_column = knext.ColumnParameter("Low-SNR column", "Paths of the noisy inputs.", port_index=0,
                                       column_filter=_is_string)
    high_column = knext.ColumnParameter("High-SNR column", "Paths of the matching clean targets.", port_index=0,
                                        column_filter=_is_string)
    bundle = knext.StringParameter("Bundle", "Where to write the bundle .zip (relative: workflow data area).",
                                   default_value="care_model.zip")
    overwrite = knext.BoolParameter("Overwrite", "Replace a bundle this node wrote in an earlier run.",
                                    default_value=False)
    training = TrainingSettings()

    def configure(self, ctx, schema):
        if importlib.util.find_spec("tensorflow") is None:
            raise knext.InvalidParametersError(
                "CARE Trainer needs the 'train' extra (TensorFlow): pip install \"care_bridge[train]\" into this "
                "extension's environment")
        self.low_column = _pick_column(self.low_column, schema, logic.IMAGE_COLUMN, "low-SNR")
        self.high_column = _pick_column(self.high_column, schema, logic.TARGET_COLUMN, "high-SNR")
        if self.low_column == self.high_column:
            raise knext.InvalidParametersError("low-SNR and high-SNR columns must differ")
        _resolve(self.bundle, ctx)
        return _model_schema()

    def execute(self, ctx, table):
        t = self.training
        settings = logic.TrainSettings(**{f: getattr(t, f) for f in logic.TrainSettings.__dataclass_fields__})
        try:
            out = logic.train_table(table.to_pandas(), _resolve(self.bundle, ctx), settings,
                                    low_column=_pick_column(self.low_column, table.schema, logic.IMAGE_COLUMN,
                                                            "low-SNR"),
                                    high_column=_pick_column(self.high_column, table.schema, logic.TARGET_COLUMN,
                                                             "high-SNR"),
                                    overwrite=self.overwrite, work_dir=ctx.get_workflow_temp_dir())
        except CareBridgeError as e:
            raise _fail(e) from None
        return _table(out)
