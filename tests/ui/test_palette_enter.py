"""The command palette runs what was typed when enter comes before its search ends.

Walkthrough 47: typing a whole entry name and pressing enter within ~0.8 s did nothing
(Textual's palette searches in a worker and enter acted only on a list already shown);
the palette stayed open with the query.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.system_commands import SystemCommandsProvider

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle, wait_until


@pytest.fixture
def held_search(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """The palette's search waits for this event: enter surely comes before its end
    (a slow machine or a fast typist; Pilot's own key presses leave the search time)."""
    gate = asyncio.Event()
    search = SystemCommandsProvider.search

    async def held(self, query):
        await gate.wait()
        async for hit in search(self, query):
            yield hit

    monkeypatch.setattr(SystemCommandsProvider, "search", held)
    return gate


async def test_enter_before_the_search_ends_runs_the_first_match(
    workspace: Path, held_search: asyncio.Event
) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert app.active_pane_id() == "traces"
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"go: routing", "enter")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)  # nothing to run yet: it waits
        held_search.set()
        await wait_until(pilot, lambda: not isinstance(app.screen, CommandPalette),
                         what="the palette to run the match and close", timeout=10)  # fmt: skip
        await settle(app, pilot)
        assert app.active_pane_id() == "routing"


async def test_typing_after_enter_takes_the_new_query_not_the_old(
    workspace: Path, held_search: asyncio.Event
) -> None:
    """Enter, then more typing before the results: the match of the new text runs only
    on a new enter (the waiting enter was for a query that is gone)."""
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"go: routing", "enter", *["backspace"] * 7, *"configs")
        held_search.set()
        await settle(app, pilot)
        assert isinstance(app.screen, CommandPalette) and app.active_pane_id() == "traces"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, CommandPalette),
                         what="the palette to close", timeout=10)  # fmt: skip
        await settle(app, pilot)
        assert app.active_pane_id() == "configs"
