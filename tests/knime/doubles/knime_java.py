"""TEST DOUBLE of the Java side of KNIME AP that reads what this repository ships. NOT KNIME; never shipped.

Each function mirrors one reader of KNIME's open-source Java code, checked against the source files named in its
docstring (GitHub repositories knime/knime-python at commit bf0498be9a50 (2026-03-13), knime/knime-core at
1b5880a377ed (2026-04-10) and knime/knime-core-ui). The rule for this double: never accept what KNIME would
refuse, and ignore (not repair) what KNIME ignores, so a wrong key fails a test instead of passing silently.

- :func:`read_config_yml`: the debug ``config.yml`` (``-Dknime.python.extension.config=``);
- :func:`read_knime_yml`: an extension's ``knime.yml``;
- :func:`pixi_env_python`: the ``-Dknime.python.extension.debug_knime_yaml_list=`` route (KNIME AP >= 5.8);
- :func:`parse_config_xml`: KNIME's XML config files (``settings.xml``, ``workflow.knime``) with their entry types;
- :func:`load_extension_node_model`: how a pure-Python extension node reads its ``model`` settings;
- :func:`load_python_script_model`: how the Python Script node (KNIME AP >= 5.2) reads its ``model`` settings;
- :func:`load_creation_config`: how a node's port configuration is read back.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# ------------------------------------------------------------------------------------------ config.yml / knime.yml


class InvalidSettingsException(Exception):
    """KNIME's org.knime.core.node.InvalidSettingsException: the settings cannot be loaded."""


@dataclass(frozen=True)
class ExtensionConfig:
    """One entry of ``config.yml`` as KNIME keeps it (``PythonExtensionPreferences.ExtensionConfig``)."""

    id: str
    src: str | None
    conda_env_path: str | None
    python_executable: str | None
    debug_mode: bool

    def python_command(self) -> tuple[str, str] | None:
        """``("conda", env)`` or ``("python", executable)``: conda_env_path takes precedence (KNIME warns when
        both are given); ``None``: KNIME uses the extension's bundled environment."""
        if self.conda_env_path is not None:
            return "conda", self.conda_env_path
        if self.python_executable is not None:
            return "python", self.python_executable
        return None


def _java_cast(value: Any, kind: type) -> Any:
    """Java's ``(String)`` / ``(boolean)`` cast of a SnakeYAML value: ``None`` passes, a wrong type throws."""
    if value is None:
        if kind is bool:
            raise TypeError("NullPointerException: (boolean) null")
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise TypeError(f"ClassCastException: {type(value).__name__} cannot be cast to {kind.__name__}")
    return value


def read_config_yml(text: str) -> dict[str, ExtensionConfig]:
    """``config.yml`` as KNIME reads it (knime/knime-python,
    ``org.knime.python3.nodes/src/main/java/org/knime/python3/nodes/PythonExtensionPreferences.java``:
    ``parseYmlFile`` / ``mapToConfig``).

    The document maps extension ids to maps; of each map KNIME reads exactly ``src``, ``conda_env_path``,
    ``python_executable`` (Java ``(String)`` casts) and ``debug_mode`` (``(boolean)``, ``false`` when absent).
    Other keys are ignored without a message. An entry whose values have the wrong type is logged and dropped.
    """
    data = yaml.safe_load(text)  # SnakeYAML and PyYAML both read YAML 1.1 (0.1.0 is a string, 1.0 a float)
    out: dict[str, ExtensionConfig] = {}
    for ext_id, entry in (data or {}).items():
        try:
            if not isinstance(entry, dict):
                raise TypeError("ClassCastException: not a map")
            debug = "debug_mode" in entry and _java_cast(entry["debug_mode"], bool)
            cfg = ExtensionConfig(str(ext_id), _java_cast(entry.get("src"), str),
                                  _java_cast(entry.get("conda_env_path"), str),
                                  _java_cast(entry.get("python_executable"), str), bool(debug))
        except TypeError:  # KNIME: "Failed to parse Python extension config." and the entry is skipped
            continue
        out[cfg.id] = cfg
    return out


@dataclass(frozen=True)
class KnimeYaml:
    """What KNIME reads from ``knime.yml`` (``KnimeYaml`` record)."""

    extension_path: Path
    name: str
    group_id: str
    bundled_env_name: str
    version: str
    extension_module: str | None

    @property
    def id(self) -> str:
        return f"{self.group_id}.{self.name}"

    @property
    def module_path(self) -> Path | None:
        return None if self.extension_module is None else self.extension_path / self.extension_module


