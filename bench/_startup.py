"""Child process for the startup figure: prints PAINTED when rows are on screen."""

from __future__ import annotations

import asyncio
import json
import resource
import sys


async def main(home: str) -> None:
    from jarvis_tui.ui.app import JarvisApp
    from jarvis_tui.ui.testing import settle

    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one("#trace-table")
        while table.row_count == 0:
            await pilot.pause(0.005)
        await pilot.pause()  # one refresh: the rows are painted
        print("PAINTED", flush=True)
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
    asyncio.run(main(sys.argv[1]))
