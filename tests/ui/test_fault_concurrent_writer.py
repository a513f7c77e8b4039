"""Fault test: another process writes 50,000 traces while the app labels 1,000 at key speed.

The writer is paced by the labels themselves: it commits a batch of 250 traces each
time five more labels have landed, so its writes interleave with the app's for the
whole run (not just the first seconds), without any timing assumption.

No label is lost, no "database is locked" reaches the user, the new traces appear.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jarvis_tui.traces import TraceFilter, TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.testing import record_notices, settle
from tests.ui.conftest import make_traces

ROOT = Path(__file__).resolve().parents[2]
NEW = 50_000
PRESSES = 1_000
BATCH = 250
WRITER = """
import sys, time
from jarvis_tui.traces import TraceStore
from tests.ui.conftest import make_traces
db, new, batch, presses, progress = sys.argv[1:6]
new, batch, presses = int(new), int(batch), int(presses)
store = TraceStore(db)
traces = make_traces(new, seed=9, start=1_900_000_000.0)
batches = [traces[i : i + batch] for i in range(0, new, batch)]
per_batch = presses // len(batches)

def issued():
    try:
        return int(open(progress).read() or 0)
    except (OSError, ValueError):
        return 0

deadline = time.monotonic() + 600  # a hang becomes a failure, never an outcome
for i, chunk in enumerate(batches):
    while issued() < i * per_batch and time.monotonic() < deadline:
        time.sleep(0.005)  # the app's labels get ahead first
    store.save_many(chunk, batch_size=batch)
store.close()
"""


async def test_labels_survive_a_concurrent_bulk_writer(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    base = make_traces(1_500)
    for t in base:
        t.feedback = None
    store.save_many(base)
    store.close()

    app = JarvisApp(home)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        pane.show_filter(TraceFilter(labelled=False))
        await settle(app, pilot)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        progress = tmp_path / "labels-issued"  # how far the labelling is: paces the writer
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(home / "traces.db"),
                str(NEW),
                str(BATCH),
                str(PRESSES),
                str(progress),
            ],
            cwd=ROOT,
            env=env,
        )
        # The key's action, dispatched as the "5" binding does, with the screen
        # refreshed every ten labels: Pilot.press waits for the whole process to go
        # idle after each key (0.2 s), which would make this a 4-minute test.
        labelled_ids: list[str] = []
        for i in range(PRESSES):
            selected = pane.current_trace_id  # the trace this label goes to
            assert selected is not None, f"no trace selected for label {i}"
            await pane.run_action("score(0.5)")
            labelled_ids.append(selected)
            if i % 10 == 9:
                progress.write_text(str(i + 1))
                await pilot.pause()
        assert writer.wait(timeout=300) == 0
        await settle(app, pilot)
        pane.poll_store()
        await settle(app, pilot)
        messages = list(notices)
        assert not any("locked" in m or "not saved" in m for m in messages), messages
        status = str(pane.query_one("#traces-status").render())
        assert f"{1_500 + NEW:,} in store" in status  # the new traces appeared
    check = TraceStore(home / "traces.db")
    try:
        assert check.count() == 1_500 + NEW
        import sqlite3

        conn = sqlite3.connect(home / "traces.db")
        changed = [r[0] for r in conn.execute(
            "SELECT trace_id FROM jt_label_history WHERE source = 'tui' AND field = 'feedback'"
        )]  # fmt: skip
        stored = dict(conn.execute("SELECT trace_id, feedback FROM traces"))
        conn.close()
        # Every label the app took is in the store. A trace labelled twice (a page
        # re-read from disk before the first write committed shows it unlabelled) is
        # one change in the history: setting the same value again changes nothing.
        assert all(stored[t] == 0.5 for t in labelled_ids)
        assert sorted(changed) == sorted(set(labelled_ids))
        assert len(set(labelled_ids)) >= PRESSES * 0.95
    finally:
        check.close()