def read_knime_yml(path: Path) -> KnimeYaml:
    """``knime.yml`` as KNIME reads it (knime/knime-python,
    ``org.knime.python3.nodes/src/main/java/org/knime/python3/nodes/KnimeYaml.java``: ``fromPath``).

    ``name`` and ``group_id`` are required (IOException otherwise); ``name``, ``group_id``, ``bundled_env_name``,
    ``version`` and ``extension_module`` are Java ``(String)`` casts, so ``version: 1.0`` (a YAML float) is a
    ClassCastException; a missing or blank version becomes ``0.0.0`` with a warning. The environment keys
    (``env_yml_path`` / ``pixi_toml_path``) are not read by KNIME itself, only by the bundling tool.
    """
    data = yaml.safe_load(Path(path).read_text()) or {}
    name, group_id = _java_cast(data.get("name"), str), _java_cast(data.get("group_id"), str)
    if name is None or group_id is None:
        raise OSError(f"Missing 'name' or 'group_id' in knime.yaml file: {path}")
    bundled = data.get("bundled_env_name", group_id.replace(".", "_") + "_" + name)
    version = _java_cast(data.get("version"), str)
    if version is None or not version.strip():
        version = "0.0.0"
    return KnimeYaml(Path(path).parent, name, group_id, _java_cast(bundled, str), version,
                     _java_cast(data.get("extension_module"), str))


def pixi_env_python(knime_yml: Path) -> Path:
    """The Python KNIME AP >= 5.8 uses for ``-Dknime.python.extension.debug_knime_yaml_list=<knime.yml>``:
    ``<extension>/.pixi/envs/default`` must hold ``python.exe``, ``python``, ``bin/python.exe`` or ``bin/python``
    (``PythonExtensionPreferences.loadConfigFromKnimeYaml`` / ``validatePixiEnvironment``); IOException otherwise."""
    env = Path(knime_yml).parent / ".pixi" / "envs" / "default"
    if not env.exists():
        raise OSError(f"Pixi environment not found at path: {env}. Please ensure 'pixi install' has been run")
    for cand in (env / "python.exe", env / "python", env / "bin" / "python.exe", env / "bin" / "python"):
        if cand.exists():
            return cand
    raise OSError(f"Python executable not found in pixi environment at path: {env}")


# ------------------------------------------------------------------------------------------ XML config files

NS = "{http://www.knime.org/2008/09/XMLConfig}"
INTERNAL = "_Internals"  # SettingsModel.CFGKEY_INTERNAL


@dataclass(frozen=True)
class Entry:
    type: str  # xstring, xint, xlong, xdouble, xboolean, ...
    value: Any  # decoded; None for isnull="true"


def _decode(text: str) -> str:
    return re.sub(r"%%(\d{5})", lambda m: chr(int(m[1])), text)


def parse_config_xml(data: bytes) -> tuple[str, dict]:
    """A KNIME XML config document as ``(root key, {key: Entry | dict})`` in document order; duplicate keys are an
    error, as in ``ConfigBase``."""
    root = ET.fromstring(data)
    if root.tag != NS + "config":
        raise InvalidSettingsException(f"not a KNIME XML config: {root.tag}")

    def walk(el: ET.Element) -> dict:
        out: dict = {}
        for child in el:
            key = child.get("key")
            if key is None or key in out:
                raise InvalidSettingsException(f"missing or duplicate key {key!r}")
            if child.tag == NS + "config":
                out[key] = walk(child)
            elif child.tag == NS + "entry":
                t, v = child.get("type"), child.get("value")
                if child.get("isnull") == "true":
                    out[key] = Entry(t, None)
                elif t == "xboolean":
                    if v not in ("true", "false"):
                        raise InvalidSettingsException(f"{key}: {v!r} is not a boolean")
                    out[key] = Entry(t, v == "true")
                elif t in ("xint", "xlong", "xshort", "xbyte"):
                    out[key] = Entry(t, int(v))
                elif t in ("xdouble", "xfloat"):
                    out[key] = Entry(t, float(v))
                else:
                    out[key] = Entry(t, _decode(v))
            else:
                raise InvalidSettingsException(f"unexpected element {child.tag}")
        return out

    return root.get("key"), walk(root)


def get_string(config: dict, key: str) -> str | None:
    """``ConfigBase.getString``: the key must exist and hold an ``xstring``."""
    e = config.get(key)
    if not isinstance(e, Entry) or e.type != "xstring":
        raise InvalidSettingsException(f"String for key \"{key}\" not found.")
    return e.value


_JSON_TYPES = {"xstring": str, "xint": int, "xlong": int, "xdouble": float, "xfloat": float, "xboolean": bool}


