"""Outcomes per agent config version: attribution, comparison, the ``versions`` command."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.configs.versions import VersionStore
from jarvis_tui.core.types import Trace
from jarvis_tui.learning.outcomes import (
    VersionSpan,
    compare_versions,
    eval_link,
    outcomes_for_spans,
    version_outcomes,
    version_spans,
)
from jarvis_tui.paths import Workspace
from jarvis_tui.traces.store import TraceStore

AGENT = "helper"


def _toml(turns: int) -> tuple[bytes, str]:
    return f'[agent]\nname = "{AGENT}"\nmax_turns = {turns}\n'.encode(), f"max_turns {turns}"


def _traces(store: TraceStore, tag: str, n: int, feedback: float, **kw) -> None:
    now = time.time()
    store.save_many(
        Trace(
            trace_id=f"{tag}-{i:03d}",
            query=f"question {i}",
            agent=kw.get("agent", AGENT),
            model="m",
            result="answer",
            feedback=None if i % 5 == 4 else round(feedback + (i % 3 - 1) * 0.05, 3),
            outcome="success" if feedback >= 0.5 else "failure",
            started_at=now + i * 1e-4,
            total_latency_seconds=kw.get("latency", 1.0),
            total_tokens=100,
            metadata=kw.get("metadata", {}),
        )
        for i in range(n)
    )
    # the next version is written after every trace of this one started
    while time.time() <= now + n * 1e-4:
        time.sleep(0.001)


@pytest.fixture()
def workspace(tmp_path: Path):
    """v1 good, v2 bad (its traces rated low), v3 good again."""
    ws = Workspace(tmp_path)
    store = TraceStore(ws.traces_db)
    versions = VersionStore(ws.agents_dir)
    for turns, tag, fb in ((4, "a", 0.8), (20, "b", 0.3), (6, "c", 0.8)):
        versions.write_version(AGENT, lambda _cur, t=turns: _toml(t), cause="manual")
        _traces(store, tag, 60, fb)
    yield ws, store, versions
    store.close()


def test_bad_version_is_found(workspace) -> None:
    ws, store, versions = workspace
    out = version_outcomes(store, versions, AGENT, workspace=ws)
    assert [v.version for v in out.versions] == [1, 2, 3]
    assert [v.traces for v in out.versions] == [60, 60, 60]
    assert [v.rated for v in out.versions] == [48, 48, 48]
    v1, v2, v3 = out.versions
    assert v2.mean_feedback == pytest.approx(0.3, abs=0.02)
    assert v1.mean_feedback > 0.7 and v3.mean_feedback > 0.7
    assert v2.failure_rate == 1.0 and v1.success_rate == 1.0
    assert v2.feedback.high < v1.feedback.low
    assert out.prior is None and out.total_traces == 180
    assert not any(v.approximate for v in out.versions)

    worse = compare_versions(v1, v2)
    assert worse.enough and worse.verdict.startswith("v2 worse than v1: -0.5")
    better = compare_versions(v2, v3)
    assert better.verdict.startswith("v3 better than v2: +0.5")
    assert better.low > 0
    same = compare_versions(v1, v3)
    assert same.verdict.startswith("no clear difference between v3 and v1")
    assert "●" not in out.sparkline() and len(out.series) == 48


def test_not_enough_evidence(workspace) -> None:
    _ws, store, versions = workspace
    out = version_outcomes(store, versions, AGENT)
    cmp = compare_versions(out.get(1), out.get(2), min_rated=50)
    assert not cmp.enough
    assert cmp.verdict == "not enough evidence: 48 rated traces on v1 (need 50)"


def test_cli_versions_json_and_rows(workspace, capsys) -> None:
    ws, _store, _versions = workspace
    assert main(["versions", AGENT, "--home", str(ws.root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    for key in ("version", "cause", "written_at", "traces", "rated", "mean_feedback",
                "ci_low", "ci_high", "mean_latency_seconds"):  # fmt: skip
        assert key in rows[0]
    assert [r["version"] for r in rows] == [1, 2, 3]
    assert rows[1]["mean_feedback"] < 0.4 < rows[0]["mean_feedback"]
    assert rows[1]["ci_high"] < rows[0]["ci_low"]

    assert main(["versions", AGENT, "--home", str(ws.root)]) == 0
    text = capsys.readouterr().out
    lines = [line for line in text.splitlines() if line.strip()]
    assert any(line.lstrip().startswith("v2") and "0.30" in line for line in lines)
    assert "v2 worse than v1" in text  # the verdict against the previous version


def test_cli_unknown_agent(workspace, capsys) -> None:
    ws, _store, _versions = workspace
    assert main(["versions", "nobody", "--home", str(ws.root)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nobody" in err[0] and AGENT in err[0]


def test_agent_with_no_traces(workspace, capsys) -> None:
    ws, store, versions = workspace
    versions.write_version("quiet", lambda _c: (b"[agent]\nmax_turns = 1\n", "x"), cause="manual")
    out = version_outcomes(store, versions, "quiet")
    assert [(v.version, v.traces, v.rated, v.mean_feedback) for v in out.versions] == [
        (1, 0, 0, None)
    ]
    assert compare_versions(out.versions[0], out.versions[0]).verdict.startswith(
        "not enough evidence: 0 rated traces"
    )
    assert main(["versions", "quiet", "--home", str(ws.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["traces"] == 0


def test_log_that_disagrees_with_file_times(workspace) -> None:
    ws, store, versions = workspace
    current = versions.config_path(AGENT)
    os.utime(current, (1_000_000_000, 1_000_000_000))  # the file claims 2001
    spans = version_spans(versions, AGENT)
    assert spans[2].approximate and "the log is used" in spans[2].why_approximate
    out = version_outcomes(store, versions, AGENT)
    assert [v.traces for v in out.versions] == [60, 60, 60]  # attribution follows the log

    # A log whose times go back (a clock reset): the version starts with the one before.
    log = versions.history_dir / f"{AGENT}.log.jsonl"
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    lines[1]["ts"] = lines[0]["ts"] - 3600
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    spans = version_spans(versions, AGENT)
    assert spans[1].start == spans[0].start and spans[1].approximate
    assert "before the version it replaced" in spans[1].why_approximate
    out = version_outcomes(store, versions, AGENT)
    assert sum(v.traces for v in out.versions) == 180  # every trace counted exactly once
    assert out.get(2).traces + out.get(1).traces == 120


def test_external_edit_placed_at_mtime(workspace) -> None:
    ws, store, versions = workspace
    path = versions.config_path(AGENT)
    t_edit = time.time()
    path.write_bytes(b'[agent]\nname = "helper"\nmax_turns = 99\n')  # a hand edit
    os.utime(path, (t_edit, t_edit))
    _traces(store, "d", 10, 0.1)
    spans = version_spans(versions, AGENT)
    assert spans[-1].cause == "external" and spans[-1].approximate
    assert spans[-1].start == pytest.approx(t_edit)
    out = version_outcomes(store, versions, AGENT)
    # the version the edit overwrote had no archive: the log still says when it began
    assert [(v.label, v.traces) for v in out.versions] == [
        ("v1", 60),
        ("v2", 60),
        ("lost", 60),
        ("v3", 10),
    ]
    assert out.get(3).cause == "external" and out.get(3).mean_feedback < 0.2


def test_metadata_names_the_version(workspace) -> None:
    ws, store, versions = workspace
    sha_v1 = versions.list_versions(AGENT)[0]["sha256"]
    # served now (after v3 was written) but by a replica still running v1
    _traces(store, "e", 10, 0.8, metadata={"config_sha256": sha_v1[:12]})
    _traces(store, "f", 5, 0.8, metadata={"config_version": 2})
    out = version_outcomes(store, versions, AGENT)
    assert [v.traces for v in out.versions] == [70, 65, 60]


def test_eval_results_linked(workspace) -> None:
    ws, store, versions = workspace
    folder = ws.root / "evals"
    folder.mkdir()
    link = eval_link(versions, AGENT, 2)
    (folder / "x.json").write_text(
        json.dumps(
            {**link, "accuracy": 0.41, "accuracy_ci": [0.3, 0.5], "scored": 20, "created_at": 1.0}
        )  # fmt: skip
    )
    (folder / "junk.json").write_text("{not json")
    out = version_outcomes(store, versions, AGENT, workspace=ws)
    assert out.get(2).eval is not None and out.get(2).eval.accuracy == 0.41
    assert out.get(1).eval is None
    assert out.get(2).to_dict()["eval"]["samples"] == 20


def test_traces_before_the_first_version(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    store = TraceStore(ws.traces_db)
    try:
        _traces(store, "p", 7, 0.6)
        spans = [VersionSpan(1, "manual", start=time.time())]
        out = outcomes_for_spans(store, AGENT, spans)
        assert out.prior is not None and out.prior.traces == 7
        assert out.versions[0].traces == 0
    finally:
        store.close()
