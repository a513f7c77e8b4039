"""ctrl+q over a form with typed, unsaved input: the question before it is lost.

The app's one quit path (``JarvisApp.action_quit``) asks every open screen for its
``unsaved_input()`` (the question and what was typed, or None when its fields hold what
they opened with): the note editor, the one-line prompts and the config forms answer.
y discards it and quits, n / escape go back to the form, a second ctrl+q quits at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

from rich.text import Text
from textual.binding import Binding

from jarvis_tui.ui.screens.confirm import ConfirmScreen

Unsaved = tuple[str, Text]
"""The question ("Discard the changes to this note?") and what was typed."""


def unsaved_input(screens: Iterable[Any]) -> Optional[Unsaved]:
    """The topmost screen's unsaved input among *screens* (the app's screen stack,
    bottom first), or None when no open form holds typed input."""
    for screen in reversed(list(screens)):
        ask = getattr(screen, "unsaved_input", None)
        found = ask() if callable(ask) else None
        if found is not None:
            return found
    return None


class QuitUnsavedScreen(ConfirmScreen):
    """Quit with typed input not saved: y discards it and quits, n / escape keep
    editing; ctrl+q again quits at once (the app's binding, priority over this one)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Discard and quit", id="quit.discard"),
        Binding("n,escape", "answer(False)", "Keep editing", id="quit.keep"),
    ]

    def __init__(self, question: str, typed: Text) -> None:
        body = typed.copy()
        body.append("\nQuitting now loses it.", style="dim")
        super().__init__(
            question,
            body,
            hint="y: discard it and quit   n / escape: keep editing   ctrl+q: quit now",
        )
