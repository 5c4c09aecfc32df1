"""The import graph is a tree of layers, and the runtime stays light (docs/ARCHITECTURE.md).

Checked on the source (every ``import`` statement, also inside functions) and on a real process: restoring a
bundle through the runtime and through ``care-bridge predict`` imports no framework but onnxruntime and no
training, data-generation, export or pydantic code.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "care_bridge"

# layer -> the layers it may import (besides itself); a module's layer is its first path part under care_bridge/
NUMERICS = {"axes", "errors", "normalize", "tiling", "resample", "framework_env", "laplace_mixture", "tempdirs",
            "resources"}
ALLOWED = {
    "numerics": set(),
    "describe": {"numerics"},
    "modes": {"describe", "numerics"},
    "io": {"numerics"},
    "bundle": {"describe", "modes", "numerics"},
    "runtime": {"bundle", "describe", "modes", "io", "numerics"},
    "evaluate": {"numerics", "io"},
    "models": {"runtime", "bundle", "describe", "modes", "io", "numerics"},
    "data": {"io", "modes", "describe", "numerics"},
    "train": {"models", "data", "io", "describe", "modes", "numerics"},
    "frontend": {"runtime", "bundle", "models", "io", "describe", "modes", "numerics"},
    "export": {"runtime", "bundle", "models", "train", "data", "io", "describe", "modes", "numerics", "evaluate"},
    "pipelines": {"models", "data", "train", "evaluate", "io", "describe", "modes", "numerics", "runtime", "bundle",
                  "export"},
}
FRONT_ENDS = {"cli", "fiji", "knime_nodes"}


def _layer(module: str) -> str:
    part = module.split(".")[1] if "." in module else ""
    if part in NUMERICS:
        return "numerics"
    return part or "package"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """care_bridge modules imported by ``path`` anywhere in the file (relative imports resolved)."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("care_bridge")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("care_bridge"):
                out.add(target)
                # "from . import x" names submodules
                for a in node.names:
                    sub = PKG.parent / Path(*f"{target}.{a.name}".split("."))
                    if sub.with_suffix(".py").exists() or (sub / "__init__.py").exists():
                        out.add(f"{target}.{a.name}")
    return out


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    g = {}
    for m, p in files.items():
        g[m] = {t for t in _imports(p) if t in files and t != m}
    return g


def test_no_module_imports_a_layer_above_it():
    bad = []
    for m, targets in _graph().items():
        src = _layer(m)
        if src in FRONT_ENDS or src == "package":
            continue
        for t in targets:
            dst = _layer(t)
            if dst == "package":  # the package face holds only __version__
                continue
            if dst != src and dst not in ALLOWED[src]:
                bad.append(f"{m} -> {t}")
    assert not bad, "upward or sideways imports:\n" + "\n".join(sorted(bad))


def test_the_import_graph_has_no_circle():
    g = _graph()
    # package faces (__init__) that only re-export are not edges back into their own package
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(n: str, path: list[str]) -> bool:
        state[n] = 1
        for t in sorted(g[n]):
            if t.startswith(n + "."):  # a package face importing its own modules
                continue
            if state.get(t) == 1:
                cycle.extend(path[path.index(t):] + [t] if t in path else [n, t])
                return True
            if state.get(t) is None and visit(t, path + [t]):
                return True
        state[n] = 2
        return False

    for n in sorted(g):
        if state.get(n) is None and visit(n, [n]):
            break
    assert not cycle, " -> ".join(cycle)


PROBE = r"""
import json, sys
{body}
heavy = ["tensorflow", "keras", "pydantic", "bioimageio", "care_bridge.models", "care_bridge.data",
         "care_bridge.train", "care_bridge.pipelines", "care_bridge.export", "care_bridge.evaluate"]
print("MODULES " + json.dumps(sorted({{h for h in heavy if any(m == h or m.startswith(h + ".") for m in sys.modules)}})))
"""


def _probe(body: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", PROBE.format(body=body)], capture_output=True, text=True, timeout=120,
                       env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("MODULES ")][-1]
    return json.loads(line[len("MODULES "):])


def test_restoring_with_the_runtime_imports_no_framework_training_or_data_code(onnx_bundle, tmp_path):
    bundle = onnx_bundle("isotropic")  # the mode with a procedure: still nothing heavy
    body = (f"import numpy as np\nfrom care_bridge import runtime\nr = runtime.load({str(bundle)!r})\n"
            "res = r.restore(np.random.default_rng(0).random((4, 24, 28)).astype('float32'), 'ZYX', n_tiles=(1, 2, 2))\n"
            "assert res.image.shape == (13, 24, 28)")
    assert _probe(body) == []


def test_care_bridge_predict_imports_no_framework_training_or_data_code(onnx_bundle, tmp_path):
    import numpy as np
    import tifffile

    tifffile.imwrite(tmp_path / "in.tif", np.random.default_rng(0).random((24, 28)).astype(np.float32))
    body = ("from care_bridge.cli.main import main\n"
            f"rc = main(['predict', '--bundle', {str(onnx_bundle('2d'))!r}, '--input', {str(tmp_path / 'in.tif')!r}, "
            f"'--output', {str(tmp_path / 'out.tif')!r}, '--quiet'])\nassert rc == 0, rc")
    assert _probe(body) == []
    assert (tmp_path / "out.tif").is_file()


def test_collecting_the_tests_imports_no_tensorflow():
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
                       capture_output=True, text=True, timeout=300, cwd=root,
                       env=dict(os.environ, CARE_BRIDGE_ASSERT_NO_TF_AT_COLLECTION="1"))
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "collected without TensorFlow" in r.stdout + r.stderr


@pytest.mark.slow
def test_a_runtime_only_install_restores_with_a_bundle(onnx_bundle, tmp_path):
    """``pip install .`` without extras (no TensorFlow, no bioimageio, no pydantic-based training) restores."""
    import numpy as np
    import tifffile

    import shutil

    repo = Path(__file__).resolve().parents[1]
    root = tmp_path / "src"  # a copy: building in the checkout would leave a build/ folder there
    shutil.copytree(repo / "care_bridge", root / "care_bridge", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(repo / name, root / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", str(root)], capture_output=True, text=True,
                       timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    # LZW, as many acquisition programs write: tifffile decodes it only with imagecodecs (a runtime dependency)
    tifffile.imwrite(tmp_path / "in.tif", np.random.default_rng(0).random((32, 36)).astype(np.float32),
                     compression="lzw")
    r = subprocess.run([str(venv / "bin" / "care-bridge"), "predict", "--bundle", str(onnx_bundle("2d")), "--input",
                        str(tmp_path / "in.tif"), "--output", str(tmp_path / "out.tif"), "--quiet"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([str(py), "-c", "import importlib.util as u; print([m for m in ('tensorflow', 'keras', "
                        "'bioimageio') if u.find_spec(m)])"], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "[]", "the runtime-only install pulled in a framework"
    assert tifffile.imread(tmp_path / "out.tif").shape == (32, 36)