def _settings_to_json(config: dict) -> dict:
    """``JsonNodeSettingsMapperUtil.putFieldsFromSettings`` (knime/knime-core-ui, ``org.knime.core.ui/src/eclipse/
    org/knime/core/webui/node/dialog/defaultdialog/jsonforms/JsonNodeSettingsMapperUtil.java``): keys ending in
    ``_Internals`` are skipped; a nested config is an object only if it declares ``json-type_Internals``,
    otherwise it must be an array (``array-size`` + ``0``, ``1``, ... or ``0``, ``1``, ...) or it is an error."""
    out: dict = {}
    for key, value in config.items():
        if key.endswith(INTERNAL):
            continue
        if isinstance(value, Entry):
            if value.type not in _JSON_TYPES:
                raise InvalidSettingsException(f"Unexpected tree node: {value.type}")
            out[key] = value.value
            continue
        jtype = value.get("json-type" + INTERNAL)
        if isinstance(jtype, Entry):
            if jtype.value == "OBJECT":
                out[key] = _settings_to_json(value)
            elif jtype.value == "NULL":
                out[key] = None
            else:
                raise InvalidSettingsException(f"json-type {jtype.value!r} of {key!r} is not modelled here")
            continue
        keys = [k for k in value if k != "null" + INTERNAL]
        if keys and keys[0] == "array-size":
            keys = keys[1:]
        if keys != [str(i) for i in range(len(keys))]:
            raise InvalidSettingsException(f"Unexpected settings node: {key}.")
        out[key] = [value[k].value if isinstance(value[k], Entry) else _settings_to_json(value[k]) for k in keys]
    return out


def load_extension_node_model(model: dict) -> tuple[dict, str]:
    """``(parameters, saved extension version)`` of a pure-Python extension node's ``model`` config, read as
    KNIME does (knime/knime-python, ``org.knime.python3.nodes/src/main/java/org/knime/python3/nodes/settings/
    JsonNodeSettings.java`` and ``JsonNodeSettingsSchema.java``): ``extension_version_Internals`` is the version
    the settings were saved with (``0.0.0`` when absent, which makes KNIME run the extension's compatibility
    handling); the rest is wrapped as ``{"model": <model>}`` and mapped to JSON, so ``model`` itself and every
    parameter group need ``json-type_Internals = OBJECT``."""
    version_entry = model.get("extension_version" + INTERNAL)
    version = version_entry.value if isinstance(version_entry, Entry) and version_entry.type == "xstring" else "0.0.0"
    without = {k: v for k, v in model.items() if k != "extension_version" + INTERNAL}
    return _settings_to_json({"model": without})["model"], version


def load_python_script_model(model: dict) -> tuple[str, str]:
    """``(executable selection, script)`` of the Python Script node's ``model`` config (knime/knime-python,
    ``org.knime.python3.scripting.nodes/src/main/java/org/knime/python3/scripting/nodes2/PythonScriptNodeSettings
    .java``, KNIME AP >= 5.2: ``loadSettingsFrom`` reads the strings ``python3_command`` and ``script``; an empty
    ``python3_command`` means "the environment of the Python preferences")."""
    return get_string(model, "python3_command"), get_string(model, "script")


# The port groups of the Python Script node (PythonScriptNodeFactory.createPortsConfigBuilder and
# PythonScriptPortsConfiguration.PORTGR_ID_*, knime/knime-python) and the port object classes of those groups.
PYTHON_SCRIPT_PORT_GROUPS = {
    "Python environment": "org.knime.pixi.port.PythonEnvironmentPortObject",
    "Input object (pickled)": "org.knime.python2.port.PickledObjectFileStorePortObject",
    "Input table": "org.knime.core.node.BufferedDataTable",
    "Output table": "org.knime.core.node.BufferedDataTable",
    "Output image": "org.knime.core.node.port.image.ImagePortObject",
    "Output object (pickled)": "org.knime.python2.port.PickledObjectFileStorePortObject",
}


def load_creation_config(settings: dict, groups: dict[str, str]) -> dict[str, list[str]]:
    """The configured ports per group of a node with a configurable port set, as KNIME reads them back
    (knime/knime-core: ``FileNativeNodeContainerPersistor.loadCreationConfig`` passes the whole ``settings.xml``
    to ``ModifiableNodeCreationConfiguration.loadSettingsFrom``, which reads the top-level ``node_creation_config``;
    ``DefaultModifiablePortsConfiguration`` reads only the groups the factory declares, each a list of
    ``port_<i>`` configs with an ``object_class``). Missing: the factory's defaults."""
    creation = settings.get("node_creation_config")
    if not isinstance(creation, dict):
        return {}
    out = {}
    for group, cls in groups.items():
        if group in creation:
            ports = creation[group]
            classes = [get_string(ports[k], "object_class") for k in ports]
            if any(c != cls for c in classes):
                raise InvalidSettingsException(f"port group {group!r} takes {cls}, not {classes}")
            out[group] = classes
    return out
