"""Walkthrough W3 45, 46 (high): `demo --force` replaced a real OpenJarvis workspace's
traces.db, and an export (a recipe, the labels) wrote over the workspace's own files
(traces.db, optimize.toml, agents/*.toml) with exit status 0."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.demo import DEMO_MARKER, build_demo
from jarvis_tui.learning.optimize.store import OptimizationStore
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.panes.evidence import export_target
from tests.engine.conftest import OJ_FIXTURES


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_demo_never_rebuilds_a_workspace_it_did_not_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "oj"
    home.mkdir()
    shutil.copy(OJ_FIXTURES / "traces.db", home / "traces.db")
    before = (home / "traces.db").read_bytes()
    for force in ([], ["--force"]):
        code, _, err = _run(["demo", str(home), "--no-open", "--traces", "50", *force], capsys)
        line = _one_line(err)
        assert code == 1 and "was not built by the demo" in line and "--force" not in line
        assert f"--home {home}" in line
        assert "Reusing" not in err
    assert (home / "traces.db").read_bytes() == before  # the 300 real traces are kept
    with pytest.raises(FileExistsError, match="not built by the demo"):
        build_demo(home, traces=50, force=True)
    assert (home / "traces.db").read_bytes() == before


def test_demo_rebuilds_a_folder_it_built(tmp_path: Path, capsys) -> None:
    root = tmp_path / "demo"
    assert main(["demo", str(root), "--traces", "60", "--no-open"]) == 0
    assert (root / DEMO_MARKER).is_file()
    assert (root / DEMO_MARKER).stat().st_mode & 0o777 == 0o600
    capsys.readouterr()
    assert main(["demo", str(root), "--traces", "70", "--force", "--no-open"]) == 0
    with TraceStore(root / "traces.db") as store:
        assert store.count() == 70


@pytest.fixture
def demo_ws(demo_copy) -> Path:
    return demo_copy(traces=300)


OWN = ["traces.db", "traces.db-wal", "optimize.db", "optimize.toml", "jarvis-tui.toml",
       "agents/react.toml", "agents/new.toml", "checkpoints/x.toml", "models/r.toml"]  # fmt: skip


@pytest.mark.parametrize("name", OWN)
def test_export_best_refuses_the_workspaces_own_files(
    name: str, demo_ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with OptimizationStore(demo_ws / "optimize.db") as store:
        run_id = store.list_runs(limit=1)[0]["run_id"]
    target = demo_ws / name
    before = target.read_bytes() if target.is_file() else None
    code, _, err = _run(["--home", str(demo_ws), "export-best", run_id, str(target)], capsys)
    line = _one_line(err)
    assert code == 1, line
    assert "of the workspace: an export never" in line or "inside the workspace's" in line
    assert (target.read_bytes() if target.is_file() else None) == before


def test_export_best_into_agents_does_not_suggest_a_file_there(
    demo_ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with OptimizationStore(demo_ws / "optimize.db") as store:
        run_id = store.list_runs(limit=1)[0]["run_id"]
    code, _, err = _run(["--home", str(demo_ws), "export-best", run_id,
                         str(demo_ws / "agents")], capsys)  # fmt: skip
    line = _one_line(err)
    assert code == 1 and "inside the workspace's agents/" in line and "best.toml" not in line


@pytest.mark.parametrize("name", ["traces.db", "optimize.toml", "agents/labels.jsonl"])
def test_export_labels_refuses_the_workspaces_own_files(
    name: str, demo_ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    target = demo_ws / name
    before = target.read_bytes() if target.is_file() else None
    monkeypatch.chdir(demo_ws)  # a relative path names the same file
    code, _, err = _run(["--home", str(demo_ws), "export-labels", name], capsys)
    assert code == 1 and "export never writes" in _one_line(err)
    assert (target.read_bytes() if target.is_file() else None) == before
    with TraceStore(demo_ws / "traces.db") as store:
        assert store.count() == 300


def test_the_export_forms_refuse_them_beside_the_field(demo_ws: Path) -> None:
    for typed in ("traces.db", "./optimize.db", "agents/react.toml", str(demo_ws / "logs/x")):
        path, why, _inside = export_target(demo_ws, typed)
        assert path is None and why is not None and "export never writes" in why, typed
    path, why, inside = export_target(demo_ws, "recipes/best.toml")
    assert why is None and inside and path == (demo_ws / "recipes/best.toml").resolve()
