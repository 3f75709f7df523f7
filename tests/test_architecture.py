"""Checks on the layout itself (docs/architecture.md): where shared code lives and who may import what."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_test_module_imports_a_test_module_or_the_conftest() -> None:
    offenders = []
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]):
        for module in imported_modules(path):
            if module == "tests.conftest" or module.startswith("tests.test_"):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == [], "shared test helpers belong in tests/support/"
