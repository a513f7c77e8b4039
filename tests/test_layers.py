"""The import contracts in pyproject.toml ([tool.importlinter]) hold: the engine never
imports Textual or the UI, and the layers (core → traces → learning → ui / cli) only
import downwards, lazy imports inside functions included.

tests/test_import_hygiene.py checks the same at run time (what ``sys.modules`` holds
after importing each engine module)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold() -> None:
    pytest.importorskip("importlinter")  # the dev extra
    lint_imports = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout
