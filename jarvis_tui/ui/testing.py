"""Helpers for driving the app headless (tests, benchmarks, screenshots)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Container
from typing import Any

from textual.app import App


async def settle(app: App[Any], pilot: Any, rounds: int = 3, ignore: Container[str] = ()) -> None:
    """Wait until no worker runs and the screen has refreshed, *rounds* times.

    ``App.workers.wait_for_complete()`` raises when an exclusive worker was
    superseded (cancelled) meanwhile; a superseded query is normal here, so
    outcomes are gathered, not raised. Workers of the groups in *ignore* (a run
    waiting for the user, say) are not waited for.
    """
    for _ in range(rounds):
        for _ in range(1000):
            workers = [w for w in app.workers if not w.is_finished and w.group not in ignore]
            if not workers:
                break
            await asyncio.gather(*(w.wait() for w in workers), return_exceptions=True)
        await pilot.pause()


async def wait_until(
    pilot: Any, condition: Callable[[], bool], *, timeout: float = 60.0, what: str = ""
) -> None:
    """Let the app run until *condition()* holds (for a worker thread to get somewhere).

    The timeout only turns a hang into a failure: it never decides an outcome.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.01)


def record_notices(app: App[Any]) -> list[str]:
    """Every notification's text from now on, as the toasts show it.

    Wraps the public ``App.notify`` that every widget's ``notify`` goes through,
    so a test reads what the user was told without Textual's private
    ``App._notifications``. Install it *before* the notice is sent: earlier
    notices are not seen. Returns the list it keeps appending to.
    """
    seen: list[str] = []
    notify = app.notify

    def recording(message: str, *args: Any, **kwargs: Any) -> None:
        seen.append(str(message))
        notify(message, *args, **kwargs)

    app.notify = recording  # type: ignore[method-assign]
    return seen


def screen_words(app: App[Any], width: int = 120) -> str:
    """Every Static's text on the current screen, scrolled into view or not (a whole
    help screen, say), joined with single spaces."""
    import io

    from rich.console import Console
    from textual.widgets import Static

    texts = []
    for widget in app.screen.query(Static):
        console = Console(width=width, record=True, file=io.StringIO())
        console.print(widget.content)
        texts.append(console.export_text())
    return " ".join(" ".join(texts).split())


async def run_command(app: App[Any], pilot: Any, title: str, ignore: Container[str] = ()) -> None:
    """Run the command palette's entry *title* as choosing it there does (the palette
    closes, then the entry's callback runs on the screen beneath), without opening the
    palette: a walk over every entry checks what each does, and tests/ui/test_palette_*
    the palette itself. Raises when the current screen's palette offers no *title*."""
    commands = {command.title: command for command in app.get_system_commands(app.screen)}
    if title not in commands:
        raise AssertionError(f"the palette offers no {title!r}: {sorted(commands)}")
    app.call_later(commands[title].callback)
    await settle(app, pilot, ignore=ignore)
