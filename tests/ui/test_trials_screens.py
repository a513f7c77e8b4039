"""Trials pane as a user sees it: every key of its help and every palette entry
changes what the screen shows; forms refuse bad input beside the field; paths
outside the workspace are confirmed; data from an endpoint is shown as text.

Screens are read from ``App.export_screenshot()`` (the same SVG a user would see,
turned back into lines of text), not from private attributes.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from textual.widgets import Input

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.trials import TrialsPane, add_notices
from jarvis_tui.ui.screens.confirm import ConfirmScreen
from jarvis_tui.ui.screens.forms import ConfigFormScreen, PromptScreen
from jarvis_tui.ui.screens.trial_detail import TrialDetailScreen
from jarvis_tui.ui.testing import record_notices, run_command, settle, wait_until

RUN = ("trials.run",)
_TEXT = re.compile(
    r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
    r'clip-path="url\(#terminal-\d+-line-(\d+)\)">(.*?)</text>'
)
CELL = 12.2  # the width of one cell in Textual's SVG


def screen_lines(app: JarvisApp) -> list[str]:
    """The screen as lines of text, read back from the SVG screenshot."""
    rows: dict[int, dict[int, str]] = {}
    for x, line, body in _TEXT.findall(app.export_screenshot()):
        text = html.unescape(body).replace("\xa0", " ")
        rows.setdefault(int(line), {})[round(float(x) / CELL)] = text
    out = []
    for n in range(max(rows) + 1 if rows else 0):
        buf = ""
        for col, text in sorted(rows.get(n, {}).items()):
            buf = buf.ljust(col) + text
        out.append(buf)
    return out


def screen(app: JarvisApp) -> str:
    return "\n".join(screen_lines(app))


@pytest.fixture(scope="module")
def demo_template(demo_template) -> Path:
    """The shared 1,500-trace demo (seed 3), built once per run (tests/conftest.py)."""
    return demo_template(traces=1500, seed=3)


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    shutil.copytree(demo_template, home)
    return home


async def open_trials(app: JarvisApp, pilot) -> TrialsPane:
    await settle(app, pilot, ignore=RUN)
    await pilot.press("P")
    await settle(app, pilot, ignore=RUN)
    return app.query_one(TrialsPane)


async def press(app: JarvisApp, pilot, *keys: str) -> str:
    await pilot.press(*keys)
    await settle(app, pilot, ignore=RUN)
    return screen(app)


def status_lines(app: JarvisApp) -> str:
    """The pane's header lines (just under the tabs)."""
    lines = screen_lines(app)
    i = next(i for i, line in enumerate(lines) if "Trials [P]" in line)
    return "\n".join(lines[i + 2 : i + 4])


