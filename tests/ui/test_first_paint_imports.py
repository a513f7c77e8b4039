"""What the first paint imports (issue 15): the commands' parsers are not built to open
the app; the panes not on screen stay unimported even when the settings name a binding
id no class has (an unknown id imported all five panes to judge it, ~1.2 s before the
first paint); none of numpy, optuna, torch or plotext is imported by the first rows.
Binding ids are checked against a static table, which must list exactly the ids the
classes declare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from jarvis_tui.ui.binding_table import BINDINGS, collect

HEAVY = ("numpy", "optuna", "torch", "transformers", "peft", "plotext", "textual_plotext")
OTHER_PANES = tuple(
    f"jarvis_tui.ui.panes.{p}" for p in ("routing", "configs", "training", "trials")
)
PARSER = ("jarvis_tui.learning.training.settings", "jarvis_tui.serve")
"""What the commands' parsers import (the LoRA flags' schema, serve's defaults): not
built to open the app (~50 ms)."""

# Started as `jarvis-tui --home DIR` starts the app (jarvis_tui.cli.main: its parser,
# cli._open_app, precheck), only headless: prints what was imported once the rows are
# painted, and the notices given.
CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    import jarvis_tui.cli
    import jarvis_tui.ui.app as ui_app

    watched = json.loads(sys.argv[2])

    def run_headless(home, **_kwargs):
        assert ui_app.precheck(home) is None
        app = ui_app.JarvisApp(home)
        notices = []
        notify = app.notify
        app.notify = lambda message, **kw: (notices.append(message), notify(message, **kw))

        async def main():
            async with app.run_test(size=(120, 40)) as pilot:
                status = app.query_one("#traces-status")
                while not str(status.render()).startswith("rows "):
                    await pilot.pause(0.01)
                await pilot.pause()
                imported = [m for m in watched if m in sys.modules]
                print(json.dumps({"imported": imported, "notices": notices}))

        asyncio.run(main())
        return 0

    ui_app.run_app = run_headless
    sys.exit(jarvis_tui.cli.main(["--home", sys.argv[1]]))
    """
)


def test_an_unknown_binding_id_imports_no_pane_and_nothing_heavy_before_the_first_rows(
    workspace: Path,
) -> None:
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "jarvis-tui" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    # an id no class has, and one of a pane not built yet (known without importing it)
    config.write_text('[keymap]\n"nosuch.id" = "z"\n"configs.start" = "S"\n')
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(workspace), json.dumps([*HEAVY, *OTHER_PANES, *PARSER])],
        capture_output=True, text=True, timeout=300, check=True, env=env, cwd=root,
    )  # fmt: skip
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["imported"] == [], seen
    unknown = [n for n in seen["notices"] if "unknown binding id" in n]
    assert len(unknown) == 1 and "nosuch.id" in unknown[0] and "configs" not in unknown[0]


def test_the_binding_table_lists_every_binding_id_the_classes_declare() -> None:
    """A binding id added to (or changed in, or removed from) a pane, screen or widget
    must be in the table with its keys and action, else a keymap entry for it would be
    called unknown (or a collision missed)."""
    declared = collect()
    missing = sorted(set(declared) - set(BINDINGS))
    stale = sorted(set(BINDINGS) - set(declared))
    changed = sorted(k for k in set(declared) & set(BINDINGS) if declared[k] != BINDINGS[k])
    assert not (missing or stale or changed), (
        f"binding table out of date (missing {missing}, stale {stale}, changed {changed}): "
        "run python -m jarvis_tui.ui.binding_table --write"
    )
