"""The learning cycle's eval gate, measured: accepted means measured better.

The gate answers the same held-out set before and after the cycle through a local
OpenAI-compatible server. The server is scripted to answer worse before than after (or
the same both times), so the cycle must be accepted (or rejected with the reason).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.demo import build_demo
from jarvis_tui.evals import build_eval_set
from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.learning.learning_orchestrator import LearningOrchestrator
from jarvis_tui.traces.store import TraceStore

SAMPLES = 8


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("gate") / "ws", traces=1200, seed=4,
                      optimize=False)  # fmt: skip


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "ws"
    shutil.copytree(template, dst)
    return dst


def refs_of(home: Path) -> dict[str, str]:
    store = TraceStore(home / "traces.db")
    try:
        return {s.query: s.reference for s in build_eval_set(store, samples=SAMPLES).samples}
    finally:
        store.close()


def improving_server(refs: dict[str, str], improve: bool) -> ChatServer:
    """Answers noise for the first SAMPLES calls, then the references (when *improve*)."""
    calls = {"n": 0}
    lock = threading.Lock()

    def answer(user: str, system: str) -> str:
        with lock:
            calls["n"] += 1
            before = calls["n"] <= SAMPLES
        return "no idea" if before or not improve else refs.get(user, "")

    return ChatServer({"m": answer})


@pytest.mark.parametrize("improve", [True, False], ids=["measured-better", "no-better"])
def test_learn_gate_accepts_only_a_measured_improvement(home, capsys, improve) -> None:
    with improving_server(refs_of(home), improve) as srv:
        argv = ["learn", "--home", str(home), "--json", "--eval-backend", srv.url,
                "--eval-model", "m", "--samples", str(SAMPLES), "--concurrency", "1"]  # fmt: skip
        assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["baseline_score"] < 0.2
    if improve:
        assert result["post_score"] > 0.9 and result["accepted"] is True
    else:
        assert result["accepted"] is False and "below threshold" in result["reason"]


def test_orchestrator_uses_the_configured_backend_by_default(home, monkeypatch) -> None:
    with improving_server(refs_of(home), True) as srv:
        monkeypatch.setenv("JARVIS_TUI_EVAL_URL", srv.url)
        monkeypatch.setenv("JARVIS_TUI_EVAL_MODEL", "m")
        store = TraceStore(home / "traces.db")
        try:
            orch = LearningOrchestrator(trace_store=store, config_dir=home / "agents")
            result = orch.run()
        finally:
            store.close()
    assert "baseline_score" in result and result["accepted"] is True


def test_no_backend_configured_means_no_gate(home, monkeypatch) -> None:
    for var in ("JARVIS_TUI_EVAL_URL", "JARVIS_TUI_EVAL_MODEL", "JARVIS_TUI_EVAL_LOCAL"):
        monkeypatch.delenv(var, raising=False)
    store = TraceStore(home / "traces.db")
    try:
        result = LearningOrchestrator(trace_store=store, config_dir=home / "agents").run()
    finally:
        store.close()
    assert "baseline_score" not in result


def test_a_gate_whose_model_answers_nothing_fails_with_what_to_do(home, capsys) -> None:
    """Blank answers are errors, not a 0 → 0 "no improvement": the cycle stops, one line."""
    with ChatServer({"m": lambda u, s: "\n" * 64}) as srv:
        argv = ["learn", "--home", str(home), "--eval-backend", srv.url, "--eval-model", "m",
                "--samples", str(SAMPLES)]  # fmt: skip
        assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "eval gate: every sample failed: empty answer" in err[0]
    assert "--eval-backend URL" in err[0]


def test_the_gate_is_reported_measured(home, capsys) -> None:
    with improving_server(refs_of(home), True) as srv:
        argv = ["learn", "--home", str(home), "--json", "--eval-backend", srv.url,
                "--eval-model", "m", "--samples", str(SAMPLES), "--concurrency", "1"]  # fmt: skip
        assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["gate"] == "measured"
