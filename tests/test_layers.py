"""Layers: core → traces → learning / evals → ui / cli; a lower layer never imports a
higher one (checked on the source, lazy imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

import jarvis_tui

PKG = Path(jarvis_tui.__file__).resolve().parent

# The query classifier the trace store registers as an SQL function is core's
# (jarvis_tui.core.classify, re-exported by learning.classify).
FORBIDDEN = {
    "core": ("jarvis_tui.traces", "jarvis_tui.learning", "jarvis_tui.evals", "jarvis_tui.ui",
             "jarvis_tui.cli"),
    "traces": ("jarvis_tui.learning", "jarvis_tui.evals", "jarvis_tui.ui", "jarvis_tui.cli"),
}  # fmt: skip


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def test_lower_layers_do_not_import_higher_ones() -> None:
    bad = []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((PKG / layer).rglob("*.py")):
            for name in _imports(path):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    bad.append(f"{path.relative_to(PKG)} imports {name}")
    assert bad == []
