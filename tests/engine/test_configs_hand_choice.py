"""A version a person chose, and the evidence since: one rule for the learning cycle and
the Configs pane's proposals; ``versions`` says each thin version's evidence once."""

from __future__ import annotations

import time
from pathlib import Path

from jarvis_tui.cli import main
from jarvis_tui.configs.versions import VersionStore
from jarvis_tui.core.types import Trace
from jarvis_tui.learning.learning_orchestrator import LearningOrchestrator, hand_choice
from jarvis_tui.paths import Workspace
from jarvis_tui.traces.store import TraceStore

AGENT = "helper"


def _toml(turns: int) -> tuple[bytes, str]:
    return f'[agent]\nname = "{AGENT}"\nmax_turns = {turns}\n'.encode(), f"max_turns {turns}"


def _rated(store: TraceStore, tag: str, n: int) -> None:
    """*n* rated traces started now, served by the current version (the next version is
    written after every one of them started)."""
    at = time.time()
    store.save_many(
        Trace(trace_id=f"{tag}-{i:03d}", query=f"question {i}", agent=AGENT, model="m",
              result="answer", feedback=0.8, outcome="success", started_at=at + i * 1e-4)
        for i in range(n)
    )  # fmt: skip
    while time.time() <= at + n * 1e-4:  # not a timing: the clock must pass the last start
        time.sleep(0.001)


def test_versions_says_a_thin_version_once(tmp_path: Path, capsys) -> None:
    """Two versions in a row without ratings (a rollback, then an evolver write over it):
    each is named once; the line for v2 was printed twice (v2 against v1, v3 against v2)."""
    ws = Workspace(tmp_path)
    store = TraceStore(ws.traces_db)
    versions = VersionStore(ws.agents_dir)
    versions.write_version(AGENT, lambda _c: _toml(4), cause="manual")
    _rated(store, "a", 40)
    store.close()
    versions.write_version(AGENT, lambda _c: _toml(8), cause="rollback")
    versions.write_version(AGENT, lambda _c: _toml(9), cause="evolver")
    assert main(["versions", AGENT, "--home", str(tmp_path)]) == 0
    lines = [x.strip() for x in capsys.readouterr().out.splitlines()]
    thin = [x for x in lines if x.startswith("not enough evidence")]
    assert thin == [
        "not enough evidence: 0 rated traces on v2 (need 30)",
        "not enough evidence: 0 rated traces on v3 (need 30)",
    ]


def test_versions_help_says_percent_once(capsys) -> None:
    try:
        main(["versions", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    assert "95% interval" in " ".join(out.split()) and "%%" not in out


def test_hand_choice_is_the_cycles_rule(tmp_path: Path) -> None:
    """The cycle keeps a fresh rollback in the words the Configs pane shows over a
    proposal, from the same HandChoice; with the minimum of ratings since, neither keeps it."""
    ws = Workspace(tmp_path)
    store = TraceStore(ws.traces_db)
    versions = VersionStore(ws.agents_dir)
    versions.write_version(AGENT, lambda _c: _toml(4), cause="manual")
    _rated(store, "a", 40)
    versions.write_version(AGENT, lambda _c: _toml(8), cause="rollback")
    listed = versions.list_versions(AGENT)
    choice = hand_choice(store, AGENT, listed)
    assert choice is not None and choice.held and choice.version == 2
    assert choice.proposal_line() == (
        "version 2 is a rollback by hand, 0 ratings since it was written "
        "(the cycle keeps it until 30)"
    )
    assert choice.kept_line() == (
        "kept version 2 (rollback): 0 ratings since it was written, under the evidence "
        "minimum of 30"
    )
    cycle = LearningOrchestrator(trace_store=store, config_dir=ws.agents_dir, eval_fn=None)
    result = cycle.run(agent_id=AGENT)
    assert result["configs_kept"] == [(AGENT, 2, choice.kept_line())]
    assert len(versions.list_versions(AGENT)) == 2

    _rated(store, "b", 30)
    later = hand_choice(store, AGENT, listed)
    assert later is not None and not later.held and later.rated == 30
    assert "a cycle writes over it too" in later.proposal_line()
    result = cycle.run(agent_id=AGENT)
    assert result["configs_kept"] == [] and result["configs_written"] == [(AGENT, 3)]
    assert hand_choice(store, AGENT, versions.list_versions(AGENT)) is None
    store.close()


def test_learn_says_the_keys_each_written_version_changed(tmp_path: Path, capsys) -> None:
    """W3 18: 'wrote agents/helper.toml (version 2)' said nothing of what changed; the
    keys follow it, as the Routing pane's cycle report lists them."""
    ws = Workspace(tmp_path)
    store = TraceStore(ws.traces_db)
    versions = VersionStore(ws.agents_dir)
    versions.write_version(AGENT, lambda _c: _toml(8), cause="evolver")
    _rated(store, "a", 40)
    store.close()
    assert main(["learn", "--home", str(tmp_path), "--agent", AGENT]) == 0
    out = capsys.readouterr().out.splitlines()
    at = out.index("  wrote agents/helper.toml (version 2)")
    assert "    ~ agent.max_turns: 8 → 5" in out[at + 1 : at + 4]
