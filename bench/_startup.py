"""Child process for the startup figures: prints PAINTED when rows are on screen.

``python -m bench._startup HOME`` opens the app on HOME, prints ``FRAME`` at its first
frame (the Traces pane and the status bar), ``PAINTED`` at the first frame with rows, then pages, searches and prints its peak memory (bench_store).
``--first-paint`` stops at the first frame and prints what was imported by then;
``--bare`` times a bare Textual app (header, one Static, footer) instead: the baseline.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys

HEAVY = ("torch", "transformers", "peft", "numpy", "optuna", "plotext", "textual_plotext")
"""Modules the first paint must not need."""


def _imported() -> list[str]:
    return sorted(m for m in HEAVY if m in sys.modules)


async def bare() -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import Footer, Header, Static

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Header()
            yield Static("rows", id="rows")
            yield Footer()

    app = Bare()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()  # one refresh: painted
        print("FRAME", flush=True)
        print("PAINTED", flush=True)


async def main(home: str, *, first_paint_only: bool = False) -> None:
    from jarvis_tui.ui.app import JarvisApp
    from jarvis_tui.ui.testing import settle

    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()  # the first frame: the Traces pane and the status bar
        print("FRAME", flush=True)
        # The status line says "rows 1–20 of N" once the first page is in the table.
        status = app.query_one("#traces-status")
        while not str(status.render()).startswith("rows "):
            await pilot.pause(0.002)
        await pilot.pause()  # one refresh: the rows are painted
        print("PAINTED", flush=True)
        if first_paint_only:
            line = str(status.render())[:200]
            print(json.dumps({"imported": _imported(), "status": line}), flush=True)
            return
        for _ in range(40):
            await pilot.press("pagedown")
            await settle(app, pilot, rounds=1)
        await pilot.press("slash")
        await pilot.press(*"error")
        await pilot.press("enter")
        await settle(app, pilot, rounds=1)
        await pilot.press("G")
        await settle(app, pilot, rounds=1)
        await pilot.pause()
    heavy = sorted(m for m in ("torch", "transformers", "peft") if m in sys.modules)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent.
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                rss_mb = int(line.split()[1]) / 1024
    print(json.dumps({"rss_mb": rss_mb, "heavy_modules": heavy}), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--bare"]:
        asyncio.run(bare())
    elif args[:1] == ["--first-paint"]:
        asyncio.run(main(args[1], first_paint_only=True))
    else:
        asyncio.run(main(args[0]))
