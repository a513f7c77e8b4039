"""KeyFooter: a key that turns usable (or unusable) is shown so at once, in place."""

from __future__ import annotations

import io

from rich.console import Console
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from jarvis_tui.ui.testing import settle
from jarvis_tui.ui.widgets.footer import KeyFooter


class Probe(Static, can_focus=True):
    BINDINGS = [
        Binding("y", "accept", "Accept"),
        Binding("n", "other", "Other"),
    ]
    ready = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "accept":
            return True if self.ready else None  # None: shown, but dimmed
        return True

    def action_accept(self) -> None:
        self.update("accepted")

    def action_other(self) -> None:
        pass


class FooterApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Probe("probe")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(Probe).focus()


def footer_line(app: App[None]) -> str:
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False).splitlines()[-1]


def colour(app: App[None], text: str) -> object:
    """The colour *text* (a footer entry) is drawn in: its key's letter."""
    x = footer_line(app).index(text)
    return app.screen.get_style_at(x, app.size.height - 1).color


def dimmed(app: App[None], text: str) -> bool:
    """Whether the entry *text* is drawn dimmed (a key that does not apply now): in
    another colour than ``n Other``, which always applies (Textual draws dim text in
    blended colours, not with the terminal's dim attribute)."""
    return colour(app, text) != colour(app, "n Other")


async def test_a_key_that_starts_to_apply_is_no_longer_dimmed_and_works() -> None:
    app = FooterApp()
    async with app.run_test(size=(80, 10)) as pilot:
        await settle(app, pilot)
        assert "y Accept" in footer_line(app) and "n Other" in footer_line(app)
        assert dimmed(app, "y Accept")
        probe = app.query_one(Probe)
        probe.ready = True
        probe.refresh_bindings()
        await settle(app, pilot)
        assert not dimmed(app, "y Accept")
        assert footer_line(app).index("y Accept") < footer_line(app).index("n Other")
        probe.ready = False
        probe.refresh_bindings()
        await settle(app, pilot)
        assert dimmed(app, "y Accept")
        probe.ready = True
        probe.refresh_bindings()
        await settle(app, pilot)
        await pilot.click("FooterKey", offset=(1, 0))  # the first key: y Accept
        await settle(app, pilot)
        assert "accepted" in str(probe.render())


async def test_keys_hidden_in_a_narrow_footer_come_back_when_it_widens() -> None:
    app = FooterApp()
    async with app.run_test(size=(30, 10)) as pilot:
        await settle(app, pilot)
        narrow = footer_line(app)
        assert "y Accept" in narrow and "n Other" not in narrow and "^p palette" in narrow
        await pilot.resize_terminal(80, 10)
        await settle(app, pilot)
        wide = footer_line(app)
        assert "y Accept" in wide and "n Other" in wide and "^p palette" in wide
        await pilot.resize_terminal(30, 10)
        await settle(app, pilot)
        assert "n Other" not in footer_line(app)


class Labeller(Static, can_focus=True):
    """Keys that apply only with a row selected (hidden, not dimmed, without one), between
    two that always apply: as the Traces pane's label keys between / and o."""

    BINDINGS = [
        Binding("slash", "search", "Search"),
        Binding("y", "accept", "Accept"),
        Binding("n", "reject", "Reject"),
        Binding("o", "sort", "Sort"),
    ]
    selected = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.selected if action in ("accept", "reject") else True

    def action_accept(self) -> None:
        self.update("accepted")

    def action_search(self) -> None:
        pass

    def action_reject(self) -> None:
        pass

    def action_sort(self) -> None:
        pass


class LabellerApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Labeller("rows")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(Labeller).focus()


async def test_keys_that_come_and_go_take_their_place_between_the_others() -> None:
    """Keys added to the footer (a row is selected) are shown in their binding order
    among the keys already there, and work; gone again, the others stay as they were
    (only the keys that came or went are made or removed, issue 15)."""
    app = LabellerApp()
    async with app.run_test(size=(80, 10)) as pilot:
        await settle(app, pilot)
        line = footer_line(app)
        assert "/ Search" in line and "o Sort" in line and "Accept" not in line
        labeller = app.query_one(Labeller)
        labeller.selected = True
        labeller.refresh_bindings()
        await settle(app, pilot)
        line = footer_line(app)
        words = ["/ Search", "y Accept", "n Reject", "o Sort", "^p palette"]
        assert all(w in line for w in words), line
        assert [line.index(w) for w in words] == sorted(line.index(w) for w in words), line
        footer = app.query_one(KeyFooter)
        assert footer.shown_actions[:4] == ["search", "accept", "reject", "sort"]
        await pilot.click("FooterKey", offset=(footer_line(app).index("y Accept") + 1, 0))
        await settle(app, pilot)
        assert "accepted" in str(labeller.render())
        labeller.selected = False
        labeller.refresh_bindings()
        await settle(app, pilot)
        line = footer_line(app)
        assert "Accept" not in line and "Reject" not in line
        assert footer.shown_actions[:2] == ["search", "sort"] and "o Sort" in line
