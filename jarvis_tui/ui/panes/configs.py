"""Configs pane: every agent config's version timeline, diffs, rollback, evolve.

All file work goes through :class:`AgentConfigEvolver` in thread workers; a
rollback or an accepted proposal is written only after the user saw exactly what
will land on disk.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import DataTable, Label, Static

from jarvis_tui.ui.text import one_line, safe_text, visible
from jarvis_tui.ui.widgets.focus import focus_now
from jarvis_tui.ui.widgets.nav_table import NavTable

KIND_STYLE = {"added": "green", "removed": "red", "changed": "yellow"}
AGENT_WIDTH = 14
"""Agent names longer than this end in … in the agents list."""
CAUSE_WIDTH = 8
CAUSE_SHOWN = {"promoted-trial": "promoted"}
"""Causes shown in a shorter word (the What column gets the room)."""
WIDE_AT = 150
"""From this many columns the diff sits beside the lists; below, under them."""
WIDE_LISTS = 96
"""Width of the agents + versions lists beside the diff (wide layout)."""


@dataclass
class Proposal:
    """An evolver recommendation for one agent, as the config it would write."""

    agent: str
    tools: list[str]
    max_turns: int
    temperature: float
    system_prompt: str
    classes: list[str]
    current: dict[str, Any]
    proposed: dict[str, Any]


def render_changes(changes: list[Any]) -> Text:
    """A key-level diff, coloured by kind (literal text: values come from files)."""
    if not changes:
        return Text("no differences", style="dim")
    out = Text()
    for ch in changes:
        out.append(visible(str(ch)) + "\n", style=KIND_STYLE.get(ch.kind, ""))
    return out


def render_text_diff(old: str, new: str, old_name: str, new_name: str) -> Text:
    out = Text()
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_name, new_name, lineterm="", n=2
    )
    for line in lines:
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
        if line.startswith("@@"):
            style = "cyan"
        out.append(visible(line) + "\n", style=style)
    return out if out.plain else Text("identical text", style="dim")


class ConfirmScreen(ModalScreen[bool]):
    """Show exactly what will be written; y writes, n/escape cancels."""

    BINDINGS = [
        Binding("y", "answer(True)", "Write it", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "Cancel", id="confirm.no"),
    ]

    def __init__(self, title: str, body: Text) -> None:
        super().__init__()
        self._title = title
        self._body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label(Text(self._title), id="confirm-title")
            with VerticalScroll(id="confirm-scroll"):
                yield Static(self._body, id="confirm-body")
            yield Label("y: write it   n / escape: cancel", id="confirm-hint")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class ConfigsPane(Widget):
    """Agent configs: versions, diffs, rollback, evolve."""

    HELP_TITLE = "Configs"
    HELP_TEXT = (
        "Agents of the workspace's agents/ folder. Pick an agent, then a version (tab moves "
        "between the two lists): the diff panel shows what differs from the current config "
        "(key by key; t shows the text diff). m marks a version to compare two versions. "
        "b rolls the agent back to the selected version after showing exactly what will be "
        "written; the rollback becomes the newest version. s runs the evolver over the "
        "traces and shows each proposal as a diff: y writes it, n skips it. r reloads."
    )

    BINDINGS = [
        Binding("s", "evolve", "Run evolver", id="configs.start"),
        Binding("y", "accept", "Accept proposal", id="configs.accept"),
        Binding("n", "skip", "Skip proposal", id="configs.reject"),
        Binding("b", "rollback", "Roll back", id="configs.rollback"),
        Binding("m", "mark", "Mark to compare", id="configs.mark"),
        Binding("t", "toggle_text", "Text diff", id="configs.text"),
        Binding("r", "refresh", "Reload", show=False, id="configs.refresh"),
    ]

    class Loaded(Message):
        def __init__(self, agents: list[dict[str, Any]]) -> None:
            super().__init__()
            self.agents = agents

    class VersionsLoaded(Message):
        def __init__(self, agent: str, versions: list[dict[str, Any]]) -> None:
            super().__init__()
            self.agent, self.versions = agent, versions

    class DiffReady(Message):
        def __init__(self, body: Any) -> None:
            super().__init__()
            self.body = body

    class Written(Message):
        """A rollback or an accepted proposal landed on disk."""

        def __init__(self, agent: str, what: str) -> None:
            super().__init__()
            self.agent, self.what = agent, what

    class Proposals(Message):
        def __init__(self, proposals: list[Proposal], analysed: int) -> None:
            super().__init__()
            self.proposals, self.analysed = proposals, analysed

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.evolver: Any = None
        """The workspace's AgentConfigEvolver (None until the store is open)."""
        self.agent: Optional[str] = None
        """The selected agent."""
        self.versions: list[dict[str, Any]] = []
        self.marked: Optional[int] = None
        """A version marked with m, to diff against the selected one."""
        self.text_mode = False
        self.proposals: list[Proposal] = []
        self._loaded = False

    def compose(self) -> ComposeResult:
        yield Static(Text("Waiting for the workspace…", style="dim"), id="configs-status")
        with Container(id="configs-main"):
            with Horizontal(id="configs-lists"):
                yield NavTable(id="configs-agents", cursor_type="row")
                yield NavTable(id="configs-versions", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="configs-diff"):
                yield Static(id="configs-diff-body")

    def on_mount(self) -> None:
        agents = self.query_one("#configs-agents", DataTable)
        agents.add_column(Text("Agent"), key="agent", width=AGENT_WIDTH)
        agents.add_column(Text("Ver"), key="versions", width=3)
        self._versions_columns()

    def _what_width(self) -> int:
        """The "What" column gets what the versions list has left (never cut mid-word
        without a …)."""
        lists = self.size.width if not self.has_class("-wide") else WIDE_LISTS
        # agents list (+ its border) | "#", "When", "Cause" and 4 paddings of 2
        return max(12, (lists or 80) - (AGENT_WIDTH + 3 + 4 + 1) - (4 + 11 + CAUSE_WIDTH + 8) - 2)

    def _versions_columns(self) -> None:
        versions = self.query_one("#configs-versions", DataTable)
        self._what = self._what_width()
        versions.clear(columns=True)
        for label, key, width in (("#", "n", 4), ("When", "when", 11), ("Cause", "cause", CAUSE_WIDTH),
                                  ("What", "summary", self._what)):  # fmt: skip
            versions.add_column(Text(label), key=key, width=width)

    def on_resize(self) -> None:
        self.set_class(self.size.width >= WIDE_AT, "-wide")
        if self._what_width() != getattr(self, "_what", None):
            self._versions_columns()
            if self.agent is not None and self.versions:
                self._fill_versions(self.versions)

    def store_opened(self, store: Any, agents_dir: Any) -> None:
        from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

        self.evolver = AgentConfigEvolver(store, config_dir=agents_dir)
        self._agents_dir = agents_dir
        if self._visible():
            self.focus_default()

    def _visible(self) -> bool:
        try:
            return self.app.query_one("#panes").active == "configs"  # type: ignore[attr-defined]
        except Exception:
            return False

    def focus_default(self) -> None:
        # Immediate (Widget.focus() is deferred): a key typed right after the pane
        # switch must already reach this pane.
        focus_now(self.query_one("#configs-agents", DataTable))
        self.pane_shown()

    def pane_shown(self) -> None:
        """First time the pane is on screen: list the agents (lazily)."""
        if self.evolver is not None and not self._loaded:
            self._loaded = True
            self.action_refresh()

    # ------------------------------------------------------------ loading

    def action_refresh(self) -> None:
        if self.evolver is not None:
            self._load_agents()

    @work(thread=True, exclusive=True, exit_on_error=False, group="configs.agents",
          description="list agent configs")  # fmt: skip
    def _load_agents(self) -> None:
        out = []
        for name in self.evolver.list_agents():
            versions = self.evolver.list_versions(name)
            readable = True
            if versions:
                try:
                    self.evolver.load_version(name, versions[-1]["version"])
                except ValueError:
                    readable = False
            out.append({"name": name, "versions": len(versions), "readable": readable})
        self.post_message(self.Loaded(out))

    @on(Loaded)
    def _loaded_agents(self, msg: ConfigsPane.Loaded) -> None:
        table = self.query_one("#configs-agents", DataTable)
        table.clear()
        for a in msg.agents:
            name = Text(one_line(a["name"], AGENT_WIDTH))
            if not a["readable"]:
                name.append(" ⚠", style="bold red")
            table.add_row(name, Text(str(a["versions"])), key=a["name"])
        where = "agents/"  # under the workspace shown in the header
        if not msg.agents:
            self._status(f"No agent configs in {where} yet: s runs the evolver to propose some.")
            self._show(Text("No agents yet.", style="dim"))
        else:
            self._status(f"{len(msg.agents)} agents in {where}")
            target = self.agent if self.agent in [a["name"] for a in msg.agents] else None
            if target is None:
                target = msg.agents[0]["name"]
            table.move_cursor(row=[a["name"] for a in msg.agents].index(target))
            self._select_agent(target)

    def _status(self, text: str) -> None:
        self.query_one("#configs-status", Static).update(Text(text))

    def _show(self, body: Any) -> None:
        self.query_one("#configs-diff-body", Static).update(body)

    @on(DataTable.RowHighlighted, "#configs-agents")
    def _agent_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value and event.row_key.value != self.agent:
            self._select_agent(str(event.row_key.value))

    def _select_agent(self, name: str) -> None:
        self.agent = name
        self.marked = None
        self._load_versions(name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="configs.versions",
          description="load versions")  # fmt: skip
    def _load_versions(self, name: str) -> None:
        self.post_message(self.VersionsLoaded(name, self.evolver.list_versions(name)))

    @on(VersionsLoaded)
    def _versions_loaded(self, msg: ConfigsPane.VersionsLoaded) -> None:
        if msg.agent != self.agent:
            return
        self.versions = msg.versions
        self._fill_versions(msg.versions)
        self.refresh_bindings()
        if msg.versions:
            table = self.query_one("#configs-versions", DataTable)
            table.move_cursor(row=min(1, len(msg.versions) - 1))
            self._diff_selected()

    def _fill_versions(self, versions: list[dict[str, Any]]) -> None:
        table = self.query_one("#configs-versions", DataTable)
        row = table.cursor_row
        table.clear()
        for v in reversed(versions):  # newest on top
            when = v.get("created") or v.get("modified") or 0
            num = Text(str(v["version"]), style="bold" if v.get("current") else "")
            if v.get("current"):
                num.append("*", style="bold green")
            summary = v.get("note") or v.get("summary") or ""
            cause = str(v.get("cause", ""))
            table.add_row(
                num,
                Text(datetime.fromtimestamp(when).strftime("%m-%d %H:%M")),
                Text(one_line(CAUSE_SHOWN.get(cause, cause), CAUSE_WIDTH), style="cyan"),
                Text(one_line(str(summary), self._what)),
                key=str(v["version"]),
            )
        if versions:
            table.move_cursor(row=min(row, len(versions) - 1))

    @on(DataTable.RowHighlighted, "#configs-versions")
    def _version_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._diff_selected()

    def selected_version(self) -> Optional[int]:
        table = self.query_one("#configs-versions", DataTable)
        if not self.versions or table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        except Exception:
            return None
        return int(key) if key else None

    def _current_version(self) -> Optional[int]:
        return self.versions[-1]["version"] if self.versions else None

    def _diff_selected(self) -> None:
        if self.proposals:
            return
        sel = self.selected_version()
        cur = self._current_version()
        if sel is None or cur is None or self.agent is None:
            return
        old = self.marked if self.marked is not None else sel
        new = sel if self.marked is not None else cur
        self._compute_diff(self.agent, old, new, self.text_mode)

    @work(thread=True, exclusive=True, exit_on_error=False, group="configs.diff",
          description="diff versions")  # fmt: skip
    def _compute_diff(self, agent: str, old: int, new: int, text_mode: bool) -> None:
        from jarvis_tui.learning.agent_evolver import toml_diff

        ev = self.evolver
        head = Text()
        head.append(f"{agent}: version {old} → version {new}", style="bold")
        if new == self._current_version():
            head.append(" (current)", style="green")
        parts: list[Any] = [head]
        old_text, new_text = ev.read_version(agent, old), ev.read_version(agent, new)
        if text_mode:
            parts.append(render_text_diff(old_text, new_text, f"v{old}", f"v{new}"))
        else:
            try:
                changes = toml_diff(ev.load_version(agent, old), ev.load_version(agent, new))
            except ValueError as exc:  # malformed TOML: show why and the text diff
                parts.append(Text(f"cannot compare keys: {exc}", style="red"))
                parts.append(render_text_diff(old_text, new_text, f"v{old}", f"v{new}"))
            else:
                parts.append(render_changes(changes))
        parts.append(Text("\nVersion " + str(old), style="bold underline"))
        parts.append(safe_text(old_text, limit=4000))
        self.post_message(self.DiffReady(Group(*parts)))

    @on(DiffReady)
    def _diff_ready(self, msg: ConfigsPane.DiffReady) -> None:
        if not self.proposals:
            self._show(msg.body)

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("accept", "skip"):
            return bool(self.proposals)
        if action in ("rollback", "mark", "toggle_text"):
            return self.selected_version() is not None
        if action == "evolve":
            return self.evolver is not None
        return True

    def action_toggle_text(self) -> None:
        self.text_mode = not self.text_mode
        self._diff_selected()

    def action_mark(self) -> None:
        sel = self.selected_version()
        self.marked = None if self.marked == sel else sel
        if self.marked is not None:
            self.app.notify(f"version {sel} marked: pick another to compare with it",
                            markup=False)  # fmt: skip
        self._diff_selected()

    def action_rollback(self) -> None:
        sel = self.selected_version()
        agent = self.agent
        if sel is None or agent is None:
            return
        if sel == self._current_version():
            self.app.notify("that is already the current version")
            return
        self._preview_rollback(agent, sel)

    @work(thread=True, exclusive=True, exit_on_error=False, group="configs.preview",
          description="preview rollback")  # fmt: skip
    def _preview_rollback(self, agent: str, version: int) -> None:
        """Read exactly what a rollback would write (off the UI thread), then ask."""
        try:
            text = self.evolver.preview_rollback(agent, version)
        except ValueError as exc:
            self.app.call_from_thread(
                self.app.notify, str(exc), severity="error", timeout=8, markup=False
            )
            return
        body = Text.assemble(
            (
                f"agents/{agent}.toml will become version {version}'s content, recorded as a "
                "new version (cause: rollback):\n\n",
                "dim",
            ),  # fmt: skip
        )
        body.append_text(safe_text(text))

        def done(ok: bool | None) -> None:
            if ok:
                self._do_rollback(agent, version)

        self.app.call_from_thread(
            self.app.push_screen,
            ConfirmScreen(f"Roll {agent} back to version {version}?", body),
            done,
        )

    @work(thread=True, exit_on_error=False, group="configs.write", description="roll back")
    def _do_rollback(self, agent: str, version: int) -> None:
        self.evolver.rollback(agent, version)
        self.post_message(self.Written(agent, f"rolled back to version {version}"))

    @on(Written)
    def _written(self, msg: ConfigsPane.Written) -> None:
        self.app.notify(f"{msg.agent}: {msg.what}", markup=False)
        self.action_refresh()

    # ------------------------------------------------------------ evolve

    def action_evolve(self) -> None:
        self._status("Analysing every trace for recommendations…")
        self._run_evolver()

    @work(thread=True, exclusive=True, exit_on_error=False, group="configs.evolve",
          description="analyse traces")  # fmt: skip
    def _run_evolver(self) -> None:
        from jarvis_tui.learning.learning_orchestrator import LearningOrchestrator

        seen = [0]

        def progress(n: int) -> None:
            seen[0] = n
            self.app.call_from_thread(self._status, f"Analysing traces… {n:,} read")

        recs = self.evolver.analyze(progress=progress)
        proposals = []
        for name, m in sorted(LearningOrchestrator._merge(recs).items()):
            tools = sorted(m["tools"], key=lambda t: (-m["tools"][t], t))
            current: dict[str, Any] = {}
            versions = self.evolver.list_versions(name)
            if versions:
                try:
                    current = self.evolver.load_version(name, versions[-1]["version"])
                except ValueError:
                    current = {}
            settings = dict(current.get("agent", {}))
            temperature = settings.get("temperature", 0.3)
            prompt = settings.get("system_prompt", "")
            proposed = {
                "agent": {
                    "name": name, "tools": tools, "max_turns": m["max_turns"],
                    "temperature": temperature if isinstance(temperature, (int, float)) else 0.3,
                    "system_prompt": prompt if isinstance(prompt, str) else "",
                }
            }  # fmt: skip
            if settings.get("tools") == tools and settings.get("max_turns") == m["max_turns"]:
                continue
            proposals.append(
                Proposal(
                    name,
                    tools,
                    m["max_turns"],
                    proposed["agent"]["temperature"],
                    proposed["agent"]["system_prompt"],
                    sorted(m["classes"]),
                    current,
                    proposed,
                )  # fmt: skip
            )
        self.post_message(self.Proposals(proposals, seen[0]))

    @on(Proposals)
    def _got_proposals(self, msg: ConfigsPane.Proposals) -> None:
        self.proposals = list(msg.proposals)
        self._proposal_mode()
        if not self.proposals:
            self._status("The evolver has nothing new to recommend.")
            self._diff_selected()
        self.refresh_bindings()
        self._show_proposal()

    def _show_proposal(self) -> None:
        from jarvis_tui.learning.agent_evolver import toml_diff

        if not self.proposals:
            return
        p = self.proposals[0]
        self._status(
            f"Proposal for {p.agent} ({len(self.proposals)} left): y writes it, n skips it"
        )
        # A new agent: list the proposed keys one by one, not as one new table.
        current = p.current or {k: {} for k in p.proposed}
        parts: list[Any] = [
            Text.assemble((f"{p.agent}: evolver proposal", "bold"),
                          (f"  ({len(self.proposals)} left)", "dim")),  # fmt: skip
            Text(f"best agent for: {', '.join(p.classes)}", style="dim"),
            render_changes(toml_diff(current, p.proposed)),
            Text("y: write it as a new version · n: skip it", style="bold"),
        ]
        self._show(Group(*parts))
        self.query_one("#configs-diff", VerticalScroll).scroll_home(animate=False)

    def _proposal_mode(self) -> None:
        """While proposals wait, the diff gets the room (the lists hide when stacked)."""
        self.set_class(bool(self.proposals), "-proposal")

    def action_accept(self) -> None:
        if not self.proposals:
            return
        p = self.proposals.pop(0)
        self._write_proposal(p)
        self._proposal_mode()
        self.refresh_bindings()
        if self.proposals:
            self._show_proposal()

    def action_skip(self) -> None:
        if not self.proposals:
            return
        p = self.proposals.pop(0)
        self.app.notify(f"skipped the proposal for {p.agent}", markup=False)
        self._proposal_mode()
        self.refresh_bindings()
        if self.proposals:
            self._show_proposal()
        else:
            self._status("All proposals handled.")
            self._diff_selected()

    @work(thread=True, exit_on_error=False, group="configs.write", description="write config")
    def _write_proposal(self, p: Proposal) -> None:
        self.evolver.write_config(
            p.agent, tools=p.tools, max_turns=p.max_turns, temperature=p.temperature,
            system_prompt=p.system_prompt, cause="evolver",
            note="accepted in the Configs pane: best for " + ", ".join(p.classes),
        )  # fmt: skip
        self.post_message(self.Written(p.agent, "new version written"))
