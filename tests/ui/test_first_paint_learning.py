"""The Traces pane's first workers (judge scores beside the rows, the selected trace's
detail) read over :func:`jarvis_tui.traces.read_conn.read_connection`, not through
the learning package: importing it (~30 ms, in a worker holding the GIL) came in the
middle of the first paint (issue 15). The old public name still works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from jarvis_tui.ui.app import JarvisApp
    from jarvis_tui.ui.testing import settle

    async def main():
        app = JarvisApp(sys.argv[1])
        async with app.run_test(size=(120, 40)) as pilot:
            status = app.query_one("#traces-status")
            while not str(status.render()).startswith("rows "):
                await pilot.pause(0.01)
            await settle(app, pilot)  # the detail and the judge column read too
            learning = sorted(m for m in sys.modules if m.startswith("jarvis_tui.learning"))
            print(json.dumps({"learning": learning, "status": str(status.render())}))

    asyncio.run(main())
    """
)


def test_the_first_rows_and_their_detail_import_no_learning_module(workspace: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(workspace)],
        capture_output=True, text=True, timeout=300, check=True, env=env, cwd=root,
    )  # fmt: skip
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["status"].startswith("rows "), seen
    assert seen["learning"] == [], seen


def test_read_connection_keeps_its_public_name_in_outcomes() -> None:
    from jarvis_tui.learning import outcomes
    from jarvis_tui.traces.read_conn import read_connection

    assert outcomes.read_connection is read_connection
