"""The house rules of the source tree, read from the code's own imports (stdlib `ast`).

Every import counts, also those inside functions (a lazy import is still a dependency):
- no import circle anywhere in gate/, drivers/, firmware_bridge/;
- gate/core imports only the standard library and itself, and none of the standard modules that
  reach the outside world (sqlite3, sockets, threads, processes);
- each floor of gate/ imports only the floors below it (docs/architecture.md);
- drivers/ and firmware_bridge/ never import gate.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gate", "drivers", "firmware_bridge")

# What each part of the tree may import from the project ("gate.clock" and "gate.i18n" are leaf modules).
ALLOWED = {
    "gate.core": {"gate.core"},
    "gate.clock": set(),
    "gate.i18n": set(),
    "gate.rules": {"gate.rules", "gate.core", "gate.clock"},
    "gate.store": {"gate.store", "gate.rules", "gate.core", "gate.clock"},
    "gate.uplink": {"gate.uplink", "gate.store", "gate.core", "gate.clock"},
    "gate.dc09": {"gate.dc09", "gate.core", "gate.clock"},
    "gate.config": {"gate.config", "gate.rules", "gate.core", "gate.dc09"},
    "gate.runtime": {"gate.runtime", "gate.feedback", "gate.config", "gate.uplink", "gate.store", "gate.rules",
                     "gate.core", "gate.clock", "gate.i18n", "gate.dc09", "drivers", "firmware_bridge"},
    "gate.feedback": {"gate.feedback", "gate.config", "gate.rules", "gate.core", "gate.clock", "gate.i18n",
                      "drivers"},
    "gate.station": {"gate.station", "gate.uplink.signing", "gate.core", "gate.clock", "gate.dc09"},
    "gate.cli": {"gate", "drivers", "firmware_bridge"},
    "gate": {"gate"},
    "drivers": {"drivers"},
    "firmware_bridge": {"firmware_bridge", "drivers"},
}
# The core stays pure even within the standard library.
CORE_FORBIDDEN_STDLIB = {"sqlite3", "socket", "socketserver", "threading", "subprocess", "multiprocessing",
                         "asyncio", "ssl", "http", "urllib", "select", "selectors", "signal", "concurrent"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> set[str]:
    """Every module `path` imports (absolute names; `from pkg import mod` counts as pkg.mod when
    pkg/mod exists). `if TYPE_CHECKING:` blocks are skipped: they never run."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()

    def visit(node):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            for a in node.names:
                sub = root / Path(*f"{target}.{a.name}".split("."))
                if sub.with_suffix(".py").exists() or (sub / "__init__.py").exists():
                    found.add(f"{target}.{a.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def build_graph(root: Path) -> dict[str, set[str]]:
    graph = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            graph[module_name(path, root)] = imports_of(path, root)
    return graph


def project_deps(graph: dict[str, set[str]], mod: str) -> set[str]:
    """The project modules `mod` imports (an import of a package counts as its __init__)."""
    return {d for d in graph[mod] if d in graph and d != mod}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(project_deps(graph, m)):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = dfs(d)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = dfs(m)
            if found:
                return found
    return None


def floor_of(mod: str) -> str:
    """The most specific key of ALLOWED that `mod` belongs to."""
    best = ""
    for key in ALLOWED:
        if (mod == key or mod.startswith(key + ".")) and len(key) > len(best):
            best = key
    return best


def is_allowed(target: str, allowed: set[str]) -> bool:
    return any(target == a or target.startswith(a + ".") for a in allowed)


def violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    stdlib = sys.stdlib_module_names
    for mod, deps in sorted(graph.items()):
        floor = floor_of(mod)
        for dep in sorted(deps):
            top = dep.split(".")[0]
            if top in PACKAGES:
                if dep in graph or any(g.startswith(dep + ".") for g in graph):
                    if not is_allowed(dep, ALLOWED[floor]) and not dep == "gate":
                        problems.append(f"{mod} imports {dep}: {floor} may import only {sorted(ALLOWED[floor])}")
                    if dep == "gate" and floor not in ("gate", "gate.cli"):
                        problems.append(f"{mod} imports the top package gate: import the module itself")
            elif floor == "gate.core":
                if top == "__future__":
                    continue
                if top not in stdlib:
                    problems.append(f"{mod} imports {dep}: the core imports only the standard library")
                elif top in CORE_FORBIDDEN_STDLIB:
                    problems.append(f"{mod} imports {dep}: the core touches no database, socket, thread or process")
    return problems


def test_no_import_circles():
    cycle = find_cycle(build_graph(ROOT))
    assert cycle is None, "import circle: " + " → ".join(cycle)


def test_each_floor_imports_only_what_lies_below():
    assert violations(build_graph(ROOT)) == []


def test_core_calls_no_wall_clock():
    """The core is handed its time: it never reads the wall or monotonic clock itself."""
    calls = {"now", "utcnow", "time", "monotonic", "today", "perf_counter"}
    found = []
    for path in sorted((ROOT / "gate" / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in calls
                    and getattr(node.func.value, "id", getattr(node.func.value, "attr", "")) in
                    {"datetime", "time", "date"}):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_every_package_says_what_it_may_import():
    for init in sorted((ROOT / "gate").rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert 2 <= len(doc.splitlines()) <= 8, f"{init.relative_to(ROOT)}: a docstring of two to five lines"


# -- the checker itself, on small trees that break each rule --------------------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").touch()
    return tmp_path


@pytest.mark.parametrize("files, expect", [
    ({"gate/core/a.py": "import sqlite3\n", "gate/core/__init__.py": ""}, "no database"),
    ({"gate/core/a.py": "import paho.mqtt.client\n", "gate/core/__init__.py": ""}, "only the standard library"),
    ({"gate/core/a.py": "def f():\n    from gate.store import j\n", "gate/core/__init__.py": "",
      "gate/store/__init__.py": "", "gate/store/j.py": ""}, "gate.core may import only"),
    ({"drivers/a.py": "from gate.core import x\n", "gate/core/__init__.py": "", "gate/core/x.py": ""},
     "drivers may import only"),
    ({"firmware_bridge/a.py": "import gate.core.x\n", "gate/core/__init__.py": "", "gate/core/x.py": ""},
     "firmware_bridge may import only"),
    ({"gate/station/a.py": "from gate.runtime import daemon\n", "gate/station/__init__.py": "",
      "gate/runtime/__init__.py": "", "gate/runtime/daemon.py": ""}, "gate.station may import only"),
])
def test_checker_catches_each_bad_import(tmp_path, files, expect):
    root = _tree(tmp_path, files)
    problems = violations(build_graph(root))
    assert any(expect in p for p in problems), problems


def test_checker_catches_a_lazy_circle(tmp_path):
    root = _tree(tmp_path, {"gate/runtime/__init__.py": "", "gate/runtime/a.py": "from gate.runtime import b\n",
                            "gate/runtime/b.py": "def f():\n    from gate.runtime.a import x\n"})
    assert find_cycle(build_graph(root)) == ["gate.runtime.a", "gate.runtime.b", "gate.runtime.a"]
