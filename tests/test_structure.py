"""The shape of the code: imports flow one way (no circles), the core imports no provider library."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PROVIDER_LIBRARIES = ("googleapiclient", "google_auth_oauthlib", "google.auth", "google.oauth2", "msal",
                      "imapclient", "caldav", "httplib2")


def _modules() -> dict[str, Path]:
    found = {}
    for root, package in ((REPO / "syncd", "syncd"), (REPO / "connectors", "syncd.connectors")):
        for path in root.rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module of ours that ``name`` imports, at the top or lazily inside a function."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                out.add(target)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

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
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_imports_form_no_circle_outside_the_cli_command_registration() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    # The CLI's commands register themselves on the group defined in syncd.cli.main, which imports
    # the commands package to run them: that one circle is how click registration works.
    cycles = [c for c in _cycles(graph) if not all(m.startswith("syncd.cli") for m in c)]
    assert cycles == []


def test_the_core_imports_no_provider_library() -> None:
    for name, path in _modules().items():
        if name.startswith("syncd.connectors"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for imported in names:
                assert not imported.startswith(PROVIDER_LIBRARIES), f"{name} imports {imported}"
