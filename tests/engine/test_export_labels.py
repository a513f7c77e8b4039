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
                     "query_class": rows[0]["query_class"], "model": "m", "feedback": 0.8,
                     "split": "train"}]  # fmt: skip
    assert "wrote 1 SFT pair (1 train · 0 held out, split test)" in capsys.readouterr().out
    assert main(["export-labels", "--home", str(home), "--format", "hf", str(out)]) == 1


def test_bad_targets(home: Path, capsys) -> None:
    assert main(["export-labels", "--home", str(home), str(home)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a directory" in err[0]
    blocker = home / "file"
    blocker.write_text("x")
    assert main(["export-labels", "--home", str(home), str(blocker / "out.jsonl")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{blocker} is not a folder" in err[0]


def test_symlink_refused_not_followed(home: Path, tmp_path: Path) -> None:
    """A link is refused as the forms refuse it (walkthrough 65: it was silently
    replaced by a regular file); the link and what it points to stay as they were."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = home / "out.jsonl"
    link.symlink_to(victim)
    store = TraceStore(home / "traces.db")
    try:
        with pytest.raises(ValueError, match="is a symbolic link: give another path"):
            export_labels(store, link)
    finally:
        store.close()
    assert victim.read_text() == "keep me" and link.is_symlink()


@pytest.fixture()
def many(tmp_path: Path) -> Path:
    """80 well-rated traces with distinct queries: some land on the held-out side."""
    s = TraceStore(tmp_path / "traces.db")
    s.save_many(
        Trace(
            trace_id=f"m{i}",
            query=f"how do I sort list number {i}?",
            result=f"use sorted() {i}",
            agent="simple",
            model="m",
            started_at=1_700_000_000.0 + i,
        )  # fmt: skip
        for i in range(80)
    )
    for i in range(80):
        s.set_label(f"m{i}", feedback=0.9)
    s.close()
    return tmp_path


def test_hf_dataset_keeps_the_held_out_pairs_apart(many: Path, capsys) -> None:
    """The same split as training: ``train`` is exactly what a run may train on, ``test``
    the held-out pairs; no progress bars on stderr; the split recorded beside them."""
    datasets = pytest.importorskip("datasets")
    from jarvis_tui.evals.heldout import read_split, training_pairs
    from jarvis_tui.evals.sets import EvalSplit
    from jarvis_tui.learning.training.data import TrainingDataMiner

    out = many / "sft"
    assert main(["export-labels", "--home", str(many), "--format", "hf", str(out)]) == 0
    dd = datasets.load_from_disk(str(out))
    assert set(dd) == {"train", "test"}
    store = TraceStore(many / "traces.db")
    try:
        trainable, held = training_pairs(
            TrainingDataMiner(store).iter_sft_pairs(), EvalSplit(), 10**6
        )
    finally:
        store.close()
    assert 0 < held < 80 and dd["test"].num_rows == held
    assert sorted(dd["train"]["input"]) == sorted(p["input"] for p in trainable)
    assert all(EvalSplit().is_held_out(q) for q in dd["test"]["input"])
    assert not set(dd["train"]["input"]) & set(dd["test"]["input"])
    assert read_split(out) == EvalSplit()
    cap = capsys.readouterr()
    assert f"wrote 80 SFT pairs ({80 - held} train · {held} held out, split test)" in cap.out
    assert cap.err == ""  # the datasets library's progress bars are silenced


def test_split_column_marks_the_held_out_traces(many: Path, capsys) -> None:
    from jarvis_tui.evals.sets import EvalSplit

    out = many / "labels.jsonl"
    assert main(["export-labels", "--home", str(many), str(out)]) == 0
    rows = read_back(out, "jsonl")
    assert {r["split"] for r in rows} == {"train", "test"}
    assert all((r["split"] == "test") == EvalSplit().is_held_out(r["query"]) for r in rows)
    held = sum(r["split"] == "test" for r in rows)
    assert f"wrote 80 labelled traces ({held} held out: split column)" in capsys.readouterr().out


def test_csv_cells_a_spreadsheet_would_run_are_written_as_text(tmp_path: Path) -> None:
    """W3 39: a query `=HYPERLINK(...)` and a result `+1+1` were written as they are
    (a live formula in a spreadsheet), and a NUL raw; jsonl keeps the text unchanged."""
    with TraceStore(tmp_path / "traces.db") as s:
        s.save_many([
            Trace(trace_id="f1", query='=HYPERLINK("http://evil","click")', result="+1+1",
                  agent="@a", model="-m", started_at=1_700_000_000.0),
            Trace(trace_id="f2", query="nul before\x00after", result="plain -1",
                  agent="simple", model="m", started_at=1_700_000_001.0),
        ])  # fmt: skip
        s.set_label("f1", feedback=0.5)
        s.set_label("f2", feedback=0.5)
    out = tmp_path / "labels.csv"
    assert main(["export-labels", "--home", str(tmp_path), "--format", "csv", str(out)]) == 0
    assert b"\x00" not in out.read_bytes()
    rows = {r["trace_id"]: r for r in read_back(out, "csv")}
    assert rows["f1"]["query"] == '\'=HYPERLINK("http://evil","click")'
    assert rows["f1"]["result"] == "'+1+1" and rows["f1"]["agent"] == "'@a"
    assert rows["f1"]["model"] == "'-m"
    assert rows["f2"]["query"] == "nul before\u2400after" and rows["f2"]["result"] == "plain -1"
    out = tmp_path / "labels.jsonl"
    assert main(["export-labels", "--home", str(tmp_path), str(out)]) == 0
    rows = {r["trace_id"]: r for r in read_back(out, "jsonl")}
    assert rows["f1"]["query"].startswith("=HYPERLINK") and "\x00" in rows["f2"]["query"]
