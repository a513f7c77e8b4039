"""A new user's walkthrough (issue 10), the CLI side: what each command prints and does.

`demo` takes --home like every other command and prints an absolute, shell-quoted
command; `optimize` gives no export advice when there is nothing to export; a broken
traces.db is named for what it is; every best-recipe export follows one path rule.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.demo import build_demo
from jarvis_tui.paths import ExportPathError, check_export_path


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("walk") / "ws", traces=400, seed=5, optimize=False)


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(template, dst)
    return dst


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jarvis-tui: error: "), err
    return lines[0]


def _open_line(err: str) -> str:
    (line,) = [x for x in err.splitlines() if x.startswith("Open it with: ")]
    return line.removeprefix("Open it with: ")


# ------------------------------------------------------------------------- demo --home


@pytest.mark.parametrize("where", ["sub", "global"])
def test_demo_builds_in_home_and_prints_an_absolute_quoted_command(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "my demo"  # a space: the printed command must quote it
    home = ["--home", str(target)]
    argv = ["demo", *home] if where == "sub" else [*home, "demo"]
    assert main([*argv, "--no-open", "--traces", "200"]) == 0
    err = capsys.readouterr().err
    assert (target / "traces.db").is_file()
    assert not (tmp_path / "jarvis-demo").exists()
    assert shlex.split(_open_line(err)) == ["jarvis-tui", "--home", str(target)]


def test_demo_default_folder_is_printed_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--no-open", "--traces", "200"]) == 0  # README's Quick start
    assert (tmp_path / "jarvis-demo" / "traces.db").is_file()
    cmd = shlex.split(_open_line(capsys.readouterr().err))
    assert cmd == ["jarvis-tui", "--home", str(tmp_path / "jarvis-demo")]


def test_demo_dir_and_a_different_home_is_refused(tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["demo", str(a), "--home", str(b), "--no-open", "--traces", "200"]) == 1
    assert "two folders" in one_error(capsys.readouterr().err)
    assert not a.exists() and not b.exists()


# ------------------------------------------------------------------- optimize advice


def test_failed_optimize_gives_no_export_advice(home: Path, capsys) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert main(["optimize", "--home", str(home), "--trials", "2",
                 "--backend", f"http://127.0.0.1:{port}/v1", "--model", "m"]) == 1  # fmt: skip
    out, err = capsys.readouterr()
    assert "export-best" not in out and "export-best" not in err
    assert "frontier: 0 of 0 trials" in out
    assert "nothing to export: the run failed before any trial finished" in out
    assert "unreachable" in one_error(err)


def test_completed_optimize_still_gives_export_advice(home: Path, capsys) -> None:
    assert main(["optimize", "--home", str(home), "--trials", "3", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "export: jarvis-tui export-best " in out and "nothing to export" not in out


# ----------------------------------------------------------------- broken traces.db


@pytest.mark.parametrize(
    "command",
    [
        ["export-labels", "x.jsonl"],
        ["versions", "a"],
        ["learn"],
        ["train"],
        ["eval"],
        ["optimize", "--trials", "1"],
    ],  # fmt: skip
)
def test_traces_db_that_is_a_directory_is_named_so(command: list[str], tmp_path, capsys) -> None:
    (tmp_path / "traces.db").mkdir()
    assert main([*command, "--home", str(tmp_path)]) == 1
    line = one_error(capsys.readouterr().err)
    assert f"{tmp_path / 'traces.db'} is a directory" in line
    assert "no trace store" not in line


def test_demo_into_a_folder_whose_traces_db_is_a_directory_is_refused(
    tmp_path: Path, capsys
) -> None:
    (tmp_path / "traces.db").mkdir()
    for force in ([], ["--force"]):
        assert main(["demo", str(tmp_path), "--no-open", *force]) == 1
        err = capsys.readouterr().err
        assert "is a directory, not a trace database" in one_error(err)
        assert "Reusing" not in err
    assert (tmp_path / "traces.db").is_dir()


def test_traces_db_that_is_not_sqlite_is_named_so(tmp_path: Path, capsys) -> None:
    (tmp_path / "traces.db").write_text("hello\n")
    assert main(["versions", "a", "--home", str(tmp_path)]) == 1
    assert "is not an SQLite database" in one_error(capsys.readouterr().err)


def test_traces_db_dangling_link_is_named_so(tmp_path: Path, capsys) -> None:
    os.symlink(tmp_path / "gone.db", tmp_path / "traces.db")
    assert main(["learn", "--home", str(tmp_path)]) == 1
    assert "symbolic link to nothing" in one_error(capsys.readouterr().err)


def test_missing_traces_db_still_says_no_trace_store(tmp_path: Path, capsys) -> None:
    assert main(["learn", "--home", str(tmp_path)]) == 1
    assert "no trace store at" in one_error(capsys.readouterr().err)


# ------------------------------------------------------------------ export path rule


def test_export_rule_refuses_a_missing_folder_outside_the_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    with pytest.raises(ExportPathError, match="does not exist: create it first"):
        check_export_path(tmp_path / "nope" / "dir" / "x.toml", workspace=ws)
    assert not (tmp_path / "nope").exists()
    # inside the workspace its own folders are made; --parents makes them anywhere
    assert check_export_path(ws / "recipes" / "x.toml", workspace=ws) == ws / "recipes" / "x.toml"
    check_export_path(tmp_path / "nope" / "x.toml", workspace=ws, parents=True)
    link = tmp_path / "link.toml"
    link.symlink_to(tmp_path / "elsewhere.toml")
    with pytest.raises(ExportPathError, match="symbolic link"):
        check_export_path(link, workspace=ws, parents=True)


def test_export_best_follows_the_rule(home: Path, tmp_path: Path, capsys) -> None:
    assert main(["optimize", "--home", str(home), "--trials", "3", "--seed", "1", "--json"]) == 0
    import json

    run_id = json.loads(capsys.readouterr().out)["run_id"]
    outside = tmp_path / "nonexistent" / "dir" / "x.toml"
    assert main(["export-best", run_id, str(outside), "--home", str(home)]) == 1
    line = one_error(capsys.readouterr().err)
    assert "does not exist: create it first (or pass --parents" in line
    assert not (tmp_path / "nonexistent").exists()
    # a folder of the workspace is made for you, as the Trials pane's default does
    inside = home / "recipes" / "best.toml"
    assert main(["export-best", run_id, str(inside), "--home", str(home)]) == 0
    assert inside.is_file()
