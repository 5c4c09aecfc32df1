"""Write the example KNIME workflows (``workflows/*.knwf``) and the extension's icons, reproducibly.

    python knime_workflows/build_workflows.py          # rewrite workflows/*.knwf and care_bridge_knime/icons

A ``.knwf`` is a zip of one workflow folder: ``workflow.knime`` lists the nodes (``"<name> (#<id>)/settings.xml"``),
their connections and the workflow variables; ``workflow-metadata.xml`` holds the description (KNIME AP >= 5.1
reads it from there, not from ``workflow.knime``); each node folder holds its ``settings.xml``. The XML files are
KNIME XML configs (``<config key=…>`` with typed ``<entry key= type= value=>``). The zips are deterministic:
sorted entries, fixed timestamps and permissions, so the files only change when this script does. Paths inside
are relative to the workflow (data area) or come from workflow variables; nothing names the building machine.

What KNIME reads, checked against KNIME's own code and the workflows KNIME writes (the tests cite the files):
an extension node's ``model`` is a JSON object mapped to settings, so it and every parameter group carry
``json-type_Internals = OBJECT`` and the model ends with ``extension_version_Internals`` (knime.yml's version);
the extension nodes' factory lives in the bundle ``org.knime.python3.nodes``; the Python Script node (KNIME AP
>= 5.2) reads ``python3_command`` (empty: the Python preferences) and ``script``; a node's port configuration is
the top-level ``node_creation_config`` of its ``settings.xml``.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "workflows"
EXTENSION_DIR = HERE / "care_bridge_knime"
ICON_DIR = EXTENSION_DIR / "icons"

XMLNS = "http://www.knime.org/2008/09/XMLConfig"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{XMLNS} http://www.knime.org/XMLConfig_2008_09.xsd"
KNIME_VERSION = "5.2.0"  # the version these files claim to be written by (workflow format 5.1.0)


def _knime_yml() -> dict:
    import yaml

    return yaml.safe_load((EXTENSION_DIR / "knime.yml").read_text())


EXTENSION_ID = "{group_id}.{name}".format(**_knime_yml())  # as KNIME forms it: group_id + "." + name
EXTENSION_VERSION = str(_knime_yml()["version"])  # saved with the settings as extension_version_Internals
EXTENSION_FACTORY = "org.knime.python3.nodes.extension.ExtensionNodeSetFactory$DynamicExtensionNodeFactory"
EXTENSION_FACTORY_BUNDLE = ("org.knime.python3.nodes", "KNIME Python 3 - Nodes")  # the plug-in of that factory
SCRIPT_FACTORY_BUNDLE = ("org.knime.python3.scripting.nodes", "KNIME Python 3 - Scripting Nodes")
JSON_TYPE = "json-type_Internals"  # how KNIME marks a JSON object in settings (JsonNodeSettingsMapperUtil)
METADATA_NS = "http://www.knime.org/core/node/workflow/metadata/v1.0"
SCRIPT_FACTORY = "org.knime.python3.scripting.nodes2.script.PythonScriptNodeFactory"
TABLE_PORT = "org.knime.core.node.BufferedDataTable"
ZIP_TIME = (2024, 1, 1, 0, 0, 0)


def knime_escape(text: str) -> str:
    """KNIME's XML config writes control characters (newlines in scripts) as ``%%`` + 5-digit code."""
    return "".join(f"%%{ord(c):05d}" if ord(c) < 32 else c for c in text)


