"""Helpers for driving the app headless (tests, benchmarks, screenshots)."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import App


async def settle(app: App[Any], pilot: Any, rounds: int = 3) -> None:
    """Wait until no worker runs and the screen has refreshed, *rounds* times.

    ``App.workers.wait_for_complete()`` raises when an exclusive worker was
    superseded (cancelled) meanwhile; a superseded query is normal here, so
    outcomes are gathered, not raised.
    """
    for _ in range(rounds):
        for _ in range(1000):
            workers = [w for w in app.workers if not w.is_finished]
            if not workers:
                break
            await asyncio.gather(*(w.wait() for w in workers), return_exceptions=True)
        await pilot.pause()
