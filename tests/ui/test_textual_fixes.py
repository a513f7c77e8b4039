"""The Textual work-arounds (jarvis_tui.ui.textual_fixes) do what they say."""

from __future__ import annotations

import asyncio
import gc
import threading
from pathlib import Path

from textual._styles_cache import StylesCache
from textual.color import Color

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle
from jarvis_tui.ui.textual_fixes import apply


def _styles_caches() -> int:
    gc.collect()
    return sum(isinstance(o, StylesCache) for o in gc.get_objects())


async def _session(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        for key in ("question_mark", "escape", "R", "T"):  # a screen and a pane come and go
            await pilot.press(key)
            await settle(app, pilot)


def test_what_a_closed_app_painted_does_not_stay_in_memory(workspace: Path) -> None:
    """Every widget keeps its painted lines in a StylesCache; Textual's colour cache
    (textual#6665) kept the last 1,024 of them alive after their widgets were gone, so
    each session of the app left its widgets' caches behind. Each session runs in a
    thread with its own event loop, as a test or an embedding program would: nothing
    of it (its tasks' contexts name the app) is left when it ends."""
    before = _styles_caches()
    for _ in range(3):
        thread = threading.Thread(target=asyncio.run, args=(_session(workspace),))
        thread.start()
        thread.join()
        assert _styles_caches() <= before


def test_the_colours_are_what_textual_computes_and_applying_twice_changes_nothing() -> None:
    patched = StylesCache.get_inner_outer
    apply()
    assert StylesCache.get_inner_outer is patched
    inner, outer = StylesCache().get_inner_outer(Color(18, 18, 18), Color(36, 47, 56, 0.5))
    assert outer.background == Color(18, 18, 18)
    assert inner.background == Color(18, 18, 18) + Color(36, 47, 56, 0.5)