def knime_unescape(text: str) -> str:
    """Inverse of :func:`knime_escape`."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("%%", i) and text[i + 2:i + 7].isdigit() and len(text[i + 2:i + 7]) == 5:
            out.append(chr(int(text[i + 2:i + 7])))
            i += 7
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _entry(parent: ET.Element, key: str, value: Any) -> None:
    if value is None:
        ET.SubElement(parent, "entry", key=key, type="xstring", isnull="true", value="")
        return
    kind = ("xboolean" if isinstance(value, bool) else "xint" if isinstance(value, int)
            else "xdouble" if isinstance(value, float) else "xstring")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    ET.SubElement(parent, "entry", key=key, type=kind, value=knime_escape(text))


def _fill(parent: ET.Element, values: dict[str, Any]) -> ET.Element:
    """Nested dicts become ``<config>``s, everything else typed ``<entry>``s, in the given order."""
    for key, value in values.items():
        if isinstance(value, dict):
            _fill(ET.SubElement(parent, "config", key=key), value)
        else:
            _entry(parent, key, value)
    return parent


def config_xml(root_key: str, values: dict[str, Any]) -> bytes:
    """A complete KNIME XML config document."""
    root = ET.Element("config", {"xmlns": XMLNS, "xmlns:xsi": XSI, "xsi:schemaLocation": SCHEMA_LOCATION,
                                 "key": root_key})
    _fill(root, values)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


@dataclass
class Node:
    id: int
    name: str  # shown in KNIME and used in the folder name
    model: dict[str, Any]
    x: int
    y: int
    node_id: str | None = None  # extension nodes: the @knext.node id; None: stock Python Script node
    ports: dict[str, list[str]] = field(default_factory=dict)  # Python Script node's dynamic port groups

    @property
    def folder(self) -> str:
        return f"{self.name} (#{self.id})"

    def model_settings(self) -> dict[str, Any]:
        """The ``model`` config as KNIME stores it. Extension nodes: the parameters as a JSON object
        (``json-type_Internals = OBJECT`` on the model and on each parameter group), then the extension version
        the settings belong to. The Python Script node: its settings as given."""
        if self.node_id is None:
            return self.model

        def obj(values: dict[str, Any]) -> dict[str, Any]:
            return {JSON_TYPE: "OBJECT", **{k: obj(v) if isinstance(v, dict) else v for k, v in values.items()}}

        return {**obj(self.model), "extension_version_Internals": EXTENSION_VERSION}

    def settings(self) -> bytes:
        if self.node_id is not None:
            factory, (bundle, bundle_name) = EXTENSION_FACTORY, EXTENSION_FACTORY_BUNDLE
            factory_settings = {"extension_id": EXTENSION_ID, "node_id": self.node_id}
            creation: dict[str, Any] = {}
        else:
            factory, (bundle, bundle_name) = SCRIPT_FACTORY, SCRIPT_FACTORY_BUNDLE
            factory_settings = {}
            creation = {"node_creation_config": {
                group: {f"port_{i}": {"object_class": cls} for i, cls in enumerate(classes)}
                for group, classes in self.ports.items()}}
        return config_xml("settings.xml", {
            "node_file": "settings.xml",
            "flow_stack": {},
            "internal_node_subsettings": {"memory_policy": "CacheSmallInMemory"},
            "model": self.model_settings(),
            "customDescription": None,
            "state": "IDLE",
            "factory": factory,
            "node-name": self.name,
            "node-bundle-name": bundle_name,
            "node-bundle-symbolic-name": bundle,
            "node-bundle-vendor": "KNIME AG, Zurich, Switzerland",
            "node-bundle-version": KNIME_VERSION,
            "factory_settings": factory_settings,
            **creation,
            "name": self.name,
            "hasContent": False,
            "isInactive": False,
            "ports": {},
            "filestores": {"file_store_location": None, "file_store_id": None},
        })


@dataclass
class Workflow:
    name: str
    description: str
    nodes: list[Node]
    connections: list[tuple[int, int, int, int]]  # (source id, source port, dest id, dest port); 0 = flow vars
    variables: dict[str, str] = field(default_factory=dict)
    data_readme: str = ""

    def workflow_knime(self) -> bytes:
        nodes = {f"node_{n.id}": {
            "id": n.id, "node_settings_file": f"{n.folder}/settings.xml", "node_is_meta": False,
            "node_type": "NativeNode", "ui_classname": "org.knime.core.node.workflow.NodeUIInformation",
            "ui_settings": {"extrainfo.node.bounds": {"array-size": 4, "0": n.x, "1": n.y, "2": 75, "3": 80}},
        } for n in self.nodes}
        conns = {f"connection_{i}": {"sourceID": s, "destID": d, "sourcePort": sp, "destPort": dp}
                 for i, (s, sp, d, dp) in enumerate(self.connections)}
        wvars = {f"Var_{i}": {"name": k, "class": "STRING", "value": v}
                 for i, (k, v) in enumerate(self.variables.items())}
        return config_xml("workflow.knime", {
            "created_by": KNIME_VERSION, "created_by_nightly": False, "version": "5.1.0", "name": None,
            "authorInformation": {"authored-by": "care_bridge developers", "authored-when": "2024-01-01 00:00:00 +0000",
                                  "lastEdited-by": None, "lastEdited-when": None},
            "customDescription": None, "state": "IDLE",
            **({"workflow_variables": wvars} if wvars else {}),  # KNIME writes the config only when there are some
            "workflow_credentials": {},
            "nodes": nodes, "connections": conns,
        })

    def metadata_xml(self) -> bytes:
        """``workflow-metadata.xml``: where KNIME AP >= 5.1 keeps a workflow's description (elements in the order
        KNIME writes them; no author: the author stays in ``workflow.knime``)."""
        root = ET.Element("workflow-metadata", {"content-type": "text/plain", "xmlns": METADATA_NS})
        ET.SubElement(root, "created").text = "2024-01-01T00:00:00.000+00:00"
        ET.SubElement(root, "last-modified").text = "2024-01-01T00:00:00.000+00:00"
        ET.SubElement(root, "description").text = self.description
        ET.indent(root)
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"

    def files(self) -> dict[str, bytes]:
        """Archive member name → content."""
        top = self.name
        files = {f"{top}/workflow.knime": self.workflow_knime(), f"{top}/workflow-metadata.xml": self.metadata_xml()}
        for n in self.nodes:
            files[f"{top}/{n.folder}/settings.xml"] = n.settings()
        if self.data_readme:
            files[f"{top}/data/README.txt"] = self.data_readme.encode()
        return files


def write_knwf(path: Path, files: dict[str, bytes]) -> None:
    """A zip that is byte-identical for identical ``files``: sorted names, fixed time and permissions."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3
            zf.writestr(info, files[name], compresslevel=9)
    path.write_bytes(buf.getvalue())


