"""The extension's own files as KNIME reads them: config.yml (debug mode), knime.yml and the two environments.

KNIME's readers are mirrored by the knime_java TEST DOUBLE (tests/knime/doubles/knime_java.py), written from
KNIME's open-source Java code: knime/knime-python at commit bf0498be9a50 (2026-03-13),
``org.knime.python3.nodes/src/main/java/org/knime/python3/nodes/PythonExtensionPreferences.java`` (config.yml:
the keys ``src``, ``conda_env_path``, ``python_executable``, ``debug_mode``; since KNIME AP 5.8 also
``-Dknime.python.extension.debug_knime_yaml_list``) and ``.../KnimeYaml.java`` (knime.yml). The environment key of
knime.yml is the bundling tool's; KNIME's template for 5.5+ (knime/knime-python-extension-template, knime.yml)
uses ``pixi_toml_path: pixi.toml``, older guides ``env_yml_path``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import knime_java as kj
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "knime_workflows" / "care_bridge_knime"
KNOWN_CONFIG_KEYS = {"src", "conda_env_path", "python_executable", "debug_mode"}  # all that KNIME reads


def test_config_example_uses_the_keys_knime_reads():
    text = (EXT / "config.example.yml").read_text()
    knime_yml = kj.read_knime_yml(EXT / "knime.yml")
    configs = kj.read_config_yml(text)
    assert list(configs) == [knime_yml.id] == ["org.carebridge.care_bridge_knime"]
    cfg = configs[knime_yml.id]
    assert cfg.src is not None and cfg.src.endswith("/knime_workflows/care_bridge_knime")  # the folder of knime.yml
    assert cfg.python_command() == ("conda", cfg.conda_env_path)
    assert cfg.conda_env_path.endswith("/care_bridge_knime/.pixi/envs/default")  # what `pixi install` creates
    assert cfg.debug_mode is True
    raw = yaml.safe_load(text)[knime_yml.id]
    assert set(raw) <= KNOWN_CONFIG_KEYS, f"keys KNIME ignores silently: {set(raw) - KNOWN_CONFIG_KEYS}"


def test_the_double_ignores_and_drops_what_knime_does():
    # src_path is not a key KNIME reads: the extension would not be loaded from the source folder at all
    cfg = kj.read_config_yml("x.y:\n  src_path: /a\n  conda_env_path: /env\n")["x.y"]
    assert cfg.src is None and cfg.debug_mode is False
    # a value of the wrong type is a ClassCastException in KNIME, which logs it and drops the entry
    assert kj.read_config_yml("x.y:\n  src: /a\n  debug_mode: 'true'\n") == {}
    assert kj.read_config_yml("x.y:\n  src: 5\n") == {}
    both = kj.read_config_yml("x.y:\n  conda_env_path: /env\n  python_executable: /py\n")["x.y"]
    assert both.python_command() == ("conda", "/env")  # conda_env_path wins


def test_knime_yml_reads_as_knime_reads_it(tmp_path):
    y = kj.read_knime_yml(EXT / "knime.yml")
    assert y.id == "org.carebridge.care_bridge_knime"
    assert re.fullmatch(r"\d+\.\d+\.\d+", y.version)  # a string with three components, as bundling requires
    assert y.module_path is not None and y.module_path.with_suffix(".py").is_file()
    assert y.bundled_env_name == "org_carebridge_care_bridge_knime"
    raw = yaml.safe_load((EXT / "knime.yml").read_text())
    assert (EXT / raw["license_file"]).is_file()
    # KNIME AP 5.5+ documents pixi: knime.yml names pixi.toml; environment.yml stays for KNIME AP <= 5.4
    assert raw["pixi_toml_path"] == "pixi.toml" and (EXT / "pixi.toml").is_file()
    assert "env_yml_path" not in raw and (EXT / "environment.yml").is_file()
    bad = tmp_path / "knime.yml"
    bad.write_text("name: a\ngroup_id: b\nversion: 1.0\n")  # a YAML float: a ClassCastException in KNIME
    with pytest.raises(TypeError):
        kj.read_knime_yml(bad)
    bad.write_text("name: a\nversion: 1.0.0\n")
    with pytest.raises(OSError, match="group_id"):
        kj.read_knime_yml(bad)


def test_debug_knime_yaml_list_needs_the_pixi_environment(tmp_path):
    (tmp_path / "knime.yml").write_text("name: a\ngroup_id: b\n")
    with pytest.raises(OSError, match="pixi install"):
        kj.pixi_env_python(tmp_path / "knime.yml")
    py = tmp_path / ".pixi" / "envs" / "default" / "bin" / "python"
    py.parent.mkdir(parents=True)
    py.write_text("")
    assert kj.pixi_env_python(tmp_path / "knime.yml") == py


def _pip_source(entry: str, base: Path) -> tuple[Path, tuple[str, ...]]:
    m = re.fullmatch(r"(?P<path>[^\[]+)(\[(?P<extras>[^\]]*)\])?", entry.strip())
    extras = tuple(sorted(e.strip() for e in (m["extras"] or "").split(",") if e.strip()))
    return (base / m["path"]).resolve(), extras


def test_pixi_and_conda_environments_install_the_same_care_bridge():
    pixi = tomllib.loads((EXT / "pixi.toml").read_text())
    conda = yaml.safe_load((EXT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()  # noqa: E731 - PEP 503 names

    (name, spec), = [(k, v) for k, v in pixi["pypi-dependencies"].items() if norm(k) == norm(project)]
    pixi_src = ((EXT / spec["path"]).resolve(), tuple(sorted(spec.get("extras", []))))
    pip_entries = [d for d in conda["dependencies"] if isinstance(d, dict) and "pip" in d][0]["pip"]
    (conda_src,) = [_pip_source(e, EXT) for e in pip_entries]
    assert pixi_src == conda_src == (ROOT, ())  # this source tree, runtime only, in both
    assert not spec.get("editable", False)

    conda_pkgs = {re.split(r"[=<>]", d)[0]: d for d in conda["dependencies"] if isinstance(d, str)}
    deps = pixi["dependencies"]
    for pkg in ("knime-extension", "knime-python-base", "pyarrow", "python"):
        assert pkg in deps and pkg in conda_pkgs, pkg
    assert deps["python"].startswith("3.11") and conda_pkgs["python"] == "python=3.11"
    assert "knime" in pixi["workspace"]["channels"] and "knime" in conda["channels"]
