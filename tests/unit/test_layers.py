"""The package's layers: imports point one way and never in a circle.

Every import in ``workers/`` counts, at module level or inside a function, under
``TYPE_CHECKING`` or not, and so does a string naming one of our modules (``import_module``,
logging config, forkserver preload). The allowed directions are declared once, in ``ALLOWED``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "workers"

LEAVES = {"settings", "records", "codec", "errors", "kb", ""}  # "" is workers/__init__.py
# layer -> the layers it may import (its own included)
ALLOWED: dict[str, set[str]] = {
    "tools": {"tools", "stream", "stages", "ops", "kafka", "leaves"},
    "stream": {"stream", "stages", "ops", "kafka", "leaves"},
    "stages": {"stages", "leaves"},
    "ops": {"ops", "leaves"},
    "kafka": {"kafka", "leaves"},
    "leaves": {"leaves"},
}
# Third-party packages a layer must not import (the stages are pure).
FORBIDDEN_EXTERNAL: dict[str, set[str]] = {
    "stages": {"faust", "aiokafka", "asyncio", "prometheus_client", "mode"},
    "ops": {"aiokafka"},
    "kafka": {"faust", "prometheus_client"},
}


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` below ``root`` (a package named like it)."""
    names = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def layer_of(module: str, package: str) -> str:
    parts = module.split(".")[1:]  # drop the package name
    if not parts or (len(parts) == 1 and parts[0] in LEAVES):
        return "leaves"
    if parts[0] in ALLOWED:
        return parts[0]
    raise AssertionError(
        f"{module} is in no layer: put it in a subpackage or add it to LEAVES in {__file__}"
    )


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is one of our modules."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(our modules it imports, top-level external packages it imports)."""
    package = module.split(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    ours: set[str] = set()
    external: set[str] = set()
    is_package = path.name == "__init__.py"
    # `[python, "-m", "workers.x"]` runs a program; it imports nothing into this module
    programs = {
        id(b)
        for node in ast.walk(tree)
        if isinstance(node, ast.List | ast.Tuple)
        for a, b in zip(node.elts, node.elts[1:], strict=False)
        if isinstance(a, ast.Constant) and a.value == "-m"
    }
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports pkg.mod when that is a module
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
            names = [n for n in names if _resolve(n, modules) != base or n == base]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(f"{package}.")
            and " " not in node.value
            and id(node) not in programs
        ):
            names = [node.value]
        for name in names:
            if name == package or name.startswith(f"{package}."):
                target = _resolve(name, modules)
                if target is not None and target != module:
                    ours.add(target)
            elif name and not isinstance(node, ast.Constant):
                external.add(name.split(".")[0])
    return ours, external


def import_graph(root: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = module_names(root)
    graph, external = {}, {}
    for module, path in modules.items():
        graph[module], external[module] = imports_of(module, path, modules)
    return graph, external


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def violations(root: Path) -> list[str]:
    """Every import that points up a layer or sideways between layers, every forbidden external
    import, and every import cycle, as readable lines."""
    graph, external = import_graph(root)
    package = root.name
    problems = []
    for module, targets in sorted(graph.items()):
        layer = layer_of(module, package)
        for target in sorted(targets):
            if layer_of(target, package) not in ALLOWED[layer]:
                problems.append(
                    f"{module} ({layer}) imports {target} ({layer_of(target, package)})"
                )
        for name in sorted(external[module] & FORBIDDEN_EXTERNAL.get(layer, set())):
            problems.append(f"{module} ({layer}) imports {name}")
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def test_workers_layers_and_no_cycles() -> None:
    assert violations(ROOT) == []


def test_every_subpackage_says_what_it_may_import() -> None:
    for layer in ALLOWED:
        if layer == "leaves":
            continue
        doc = ast.get_docstring(ast.parse((ROOT / layer / "__init__.py").read_text()))
        assert doc and "import" in doc, f"workers/{layer}/__init__.py needs its paragraph"


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "workers"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for sub in {Path(n).parent for n in files if "/" in n}:
        (root / sub / "__init__.py").touch()
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (  # a cycle through a function-level import, within one layer
            {
                "stream/a.py": "from workers.stream.b import x\n",
                "stream/b.py": "def f():\n    from workers.stream import a\n",
            },
            ["import cycle: workers.stream.a -> workers.stream.b"],
        ),
        (  # an upward import, hidden behind TYPE_CHECKING
            {
                "ops/m.py": "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from workers.stream.app import App\n",
                "stream/app.py": "App = 1\n",
            },
            ["workers.ops.m (ops) imports workers.stream.app (stream)"],
        ),
        (  # a leaf reaching up, named in a string
            {"settings.py": "X = 'workers.tools.cli.main'\n", "tools/cli.py": "main = 1\n"},
            ["workers.settings (leaves) imports workers.tools.cli (tools)"],
        ),
        (  # a stage importing Faust
            {"stages/s.py": "import faust\n"},
            ["workers.stages.s (stages) imports faust"],
        ),
        (  # the allowed direction
            {
                "tools/t.py": "from workers.stream import app\n",
                "stream/app.py": "from workers import settings\n",
                "settings.py": "",
            },
            [],
        ),
    ],
)
def test_the_checker_finds_what_it_should(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    assert violations(_package(tmp_path, files)) == expected