PYTHON_SCRIPT = '''\
# CARE: restore every TIFF of a folder with a bioimage.io bundle, using care_bridge's runtime.
# Needs care_bridge installed in the Python environment this node uses (File > Preferences > KNIME > Python):
#   pip install care_bridge        (runtime only; no TensorFlow)
# Settings are workflow variables (right-click the workflow > Workflow Variables...). Relative paths are
# relative to the working directory of the script (the workflow folder); absolute paths work too.
# With a table connected to an input port, its "image_path" column is restored instead of the folder.
import knime.scripting.io as knio
from care_bridge import knime_nodes as care

v = knio.flow_variables


def flag(name):
    return str(v.get(name, "false")).strip().lower() in ("true", "1", "yes")


# Load the bundle first: a missing or broken bundle stops here, before any image is touched.
restorer = care.load_restorer(v["care_bundle"], engine=v.get("care_engine", "auto"))
if len(knio.input_tables) > 0:
    images = knio.input_tables[0].to_pandas()
else:
    images = care.list_images(v["care_input_folder"], pattern=v.get("care_pattern", "*.tif*"))
options = care.RestoreOptions.from_settings(
    n_tiles=v.get("care_n_tiles", "auto"),
    suffix=v.get("care_suffix", ""),
    overwrite=v.get("care_overwrite", "false"),
    fail_on_error=flag("care_fail_on_error"),
)
table = care.restore_table(images, restorer, v["care_output_folder"], options)
# Explicit Arrow column types: an all-empty column (e.g. restore_error when all rows succeed) keeps its type
# instead of becoming "void"; an input table's RowIDs and columns pass through unchanged.
source = knio.input_tables[0].to_pyarrow() if len(knio.input_tables) > 0 else None
knio.output_tables[0] = knio.Table.from_pyarrow(care.arrow_table(table, source))
'''

DATA_README = """Workflow data area. The example settings use paths relative to this folder:
{layout}
Put your files there, or change the node settings (absolute paths and knime://knime.workflow/ URLs work too).
"""


def _lister(i: int, folder: str, target: str, x: int, y: int, name: str = "CARE Image Lister") -> Node:
    return Node(i, name, {"folder": folder, "pattern": "*.tif*", "target_folder": target}, x, y, "care_image_lister")


def _restorer(i: int, x: int, y: int) -> Node:
    return Node(i, "CARE Restorer", {
        "image_column": "image_path", "output_folder": "restored", "suffix": "", "engine": "auto", "precision": "fp32",
        "n_tiles": "auto", "memory_budget": "", "axes": "", "readouts": "", "level": "0.9", "n_samples": "16",
        "planewise": False, "channels": "", "output_format": "auto", "dtype": "float32",
        "overwrite": False, "fail_on_error": False}, x, y, "care_restorer")


