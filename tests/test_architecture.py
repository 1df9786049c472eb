"""The import graph, read from the source: no circles between modules, and the dependency
directions README's "Architecture" section promises."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = {"agent_app": "agent_app", "chains": "agent_app.chains", "tools": "agent_app.tools"}
"""Folder at the repository's top -> the package it is imported as (README, "Architecture")."""


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in PACKAGES.items():
        for path in (REPO / folder).rglob("*.py"):
            if any(p.is_symlink() for p in path.relative_to(REPO).parents if p != Path(".")):
                continue  # agent_app/tools -> ../tools: the same files, counted once under their folder
            parts = [*package.split("."), *path.relative_to(REPO / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the app's modules it imports anywhere in its file (top level, functions and
    TYPE_CHECKING blocks alike: a lazy import still ties two modules together)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                    )
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
                ]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
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
        for w in graph[v]:
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

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert circles(import_graph()) == []


def test_models_do_not_import_the_app_above_them():
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("agent_app.models"):
            upward = {
                t
                for t in targets
                if not t.startswith(
                    (
                        "agent_app.models",
                        "agent_app.errors",
                        "agent_app.paths",
                        "agent_app.quiet_logs",
                        "agent_app.torch_thread",
                        "agent_app.yamlfile",
                        "agent_app.monitoring.redact",
                    )
                )
            }
            assert upward == set(), f"{name} imports {upward}"


def test_lower_layers_never_import_the_chat_or_the_cli():
    """`cli` and `serve` are the two edges (a terminal, HTTP); both drive `chat`. Below them only
    `config` reads serve's settings section."""
    graph = import_graph()
    for name, targets in graph.items():
        if not name.startswith(("agent_app.chat", "agent_app.cli", "agent_app.serve")):
            assert not {t for t in targets if t.startswith(("agent_app.chat", "agent_app.cli"))}, name
        edge = {t for t in targets if t.startswith("agent_app.serve") and t != "agent_app.serve.settings"}
        if not name.startswith(("agent_app.cli", "agent_app.serve")):
            assert not edge, f"{name} imports {edge}"


def test_the_checker_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_agent_names_no_tool_module():
    """Tools describe themselves (agent_app.tool_profile): the agent reads that, not tool modules."""
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("agent_app.agent"):
            assert not {t for t in targets if t.startswith("agent_app.tools")}, name


def test_the_graph_sees_the_top_level_folders_under_the_apps_name():
    graph = import_graph()
    assert "agent_app.tools.calculator" in graph and "agent_app.chains.retrieval" in graph
    assert "agent_app.chains" in graph["agent_app.chat.answerers"]  # the graph links them


def test_nothing_imports_tools_or_chains_as_bare_top_level_packages():
    """Installed, they exist only as agent_app.tools / agent_app.chains (pyproject, README)."""
    for path in [
        *REPO.glob("*.py"),
        *(p for folder in ("agent_app", "chains", "tools", "tests", "bench") for p in (REPO / folder).rglob("*.py")),
    ]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            assert not [n for n in names if n.split(".")[0] in ("tools", "chains")], path
