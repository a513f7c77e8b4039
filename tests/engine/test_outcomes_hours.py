"""Version outcomes from the store's hour totals (whole hours inside a version, rows
at its edges) equal the direct grouped query, after any saves, labels (ours and
OpenJarvis's) and deletes, for any version starts."""

from __future__ import annotations

import math
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from jarvis_tui.learning import outcomes as oc
from jarvis_tui.learning.outcomes import VersionSpan, outcomes_for_spans
from jarvis_tui.traces import TraceStore
from tests.engine.conftest import build_trace

T0 = 1_700_000_000.0
HOUR = 3600.0
SCORES = [None, 0.0, 0.4, 0.7, 1.0]
OUTCOMES = [None, "success", "failure"]

_trace = st.tuples(
    st.floats(0, 30 * HOUR), st.sampled_from(["simple", "react"]), st.integers(0, 4),
    st.integers(0, 2), st.floats(0.1, 9.0),
)  # fmt: skip
_op = st.one_of(
    st.tuples(st.just("save"), st.lists(_trace, min_size=1, max_size=12)),
    st.tuples(st.just("label"), st.integers(0, 500), st.integers(0, 4), st.integers(0, 2)),
    st.tuples(st.just("oj_update"), st.integers(0, 500), st.integers(0, 4), st.integers(0, 2)),
    st.tuples(st.just("delete"), st.integers(0, 500)),
)


def _snapshot(out):
    rows = []
    for v in [*out.versions, out.prior]:
        if v is None:
            rows.append(None)
            continue
        rows.append((v.version, v.traces, v.rated, round(v.feedback.mean, 9) if v.rated else None,
                     v.success, v.failure, v.first_trace_at, v.last_trace_at,
                     None if v.mean_latency_seconds is None else round(v.mean_latency_seconds, 9)))  # fmt: skip
    series = [(p.traces, p.rated, None if p.mean_feedback is None else round(p.mean_feedback, 9),
               p.version) for p in out.series]  # fmt: skip
    return rows, series, out.total_traces


@settings(max_examples=40, deadline=None)
@given(
    ops=st.lists(_op, min_size=1, max_size=12),
    starts=st.lists(st.floats(-HOUR, 31 * HOUR), min_size=1, max_size=8),
    on_hour=st.booleans(),
)
def test_hour_totals_give_the_direct_query_result(ops, starts, on_hour):
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "traces.db"
        store = TraceStore(db)
        oj = sqlite3.connect(db, timeout=5)
        try:
            n = 0
            for op in ops:
                ids = [r[0] for r in oj.execute("SELECT trace_id FROM traces ORDER BY id")]
                if op[0] == "save":
                    batch = []
                    for dt, agent, fb, out, lat in op[1]:
                        batch.append(build_trace(
                            n, started_at=T0 + dt, agent=agent, feedback=SCORES[fb],
                            outcome=OUTCOMES[out], total_latency_seconds=lat))  # fmt: skip
                        n += 1
                    store.save_many(batch)
                elif op[0] == "label" and ids:
                    store.set_label(ids[op[1] % len(ids)], feedback=SCORES[op[2]],
                                    outcome=OUTCOMES[op[3]])  # fmt: skip
                elif op[0] == "oj_update" and ids:
                    oj.execute(
                        "UPDATE traces SET feedback = ?, outcome = ? WHERE trace_id = ?",
                        (SCORES[op[2]], OUTCOMES[op[3]], ids[op[1] % len(ids)]),
                    )
                    oj.commit()
                elif op[0] == "delete" and ids:
                    oj.execute(
                        "DELETE FROM jt_rows WHERE id = (SELECT id FROM traces WHERE trace_id = ?)",
                        (ids[op[1] % len(ids)],),
                    )
                    oj.commit()
            # starts on whole hours too: a version that begins exactly at an hour
            cut = sorted(T0 + (math.floor(x / HOUR) * HOUR if on_hour else x) for x in starts)
            spans = [VersionSpan(i + 1, "evolver", start=t) for i, t in enumerate(cut)]
            for agent in ("simple", "react"):
                got = outcomes_for_spans(store, agent, spans, use_metadata=False)
                try:
                    oc.USE_HOUR_TOTALS = False
                    want = outcomes_for_spans(store, agent, spans, use_metadata=False)
                finally:
                    oc.USE_HOUR_TOTALS = True
                assert _snapshot(got) == _snapshot(want)
        finally:
            oj.close()
            store.close()


def test_the_hour_path_reads_the_totals(tmp_path, monkeypatch):
    """Proof the bucketed path is the one taken: with the hour totals altered, the
    whole hours inside a version (not its edges) show the change."""
    with TraceStore(tmp_path / "traces.db") as s:
        s.save_many([build_trace(i, started_at=T0 + i * 4 * HOUR) for i in range(60)])
        spans = [VersionSpan(1, "evolver", start=T0 - 1.0)]
        before = outcomes_for_spans(s, "simple", spans, use_metadata=False).versions[0].traces
        conn = sqlite3.connect(tmp_path / "traces.db")
        conn.execute(
            "UPDATE jt_hour SET n = n + 100 WHERE hour = ?", (int((T0 + 120 * HOUR) // HOUR),)
        )
        conn.commit()
        conn.close()
        after = outcomes_for_spans(s, "simple", spans, use_metadata=False).versions[0].traces
        assert (before, after) == (60, 160)