def workflows() -> list[Workflow]:
    """The three example workflows."""
    restore = Workflow(
        "CARE restore a folder",
        "Restores every TIFF in data/images with data/care_model.zip into data/restored.",
        [_lister(1, "images", "", 100, 100),
         Node(2, "CARE Bundle Reader", {"bundle": "care_model.zip", "engine": "auto"}, 100, 250, "care_bundle_reader"),
         _restorer(3, 300, 175)],
        [(1, 1, 3, 1), (2, 1, 3, 2)],
        data_readme=DATA_README.format(layout="  images/          the TIFFs to restore\n"
                                              "  care_model.zip   the CARE bundle\n"
                                              "  restored/        written by CARE Restorer\n"),
    )
    full = Workflow(
        "CARE train export restore evaluate",
        "Trains CARE on data/train/low vs data/train/high, exports data/care_model.zip, restores data/test/low "
        "into data/restored and scores the results against data/test/high.",
        [_lister(1, "train/low", "train/high", 100, 100, "CARE Image Lister"),
         Node(2, "CARE Trainer", {
             "low_column": "image_path", "high_column": "target_path", "bundle": "care_model.zip", "overwrite": False,
             "training": {"axes": "YX", "patch_size": 64, "patch_size_z": 16, "n_patches_per_image": 64,
                          "epochs": 100, "steps_per_epoch": 100, "batch_size": 16, "unet_n_first": 32,
                          "probabilistic": False, "seed": 0, "precision": "fp32"}}, 300, 100, "care_trainer"),
         _lister(3, "test/low", "test/high", 100, 300, "CARE Image Lister"),
         _restorer(4, 500, 200),
         Node(5, "CARE Evaluator", {"prediction_column": "restored_path", "target_column": "target_path",
                                    "fail_on_error": False}, 700, 200, "care_evaluator")],
        [(1, 1, 2, 1), (3, 1, 4, 1), (2, 1, 4, 2), (4, 1, 5, 1)],
        data_readme=DATA_README.format(layout="  train/low/, train/high/   training pairs (same file names)\n"
                                              "  test/low/, test/high/     test pairs\n"
                                              "  care_model.zip            written by CARE Trainer\n"
                                              "  restored/                 written by CARE Restorer\n"),
    )
    script = Workflow(
        "CARE restore a folder (Python Script)",
        "For sites that cannot install extensions: KNIME's stock Python Script node calls care_bridge.",
        [Node(1, "Python Script", {"python3_command": "", "script": PYTHON_SCRIPT}, 200, 150,
              ports={"Input object (pickled)": [], "Input table": [], "Output table": [TABLE_PORT],
                     "Output image": [], "Output object (pickled)": []})],
        [],
        variables={"care_input_folder": "data/images", "care_bundle": "data/care_model.zip",
                   "care_output_folder": "data/restored", "care_pattern": "*.tif*", "care_engine": "auto",
                   "care_n_tiles": "auto", "care_suffix": "", "care_overwrite": "false",
                   "care_fail_on_error": "false"},
        data_readme=DATA_README.format(layout="  images/          the TIFFs to restore\n"
                                              "  care_model.zip   the CARE bundle\n"
                                              "  restored/        written by the Python Script node\n"),
    )
    return [restore, full, script]


def knwf_name(workflow: Workflow) -> str:
    return workflow.name.replace(" (", "_").replace(")", "").replace(" ", "_") + ".knwf"


def make_icons(folder: Path = ICON_DIR) -> list[Path]:
    """16x16 PNG icons drawn with numpy (no binary assets to review)."""
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[:16, :16]
    inner = (yy >= 3) & (yy <= 12) & (xx >= 3) & (xx <= 12)
    rng = np.random.default_rng(7)
    noisy = rng.random((16, 16)) < 0.35
    shapes = {
        "category": (yy - 7.5) ** 2 + (xx - 7.5) ** 2 < 36,
        "lister": (yy % 4 == 1) & (xx > 2) & (xx < 14),
        "bundle_reader": ((yy == 3) | (yy == 12) | (xx == 3) | (xx == 12)) & inner,
        "restorer": np.where(xx < 8, noisy, (yy - 7.5) ** 2 + (xx - 11) ** 2 < 10),
        "evaluator": (xx % 4 == 2) & (15 - yy < (xx // 4 + 1) * 3),
        "trainer": ((np.abs(xx - 7.5) < (yy - 1) * 0.6) & (yy > 2) & (yy < 10))
        | ((np.abs(xx - 7.5) < 2) & (yy >= 10) & (yy < 15)),
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, mask in shapes.items():
        rgba = np.zeros((16, 16, 4), np.uint8)
        rgba[mask] = (0, 122, 77, 255)  # one green for the family
        path = folder / f"{name}.png"
        Image.fromarray(rgba, "RGBA").save(path, optimize=False)
        paths.append(path)
    return paths


def build(out_dir: Path = OUT_DIR) -> list[Path]:
    """Write every workflow into ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for wf in workflows():
        path = out_dir / knwf_name(wf)
        write_knwf(path, wf.files())
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in [*build(), *make_icons()]:
        print(p.relative_to(HERE))
