"""Regenerate every ``screenshots/*.svg`` from the demo workspace (fixed size and seed).

Run: ``python scripts/screenshots.py``. Uses a 20,000-trace demo built with seed 7
in a temporary directory, a 120×40 terminal and UTC, so the pictures only change
when the app does.
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

from jarvis_tui.demo import build_demo  # noqa: E402
from jarvis_tui.ui.app import JarvisApp  # noqa: E402
from jarvis_tui.ui.testing import settle  # noqa: E402

SIZE = (120, 40)
OUT = ROOT / "screenshots"


async def shoot(home: Path) -> list[Path]:
    written = []
    app = JarvisApp(home)
    async with app.run_test(size=SIZE) as pilot:
        app.sub_title = "demo workspace"
        await settle(app, pilot)
        # Label a few traces so the picture shows scores, outcomes and the meter.
        for key in ("down", "7", "s", "9", "f", "3"):
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
    return written


def main() -> int:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "demo"
        build_demo(home, traces=20_000, seed=7)
        for path in asyncio.run(shoot(home)):
            print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