async def test_every_key_of_a_finished_run_changes_the_screen(demo: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_trials(app, pilot)
        shown = screen(app)
        assert "accuracy ↑ better" in shown and "latency s  ← better" in shown

        before = screen(app)
        after = await press(app, pilot, "l")
        assert ("← t-" in after or "→ t-" in after) and after != before  # its neighbours
        walked = await press(app, pilot, "l")
        assert walked != after
        back = await press(app, pilot, "h")
        assert back == after

        after = await press(app, pilot, "o")
        assert "sort accuracy ↓" in status_lines(app)
        first_rows = [line for line in screen_lines(app) if " t-" in line][:2]
        after = await press(app, pilot, "O")
        assert "sort accuracy ↑" in status_lines(app)
        assert [line for line in screen_lines(app) if " t-" in line][:2] != first_rows

        assert "params" in screen(app)
        after = await press(app, pilot, "d")
        assert "params" not in after and "detail panel hidden" in after
        after = await press(app, pilot, "d")
        assert "params" in after

        after = await press(app, pilot, "v")
        assert "review on" in status_lines(app)
        after = await press(app, pilot, "v")
        assert "review on" not in status_lines(app)

        after = await press(app, pilot, "m")  # the selected trial is a frontier member
        assert "next merge combines: t-" in after

        after = await press(app, pilot, "r")
        assert "reloaded run" in after
        after = await press(app, pilot, "less_than_sign")
        assert "this is the oldest run" in after
        after = await press(app, pilot, "greater_than_sign")
        assert "this is the newest run" in after

        after = await press(app, pilot, "g")
        rows = [line for line in screen_lines(app) if " t-" in line and "$" in line]
        after = await press(app, pilot, "G")
        assert [line for line in screen_lines(app) if " t-" in line and "$" in line] != rows

        # the modal keys: each opens its form or dialog, escape closes it unchanged
        for key, title in (
            ("s", "Start an optimization run"),
            ("a", "Queue a config"),
            ("B", "Objective bounds"),
            ("w", "Export the best trial"),
        ):
            after = await press(app, pilot, key)
            assert title in after, key
            await press(app, pilot, "escape")
            assert title not in screen(app)
        after = await press(app, pilot, "plus")
        assert "Promote" in after and "y: write it" in after  # the diff before writing
        await press(app, pilot, "n")
        assert "y: write it" not in screen(app)

        after = await press(app, pilot, "X")  # x axis: latency -> cost
        assert "latency s  ← better" not in after and "cost $  ← better" in after
        after = await press(app, pilot, "Y")  # y axis: accuracy -> latency
        assert "accuracy ↑ better" not in after and "latency s ↓ better" in after


async def test_start_form_shows_the_patience_and_steering_keys_work(demo: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        await press(app, pilot, "v")
        shown = await press(app, pilot, "s")
        assert "patience" in shown and "trials" in shown
        form = app.screen
        assert isinstance(form, ConfigFormScreen)
        # the patience that the run will use is on screen, prefilled, with its range
        assert re.search(r"patience\s+5", shown) and "whole number, 1 … 100000" in shown
        form.query_one("#field-0", Input).value = "3"
        form.query_one("#field-1", Input).value = "0"
        shown = await press(app, pilot, "enter")
        assert "✗ 0 is outside [1, 100000]" in shown and "nothing started" in shown
        form.query_one("#field-1", Input).value = "2"
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.pending is not None, what="the first proposal")
        await settle(app, pilot, ignore=RUN)
        prompt = str(pane.query_one("#trials-prompt").render())  # a toast may cover it
        assert "waits: y accept · e edit then accept · n reject with a reason" in prompt
        assert "proposal waiting" in status_lines(app)

        shown = await press(app, pilot, "e")  # edit: the form is filled with the proposal
        assert "then accept" in shown and "proposed:" in shown
        await press(app, pilot, "escape")
        shown = await press(app, pilot, "n")  # reject: asks why
        assert "Reject proposal" in shown and "reason" in shown
        shown = await press(app, pilot, "enter")
        assert "✗ required: say why" in shown
        app.screen.query_one(Input).value = "too slow"
        first = pane.pending[0].trial_id
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.pending is not None
                         and pane.pending[0].trial_id != first, what="the next proposal")  # fmt: skip
        await press(app, pilot, "p")
        assert "y still evaluates the waiting proposal" in " ".join(status_lines(app).split())
        await press(app, pilot, "y")  # accept: evaluated, then the run holds (paused)
        await wait_until(pilot, lambda: len(pane.view.trials) == 1, what="trial 1")
        await settle(app, pilot, ignore=RUN)
        assert "1/3 trials" in status_lines(app)
        await press(app, pilot, "x")
        await wait_until(pilot, lambda: not pane.running, what="the run to stop")
        await settle(app, pilot)
        assert "stopped" in status_lines(app)
        await press(app, pilot, "v")  # review off, then continue the stopped run
        await pilot.press("c")
        await wait_until(pilot, lambda: not pane.running and pane.view.status == "completed")
        await settle(app, pilot)
        assert "completed" in status_lines(app)


