"""Regenerate every ``screenshots/*.svg`` from the demo workspace (fixed size and seed).

Run: ``python scripts/screenshots.py``. Builds the demo with ``jarvis-tui demo`` itself
(its defaults: 20,000 traces, seed 7) in a temporary directory, with the clock pinned,
and shoots it at 120×40 in UTC, so the pictures only change when the app does.
``python scripts/screenshots.py trials`` shoots only the named panes' pictures
(``traces``, ``routing``, ``configs``, ``training``, ``trials``). The user's own
settings are not read (empty XDG folders, as for the tests and benchmarks).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["TZ"] = "UTC"
time.tzset()

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Importing it points XDG_CONFIG_HOME / XDG_STATE_HOME at empty folders: a theme of the
# developer's own (~/.config/jarvis-tui) must not show in the README's pictures.
import bench.common  # noqa: E402, F401
from jarvis_tui.ui.app import JarvisApp  # noqa: E402
from jarvis_tui.ui.testing import settle, wait_until  # noqa: E402

SIZE = (120, 40)
OUT = ROOT / "screenshots"


SECTIONS = ("traces", "routing", "configs", "training", "trials")


async def shoot(home: Path, only: set[str] | None = None) -> list[Path]:
    written = []
    want = set(SECTIONS) if not only else set(only)
    app = JarvisApp(home)
    async with app.run_test(size=SIZE) as pilot:
        app.sub_title = "demo workspace"
        await settle(app, pilot)
        if "traces" in want:
            await _traces(app, pilot, written)
        if "routing" in want:
            await _routing(app, pilot, written)
        if "configs" in want:
            await _configs(app, pilot, written)
        if "training" in want:
            await _training(app, pilot, written)
        if "trials" in want:
            await _trials(app, pilot, written)
    return written


async def _traces(app: JarvisApp, pilot, written: list[Path]) -> None:
    # Label a few traces so the picture shows scores, outcomes and the meter.
    for key in ("down", "7", "y", "9", "n", "3"):
        await pilot.press(key)
    await settle(app, pilot)
    written.append(Path(app.save_screenshot("traces.svg", str(OUT))))
    await pilot.press("slash")
    await pilot.press(*"python")
    await pilot.press("enter")
    await settle(app, pilot)
    written.append(Path(app.save_screenshot("traces-search.svg", str(OUT))))
    await pilot.press("question_mark")
    await pilot.pause()
    written.append(Path(app.save_screenshot("help.svg", str(OUT))))
    await pilot.press("escape")


async def _routing(app: JarvisApp, pilot, written: list[Path]) -> None:
    await pilot.press("R")
    await settle(app, pilot)
    await pilot.press("slash")
    await pilot.press(*"why does my `import pandas` fail?")
    await settle(app, pilot)
    written.append(Path(app.save_screenshot("routing.svg", str(OUT))))
    await pilot.press("escape")


async def _configs(app: JarvisApp, pilot, written: list[Path]) -> None:
    await pilot.press("C")
    await settle(app, pilot)
    app.query_one("#configs-agents").move_cursor(row=1)  # react: the longest history
    await settle(app, pilot)
    versions = app.query_one("#configs-versions")
    versions.focus()
    versions.move_cursor(row=versions.row_count - 1)
    await settle(app, pilot)
    written.append(Path(app.save_screenshot("configs.svg", str(OUT))))


async def _training(app: JarvisApp, pilot, written: list[Path]) -> None:
    await pilot.press("L")
    await settle(app, pilot)
    pane = app.query_one("TrainingPane")
    for key, value in {"max_pairs": "400", "num_epochs": "3", "max_seq_length": "256",
                       "eval_fraction": "0.1", "learning_rate": "0.002"}.items():  # fmt: skip
        pane.query_one(f"#f-{key}").value = value
    await pilot.press("s")
    await settle(app, pilot, rounds=8)
    pane._follow()
    await settle(app, pilot)
    pane._last_plot = 0.0
    pane._plot()
    await settle(app, pilot)  # the charts are drawn in a worker
    written.append(Path(app.save_screenshot("training.svg", str(OUT))))
    await pilot.press("x")
    await settle(app, pilot, rounds=4)
    # The cancelled run's summary (enter on it): its settings, fast path and folders.
    app.query_one("#training-runs").focus()
    await pilot.press("enter")
    await settle(app, pilot)
    written.append(Path(app.save_screenshot("training-run.svg", str(OUT))))
    await pilot.press("escape")
    await settle(app, pilot)


async def _trials(app: JarvisApp, pilot, written: list[Path]) -> None:
    # Trials: the demo's finished run, a frontier member selected.
    await pilot.press("P")
    await settle(app, pilot)
    for key in ("h", "l", "l"):
        await pilot.press(key)
    await settle(app, pilot)
    written.append(Path(app.save_screenshot("trials.svg", str(OUT))))
    # Steering: a bound, review mode, and a proposal waiting for a decision.
    trials = app.query_one("TrialsPane")
    await pilot.press("B")
    await pilot.pause()
    app.screen.query_one("Input").value = "latency <= 6s"
    await pilot.press("enter")
    await pilot.press("v", "s")
    await pilot.pause()
    # The start form: 30 trials, patience 30 (a field each; "30 30" in the trials
    # field, from the one-line prompt the form replaced, was refused, and the
    # script waited for a proposal that never came).
    app.screen.query_one("#field-0").value = "30"
    app.screen.query_one("#field-1").value = "30"
    await pilot.press("enter")
    seen = None
    for _ in range(7):
        await wait_until(
            pilot, lambda s=seen: trials.pending is not None and trials.pending[0] is not s,
            what="the next proposal",
        )  # fmt: skip
        seen = trials.pending[0]
        if len(trials.view.trials) < 6:
            await pilot.press("y")
    await settle(app, pilot, ignore=("trials.run",))
    written.append(Path(app.save_screenshot("trials-review.svg", str(OUT))))


def build_like_the_cli(home: Path) -> None:
    """Exactly what ``jarvis-tui demo DIR`` builds (the command itself, its defaults),
    with the clock pinned so the traces' and config versions' times do not move."""
    from unittest import mock

    from jarvis_tui.cli import main as cli_main
    from jarvis_tui.demo import PINNED_NOW

    with mock.patch("time.time", lambda: PINNED_NOW):
        code = cli_main(["demo", str(home), "--no-open"])
    if code:
        raise SystemExit(code)


def main(argv: list[str] | None = None) -> int:
    only = set(sys.argv[1:] if argv is None else argv)
    unknown = only - set(SECTIONS)
    if unknown:
        print(f"unknown section(s): {', '.join(sorted(unknown))} (known: {', '.join(SECTIONS)})",
              file=sys.stderr)  # fmt: skip
        return 2
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "demo"
        build_like_the_cli(home)
        for path in asyncio.run(shoot(home, only)):
            print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
