"""Every binding id the app declares, with its default keys and action: what a
``[keymap]`` in the settings is checked against at start, without importing the panes,
screens and widgets that declare them (importing all five panes to judge one unknown id
cost ~1.2 s before the first paint; issue 15, walkthrough).

Generated from the classes' ``BINDINGS`` (:func:`collect`); a test fails when a class
declares an id the table lacks, or the table keeps one no class declares. After adding
or changing a binding id, regenerate it with::

    python -m jarvis_tui.ui.binding_table --write
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BINDINGS: dict[str, tuple[str, str]] = {
    # BEGIN GENERATED
    "agreement.close": ("escape,q,enter", "close"),
    "app.escape": ("escape", "navigate"),
    "app.help": ("question_mark,f1", "help"),
    "app.next": ("right_square_bracket", "next_pane"),
    "app.pane.configs": ("C", "show_pane('configs')"),
    "app.pane.routing": ("R", "show_pane('routing')"),
    "app.pane.traces": ("T", "show_pane('traces')"),
    "app.pane.training": ("L", "show_pane('training')"),
    "app.pane.trials": ("P", "show_pane('trials')"),
    "app.prev": ("left_square_bracket", "prev_pane"),
    "app.quit": ("ctrl+q", "quit"),
    "bigtable.down": ("down,j", "cursor(1)"),
    "bigtable.end": ("end,G", "last"),
    "bigtable.home": ("home,g", "first"),
    "bigtable.pagedown": ("pagedown", "page(1)"),
    "bigtable.pageup": ("pageup", "page(-1)"),
    "bigtable.select": ("enter", "select"),
    "bigtable.up": ("up,k", "cursor(-1)"),
    "configs.accept": ("y", "accept"),
    "configs.mark": ("m", "mark"),
    "configs.refresh": ("r", "refresh"),
    "configs.reject": ("n", "skip"),
    "configs.rollback": ("b", "rollback"),
    "configs.start": ("s", "evolve"),
    "configs.text": ("t", "toggle_text"),
    "confirm.no": ("n,escape", "answer(False)"),
    "confirm.yes": ("y", "answer(True)"),
    "copy.cancel": ("escape", "cancel"),
    "copy.id": ("1", "pick('id')"),
    "copy.json": ("4", "pick('json')"),
    "copy.query": ("2", "pick('query')"),
    "copy.result": ("3", "pick('result')"),
    "form.cancel": ("escape", "cancel"),
    "form.submit": ("ctrl+s", "submit"),
    "help.bottom": ("G", "scroll('end')"),
    "help.close": ("escape,q,question_mark,f1", "dismiss"),
    "help.down": ("j", "scroll('down')"),
    "help.top": ("g", "scroll('home')"),
    "help.up": ("k", "scroll('up')"),
    "nav.bottom": ("G", "scroll_bottom"),
    "nav.down": ("j", "cursor_down"),
    "nav.left": ("h", "cursor_left"),
    "nav.right": ("l", "cursor_right"),
    "nav.top": ("g", "scroll_top"),
    "nav.up": ("k", "cursor_up"),
    "note.cancel": ("escape", "cancel"),
    "note.discard": ("y", "answer(True)"),
    "note.keep": ("n,escape", "answer(False)"),
    "note.save": ("ctrl+s", "save"),
    "prompt.cancel": ("escape", "cancel"),
    "quit.discard": ("y", "answer(True)"),
    "quit.keep": ("n,escape", "answer(False)"),
    "routing.back": ("escape", "leave_query"),
    "routing.detail": ("d", "toggle_detail"),
    "routing.judge": ("J", "toggle_judge"),
    "routing.label": ("enter", "select_cursor"),
    "routing.less": ("less_than_sign", "evidence(-10)"),
    "routing.more": ("greater_than_sign", "evidence(10)"),
    "routing.refresh": ("r", "recompute"),
    "routing.search": ("slash", "focus_query"),
    "routing.start": ("s", "learning_cycle"),
    "run.close": ("escape,q,enter", "close"),
    "run.down": ("j,down", "scroll(1)"),
    "run.up": ("k,up", "scroll(-1)"),
    "text.bottom": ("G", "scroll_end"),
    "text.down": ("j", "scroll_down"),
    "text.page": ("space", "page_down"),
    "text.top": ("g", "scroll_home"),
    "text.up": ("k", "scroll_up"),
    "trace.accept_judge": ("Y", "accept_judge"),
    "trace.clear": ("backspace,delete", "clear_label"),
    "trace.close": ("escape,q", "close"),
    "trace.failure": ("n", "outcome('failure')"),
    "trace.note": ("e", "note"),
    "trace.score": ("5", "score(0.5)"),
    "trace.score0": ("0", "score(0.0)"),
    "trace.score1": ("1", "score(0.1)"),
    "trace.score10": ("equals_sign", "score(1.0)"),
    "trace.score2": ("2", "score(0.2)"),
    "trace.score3": ("3", "score(0.3)"),
    "trace.score4": ("4", "score(0.4)"),
    "trace.score6": ("6", "score(0.6)"),
    "trace.score7": ("7", "score(0.7)"),
    "trace.score8": ("8", "score(0.8)"),
    "trace.score9": ("9", "score(0.9)"),
    "trace.success": ("y", "outcome('success')"),
    "trace.undo": ("u", "undo"),
    "traces.accept_judge": ("Y", "accept_judge"),
    "traces.advance": ("A", "toggle_advance"),
    "traces.bottom": ("G", "bottom"),
    "traces.clear": ("backspace,delete", "clear_label"),
    "traces.clear_filters": ("X", "clear_filters"),
    "traces.copy": ("ctrl+y", "copy"),
    "traces.detail": ("d", "toggle_detail"),
    "traces.down": ("down,j", "cursor(1)"),
    "traces.end": ("end", "last"),
    "traces.escape": ("escape", "back"),
    "traces.failure": ("n", "outcome('failure')"),
    "traces.filters": ("F", "open_filters"),
    "traces.home": ("home", "first"),
    "traces.judge": ("J", "judge"),
    "traces.note": ("e", "note"),
    "traces.open": ("enter", "select"),
    "traces.pagedown": ("pagedown", "page(1)"),
    "traces.pageup": ("pageup", "page(-1)"),
    "traces.queue": ("Q", "toggle_queue"),
    "traces.refresh": ("r", "refresh"),
    "traces.reverse": ("O", "reverse_sort"),
    "traces.score": ("5", "score(0.5)"),
    "traces.score0": ("0", "score(0.0)"),
    "traces.score1": ("1", "score(0.1)"),
    "traces.score10": ("equals_sign", "score(1.0)"),
    "traces.score2": ("2", "score(0.2)"),
    "traces.score3": ("3", "score(0.3)"),
    "traces.score4": ("4", "score(0.4)"),
    "traces.score6": ("6", "score(0.6)"),
    "traces.score7": ("7", "score(0.7)"),
    "traces.score8": ("8", "score(0.8)"),
    "traces.score9": ("9", "score(0.9)"),
    "traces.search": ("slash", "focus_search"),
    "traces.sort": ("o", "cycle_sort"),
    "traces.stop": ("x", "cancel_judge"),
    "traces.success": ("y", "outcome('success')"),
    "traces.top": ("g", "top"),
    "traces.undo": ("u", "undo"),
    "traces.up": ("up,k", "cursor(-1)"),
    "training.evaluate": ("E", "evaluate"),
    "training.mark": ("m", "overlay"),
    "training.open": ("enter", "open_run"),
    "training.rawer": ("less_than_sign", "smoothing(1)"),
    "training.refresh": ("r", "reload"),
    "training.smoother": ("greater_than_sign", "smoothing(-1)"),
    "training.start": ("s", "start"),
    "training.stop": ("x", "cancel"),
    "trial.close": ("escape,q,enter", "close"),
    "trial.down": ("j,down", "scroll(1)"),
    "trial.end": ("G,end", "edge(1)"),
    "trial.pagedown": ("pagedown", "page(1)"),
    "trial.pageup": ("pageup", "page(-1)"),
    "trial.top": ("g,home", "edge(0)"),
    "trial.up": ("k,up", "scroll(-1)"),
    "trials.accept": ("y", "accept"),
    "trials.bounds": ("B", "bounds"),
    "trials.continue": ("c", "continue_run"),
    "trials.detail": ("d", "toggle_detail"),
    "trials.edit": ("e", "edit"),
    "trials.export": ("w", "export"),
    "trials.fnext": ("l,right", "frontier(1)"),
    "trials.fprev": ("h,left", "frontier(-1)"),
    "trials.mark": ("m", "merge_pick"),
    "trials.measure": ("M", "measure"),
    "trials.newer": ("greater_than_sign", "other_run(-1)"),
    "trials.older": ("less_than_sign", "other_run(1)"),
    "trials.open": ("enter", "open_trial"),
    "trials.param_next": ("full_stop", "proposal_step(1)"),
    "trials.param_prev": ("comma", "proposal_step(-1)"),
    "trials.pause": ("p", "pause"),
    "trials.promote": ("plus", "promote"),
    "trials.queue": ("a", "enqueue"),
    "trials.refresh": ("r", "reload"),
    "trials.reject": ("n", "reject"),
    "trials.reverse": ("O", "reverse_sort"),
    "trials.review": ("v", "review"),
    "trials.sort": ("o", "sort"),
    "trials.start": ("s", "start"),
    "trials.stop": ("x", "stop"),
    "trials.x": ("X", "cycle_axis('x')"),
    "trials.y": ("Y", "cycle_axis('y')"),
    "trialtable.down": ("down,j", "cursor(1)"),
    "trialtable.end": ("end,G", "last"),
    "trialtable.home": ("home,g", "first"),
    "trialtable.pagedown": ("pagedown", "page(1)"),
    "trialtable.pageup": ("pageup", "page(-1)"),
    "trialtable.up": ("up,k", "cursor(-1)"),
    # END GENERATED
}
"""Binding id → (its default keys, its action)."""


def _declared() -> Iterator[Any]:
    """Every ``Binding`` with an id that a class of ``jarvis_tui.ui`` declares, in the
    classes' order (importing every module of it: for the test, the generator and
    ``jarvis-tui keys`` only)."""
    import importlib
    import pkgutil

    from textual.binding import Binding
    from textual.dom import DOMNode

    import jarvis_tui.ui as ui

    for info in pkgutil.walk_packages(ui.__path__, "jarvis_tui.ui."):
        importlib.import_module(info.name)
    stack: list[type] = [DOMNode]
    seen: set[type] = set()
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        stack.extend(cls.__subclasses__())
        if not cls.__module__.startswith("jarvis_tui."):
            continue  # Textual's own widgets (and a test's classes) are not ours to list
        for b in cls.__dict__.get("BINDINGS", ()):
            if isinstance(b, Binding) and b.id:
                yield b


def collect() -> dict[str, tuple[str, str]]:
    """Binding id → (default keys, action) of every ``BINDINGS`` in ``jarvis_tui.ui``."""
    out: dict[str, tuple[str, str]] = {}
    for b in _declared():
        out.setdefault(b.id, (b.key, b.action))
    return dict(sorted(out.items()))


def describe() -> list[tuple[str, str, str]]:
    """(binding id, default keys as typed in a keymap, what it does) of every binding the
    app declares, sorted by id: what ``jarvis-tui keys`` lists (imports every pane)."""
    words: dict[str, str] = {}
    for b in _declared():
        if not words.get(b.id):
            words[b.id] = b.description
    return [(bid, keys, words.get(bid) or _action_words(action))
            for bid, (keys, action) in BINDINGS.items()]  # fmt: skip


def _action_words(action: str) -> str:
    """``"score(0.3)"`` → ``"score 0.3"``, ``"scroll_end"`` → ``"scroll end"`` (a binding
    with no description of its own)."""
    name, _, args = action.partition("(")
    args = args.rstrip(")").replace("'", "").replace('"', "").replace(",", " ")
    return " ".join([name.replace("_", " "), *args.split()])


def _source(table: dict[str, tuple[str, str]]) -> str:
    """This module's text with *table* between the GENERATED markers."""
    text = Path(__file__).read_text(encoding="utf-8")
    head, rest = text.split("    # BEGIN GENERATED\n", 1)
    _old, tail = rest.split("    # END GENERATED\n", 1)

    def q(s: str) -> str:
        return json.dumps(s, ensure_ascii=False)

    body = "".join(
        f"    {q(k)}: ({q(keys)}, {q(action)}),\n" for k, (keys, action) in table.items()
    )
    return f"{head}    # BEGIN GENERATED\n{body}    # END GENERATED\n{tail}"


if __name__ == "__main__":  # python -m jarvis_tui.ui.binding_table [--write]
    new = _source(collect())
    if sys.argv[1:] == ["--write"]:
        Path(__file__).write_text(new, encoding="utf-8")
    else:
        sys.stdout.write(new)
