"""Reading .knwf files back for the tests: KNIME XML configs as dicts, the Python Script node's script.

Independent of knime_workflows/build_workflows.py on purpose (a test must not trust the writer it checks).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WF_DIR = ROOT / "knime_workflows" / "workflows"
NS = "{http://www.knime.org/2008/09/XMLConfig}"


def to_dict(el: ET.Element) -> dict:
    """A KNIME XML config as nested dicts of decoded values."""
    out = {}
    for child in el:
        key = child.get("key")
        assert key is not None and key not in out, f"missing or duplicate key {key!r}"
        if child.tag == NS + "config":
            out[key] = to_dict(child)
        else:
            assert child.tag == NS + "entry", child.tag
            t, v = child.get("type"), child.get("value")
            if child.get("isnull") == "true":
                out[key] = None
            elif t == "xboolean":
                assert v in ("true", "false")
                out[key] = v == "true"
            elif t in ("xint", "xlong"):
                out[key] = int(v)
            elif t == "xdouble":
                out[key] = float(v)
            else:
                assert t == "xstring", t
                out[key] = unescape(v)
    return out


def unescape(v: str) -> str:
    return re.sub(r"%%(\d{5})", lambda m: chr(int(m[1])), v)


def read_knwf(path: Path) -> tuple[str, dict, dict[str, dict], dict[str, bytes]]:
    """(workflow folder, workflow.knime, node settings by folder, all members) of a .knwf."""
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        members = {n: zf.read(n) for n in zf.namelist()}
    tops = {n.split("/")[0] for n in members}
    assert len(tops) == 1, tops
    top = tops.pop()
    docs = {}
    for name, data in members.items():
        if name.endswith((".xml", ".knime")) and not name.endswith("/workflow-metadata.xml"):
            root = ET.fromstring(data)
            assert root.tag == NS + "config"
            assert root.get("key") == name.rsplit("/", 1)[1]
            docs[name] = to_dict(root)
    wf = docs.pop(f"{top}/workflow.knime")
    settings = {name[len(top) + 1:].rsplit("/", 1)[0]: d for name, d in docs.items()}
    return top, wf, settings, members


def script_of_python_workflow() -> tuple[str, dict[str, str]]:
    _, wf, settings, _ = read_knwf(WF_DIR / "CARE_restore_a_folder_Python_Script.knwf")
    (s,) = settings.values()
    variables = {v["name"]: v["value"] for v in wf["workflow_variables"].values()}
    return s["model"]["script"], variables


def run_script(script: str, variables: dict, inputs=None):
    """Run a Python Script node's script as KNIME would: knio filled in, outputs read back."""
    import knime.scripting.io as knio

    knio.double_reset(inputs, n_outputs=1, variables=variables)
    exec(compile(script, "<Python Script node>", "exec"), {"__name__": "__main__"})
    return knio.double_outputs()[0].to_pandas()
