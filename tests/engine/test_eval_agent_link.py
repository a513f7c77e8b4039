"""`jarvis-tui eval --agent A`: generation with A's current config, the score filed
under that config version, and `jarvis-tui versions A --json` showing it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.configs.versions import VersionStore
from jarvis_tui.core.types import Trace
from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.evals.runner import EvalResult
from jarvis_tui.evals.setup import save_result
from jarvis_tui.paths import Workspace
from jarvis_tui.traces.store import TraceStore

ROWS = [
    {"query": "What is the capital of France?", "reference": "Paris is the capital.", "class": "short"},
    {"query": "Say hello", "reference": "Hello there!", "class": "short"},
]  # fmt: skip
REFS = {r["query"]: r["reference"] for r in ROWS}
PROMPT_V2 = "Answer with the reference sentence."
V1 = b'[agent]\nname = "helper"\nsystem_prompt = "Be vague."\ntemperature = 0.9\n'
V2 = (
    f'[agent]\nname = "helper"\nsystem_prompt = "{PROMPT_V2}"\ntemperature = 0.2\nmax_tokens = 40\n'
).encode()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    ws = Workspace(tmp_path / "ws")
    ws.root.mkdir()
    versions = VersionStore(ws.agents_dir)
    for content in (V1, V2):
        versions.write_version("helper", lambda _cur, c=content: (c, "config"), cause="manual")
    store = TraceStore(ws.traces_db)
    store.save_many([Trace(trace_id=f"t{i}", query="hi", agent="helper", model="m",
                           feedback=0.7, started_at=1_700_000_000.0 + i) for i in range(3)])  # fmt: skip
    store.close()
    (tmp_path / "set.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return ws.root


@pytest.fixture
def server():
    # Right only with v2's system prompt: the score says which config generated.
    with ChatServer({"m": lambda u, s: REFS.get(u, "") if s == PROMPT_V2 else "no"}) as srv:
        yield srv


def _versions(capsys, home: Path) -> list[dict]:
    assert main(["versions", "helper", "--home", str(home), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_agent_uses_its_config_and_files_the_score(home, server, capsys) -> None:
    argv = ["eval", "--home", str(home), "--backend", server.url, "--model", "m",
            "--set", str(home.parent / "set.jsonl"), "--agent", "helper", "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["accuracy"] == pytest.approx(1.0)
    assert out["agent"] == "helper" and out["agent_version"] == 2
    assert {r["temperature"] for r in server.requests} == {0.2}
    assert {r["max_tokens"] for r in server.requests} == {40}
    rows = {r["version"]: r for r in _versions(capsys, home)}
    assert rows[2]["eval"]["accuracy"] == pytest.approx(1.0)
    assert rows[2]["eval"]["samples"] == 2
    assert rows[1]["eval"] is None


def test_eval_without_agent_files_nothing(home, server, capsys) -> None:
    argv = ["eval", "--home", str(home), "--backend", server.url, "--model", "m",
            "--set", str(home.parent / "set.jsonl"), "--json"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == 0.0  # no system prompt
    assert all(r["eval"] is None for r in _versions(capsys, home))


def test_unknown_agent_is_one_line(home, server, capsys) -> None:
    argv = ["eval", "--home", str(home), "--backend", server.url, "--model", "m",
            "--set", str(home.parent / "set.jsonl"), "--agent", "nobody"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nobody" in err[0] and server.requests == []


def test_save_result_links_a_named_version(home) -> None:
    ws = Workspace(home)
    result = EvalResult(eval_set={"id": "s", "hash": "0" * 64}, generator="g", scorer={})
    path = save_result(ws, result, agent="helper", agent_version=1)
    data = json.loads(path.read_text())
    sha_v1 = VersionStore(ws.agents_dir).list_versions("helper")[0]["sha256"]
    assert (data["agent"], data["agent_version"], data["agent_config_sha256"]) == (
        "helper", 1, sha_v1,
    )  # fmt: skip
    with pytest.raises(ValueError):
        save_result(ws, result, agent_version=1)
