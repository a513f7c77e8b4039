"""A second process writing while we label; several threads sharing one store."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

from jarvis_tui.core.types import StepType, Trace, TraceStep
from jarvis_tui.traces.store import TraceFilter, TraceStore

WRITER_TRACES = 3_000
LABELLED = 200


def _writer(path: str, n: int, ready, go) -> None:
    """Child process: an assistant writing *n* traces through its own store."""
    store = TraceStore(path)
    ready.set()
    go.wait(30)
    traces = (
        Trace(
            trace_id=f"child-{i:05d}",
            query=f"child question {i}",
            agent="react",
            model="m",
            started_at=2_000_000_000.0 + i,
            total_latency_seconds=0.5,
            steps=[TraceStep(StepType.RESPOND, 2_000_000_000.0 + i, 0.1, {}, {"c": i})],
        )
        for i in range(n)
    )
    saved = store.save_many(traces, batch_size=50)
    store.close()
    if saved != n:
        raise SystemExit(f"saved {saved} of {n}")


def test_other_process_writes_while_we_label(tmp_path, make_trace):
    path = tmp_path / "traces.db"
    store = TraceStore(path)
    store.save_many(make_trace(i, n_steps=1) for i in range(LABELLED))
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_writer, args=(str(path), WRITER_TRACES, ready, go))
    proc.start()
    passes = 0
    try:
        assert ready.wait(60), "writer process did not start"
        go.set()
        # Label all traces, again and again while the writer is still writing, so
        # the two really overlap; the last pass decides the expected values.
        while passes == 0 or (proc.is_alive() and passes < 50):
            for i in range(LABELLED):
                store.set_label(
                    f"t{i:05d}", feedback=((i + passes) % 11) / 10, outcome="success", note=f"n{i}"
                )
                if i % 20 == 0:
                    store.sync()
                    store.page(TraceFilter(agent="react"), limit=50)
            passes += 1
        proc.join(120)
        assert proc.exitcode == 0
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()
    store.sync()
    assert store.count() == LABELLED + WRITER_TRACES
    assert store.count_filtered(TraceFilter(labelled=True)) == (LABELLED, LABELLED)
    assert store.count_filtered(TraceFilter(agent="react"))[0] == WRITER_TRACES
    for i in range(LABELLED):
        t = store.get(f"t{i:05d}")
        assert (t.feedback, t.outcome) == (((i + passes - 1) % 11) / 10, "success")
        assert store.note(t.trace_id) == f"n{i}"
        history = store.label_history(t.trace_id)
        # feedback changed in every pass, the outcome once, the note was set every pass
        assert [h.field for h in history].count("feedback") == passes
        assert [h.field for h in history].count("outcome") == 1
        assert [h.field for h in history].count("note") == passes
        assert [h.new_value for h in history if h.field == "feedback"][-1] == t.feedback
    assert len(store.get("child-02999").steps) == 1
    store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM traces").fetchone()[0] == 3_200
        assert conn.execute("SELECT count(*) FROM jt_rows").fetchone()[0] == 3_200
        assert conn.execute("SELECT count(*) FROM trace_steps").fetchone()[0] == 3_200
        assert conn.execute("SELECT count(*) FROM jt_label_history").fetchone()[0] == LABELLED * (
            2 * passes + 1
        )
    finally:
        conn.close()


def _hammer(store: TraceStore, n: int, rounds: int = 3) -> list[BaseException]:
    """Two labelling threads (disjoint traces) and two reading threads at once."""
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def labeller(parity: int) -> None:
        try:
            start.wait()
            for r in range(rounds):
                for i in range(parity, n, 2):
                    store.set_label(f"t{i:05d}", feedback=0.5 if r % 2 else 1.0)
                    if i % 10 == parity:
                        store.set_label(f"t{i:05d}", note=f"r{r}")
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised by the test
            errors.append(exc)

    def reader() -> None:
        try:
            start.wait()
            for k in range(rounds * 40):
                store.page(TraceFilter(labelled=bool(k % 2)), sort="score", limit=25)
                store.count_filtered(TraceFilter(outcome="unknown"))
                store.get(f"t{k % n:05d}")
                store.search("question")
                store.change_token()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [
        threading.Thread(target=labeller, args=(0,)),
        threading.Thread(target=labeller, args=(1,)),
        threading.Thread(target=reader),
        threading.Thread(target=reader),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return errors


def _check_after_hammer(store: TraceStore, n: int, rounds: int) -> None:
    final = 0.5 if (rounds - 1) % 2 else 1.0
    assert store.count_filtered(TraceFilter(labelled=True)) == (n, n)
    for i in range(n):
        assert store.get(f"t{i:05d}").feedback == final
    # 3 rounds: the value changed each round, so one history entry per round
    assert len([h for h in store.label_history("t00003") if h.field == "feedback"]) == rounds


def test_threads_share_a_file_store(tmp_path: Path, make_trace):
    n, rounds = 100, 3
    with TraceStore(tmp_path / "traces.db") as store:
        store.save_many(make_trace(i, n_steps=1) for i in range(n))
        errors = _hammer(store, n, rounds)
        assert errors == []
        _check_after_hammer(store, n, rounds)


def test_threads_share_a_memory_store(make_trace):
    n, rounds = 100, 3
    with TraceStore(":memory:") as store:
        store.save_many(make_trace(i, n_steps=1) for i in range(n))
        errors = _hammer(store, n, rounds)
        assert errors == [], [repr(e) for e in errors[:3]]
        _check_after_hammer(store, n, rounds)


def test_read_only_store_sync_while_another_thread_pages(oj_copy):
    path = oj_copy("traces.db")
    errors: list[BaseException] = []
    with TraceStore(path, read_only=True) as store:
        start = threading.Barrier(3)

        def assistant_and_sync() -> None:
            conn = sqlite3.connect(path, timeout=15)
            try:
                start.wait()
                for i in range(150):
                    with conn:  # OpenJarvis writing a trace
                        conn.execute(
                            "INSERT INTO traces (trace_id, query) VALUES (?, ?)", (f"x{i}", "hi")
                        )
                    store.sync()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                conn.close()

        def browse() -> None:
            try:
                start.wait()
                for _ in range(300):
                    store.page(limit=50)
                    store.count_filtered(TraceFilter(labelled=True))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=assistant_and_sync)] + [
            threading.Thread(target=browse) for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == [], [repr(e) for e in errors[:3]]
        assert store.count() == 450
