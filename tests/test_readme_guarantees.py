"""README "What the loader guarantees": every test it points at exists."""

from __future__ import annotations

import ast
import re

from conftest import PROJECT_DIR


def _section() -> str:
    text = (PROJECT_DIR / "README.md").read_text()
    return text.split("## What the loader guarantees", 1)[1].split("\n## ", 1)[0]


def _references(section: str) -> list[tuple[str, str | None]]:
    """(file, test) in order; '::name' refers to the file named last."""
    refs, current = [], None
    for match in re.finditer(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`", section):
        path, name = match.groups()
        if path:
            current = path
        if path or name:
            refs.append((current, name))
    return refs


def _test_names(path: str) -> set[str]:
    tree = ast.parse((PROJECT_DIR / path).read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)
            and n.name.startswith("test_")}


def test_readme_guarantees_point_at_existing_tests():
    refs = _references(_section())
    assert len(refs) >= 20
    for path, name in refs:
        assert path and (PROJECT_DIR / path).is_file(), path
        if name:
            assert name in _test_names(path), f"{path}::{name}"
