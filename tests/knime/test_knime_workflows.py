"""The example workflows (knime_workflows/workflows/*.knwf): structure, settings and the Python Script node.

Checked here: each .knwf is a valid zip of one workflow folder; every XML file is well-formed KNIME XML config;
every node folder and settings.xml that workflow.knime names exists (and nothing else); the connections form
the documented pipelines; extension-node settings are parameters the node declares, with valid values;
nothing holds an absolute path; the files are reproducible and up to date. The Python Script node's script is
extracted and run against the knime.scripting.io TEST DOUBLE.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import knime_java as kj
from knime_knwf_reader import WF_DIR, read_knwf, run_script, script_of_python_workflow

from care_bridge import knime_nodes as kn

ROOT = Path(__file__).resolve().parents[2]

# The documented pipelines (knime_workflows/README.md): (source node, source port, dest node, dest port).
PIPELINES = {
    "CARE_restore_a_folder.knwf": {
        ("CARE Image Lister", 1, "CARE Restorer", 1), ("CARE Bundle Reader", 1, "CARE Restorer", 2)},
    "CARE_train_export_restore_evaluate.knwf": {
        ("CARE Image Lister", 1, "CARE Trainer", 1), ("CARE Trainer", 1, "CARE Restorer", 2),
        ("CARE Image Lister", 1, "CARE Restorer", 1), ("CARE Restorer", 1, "CARE Evaluator", 1)},
    "CARE_restore_a_folder_Python_Script.knwf": set(),
}
SCRIPT_FACTORY = "org.knime.python3.scripting.nodes2.script.PythonScriptNodeFactory"
NODE_IDS = {"CARE Image Lister": "care_image_lister", "CARE Bundle Reader": "care_bundle_reader",
            "CARE Restorer": "care_restorer", "CARE Evaluator": "care_evaluator", "CARE Trainer": "care_trainer"}


@pytest.fixture(scope="module", params=sorted(PIPELINES))
def knwf(request):
    return request.param, read_knwf(WF_DIR / request.param)


def test_every_referenced_node_folder_and_settings_exist(knwf):
    _, (top, wf, settings, members) = knwf
    referenced = {n["node_settings_file"] for n in wf["nodes"].values()}
    assert {f"{top}/{r}" for r in referenced} <= set(members)
    assert {f"{folder}/settings.xml" for folder in settings} == referenced  # no stray node folders
    for key, n in wf["nodes"].items():
        folder = n["node_settings_file"].rsplit("/", 1)[0]
        assert key == f"node_{n['id']}" and folder.endswith(f"(#{n['id']})")
        assert settings[folder]["name"] == folder.rsplit(" (#", 1)[0]


def test_connections_form_the_documented_pipeline(knwf):
    name, (_, wf, settings, _) = knwf
    by_id = {n["id"]: n["node_settings_file"].split(" (#")[0] for n in wf["nodes"].values()}
    conns = {(by_id[c["sourceID"]], c["sourcePort"], by_id[c["destID"]], c["destPort"])
             for c in wf["connections"].values()}
    assert conns == PIPELINES[name]
    inputs = [(c["destID"], c["destPort"]) for c in wf["connections"].values()]
    assert len(inputs) == len(set(inputs)), "an input port is connected twice"


def _typed_settings(members: dict[str, bytes]) -> dict[str, dict]:
    """Every node's settings.xml read with KNIME's entry types (the knime_java double), by node folder."""
    out = {}
    for name, data in members.items():
        if name.endswith("/settings.xml"):
            key, cfg = kj.parse_config_xml(data)
            assert key == "settings.xml"
            out[name.split("/", 1)[1].rsplit("/", 1)[0]] = cfg
    return out


def test_extension_node_settings_load_as_knime_loads_them(knwf, knext, ext):
    # How KNIME reads an extension node's model (knime/knime-python org.knime.python3.nodes/.../settings/
    # JsonNodeSettings.java + JsonNodeSettingsSchema.java; knime/knime-core-ui JsonNodeSettingsMapperUtil.java):
    # the model and each parameter group must be typed JSON objects, the saved extension version must be
    # knime.yml's (else KNIME runs its settings-compatibility path), and every declared parameter is there.
    _, (_, wf, settings, members) = knwf
    version = kj.read_knime_yml(ROOT / "knime_workflows" / "care_bridge_knime" / "knime.yml").version
    for folder, s in _typed_settings(members).items():
        if kj.get_string(s, "factory") == SCRIPT_FACTORY:
            continue
        assert settings[folder]["factory_settings"] == {"extension_id": "org.carebridge.care_bridge_knime",
                                                        "node_id": NODE_IDS[settings[folder]["name"]]}
        params, saved_version = kj.load_extension_node_model(s["model"])
        assert saved_version == version
        node = knext.double_nodes[settings[folder]["factory_settings"]["node_id"]].factory()
        assert set(params) == set(knext.double_parameters(node))  # all of them, nothing unknown
        knext.double_inject(node, params)  # validated as KNIME would


def test_extension_nodes_name_the_plug_in_that_holds_their_factory(knwf):
    # KNIME writes the bundle of the factory class, org.knime.python3.nodes, for a Python extension's nodes (seen
    # in a workflow KNIME AP 5.1 saved: knime/knime-python-extension-template, demo/Example_with_Python_node.knwf,
    # "My Template Node (#3)/settings.xml"); the bundle is what KNIME offers to install when a node is missing.
    _, (_, _, settings, _) = knwf
    for s in settings.values():
        bundle = s["node-bundle-symbolic-name"]
        if s["factory"] == SCRIPT_FACTORY:
            assert bundle == "org.knime.python3.scripting.nodes"
        else:
            assert s["factory"].startswith(bundle + ".") and bundle == "org.knime.python3.nodes"


def test_the_double_refuses_the_old_layouts():
    # what the builder wrote before (#13): untyped model objects, no saved version, executable_selection
    model = {"bundle": kj.Entry("xstring", "m.zip"), "training": {"epochs": kj.Entry("xint", 3)}}
    with pytest.raises(kj.InvalidSettingsException):
        kj.load_extension_node_model(model)
    typed = {"json-type_Internals": kj.Entry("xstring", "OBJECT"), "bundle": kj.Entry("xstring", "m.zip")}
    assert kj.load_extension_node_model(typed) == ({"bundle": "m.zip"}, "0.0.0")
    with pytest.raises(kj.InvalidSettingsException, match="python3_command"):
        kj.load_python_script_model({"executable_selection": kj.Entry("xstring", ""),
                                     "script": kj.Entry("xstring", "pass")})


def _strings(d):
    for v in d.values():
        if isinstance(v, dict):
            yield from _strings(v)
        elif isinstance(v, str):
            yield v


def test_the_description_is_where_knime_reads_it(knwf, builder):
    # A workflow of format "version" 5.1.0 has its description read from workflow-metadata.xml, not from
    # workflow.knime (knime/knime-core, org.knime.core/.../workflow/FileWorkflowPersistor.java:
    # loadWorkflowMetadata); content type and element order as in the workflow-metadata.xml files KNIME wrote
    # (knime/knime-core, org.knime.core.workflow.tests/.../workflow-metadata.xml; the knime-python-extension-template
    # demo workflow). KNIME also always writes workflow_credentials.
    name, (top, wf, _, members) = knwf
    assert wf["version"] == "5.1.0" and "workflow_credentials" in wf
    root = ET.fromstring(members[f"{top}/workflow-metadata.xml"])
    ns = "{http://www.knime.org/core/node/workflow/metadata/v1.0}"
    assert root.tag == ns + "workflow-metadata" and root.get("content-type") == "text/plain"
    assert [c.tag[len(ns):] for c in root] == ["created", "last-modified", "description"]
    (want,) = [w.description for w in builder.workflows() if builder.knwf_name(w) == name]
    assert want and root.find(ns + "description").text == want


def test_no_absolute_paths_of_the_building_machine(knwf):
    _, (_, wf, settings, members) = knwf
    for value in [*_strings(wf), *(s for d in settings.values() for s in _strings(d))]:
        for line in value.splitlines():
            assert not re.match(r"^\s*(/|[A-Za-z]:\\|~)", line) or line.lstrip().startswith("#"), line
    blob = b"".join(members.values())
    for marker in (str(ROOT).encode(), b"/work/", b"/tmp/", b"/home/", b"/root/", b"C:\\Users"):
        assert marker not in blob


def test_knwf_files_are_reproducible_and_up_to_date(builder, tmp_path):
    built = builder.build(tmp_path)
    assert sorted(p.name for p in built) == sorted(PIPELINES)
    for p in built:
        assert p.read_bytes() == (WF_DIR / p.name).read_bytes(), f"{p.name} is stale: run build_workflows.py"
    again = builder.build(tmp_path / "again")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in built]
    with zipfile.ZipFile(built[0]) as zf:
        names = zf.namelist()
        assert names == sorted(names) and {i.date_time for i in zf.infolist()} == {builder.ZIP_TIME}


def test_knime_escaping_round_trips(builder):
    text = 'a\n\tb "quoted" <x> & 100%\r\n'
    assert builder.knime_unescape(builder.knime_escape(text)) == text
    assert "\n" not in builder.knime_escape(text)


def test_python_script_declares_its_ports_and_variables():
    _, wf, settings, members = read_knwf(WF_DIR / "CARE_restore_a_folder_Python_Script.knwf")
    (s,) = settings.values()
    assert s["factory"] == SCRIPT_FACTORY
    (typed,) = _typed_settings(members).values()
    # KNIME AP >= 5.2 reads the strings python3_command ("" = the Python preferences) and script, nothing else
    # (knime/knime-python, org.knime.python3.scripting.nodes/.../nodes2/PythonScriptNodeSettings.java)
    command, script = kj.load_python_script_model(typed["model"])
    assert command == "" and set(typed["model"]) == {"python3_command", "script"}
    # the port configuration is the top-level node_creation_config (knime/knime-core,
    # FileNativeNodeContainerPersistor.saveCreationConfig / ModifiableNodeCreationConfiguration)
    assert "node_creation_config" not in s["factory_settings"]
    ports = kj.load_creation_config(typed, kj.PYTHON_SCRIPT_PORT_GROUPS)
    assert ports["Input table"] == [] and ports["Output table"] == ["org.knime.core.node.BufferedDataTable"]
    for var in wf["workflow_variables"].values():  # FlowVariable.save: name, class (the type id), value
        assert set(var) == {"name", "class", "value"} and var["class"] == "STRING"
    script, variables = script_of_python_workflow()
    used = set(re.findall(r'(?:v\.get\(|v\[|flag\()"(care_\w+)"', script))
    assert used == set(variables)
    compile(script, "<script>", "exec")


def test_python_script_missing_bundle_fails_before_any_work(tmp_path, make_tiffs, monkeypatch):
    script, variables = script_of_python_workflow()
    make_tiffs(tmp_path / "data" / "images", 2)
    monkeypatch.chdir(tmp_path)  # KNIME runs the script in the workflow folder
    from care_bridge.errors import CareBridgeError

    with pytest.raises(CareBridgeError, match="does not exist"):
        run_script(script, variables)
    assert not (tmp_path / "data" / "restored").exists()


def test_python_script_restores_a_folder_with_the_plain_functions(tmp_path, make_tiffs, monkeypatch, fake_restorer):
    script, variables = script_of_python_workflow()
    imgs = make_tiffs(tmp_path / "data" / "images", 2)
    (tmp_path / "data" / "care_model.zip").write_bytes(b"stand-in")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(kn, "load_restorer", lambda path, engine="auto", **kw: fake_restorer)
    df = run_script(script, variables | {"care_suffix": "_c"})
    assert df["restore_status"].tolist() == ["ok", "ok"]
    assert [Path(p).name for p in df[kn.RESTORED_COLUMN]] == [p.stem + "_c.tif" for p in imgs]
    import knime.extension as knext

    table = knext.Table.from_pandas(pd.DataFrame({kn.IMAGE_COLUMN: [str(imgs[0])]}))
    df = run_script(script, variables | {"care_suffix": "_in"}, inputs=[table])  # with an input table
    assert len(df) == 1 and df["restore_status"].iloc[0] == "ok"
