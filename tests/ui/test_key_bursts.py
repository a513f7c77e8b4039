"""Keys that arrive together each count. Over ssh the network batches key repeat (a
held `j`), and tmux sends a burst in one write: Textual's own scroll actions run after
the next refresh and count from the row shown then, so ten `j` in one read scrolled a
text one row (seen in tmux on the run summary at 80x24: 30 `j`, 10 rows). Here a burst
of keys, all queued before the app draws again, scrolls as far as the same keys pressed
one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle
from tests.ui.test_training_leftovers import detailed_run, screen_text


async def _burst(app: JarvisApp, pilot, key: str, times: int) -> str:
    """*times* key presses queued at once, as one read of the terminal brings them."""
    for _ in range(times):
        app.post_message(events.Key(key, key if len(key) == 1 else None))
    await settle(app, pilot)
    return screen_text(app)


async def _one_by_one(app: JarvisApp, pilot, key: str, times: int) -> str:
    for _ in range(times):
        await pilot.press(key)
    await settle(app, pilot)
    return screen_text(app)


async def _keys(app: JarvisApp, pilot, *keys: str) -> str:
    """Once the app has settled, *keys* one at a time, each let settle."""
    await settle(app, pilot)
    for key in keys:
        await pilot.press(key)
        await settle(app, pilot)
    return screen_text(app)


async def _same_either_way(app: JarvisApp, pilot, key: str, back: str, times: int) -> None:
    top = screen_text(app)
    apart = await _one_by_one(app, pilot, key, times)
    assert apart != top, "the view did not scroll at all: nothing to compare"
    assert await _one_by_one(app, pilot, back, times) == top
    together = await _burst(app, pilot, key, times)
    assert together == apart, together
    assert await _burst(app, pilot, back, times) == top


async def test_the_run_summary_scrolls_as_far_for_a_burst(labelled_home: Path) -> None:
    from tests.ui.test_training_run_summary_words import REAL_FAST_PATH

    detailed_run(labelled_home, "r1", model="m", fast_path=REAL_FAST_PATH)
    app = JarvisApp(labelled_home)
    async with app.run_test(size=(80, 24)) as pilot:
        assert "Training run r1" in await _keys(app, pilot, "L", "enter")
        await _same_either_way(app, pilot, "j", "k", 8)


async def test_the_help_scrolls_as_far_for_a_burst(labelled_home: Path) -> None:
    app = JarvisApp(labelled_home)
    async with app.run_test(size=(80, 24)) as pilot:
        assert "Keys everywhere" in await _keys(app, pilot, "question_mark")
        await _same_either_way(app, pilot, "j", "k", 6)


async def test_a_whole_trace_scrolls_as_far_for_a_burst(labelled_home: Path) -> None:
    """Its j / k already counted (a ScrollView scrolls at once)."""
    from jarvis_tui.ui.screens.trace_screens import TraceScreen

    app = JarvisApp(labelled_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await _keys(app, pilot, "enter")
        assert isinstance(app.screen, TraceScreen)
        await _same_either_way(app, pilot, "j", "k", 5)


async def test_a_whole_trace_pages_as_far_for_a_burst_of_space(labelled_home: Path) -> None:
    """Its page key (space) did not count: two pages there, then back to the top (g)."""
    from jarvis_tui.ui.screens.trace_screens import TraceScreen

    app = JarvisApp(labelled_home)
    async with app.run_test(size=(80, 24)) as pilot:
        top = await _keys(app, pilot, "enter")
        assert isinstance(app.screen, TraceScreen)
        apart = await _one_by_one(app, pilot, "space", 2)
        assert apart != top
        await _one_by_one(app, pilot, "g", 1)
        assert await _burst(app, pilot, "space", 2) == apart


async def test_a_trial_scrolls_as_far_for_a_burst(demo_copy) -> None:
    from jarvis_tui.ui.screens.trial_detail import TrialDetailScreen
    from tests.ui.test_trials_screens import open_trials

    work = demo_copy(traces=1500, seed=3)
    app = JarvisApp(work)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_trials(app, pilot)
        await _keys(app, pilot, "enter")
        assert isinstance(app.screen, TrialDetailScreen)
        await _same_either_way(app, pilot, "j", "k", 6)


async def test_the_routing_report_scrolls_as_far_for_a_burst(demo_copy) -> None:
    """d gives the side report (replay, agent picks, the last cycle) the whole pane."""
    app = JarvisApp(demo_copy(traces=1500, seed=3))
    async with app.run_test(size=(80, 24)) as pilot:
        await _keys(app, pilot, "R", "d")
        await _same_either_way(app, pilot, "j", "k", 4)


@pytest.mark.parametrize(("key", "back"), [("down", "up"), ("pagedown", "pageup")])
async def test_any_scroll_area_of_the_app_counts_every_arrow_and_page_key(
    key: str, back: str
) -> None:
    """The app's scroll areas (the Traces side panel, the Configs diff, the Training
    form, forms and dialogs) are KeyedScroll: a focused one moves as far for a burst of
    ↓ or PgDn as for the keys one at a time (Textual's own VerticalScroll does not)."""
    from rich.text import Text
    from textual.app import App, ComposeResult
    from textual.containers import VerticalScroll
    from textual.widgets import Static

    from jarvis_tui.ui.scrolling import KeyedScroll

    for cls, counts in ((KeyedScroll, True), (VerticalScroll, False)):

        class One(App[None]):
            AREA = cls

            def compose(self) -> ComposeResult:
                with self.AREA(id="area"):
                    yield Static(Text("\n".join(f"line {i}" for i in range(200))))

        app = One()
        async with app.run_test(size=(40, 10)) as pilot:
            app.query_one("#area").focus()
            await pilot.pause()
            top = screen_text(app)
            apart = await _one_by_one(app, pilot, key, 3)
            assert await _one_by_one(app, pilot, back, 3) == top
            await _burst(app, pilot, key, 3)
            assert apart != top
            assert (screen_text(app) == apart) is counts, cls
