"""What a new user saw (issue 10, leftovers): the label queue's status line, the footer
in the filter bar, the judge form, Routing on an empty workspace, toasts over forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.learning.label_queue import LabelQueue
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle

from .test_traces_pane import screen_text


@pytest.fixture
def home(demo_copy) -> Path:
    """A private copy of the run's one 1,500-trace demo of seed 5 (tests/conftest.py)."""
    return demo_copy(traces=1500, seed=5)


def _row(app: JarvisApp, start: str) -> str:
    """The screen row that starts with *start* (after the bar's padding)."""
    rows = [r for r in screen_text(app).splitlines() if r.strip().startswith(start)]
    assert rows, f"no row starts with {start!r}:\n{screen_text(app)}"
    return rows[0].rstrip()


@pytest.mark.parametrize("size", [(80, 24), (150, 40)])
async def test_queue_line_keeps_the_class_and_the_count(home: Path, size) -> None:
    """The queue's line is shown in fewer words where the whole does not fit (the class
    and what it needs, never 'general: 278 more l…'), and a segment that is cut ends in
    '…' on screen (the bar's padding used to crop the '…' away)."""
    store = TraceStore(home / "traces.db")
    queue = LabelQueue(store).status()
    store.close()
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await pilot.press("Q")
        await settle(app, pilot)
        row = _row(app, "queue order (Q)")
        assert queue.short.split(" · ")[0] in row or queue.line in row
        assert len(row) <= size[0]
        # the "next:" reason is whole (the side panel has its figures) or left out,
        # never cut mid-word (e0b95a0: it read 'next: general: gpt-4o-mini (0…')
        assert not row.endswith("…"), row


async def test_filter_bar_keys_type_into_the_field_and_the_footer_says_so(home: Path) -> None:
    """In the filter bar (mode EDIT) the label keys neither label the trace nor show in
    the footer; a letter picks in the list instead (it used to score the trace)."""
    from jarvis_tui.ui.panes.traces import TracesPane
    from jarvis_tui.ui.widgets.footer import KeyFooter

    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        footer = app.query_one(KeyFooter)
        assert {"score(0.5)", "outcome('success')"} <= set(footer.shown_actions)  # NAV
        first = pane.rows[0]
        await pilot.press("F")
        await settle(app, pilot)
        assert app.input_mode() == "EDIT"
        shown = footer.shown_actions
        assert not [a for a in shown if a.startswith(("score", "outcome", "undo", "note"))]
        assert "EDIT" in _row(app, "EDIT")
        await pilot.press("7", "y", "escape", "escape")
        await settle(app, pilot)
        assert app.input_mode() == "NAV"
    store = TraceStore(home / "traces.db")
    try:
        now = store.get(first.trace_id)
        assert (now.feedback, now.outcome) == (first.feedback, first.outcome)
    finally:
        store.close()


async def test_judge_form_hints_say_the_form_not_the_placeholder(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under each field of the judge form: the form it takes, not its placeholder again;
    a URL without http(s):// is refused beside the field (at 80x24, each hint one line)."""
    from textual.widgets import Input

    from jarvis_tui.ui.screens.forms import ConfigFormScreen

    monkeypatch.delenv("JARVIS_TUI_JUDGE_URL", raising=False)
    monkeypatch.delenv("JARVIS_TUI_JUDGE_MODEL", raising=False)
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("J")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfigFormScreen)
        screen = screen_text(app)
        for i in (0, 1):
            placeholder = str(app.screen.query_one(f"#field-{i}", Input).placeholder)
            assert screen.count(placeholder) == 1, placeholder  # in the field only
        assert _row(app, "│ url").endswith("OpenAI-compatible base URL, …/v1                │")
        assert "http(s)://host:port/v1 (vLLM, Ollama, OpenAI…)" in screen
        app.screen.query_one("#field-0", Input).value = "localhost:8000"
        app.screen.query_one("#field-1", Input).value = "judge-m"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfigFormScreen)  # still open, nothing started
        assert "✗ not a URL: write it as http(s)://host:port/v1" in screen_text(app)
        await pilot.press("escape")


def _text_of(widget) -> str:
    from io import StringIO

    from rich.console import Console

    console = Console(width=200, file=StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_routing_on_an_empty_workspace_shows_no_number_from_nothing(
    tmp_path: Path, size
) -> None:
    """0 traces: the replay's deltas are '–' and it says there is nothing rated yet
    (it showed 'Δ mean feedback +0.000', 'Δ latency +0.00 s per trace')."""
    from textual.widgets import Static

    from jarvis_tui.ui.panes.routing import RoutingPane

    TraceStore(tmp_path / "traces.db").close()
    app = JarvisApp(tmp_path)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await pilot.press("R")
        await settle(app, pilot)
        assert app.query_one(RoutingPane).matrix is not None
        side = _text_of(app.query_one("#routing-replay", Static))
        assert "+0.000" not in side and "+0.00 s" not in side and "+0 per" not in side
        for name in ("Δ mean feedback", "Δ latency", "Δ tokens"):
            assert [ln for ln in side.splitlines() if name in ln][0].split()[-1] == "–"
        assert "no rated traces yet" in side


async def test_routing_sft_pairs_say_their_threshold_and_match_training(home: Path) -> None:
    """The learning cycle's SFT pairs are labelled with the min quality they were mined
    at, and are the count the Training pane gives at its default min quality."""
    import re

    from textual.widgets import Static

    from jarvis_tui.learning.training.data import TrainingDataMiner
    from jarvis_tui.learning.training.settings import defaults

    q = defaults()["min_quality"]
    store = TraceStore(home / "traces.db")
    try:
        training = sum(1 for _ in TrainingDataMiner(store, min_quality=q).iter_sft_pairs())
    finally:
        store.close()
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("R")
        await settle(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        side = _text_of(app.query_one("#routing-replay", Static))
        m = re.search(r"SFT pairs \(rated ≥ (\d\.\d\d)\)\s+([\d,]+)", side)
        assert m, side
        assert float(m.group(1)) == q and int(m.group(2).replace(",", "")) == training > 0


async def test_a_notice_while_a_form_is_open_goes_on_its_line_not_over_its_fields(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80x24 a toast lay over the form's fields for 8 s; while a form is open the
    notice is on the form's own line (no toast), and a toast comes back once it closes."""
    from textual.app import App
    from textual.widgets import Static
    from textual.widgets._toast import Toast

    from jarvis_tui.ui.screens.forms import ConfigFormScreen

    toasts: list[str] = []
    toast = App.notify

    def counting(self, message: str, **kwargs) -> None:
        toasts.append(message)
        toast(self, message, **kwargs)

    monkeypatch.setattr(App, "notify", counting)  # Textual's toast, under the app's
    monkeypatch.delenv("JARVIS_TUI_JUDGE_URL", raising=False)
    monkeypatch.delenv("JARVIS_TUI_JUDGE_MODEL", raising=False)
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("J")
        await settle(app, pilot)
        toasts.clear()
        form = app.screen
        assert isinstance(form, ConfigFormScreen)
        app.notify("run t-0003 finished: 12 trials", severity="warning", timeout=8)
        await settle(app, pilot)
        assert not toasts and not list(form.query(Toast))
        assert "run t-0003 finished: 12 trials" in str(form.query_one("#cf-notice", Static).content)
        assert "run t-0003 finished: 12 trials" in screen_text(app)
        assert "url" in screen_text(app) and "model" in screen_text(app)
        await pilot.press("escape")
        await settle(app, pilot)
        app.notify("after the form", timeout=8)
        await settle(app, pilot)
        assert toasts == ["after the form"]  # a toast again, once the form is closed
