"""The loader's house: layers import downward only, no cycles, small modules.

Layers, top to bottom (a module may import its own layer and the ones below):

    cli
    run, status                       a run; the operations view
    load, pipeline, versions          a load as stages in order; pipeline.yml; rollback
    read, backends, audit, ...        the stages: read, stage + apply, audit
    options, profiles                 what a load is asked; the dbt profile
    contract, identifiers, ...        the table contract; names; ground floor
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "loader"
LAYERS = [
    {"cli"},
    {"run", "status", "summary", "report"},
    {"load", "pipeline", "versions"},
    {"read", "backends", "audit", "report_data", "checks", "drift", "dbt_build",
     "simulate", "extract", "staged_keys"},
    {"options", "profiles", "data_contract"},
    {"contract", "identifiers", "odbc", "progress", "faults"},
    {"errors", "__init__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path) -> set[str]:
    """Absolute names of what module imports (relative imports resolved): for
    `from X import name`, X.name where that is a module, else X."""
    modules = _modules()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                         for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: {i for i in _imports(m, p) if i in modules and i != m}
            for m, p in modules.items()}


def _floor(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_layout_every_module_has_a_layer():
    unplaced = {_floor(m) for m in _modules()} - RANK.keys()
    assert not unplaced, f"add to LAYERS: {sorted(unplaced)}"


def test_layout_imports_go_down_only():
    upward = [f"{m} -> {i}" for m, targets in _graph().items() for i in targets
              if RANK[_floor(i)] < RANK[_floor(m)]]
    assert not upward


def test_layout_has_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles


def test_layout_loader_imports_nothing_from_tests_or_scripts():
    for module, path in _modules().items():
        outside = {i for i in _imports(module, path)
                   if i.split(".")[0] in ("tests", "scripts", "conftest", "check_tsql",
                                           "tsql_recording")}
        assert not outside, module


def _is_sql_text(node: ast.FunctionDef) -> bool:
    """A function that only returns a (formatted) string: SQL text, exempt."""
    body = node.body[1:] if ast.get_docstring(node) else node.body
    return len(body) == 1 and isinstance(body[0], ast.Return) and \
        isinstance(body[0].value, (ast.Constant, ast.JoinedStr))


@pytest.mark.parametrize("module", sorted(_modules()))
def test_layout_small_files_and_functions(module):
    path = _modules()[module]
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_FILE_LINES
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
            and not _is_sql_text(node)]
    assert not long
