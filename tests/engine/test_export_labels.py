"""export-labels: every labelled trace out, each format read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.core.types import Trace
from jarvis_tui.evals.judge import JudgeScore, JudgeStore
from jarvis_tui.learning.export_labels import export_labels, read_back
from jarvis_tui.traces.store import TraceStore


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    s = TraceStore(tmp_path / "traces.db")
    s.save_many(
        Trace(
            trace_id=f"t{i}",
            query=f"q [bold]{i}[/]\x1b[31m",
            result=f"answer {i}",
            agent="simple",
            model="m",
            started_at=1_700_000_000.0 + i,
        )  # fmt: skip
        for i in range(5)
    )
    s.set_label("t1", feedback=0.9)
    s.set_label("t1", feedback=0.8, note="second thoughts")
    s.set_label("t2", outcome="failure")
    with JudgeStore(s.path) as js:
        js.save([JudgeScore("t1", 0.75, "fine", "judge", "abc", 1.0)])
    s.close()
    return tmp_path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_round_trip(home: Path, fmt: str) -> None:
    out = home / f"labels.{fmt}"
    assert main(["export-labels", "--home", str(home), "--format", fmt, "--with-judge",
                 str(out)]) == 0  # fmt: skip
    rows = read_back(out, fmt)
    assert [r["trace_id"] for r in rows] == ["t1", "t2"]
    t1 = rows[0]
    assert t1["query"] == "q [bold]1[/]\x1b[31m" and t1["note"] == "second thoughts"
    assert float(t1["feedback"]) == 0.8 and float(t1["judge_score"]) == 0.75
    hist = t1["label_history"]
    hist = json.loads(hist) if isinstance(hist, str) else hist
    assert [json.loads(h["new"]) if fmt == "parquet" else h["new"] for h in hist
            if h["field"] == "feedback"] == [0.9, 0.8]  # fmt: skip
    assert rows[1]["outcome"] == "failure"
    assert (out.stat().st_mode & 0o777) == 0o600
    assert not [p for p in home.iterdir() if p.name.endswith(".tmp")]


def test_hf_dataset(home: Path, capsys) -> None:
    out = home / "sft"
    assert main(["export-labels", "--home", str(home), "--format", "hf", str(out)]) == 0
    rows = read_back(out, "hf")
    assert rows == [{"input": "q [bold]1[/]\x1b[31m", "output": "answer 1",
                     "query_class": rows[0]["query_class"], "model": "m", "feedback": 0.8}]  # fmt: skip
    assert "wrote 1 SFT pairs" in capsys.readouterr().out
    assert main(["export-labels", "--home", str(home), "--format", "hf", str(out)]) == 1


def test_bad_targets(home: Path, capsys) -> None:
    assert main(["export-labels", "--home", str(home), str(home)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a directory" in err[0]
    blocker = home / "file"
    blocker.write_text("x")
    assert main(["export-labels", "--home", str(home), str(blocker / "out.jsonl")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]


def test_symlink_replaced_not_followed(home: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = home / "out.jsonl"
    link.symlink_to(victim)
    store = TraceStore(home / "traces.db")
    try:
        assert export_labels(store, link) == 2
    finally:
        store.close()
    assert victim.read_text() == "keep me" and not link.is_symlink()
