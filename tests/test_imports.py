"""The module map stays one-way: no import loops between replay's modules, and storage never needs HTTP.

Imports are read with `ast` from the source, lazy ones inside functions included (a loop through a lazy import
is still a loop); imports under `if TYPE_CHECKING:` are left out, as they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "replay"

# Modules that read, store or compare documents: they work offline, so they never import the HTTP client.
OFFLINE = ("canonical", "convert", "diff", "diff_model", "diff_outputs", "diff_render", "diff_values", "documents",
           "errors", "findings", "gitdiff", "graph_check", "jobs", "nodedefs", "recipe", "report_page", "schema_check",
           "sources", "summary", "ui_fields", "urls", "validate", "widget_values", "workflow")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, package: str) -> set[str]:
    found: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for branch in node.orelse:
                found |= _imports(ast.Module(body=[branch], type_ignores=[]), package)
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
        found |= _imports(node, package)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each module of the package to the modules of the package it imports (lazily or not)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = {m for m in _imports(tree, package) if m in modules and m not in (name, "replay")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_reader_sees_lazy_imports_and_skips_type_checking_ones():
    graph = import_graph()
    assert "replay.validate" in graph["replay.sources"]  # imported inside a function
    assert "replay.client" not in graph["replay.fetching"]  # only under TYPE_CHECKING
    assert "replay.fetching" in graph["replay.archive"]


def test_the_library_modules_import_each_other_one_way():
    library = {name: {m for m in deps if not m.startswith("replay.cli")}
               for name, deps in import_graph().items() if not name.startswith("replay.cli") and name != "replay"}
    assert _cycle(library) is None, " -> ".join(_cycle(library) or [])


def test_offline_modules_never_import_the_http_client_or_requests():
    graph = import_graph()
    for name in OFFLINE:
        module = f"replay.{name}"
        assert module in graph, f"{module} is listed in OFFLINE but does not exist"
        assert "replay.client" not in graph[module], f"{module} imports replay.client"
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        assert "requests" not in {m.split(".")[0] for m in _imports(tree, "replay")}, f"{module} imports requests"


def test_contributing_lists_every_module_of_the_package():
    text = (PACKAGE.parent / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "__main__.py":
            continue
        assert f"`replay/{path.name}`" in text, f"CONTRIBUTING.md's module map misses replay/{path.name}"