async def test_bounds_set_while_a_proposal_waits_redraw_at_once(demo: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        await press(app, pilot, "v", "s")
        app.screen.query_one("#field-0", Input).value = "3"
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.pending is not None)
        await pilot.press("y")
        await wait_until(pilot, lambda: pane.pending is not None and len(pane.view.trials) == 1)
        await settle(app, pilot, ignore=RUN)
        row = next(line for line in screen_lines(app) if pane.view.trials[0].trial_id in line)
        assert "×" not in row
        await press(app, pilot, "B")
        app.screen.query_one(Input).value = "accuracy >= 0.999"
        await press(app, pilot, "enter")
        row = next(line for line in screen_lines(app) if pane.view.trials[0].trial_id in line)
        assert "×" in row  # infeasible, shown while the proposal still waits
        assert "bounds accuracy >= 0.999" in status_lines(app)
        pane.control.stop()
        await wait_until(pilot, lambda: not pane.running)
        await settle(app, pilot)


async def test_status_keeps_the_state_words_at_120_and_80_columns(demo: Path) -> None:
    for size, wanted in (
        ((120, 40), ("completed", "review on", "bounds latency <= 9", "sort latency ↓",
                     "24/24 trials", "Σ est. cost $0.0")),
        ((80, 24), ("completed", "review on", "bounds latency <= 9", "sort latency ↓")),
    ):  # fmt: skip
        app = JarvisApp(demo)
        async with app.run_test(size=size, notifications=True) as pilot:
            await open_trials(app, pilot)
            await press(app, pilot, "v", "o", "o", "B")
            app.screen.query_one(Input).value = "latency <= 9s, cost <= 0.5, accuracy >= 0.1"
            await press(app, pilot, "enter")
            head = status_lines(app)
            for word in wanted:
                assert word in head, (size, word, head)
            assert "e-0" not in screen(app)  # money and durations read as numbers
            assert "0:00 wall" not in head


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_p_says_what_a_paused_run_does_and_how_it_goes_on(
    demo: Path, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """p while a trial is evaluated: the header and the notice say that the trial
    finishes, no new one starts and p resumes; once it finished, that nothing runs."""
    import threading

    from jarvis_tui.learning.optimize.trial_runner import TraceReplayRunner

    gate, started = threading.Event(), threading.Event()
    real = TraceReplayRunner.run_trial

    def held(self, config):  # the first trial waits for the test (never sleeps)
        started.set()
        gate.wait(60)
        return real(self, config)

    monkeypatch.setattr(TraceReplayRunner, "run_trial", held)
    app = JarvisApp(demo)
    async with app.run_test(size=size, notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        await press(app, pilot, "s")
        app.screen.query_one("#field-0", Input).value = "3"
        await pilot.press("enter")
        await wait_until(pilot, started.is_set, what="the first trial to start")
        await wait_until(pilot, lambda: "evaluating" in status_lines(app), what="evaluating")
        shown = await press(app, pilot, "p")
        head = " ".join(status_lines(app).split())
        assert "paused" in head and "evaluating" not in head, head
        assert "the trial in progress finishes, no new one starts · p resumes" in head, head
        assert "paused: the trial in progress finishes" in " ".join(shown.split())  # notice
        assert "p resumes the run" in screen_lines(app)[-2], screen_lines(app)[-2:]
        gate.set()
        await wait_until(pilot, lambda: "1/3 trials" in status_lines(app), what="trial 1")
        await settle(app, pilot, ignore=RUN)
        head = " ".join(status_lines(app).split())
        assert "paused" in head and "no trial runs, no new one starts · p resumes" in head
        assert len(pane.view.trials) == 1  # nothing started while paused
        shown = await press(app, pilot, "p")
        assert "resumed: the next trial starts" in " ".join(shown.split())
        await wait_until(pilot, lambda: not pane.running, what="the run to end")
        await settle(app, pilot)
        assert "3/3 trials" in status_lines(app) and "paused" not in status_lines(app)


async def test_p_help_says_what_pausing_does(demo: Path) -> None:
    """p's help row says what a pause does, not only "Pause/resume" (it fails today)."""
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_trials(app, pilot)
        await press(app, pilot, "question_mark")
        lines = (await press(app, pilot, "G")).splitlines()  # the pane's own keys: the end
        at = next(i for i, line in enumerate(lines) if "Pause/resume" in line)
        row = " ".join(" ".join(line.strip(" │▇▁") for line in lines[at : at + 2]).split())
        said = "Pause/resume: the trial in progress finishes, no new one starts; p again resumes"
        assert said in row, row


async def test_queue_form_shows_every_field_and_refuses_bad_input(demo: Path) -> None:
    with (demo / "optimize.toml").open("a") as f:
        f.write('\n[[optimize.search]]\nname = "intelligence.temperature"\ntype = "continuous"\n'
                'low = 0.0\nhigh = 1.0\n\n[[optimize.search]]\nname = "agent.max_turns"\n'
                'type = "integer"\nlow = 1\nhigh = 20\n')  # fmt: skip
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        shown = await press(app, pilot, "a")
        form = app.screen
        assert isinstance(form, ConfigFormScreen)
        names = sorted(d.name for d in pane.space.dimensions)  # the form's order
        for i in range(len(names)):
            form.query_one(f"#row-{i}").scroll_visible()
        fields = {n: form.query_one(f"#field-{i}") for i, n in enumerate(names)}
        # names, values, allowed values and ranges are on screen
        assert "intelligence.model" in shown and "one of 5: gpt-4o-mini" in shown
        temp = names.index("intelligence.temperature")
        fields["intelligence.temperature"].value = "warm"
        fields["agent.max_turns"].value = "99"  # (a list field with a default has no blank)
        await pilot.press("ctrl+s")
        await settle(app, pilot, ignore=RUN)
        form.query_one(f"#row-{temp}").scroll_visible()
        await settle(app, pilot, ignore=RUN)
        shown = screen(app)
        assert "✗ 'warm' is not a number" in shown
        assert "number, 0 … 1" in shown
        assert "nothing queued: 2 fields marked ✗ need fixing" in shown
        assert isinstance(app.screen, ConfigFormScreen)
        form.query_one(f"#row-{names.index('agent.max_turns')}").scroll_visible()
        await settle(app, pilot, ignore=RUN)
        assert "✗ 99 is outside [1, 20]" in screen(app)
        fields["intelligence.temperature"].value = "0.3"
        fields["agent.max_turns"].value = "4"
        fields["intelligence.model"].value = "phi3:3.8b"
        await pilot.press("ctrl+s")
        shown = await press(app, pilot)
        assert not isinstance(app.screen, ConfigFormScreen)
        assert "1 queued config runs first when you start a run" in shown


async def test_an_empty_list_field_does_not_read_as_every_choice(demo: Path) -> None:
    """W3 38: the tools field of a trial with none showed its choices as a grey
    placeholder ('web_search, calculator, code_exec'), read as "all three", and queued
    none. The placeholder says empty means none; the line under it lists the choices."""
    with (demo / "optimize.toml").open("a") as f:
        f.write('\n[[optimize.search]]\nname = "agent.tools"\ntype = "subset"\n'
                'values = ["web_search", "calculator", "code_exec"]\n')  # fmt: skip
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        await press(app, pilot, "a")
        form = app.screen
        assert isinstance(form, ConfigFormScreen)
        names = sorted(d.name for d in pane.space.dimensions)
        i = names.index("agent.tools")
        form.query_one(f"#row-{i}").scroll_visible()
        await settle(app, pilot, ignore=RUN)
        row = [ln for ln in screen(app).splitlines() if "agent.tools" in ln]
        assert row and "(empty: none of them)" in row[0], row
        assert "web_search, calculator, code_exec" not in row[0]
        assert "comma list (empty for none) from: web_search, calculator," in screen(app)
        # W3 29: the selected trial has no agent.tools: its value is the default, said so
        tools = " ".join(screen(app).split("agent.tools", 1)[1].split("intelligence", 1)[0].split())
        assert "· default: (empty)" in tools and "from t-" not in tools, tools
        model = " ".join(screen(app).split("intelligence.model", 1)[1].split())
        assert " · from t-" in model  # what the trial has is still said to come from it


async def test_every_form_fits_at_80x24(demo: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_trials(app, pilot)
        for key, words in (("a", ("Queue a config", "intelligence.model", "one of 5", "escape")),
                           ("s", ("trials", "patience", "whole number", "escape: cancel")),
                           ("B", ("bounds", "comma separated", "escape")),
                           ("w", ("file", "recipes/", "enter: write"))):  # fmt: skip
            shown = await press(app, pilot, key)
            for word in words:
                assert word in shown, (key, word)
            await press(app, pilot, "escape")


PALETTE_IDLE = (
    ("trials: start a run", lambda s, app: "Start an optimization run" in s),
    ("trials: queue a config", lambda s, app: "Queue a config" in s),
    ("trials: set objective bounds", lambda s, app: "Objective bounds" in s),
    ("trials: export the best recipe", lambda s, app: "Export the best trial" in s),
    ("trials: promote the selected trial", lambda s, app: "y: write it" in s),
    ("trials: toggle review mode", lambda s, app: "review on" in status_lines(app)),
    ("trials: sort the table by the next column", lambda s, app: "sort accuracy" in s),
    ("trials: reverse the table's order", lambda s, app: "↑" in status_lines(app)),
    ("trials: show / hide the detail panel", lambda s, app: "detail panel hidden" in s),
    ("trials: mark the selected trial for merge", lambda s, app: "next merge" in s),
    ("trials: reload the run", lambda s, app: "reloaded run" in s),
    ("trials: open the selected trial", lambda s, app: "escape: close · j / k" in s),
)


async def run_palette(app: JarvisApp, pilot, title: str) -> str:
    await run_command(app, pilot, title, ignore=RUN)  # as the palette runs it
    return screen(app)


async def test_every_palette_entry_does_what_it_says(demo: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        await press(app, pilot, "l")  # a frontier member selected
        for title, changed in PALETTE_IDLE:
            shown = await run_palette(app, pilot, title)
            assert changed(shown, app), title
            if isinstance(app.screen, PromptScreen | ConfigFormScreen | ConfirmScreen
                          | TrialDetailScreen):  # fmt: skip
                await press(app, pilot, "escape")
        # the run entries, in a live run held by review mode
        shown = await run_palette(app, pilot, "trials: start a run")
        app.screen.query_one("#field-0", Input).value = "2"
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.pending is not None)
        await settle(app, pilot, ignore=RUN)
        shown = await run_palette(app, pilot, "trials: edit the waiting proposal")
        assert "then accept" in shown
        await press(app, pilot, "escape")
        shown = await run_palette(app, pilot, "trials: reject the waiting proposal")
        assert "Reject proposal" in shown
        await press(app, pilot, "escape")
        await run_palette(app, pilot, "trials: pause / resume the run")
        assert "y still evaluates the waiting proposal" in " ".join(status_lines(app).split())
        await run_palette(app, pilot, "trials: accept the waiting proposal")
        await wait_until(pilot, lambda: len(pane.view.trials) == 1)
        await run_palette(app, pilot, "trials: stop the run")
        await wait_until(pilot, lambda: not pane.running)
        await settle(app, pilot)
        assert "stopped" in status_lines(app)
        await run_palette(app, pilot, "trials: toggle review mode")  # off
        await run_palette(app, pilot, "trials: continue this run")
        await wait_until(pilot, lambda: not pane.running and pane.view.status == "completed")
        await settle(app, pilot)
        assert "2/2 trials" in status_lines(app)


async def test_export_inside_outside_and_through_a_symlink(demo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "best.toml"
    outside.parent.mkdir()  # a missing folder outside is refused (test_export_path_rule)
    link = demo / "link.toml"
    link.symlink_to(tmp_path / "target.toml")
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_trials(app, pilot)
        # a relative path is inside the workspace: written without a question
        await press(app, pilot, "w")
        app.screen.query_one(Input).value = "recipes/mine.toml"
        await press(app, pilot, "enter")
        assert (demo / "recipes" / "mine.toml").is_file()
        # outside: a dialog names the resolved absolute path; n writes nothing
        await press(app, pilot, "w")
        app.screen.query_one(Input).value = str(tmp_path / "elsewhere" / ".." / "elsewhere"
                                                / "best.toml")  # fmt: skip
        shown = await press(app, pilot, "enter")
        # the dialog names the resolved path (it may wrap: compare without line breaks)
        flat = "".join(ch for ch in shown if not ch.isspace() and ch not in "│┃║")
        assert "Write outside the workspace?" in shown
        assert "".join(str(outside.resolve()).split()) in flat
        shown = await press(app, pilot, "n")
        assert "nothing written" in shown and not outside.exists()
        # a symbolic link as the target is refused beside the field
        await press(app, pilot, "w")
        app.screen.query_one(Input).value = "link.toml"
        shown = await press(app, pilot, "enter")
        assert "is a symbolic link" in shown and isinstance(app.screen, PromptScreen)
    assert not (tmp_path / "target.toml").exists()


async def test_promote_refuses_an_agent_name_that_is_a_path(demo: Path) -> None:
    import sqlite3

    with sqlite3.connect(demo / "optimize.db") as conn:  # trials that name no agent
        conn.execute("UPDATE trial_results SET config = replace(config, '\"agent.name\"', "
                     "'\"agent.other\"')")  # fmt: skip
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_trials(app, pilot)
        shown = await press(app, pilot, "plus")
        if "into an agent's config" not in shown:
            pytest.skip("the demo's trials still name their agent")
        app.screen.query_one(Input).value = "../../etc/passwd"
        shown = await press(app, pilot, "enter")
        assert "is not a plain agent name" in shown and isinstance(app.screen, PromptScreen)


async def test_endpoint_error_text_is_shown_literally(demo: Path) -> None:
    evil = (
        "HTTP 500: [/] [link=http://x.invalid]click[/link] [@click=app.quit]q[/] \x1b]0;pwned\x07"
    )
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        pane.post_message(TrialsPane.RunEnded("", "failed", evil))
        await settle(app, pilot)
        shown = screen(app)
        assert (
            "optimization run failed: HTTP 500: [/] [link=http://x.invalid]click[/link]"
            in (" ".join(shown.split()))
            or "[link=http://x.invalid]" in shown
        )
        assert "␛]0;pwned␇" in shown and "\x1b" not in shown
        svg = app.export_screenshot()
        assert "x.invalid" not in "".join(re.findall(r'href="([^"]*)"', svg))
        assert app.is_running  # nothing crashed, the app did not quit


def test_a_repeated_notice_is_said_once() -> None:
    shown = add_notices([], ["merge proposal skipped", "merge proposal skipped"])
    assert shown == ["merge proposal skipped (×2)"]
    shown = add_notices(shown, ["rejected: slow", "merge proposal skipped"])
    assert shown == ["rejected: slow", "merge proposal skipped (×3)"]


async def test_a_promotion_refused_is_one_line_said_in_place_and_not_logged(
    demo: Path,
) -> None:
    """An agent config that no longer parses: + says in one line that it cannot promote,
    in the hint line too (it stays there), and logs nothing: an invalid TOML file is an
    expected refusal, not a failure (it was logged with a traceback, finding 40)."""
    for config in (demo / "agents").glob("*.toml"):
        config.write_text("[agent\nname = 'x'\n")
    app = JarvisApp(demo)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_trials(app, pilot)
        shown = await press(app, pilot, "plus")
        assert "cannot promote" in shown and not isinstance(app.screen, ConfirmScreen)
        if isinstance(app.screen, PromptScreen):  # the trial names no agent: type one
            app.screen.query_one(Input).value = "react"
            shown = await press(app, pilot, "enter")
            assert "✗ cannot promote: " in shown and "invalid TOML" in shown, shown
        else:
            assert "cannot promote: " in screen_lines(app)[-2] + screen_lines(app)[-3], shown
    said = [n for n in notices if n.startswith("cannot promote: ")]
    assert len(said) <= 1 and all("\n" not in s and "details in" not in s for s in said)
    log = demo / "logs" / "jarvis-tui.log"
    assert not log.exists() or "Traceback" not in log.read_text()
