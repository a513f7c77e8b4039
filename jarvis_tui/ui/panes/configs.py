"""Configs pane: every agent config's version timeline, diffs, rollback, evolve.

All file work goes through :class:`AgentConfigEvolver` in thread workers; a
rollback or an accepted proposal is written only after the user saw exactly what
will land on disk. Each version's outcomes (traces served, rated, mean feedback with
its 95% interval, success rate: :mod:`jarvis_tui.learning.outcomes`) are computed in
a thread worker and shown in the timeline, in the comparison of two versions and in
the rollback preview, so a decision is made on evidence.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from rich.cells import cell_len
from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, VerticalScroll
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from jarvis_tui.core.fmt import plural
from jarvis_tui.ui.panes.base import Pane
from jarvis_tui.ui.screens.confirm import ConfirmScreen
from jarvis_tui.ui.scrolling import KeyedScroll
from jarvis_tui.ui.text import one_line, safe_text, visible
from jarvis_tui.ui.widgets.focus import focus_now
from jarvis_tui.ui.widgets.nav_table import NavTable

if TYPE_CHECKING:
    from jarvis_tui.learning.agent_evolver import AgentConfigEvolver, ConfigProposal
    from jarvis_tui.learning.learning_orchestrator import HandChoice
    from jarvis_tui.traces import TraceStore
    from jarvis_tui.workspace import WorkspaceSession

KIND_STYLE = {"added": "green", "removed": "red", "changed": "yellow"}
AGENT_WIDTH = 16
"""The agents list is as wide as its longest name, up to this; longer ones end in …."""
VER_WHAT_MIN = 45
"""The agents list's Ver column shows only where the What column keeps this many cells."""
CAUSE_WIDTH = 8
CAUSE_SHOWN = {"promoted-trial": "promoted"}
"""Causes shown in a shorter word (the What column gets the room)."""
WIDE_AT = 150
"""From this many columns the diff sits beside the lists; below, under them."""
WIDE_LISTS = (100, 140)
"""Width of the agents + versions lists beside the diff (wide layout): the screen's
width less the diff's 56 columns, within these bounds."""
WIDE_DIFF = 56
NARROW_BELOW = 100
"""Below this many columns for the lists: the agents list is narrower (names only) and
the When column shows the day only (left out where even that does not fit), so the
outcome columns and the summary still fit."""
NARROW_AGENT_WIDTH = 12
"""Narrow: the names' widest (the demo's ``orchestrator`` reads whole at 80 columns)."""
WHAT_MIN = 12
NARROW_WHAT_MIN = 12
"""Narrow: the short When column shows only while What keeps this many cells."""
PENDING = "…"
LOST_KEY = "lost"
"""The timeline row of a version a hand edit overwrote before it was archived."""
LOST_WHAT = "overwritten outside jarvis-tui before it was archived"
HAND_TITLE = {
    "rollback": "your rollback",
    "manual": "written by hand",
    "promoted-trial": "a trial you promoted",
}
"""The confirm's title, for a version a person chose, by its cause."""
"""Shown in the outcome columns until the outcomes worker answers."""


def fmt_count(n: int) -> str:
    """A count in at most 6 characters (12,345 · 123k · 1.2M)."""
    if n < 100_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.1f}M"


def fmt_feedback(o: Any, *, spaced: bool = False) -> str:
    """Mean feedback ± the half width of its 95% interval ("–" when nothing is rated)."""
    if o is None or not o.rated:
        return "–"
    sep = " ± " if spaced else "±"
    return f"{o.feedback.mean:.2f}{sep}{o.feedback.half_width:.2f}"


def fmt_rate(rate: Optional[float]) -> str:
    return "–" if rate is None else f"{rate:.0%}"


def outcome_line(o: Any, *, name: Optional[str] = None) -> Text:
    """One version's outcomes as a line a person reads (literal text)."""
    label = name or o.label
    out = Text()
    out.append(f"{label}: ", style="bold")
    if not o.traces:
        out.append("no traces yet", style="dim")
    else:
        out.append(f"{o.traces:,} traces · {o.rated:,} rated · feedback ")
        if o.rated:
            fb = o.feedback
            out.append(f"{fb.mean:.2f} ± {fb.half_width:.2f}", style="bold")
            out.append(" ")
            out.append(f"({fb.low:.2f}–{fb.high:.2f})", style="dim")
        else:
            out.append("–")
        out.append(f" · success {fmt_rate(o.success_rate)}")
        if o.mean_latency_seconds is not None:
            out.append(f" · {o.mean_latency_seconds:.2f} s")
        if o.mean_tokens is not None:
            out.append(f" · {o.mean_tokens:,.0f} tokens")
    if o.eval is not None:
        out.append(f" · eval {o.eval.accuracy:.3f} ({o.eval.samples} samples)")
    if o.approximate:
        out.append("\n  ~ approximate: ", style="yellow")
        out.append(visible(o.why_approximate or "start time estimated"), style="yellow")
    return out


@dataclass(frozen=True)
class Proposal:
    """The engine's proposal for one agent (:meth:`AgentConfigEvolver.propose_configs`),
    as the pane shows it: with the version number it would be written as."""

    config: ConfigProposal
    """What the engine would write, and why (never one with an ``error``)."""
    next_version: int = 1
    """The version number an accepted proposal is written as."""
    hand: Optional[HandChoice] = None
    """The current version when a person chose it (a rollback, a manual version, a
    promoted trial), with the ratings since: the learning cycle's rule
    (:func:`~jarvis_tui.learning.learning_orchestrator.hand_choice`); None otherwise."""

    @property
    def agent(self) -> str:
        return self.config.agent


def render_changes(changes: list[Any]) -> Text:
    """A key-level diff, coloured by kind (literal text: values come from files)."""
    if not changes:
        return Text("no differences", style="dim")
    out = Text()
    for ch in changes:
        out.append(visible(str(ch)) + "\n", style=KIND_STYLE.get(ch.kind, ""))
    return out


def config_text(text: str, where: str, limit: int = 4000) -> Text:
    """A config file's text, literally; past *limit* characters, where the whole file is."""
    out = Text(visible(text[:limit]))
    if len(text) > limit:
        out.append(f"\n… {len(text) - limit:,} more characters: the whole file is {where}",
                   style="dim italic")  # fmt: skip
    return out


def _where(ev: AgentConfigEvolver, agent: str, number: int) -> str:
    """Version *number*'s file, under the workspace (``agents/.history/x.v000002.toml``)."""
    from pathlib import Path

    try:
        path = Path(ev.list_versions(agent)[number - 1]["path"])
    except (IndexError, OSError, ValueError):
        return "in agents/"
    parts = path.parts
    cut = max((i for i, part in enumerate(parts) if part == "agents"), default=None)
    return one_line(str(Path(*parts[cut:])) if cut is not None else str(path), 120)


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


def preview_evidence(
    agent: str,
    version: int,
    cur_n: Optional[int],
    outcomes: Any,
    store: Optional[TraceStore],
    ev: AgentConfigEvolver,
    workspace: Optional[WorkspaceSession],
) -> Text:
    """The target's outcomes beside the current version's (*cur_n*), with the
    comparison; *outcomes* are computed here when not given (a thread worker's call)."""
    from jarvis_tui.learning.outcomes import compare_versions, version_outcomes

    out = Text()
    out.append("Evidence (the traces each version served):\n", style="bold")
    if outcomes is None:
        try:
            outcomes = version_outcomes(store, ev, agent, workspace=workspace)
        except Exception as exc:
            out.append(f"outcomes: cannot compute: {one_line(str(exc), 200)}\n", style="red")
            return out
    target = next((o for o in outcomes.versions if o.version == version), None)
    current = next((o for o in outcomes.versions if o.version == cur_n), None)
    if target is not None:
        out.append_text(outcome_line(target, name=f"target v{version}"))
        out.append("\n")
    if current is not None:
        out.append_text(outcome_line(current, name=f"current v{cur_n}"))
        out.append("\n")
    if target is not None and current is not None:
        out.append("verdict: ", style="dim")
        out.append(compare_versions(current, target).verdict + "\n", style="bold")
    return out


class ListTable(NavTable):
    """One of the pane's two lists: rows have no cells to walk, so h / l (and ← →)
    move to the list beside (Agents ⇄ Versions), as "h l move" says everywhere."""

    def __init__(self, *args: Any, left: str = "", right: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._left, self._right = left, right

    def _go(self, neighbour: str) -> None:
        if neighbour:
            focus_now(self.screen.query_one(f"#{neighbour}", DataTable))

    def action_cursor_left(self) -> None:
        self._go(self._left)

    def action_cursor_right(self) -> None:
        self._go(self._right)


class ConfigsPane(Pane):
    """Agent configs: versions, diffs, rollback, evolve."""

    PANE_ID = "configs"
    HELP_TITLE = "Configs"
    HELP_TEXT = (
        "Agents of the workspace's agents/ folder. Pick an agent, then a version (enter or l "
        "moves into the versions; h / l or tab move between the two lists): the diff panel shows what differs from the current config "
        "(key by key; t shows the text diff). Each version shows what the traces it served "
        "say: traces, rated, mean feedback ± its 95% interval, success rate (~: its start "
        "time is approximate), with the feedback over time above the lists. m marks a "
        "version: the selected one is then compared with it (difference in mean feedback, "
        "its interval and a verdict); m on another version says that comparison and keeps "
        "the mark; m on the marked version unmarks it (to move the mark: unmark, then m on "
        "the new one). b rolls the agent back to the selected version after "
        "showing exactly what will be written and what that version's traces said; the "
        "rollback becomes the newest version. s runs the evolver over the traces and shows "
        "each proposal as a diff with the version number it would write: y writes it, "
        "n skips it (nothing is written; a learning cycle may still write it). A proposal "
        "over a version you chose (a rollback, a manual version, a promoted trial) says so "
        "with the ratings since; while they are under the evidence minimum (a learning "
        "cycle keeps such a version until then), y asks once more. r reloads (a config edited outside jarvis-tui shows as external; the "
        "cursor stays on its agent and version). "
        "Counts: traces = the traces the version served; rated = those with a feedback "
        "score (a label, or OpenJarvis's own feedback), the evidence its mean feedback is "
        "computed from."
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
        def __init__(self, agents: list[dict[str, Any]],
                     skipped: list[tuple[str, str]] | None = None) -> None:  # fmt: skip
            super().__init__()
            self.agents = agents
            self.skipped = skipped or []

    class VersionsLoaded(Message):
        def __init__(self, agent: str, versions: list[dict[str, Any]]) -> None:
            super().__init__()
            self.agent, self.versions = agent, versions

    class DiffReady(Message):
        def __init__(self, body: Any, key: tuple[str, int, int] | None = None) -> None:
            super().__init__()
            self.body, self.key = body, key

    class OutcomesLoaded(Message):
        """Outcomes per version of one agent (or why they could not be computed)."""

        def __init__(self, agent: str, outcomes: Any, error: str = "") -> None:
            super().__init__()
            self.agent, self.outcomes, self.error = agent, outcomes, error

    class Written(Message):
        """A rollback or an accepted proposal landed on disk."""

        def __init__(self, agent: str, what: str) -> None:
            super().__init__()
            self.agent, self.what = agent, what

    class RollbackPreviewed(Message):
        """What a rollback would write and what its versions' traces said (*ask*: False
        when it is refused, *refusal* says why), or *error* (raised as *failure*)."""

        def __init__(self, agent: str, version: int, title: str, body: Text, *,
                     ask: bool = True, refusal: str = "", error: str = "",
                     failure: BaseException | None = None) -> None:  # fmt: skip
            super().__init__()
            self.agent, self.version, self.title, self.body = agent, version, title, body
            self.ask, self.refusal, self.error = ask, refusal, error
            self.failure = failure

    class EvolverProgressed(Message):
        """Traces the evolver has read so far (a newer one replaces it)."""

        def __init__(self, read: int) -> None:
            super().__init__()
            self.read = read

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ConfigsPane.EvolverProgressed)

    class Proposals(Message):
        """The evolver's proposals, and one line per agent it could not propose for."""

        def __init__(self, proposals: list[Proposal], analysed: int, errors: list[str]) -> None:
            super().__init__()
            self.proposals, self.analysed, self.errors = proposals, analysed, errors

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.evolver: AgentConfigEvolver | None = None
        """The workspace's AgentConfigEvolver (None until the store is open)."""
        self.agent: Optional[str] = None
        """The selected agent."""
        self.versions: list[dict[str, Any]] = []
        self.marked: Optional[int] = None
        """A version marked with m, to diff against the selected one."""
        self.text_mode = False
        self.proposals: list[Proposal] = []
        self.proposal_errors: list[str] = []
        """Agents the last evolver run could not propose for: one line each, shown."""
        self._loaded = False
        self._store: TraceStore | None = None
        self.outcomes: Any = None
        """The selected agent's :class:`VersionOutcomes` (None until computed)."""
        self._outcomes_error = ""
        self._diff_key: tuple[str, int, int] | None = None
        self._diff_body: Any = None
        self._agents: list[dict[str, Any]] = []
        self._skipped: list[tuple[str, str]] = []
        self._narrow: Optional[bool] = None
        self._agents_said: Optional[tuple[str, Optional[bool]]] = None
        """The status line is the agents' line (what came before it, the width's words)."""
        self._layout: tuple[bool, int, bool] | None = None
        """The agents list's (narrow, name width, Ver column) its columns were built for."""
        self._after_write: tuple[str, str] | None = None
        """The agent a write just changed and what it wrote (the reload selects the agent
        and says it in the status line)."""
        self._keep: tuple[Optional[str], int] | None = None
        """The agent and version under the cursor when r reloads (kept where they exist)."""

    def compose(self) -> ComposeResult:
        yield Static(Text("Waiting for the workspace…", style="dim"), id="configs-status")
        yield Static(Text(""), id="configs-spark", markup=False)
        with Container(id="configs-main"):
            with Horizontal(id="configs-lists"):
                yield ListTable(id="configs-agents", cursor_type="row", right="configs-versions")
                yield ListTable(id="configs-versions", cursor_type="row", zebra_stripes=True,
                                left="configs-agents")  # fmt: skip
            with KeyedScroll(id="configs-diff"):
                yield Static(id="configs-diff-body")

    def on_mount(self) -> None:
        self._agents_columns()
        self._versions_columns()

    def _lists_width(self) -> int:
        if self.has_class("-wide"):
            return max(WIDE_LISTS[0], min(WIDE_LISTS[1], self.size.width - WIDE_DIFF))
        return self.size.width or 80

    def _is_narrow(self) -> bool:
        return self._lists_width() < NARROW_BELOW

    def _agent_layout(self) -> tuple[bool, int, bool]:
        """(narrow, name width, Ver column) for this width and these agents: names get
        the width of the longest (up to a cap), Ver shows where What keeps its room."""
        narrow = self._is_narrow()
        longest = max((cell_len(one_line(a["name"], 200)) + (0 if a["readable"] else 2)
                       for a in self._agents), default=6)  # fmt: skip
        name = max(6, min(NARROW_AGENT_WIDTH if narrow else AGENT_WIDTH, longest))
        ver = not narrow and self._what_room(narrow, name + 3) - 5 >= VER_WHAT_MIN
        return narrow, name, ver

    @staticmethod
    def _agents_width(layout: tuple[bool, int, bool]) -> int:
        """The agents list's width: its cells, their padding and the border."""
        _narrow, name, ver = layout
        return name + 2 + (5 if ver else 0) + 1

    def _agents_columns(self) -> None:
        agents = self.query_one("#configs-agents", DataTable)
        self._layout = layout = self._agent_layout()
        self._narrow = layout[0]
        self.set_class(self._narrow, "-narrow")
        agents.styles.width = self._agents_width(layout)
        agents.clear(columns=True)
        agents.add_column(Text("Agent"), key="agent", width=layout[1])
        if layout[2]:
            agents.add_column(Text("Ver"), key="versions", width=3)

    def _fixed_columns(self, narrow: bool) -> list[tuple[str, str, int]]:
        cols = [("#", "n", 4)]
        if not narrow:
            cols.append(("When", "when", 11))
        cols += [("Cause", "cause", CAUSE_WIDTH), ("Traces", "traces", 6), ("Rated", "rated", 5),
                 ("Feedback", "feedback", 9), ("Succ", "success", 4)]  # fmt: skip
        return cols

    def _what_room(self, narrow: bool, agents_width: int) -> int:
        """The What column's width beside an agents list this wide."""
        used = sum(w + 2 for _l, _k, w in self._fixed_columns(narrow)) + 2  # paddings, scrollbar
        return max(WHAT_MIN, self._lists_width() - agents_width - used - 2)

    def _version_columns(self) -> list[tuple[str, str, int]]:
        """The timeline's columns for this width: the outcome columns always show; the
        "What" summary gets what is left (cut with a …), When only where it fits."""
        layout = self._agent_layout()
        narrow = layout[0]
        cols = self._fixed_columns(narrow)
        what = self._what_room(narrow, self._agents_width(layout))
        if narrow and what - 7 >= NARROW_WHAT_MIN:
            # Narrow: the day alone ("12-01") where the What summary keeps some room.
            cols.insert(1, ("When", "when", 5))
            what -= 7
        return [*cols, ("What", "summary", what)]

    def _versions_columns(self) -> None:
        versions = self.query_one("#configs-versions", DataTable)
        self._cols = self._version_columns()
        self._what = self._cols[-1][2]
        versions.clear(columns=True)
        for label, key, width in self._cols:
            versions.add_column(Text(label), key=key, width=width)

    def on_resize(self) -> None:
        wide = self.size.width >= WIDE_AT
        self.set_class(wide, "-wide")
        # Beside the diff, the lists are as wide as the timeline's columns are laid out for.
        self.query_one("#configs-lists").styles.width = self._lists_width() if wide else None
        self._relayout()
        self._show_spark()

    def _relayout(self) -> None:
        """Rebuild the lists' columns where the width or the agents' names call for
        others; the cursors stay on their agent and version."""
        if self._agent_layout() != self._layout:
            row = self.query_one("#configs-agents", DataTable).cursor_row
            self._agents_columns()  # clearing the columns puts the cursor on row 0
            if self._agents:
                self._fill_agents(self._agents, row=row)
            said = self._agents_said
            if said is not None and said[1] != self._narrow:
                self._agents_status(said[0])
        if self._version_columns() != getattr(self, "_cols", None):
            keep = self.selected_version() if getattr(self, "_cols", None) else None
            self._versions_columns()  # clearing the columns puts the cursor on row 0
            if self.agent is not None and self.versions:
                self._fill_versions(self.versions, keep=keep)

    def workspace_ready(self, session: WorkspaceSession) -> None:
        super().workspace_ready(session)
        self._store = session.traces
        self.evolver = session.evolver
        if self._visible():
            self.focus_default()

    def _visible(self) -> bool:
        return self.is_active

    def _evolver(self) -> AgentConfigEvolver:
        """The evolver (only called once the workspace is ready)."""
        if self.evolver is None:
            raise RuntimeError("the workspace is not open yet")
        return self.evolver

    def focus_default(self) -> None:
        # Immediate (Widget.focus() is deferred): a key typed right after the pane
        # switch must already reach this pane.
        focus_now(self.query_one("#configs-agents", DataTable))
        self.on_shown()

    def on_shown(self) -> None:
        """First time the pane is on screen: list the agents (lazily)."""
        if self.evolver is not None and not self._loaded:
            self._loaded = True
            self.action_refresh()

    # ------------------------------------------------------------ loading

    def action_refresh(self) -> None:
        """r: re-read agents/; the cursor stays on its agent and version where they still
        exist (after a write, the timeline opens on what the write changed instead)."""
        self._reload(keep=True)

    def _reload(self, *, keep: bool) -> None:
        if self.evolver is None:
            return
        sel = self.selected_version() if keep and self.agent is not None else None
        self._keep = (self.agent, sel) if sel is not None else None
        self._load_agents(self._evolver())

    @work(thread=True, exclusive=True, exit_on_error=False, group="configs.agents",
          description="list agent configs")  # fmt: skip
    def _load_agents(self, ev: AgentConfigEvolver) -> None:
        # The one list of agents (the Trials promote form's too); an unusable config is
        # marked ⚠ and said, never a failure.
        out = [{"name": a.name, "versions": a.versions, "readable": a.usable,
                "problem": a.problem, "kind": a.kind} for a in ev.agents()]  # fmt: skip
        self.post_message(self.Loaded(out, ev.skipped_files()))

    def _fill_agents(self, agents: list[dict[str, Any]], row: Optional[int] = None) -> None:
        table = self.query_one("#configs-agents", DataTable)
        row = table.cursor_row if row is None else row
        table.clear()
        _narrow, width, ver = self._layout or self._agent_layout()
        for a in agents:
            name = Text(one_line(a["name"], 200))
            # cut by cells, not characters: a wide letter (🤖) takes two
            name.truncate(width - (2 if not a["readable"] else 0), overflow="ellipsis")
            if not a["readable"]:
                name.append(" ⚠", style="bold red")
            cells = [name, Text(str(a["versions"]))] if ver else [name]
            table.add_row(*cells, key=a["name"])
        if agents:
            table.move_cursor(row=min(max(row, 0), len(agents) - 1))

    @on(Loaded)
    def _loaded_agents(self, msg: ConfigsPane.Loaded) -> None:
        self._agents = list(msg.agents)
        self._skipped = list(msg.skipped)
        self._relayout()  # the names' width
        names = [a["name"] for a in msg.agents]
        wrote, said = self._after_write or (None, "")
        self._after_write = None
        # After a write, its agent (its timeline shows the new version); else the one
        # selected, where it still exists. The cursor goes there at once: a stop on the
        # old row on the way would select that agent too.
        target = wrote if wrote in names else self.agent if self.agent in names else None
        if target is None and names:
            target = names[0]
        self._fill_agents(msg.agents, row=names.index(target) if target is not None else None)
        where = "agents/"  # under the workspace shown in the header
        if not msg.agents:
            self._status(f"No agent configs in {where} yet: s runs the evolver to propose some.")
            self._show(Text("No agents yet.", style="dim"))
        else:
            assert target is not None
            self.select_agent(target)
            self._agents_status(said)
        if self.proposals:  # a reload after y: the next proposal still waits, and says so
            self._proposal_status()

    def _agents_status(self, said: str = "") -> None:
        """The status line between actions: what the last write did (*said*), then the
        agents, the unusable ones and the skipped files."""
        n = len(self._agents)
        head = f"{said} · " if said else ""
        self._status(f"{head}{n} agent{'' if n == 1 else 's'} in agents/" + self._unusable_words()
                     + self._skipped_words())  # fmt: skip
        # Said again in the words of another width when the pane's width changes (the
        # agents may be listed before the pane is first laid out, at no width).
        self._agents_said = (said, self._narrow)

    def _unusable_words(self) -> str:
        """' · 2 unusable: broken (invalid TOML), link (symlink)': the agents marked ⚠."""
        bad = [a for a in self._agents if not a["readable"]]
        if not bad:
            return ""
        if self._narrow:  # the list marks them; the selected one's reason is below it
            return f" · {len(bad)} unusable (⚠)"
        words = ", ".join(f"{one_line(a['name'], 24)} ({a.get('kind') or 'unusable'})"
                          for a in bad[:4])  # fmt: skip
        return f" · {len(bad)} unusable: {words}" + (" …" if len(bad) > 4 else "")

    def _skipped_words(self) -> str:
        """' · 1 file skipped: NAME: why' for files in agents/ that name no agent."""
        if not self._skipped:
            return ""
        first, why = self._skipped[0]
        more = f" (and {len(self._skipped) - 1} more)" if len(self._skipped) > 1 else ""
        if self._narrow:  # the list keeps its rows: the reason is on a wide screen
            return f" · {plural(len(self._skipped), 'file')} skipped: {one_line(first, 24)}{more}"
        return (f" · {plural(len(self._skipped), 'file')} skipped: {one_line(first, 40)}: "
                f"{one_line(why, 160)}{more}")  # fmt: skip

    def _status(self, text: str) -> None:
        self._agents_said = None  # another message: a resize leaves it as it is
        self.query_one("#configs-status", Static).update(Text(text))

    def _show(self, body: Any) -> None:
        self.query_one("#configs-diff-body", Static).update(body)

    @on(DataTable.RowSelected, "#configs-agents")
    def _agent_chosen(self, event: DataTable.RowSelected) -> None:
        """enter on an agent moves into its versions (as l does)."""
        event.stop()
        focus_now(self.query_one("#configs-versions", DataTable))

    @on(DataTable.RowHighlighted, "#configs-agents")
    def _agent_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Only the row the cursor is on now: a refill posts a highlight of row 0 (its
        # first row added) before the one of the row the cursor is put back on, and a
        # stale one must not select the first agent between them (or after a key).
        if event.cursor_row != event.data_table.cursor_row:
            return
        if event.row_key.value and event.row_key.value != self.agent:
            self.select_agent(str(event.row_key.value))

    def select_agent(self, name: str) -> None:
        """Show agent *name*: its versions, outcomes and the diff of the selected one.

        A mark stays while the agent does (a reload keeps it); another agent drops it,
        and the status says so (a mark compares two versions of one agent)."""
        if self.marked is not None and name != self.agent:
            self.app.notify(f"v{self.marked} of {one_line(self.agent or '', 40)} unmarked: a "
                            "mark compares versions of one agent", markup=False)  # fmt: skip
            self.marked = None
        moved = name != self.agent and self.agent is not None
        self.agent = name
        if moved and not self.proposals:  # no words left over from another agent
            self._agents_status()
        self.outcomes = None
        self._outcomes_error = ""
        self._show_spark()
        self._load_versions(name, self._evolver())
        self._load_outcomes(name, self._store, self._evolver(), self.workspace)

    @work(thread=True, exclusive=True, exit_on_error=False, group="configs.outcomes",
          description="outcomes per version")  # fmt: skip
    def _load_outcomes(self, name: str, store: Optional[TraceStore], ev: AgentConfigEvolver,
                       workspace: Optional[WorkspaceSession]) -> None:  # fmt: skip
        """Every version's outcomes, in one grouped query (never on the UI thread)."""
        from jarvis_tui.learning.outcomes import version_outcomes

        if store is None:
            return
        try:
            out = version_outcomes(store, ev, name, workspace=workspace)
        except Exception as exc:  # a broken log or store: say so, keep the timeline
            self.post_message(self.OutcomesLoaded(name, None, one_line(str(exc), 200)))
            return
        self.post_message(self.OutcomesLoaded(name, out))

    @on(OutcomesLoaded)
    def _outcomes_loaded(self, msg: ConfigsPane.OutcomesLoaded) -> None:
        if msg.agent != self.agent:
            return
        self.outcomes, self._outcomes_error = msg.outcomes, msg.error
        if self.versions:
            self._fill_versions(self.versions)
        self._show_spark()
        self._render_diff()

    def outcome_of(self, version: Optional[int]) -> Any:
        """The selected agent's outcomes for *version* (None: not computed / unknown)."""
        if self.outcomes is None or version is None:
            return None
        for o in self.outcomes.versions:
            if o.version == version:
                return o
        return None

    def _show_spark(self) -> None:
        """Feedback over time across the versions, with where each version starts."""
        spark = self.query_one("#configs-spark", Static)
        out = Text()
        if self.agent is None:
            spark.update(out)
            return
        if self._outcomes_error:
            out.append("outcomes: cannot compute: ", style="red")
            out.append(self._outcomes_error)
            spark.update(out)
            return
        o = self.outcomes
        if o is None:
            spark.update(Text("outcomes: computing…", style="dim"))
            return
        if not o.total_traces:
            out.append("feedback over time: ", style="dim")
            out.append(f"no traces yet for {one_line(o.agent, 40)}")
            spark.update(out)
            return
        head = "feedback "
        rated = sum(v.rated for v in o.versions) + (o.prior.rated if o.prior else 0)
        tail = f"  {o.total_traces:,} traces · {rated:,} rated"
        if o.prior is not None and o.prior.traces:
            tail += f" · {o.prior.traces:,} before v1"
        room = (self.size.width or 80) - len(head) - 2  # the padding
        if room - len(tail) < 16:  # the curve gets the room first
            tail = tail[: max(0, room - 16)].rstrip(" ·")
        width = max(8, min(len(o.series), room - len(tail)))
        points = o.series
        if width < len(points):
            step = len(points) / width
            points = [points[int(i * step)] for i in range(width)]
        out.append(head, style="dim")
        out.append(o.sparkline(width), style="green")
        out.append(tail, style="dim")
        marks = Text("versions ", style="dim")
        last: Any = object()
        line = [" "] * len(points)
        for i, p in enumerate(points):
            if p.version is not None and p.version != last:
                label = str(p.version)
                if all(c == " " for c in line[i : i + len(label) + 1]):
                    line[i : i + len(label)] = list(label)
                last = p.version
        unseen = [f"v{v.version}" for v in o.versions if not v.traces]
        if any(c != " " for c in line):
            marks.append("".join(line).rstrip(), style="cyan")
        elif not unseen:
            marks.append("every trace started before v1", style="dim")
        if unseen:  # written after the last trace: not on the curve, still said
            marks.append(("   " if any(c != " " for c in line) else "")
                         + " ".join(unseen[-6:]) + (" …" if len(unseen) > 6 else "")
                         + ": no traces yet", style="dim")  # fmt: skip
        if any(v.approximate for v in o.versions):
            marks.append("   ~ approximate start", style="yellow")
        out.append("\n")
        out.append_text(marks)
        spark.update(out)

    @work(thread=True, exclusive=True, exit_on_error=False, group="configs.versions",
          description="load versions")  # fmt: skip
    def _load_versions(self, name: str, ev: AgentConfigEvolver) -> None:
        self.post_message(self.VersionsLoaded(name, ev.list_versions(name)))

    @on(VersionsLoaded)
    def _versions_loaded(self, msg: ConfigsPane.VersionsLoaded) -> None:
        if msg.agent != self.agent:
            return
        self.versions = msg.versions
        numbers = [v["version"] for v in msg.versions]
        if self.marked is not None and self.marked not in numbers:
            self.marked = None
        keep = self._keep[1] if self._keep is not None and self._keep[0] == msg.agent else None
        self._keep = None
        self._fill_versions(msg.versions, keep=keep)
        self.refresh_bindings()
        if msg.versions:
            if keep not in numbers:  # a new agent, or a write: what the current one changed
                table = self.query_one("#configs-versions", DataTable)
                # the version before the current one (below the lost row, if any)
                cur = msg.versions[-1]["version"]
                lost = 1 if cur in self._lost_before() and len(msg.versions) > 1 else 0
                table.move_cursor(row=min(1 + lost, table.row_count - 1))
            self._diff_selected()

    def _fill_versions(self, versions: list[dict[str, Any]], keep: Optional[int] = None) -> None:
        """Refill the timeline, the cursor staying on the selected version (*keep*, or
        the row it was on)."""
        table = self.query_one("#configs-versions", DataTable)
        row = table.cursor_row
        before = self._cursor_key()
        lost = self._lost_before()
        order: list[Any] = []  # newest on top; a version a hand edit lost under that edit
        for v in reversed(versions):
            order.append(v)
            if v["version"] in lost:
                order.append(f"{LOST_KEY}-{v['version']}")
        shown = [v if isinstance(v, str) else str(v["version"]) for v in order]
        if keep is not None and str(keep) in shown:
            row = shown.index(str(keep))
        elif keep is None and before in shown:
            row = shown.index(before)  # the rows above it may have changed (the lost row)
        table.clear()
        keys = [k for _label, k, _w in self._cols]
        when_format = "%m-%d %H:%M" if dict((k, w) for _l, k, w in self._cols).get(
            "when", 11) >= 11 else "%m-%d"  # fmt: skip
        for v in order:
            if isinstance(v, str):
                o = lost[int(v.rsplit("-", 1)[1])]
                table.add_row(*self._lost_cells(o, keys, when_format), key=v)
                continue
            when = v.get("created") or v.get("modified") or 0
            num = Text(str(v["version"]), style="bold" if v.get("current") else "")
            if v.get("current"):
                num.append("*", style="bold green")
            o = self.outcome_of(v["version"])
            if o is not None and o.approximate:
                num.append("~", style="bold yellow")
            if v["version"] == self.marked:
                num.append("m", style="bold magenta")
            summary = v.get("note") or v.get("summary") or ""
            cause = str(v.get("cause", ""))
            pending = self.outcomes is None and not self._outcomes_error
            fb_style = ""
            if o is not None and o.rated:
                fb_style = "red" if o.feedback.mean < 0.5 else "green"
            cells = {
                "n": num,
                "when": Text(datetime.fromtimestamp(when).strftime(when_format)),
                "cause": Text(one_line(CAUSE_SHOWN.get(cause, cause), CAUSE_WIDTH), style="cyan"),
                "traces": Text(PENDING if pending else fmt_count(o.traces if o else 0),
                               justify="right"),
                "rated": Text(PENDING if pending else fmt_count(o.rated if o else 0),
                              justify="right"),
                "feedback": Text(PENDING if pending else fmt_feedback(o), style=fb_style),
                "success": Text(PENDING if pending else fmt_rate(o.success_rate if o else None),
                                justify="right"),
                "summary": Text(one_line(str(summary), self._what)),
            }  # fmt: skip
            table.add_row(*(cells[k] for k in keys), key=str(v["version"]))
        if order:
            table.move_cursor(row=min(row, len(order) - 1))

    def _cursor_key(self) -> Optional[str]:
        """The timeline row under the cursor: a version's number, ``lost-N`` (the version
        the edit N overwrote), or None."""
        table = self.query_one("#configs-versions", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        except Exception:
            return None
        return str(key) if key else None

    def _lost_before(self) -> dict[int, Any]:
        """The versions hand edits overwrote before they were archived (their log lines
        and their traces are all that is left), by the number of the edit's version."""
        if self.outcomes is None:
            return {}
        out: dict[int, Any] = {}
        rows = self.outcomes.versions
        for o, after in zip(rows, rows[1:], strict=False):
            if o.lost and after.version is not None:
                out[after.version] = o
        return out

    def _lost_outcome(self) -> Any:
        """The lost version under the cursor, or None."""
        key = self._cursor_key() or ""
        if not key.startswith(f"{LOST_KEY}-"):
            return None
        return self._lost_before().get(int(key.rsplit("-", 1)[1]))

    def _lost_cells(self, o: Any, keys: list[str], when_format: str) -> list[Text]:
        """The timeline row of the lost version: its log line's time and cause, and its
        traces (they are counted under it, not under the version before)."""
        fb_style = ("red" if o.feedback.mean < 0.5 else "green") if o.rated else ""
        when = datetime.fromtimestamp(o.written_at).strftime(when_format) if o.written_at else "–"
        cells = {
            "n": Text("lost", style="bold red"),
            "when": Text(when),
            "cause": Text(one_line(CAUSE_SHOWN.get(o.cause, o.cause), CAUSE_WIDTH), style="cyan"),
            "traces": Text(fmt_count(o.traces), justify="right"),
            "rated": Text(fmt_count(o.rated), justify="right"),
            "feedback": Text(fmt_feedback(o), style=fb_style),
            "success": Text(fmt_rate(o.success_rate), justify="right"),
            "summary": Text(one_line(LOST_WHAT, self._what), style="yellow"),
        }
        return [cells[k] for k in keys]

    def _lost_panel(self) -> Group:
        """Below the timeline, for the lost row: what it was and what its traces said."""
        o = self._lost_outcome()
        head = Text.assemble(("lost ", "bold red"), (CAUSE_SHOWN.get(o.cause, o.cause), "cyan"))
        note = o.note or o.summary
        if note:
            head.append(": " + one_line(note, 400))
        why = Text(
            "Its file was overwritten outside jarvis-tui (a hand edit of the current config) "
            "before it was archived: its content is gone, so it cannot be compared or rolled "
            "back to. Its traces are counted here, not under the version before it.",
            style="yellow",
        )
        return Group(head, outcome_line(o, name="lost"), why)

    @on(DataTable.RowHighlighted, "#configs-versions")
    def _version_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._diff_selected()

    def selected_version(self) -> Optional[int]:
        """The version under the cursor (None: none, or the lost row, which has no file)."""
        if not self.versions:
            return None
        key = self._cursor_key()
        return int(key) if key is not None and key.isdigit() else None

    def _current_version(self) -> Optional[int]:
        return self.versions[-1]["version"] if self.versions else None

    def _diff_selected(self) -> None:
        if self.proposals:
            return
        if (self._cursor_key() or "").startswith(LOST_KEY):
            self._render_diff()
            return
        sel = self.selected_version()
        cur = self._current_version()
        if sel is None or cur is None or self.agent is None:
            return
        old = self.marked if self.marked is not None else sel
        new = sel if self.marked is not None else cur
        key = (self.agent, old, new)
        if key != self._diff_key:
            self._diff_key, self._diff_body = key, None
        self._render_diff()
        if self.marked is not None:
            hint = "marked: select another version (j / k) to compare with it · m unmarks"
        else:
            hint = "the current version: select an older one to see what it changed"
        self._compute_diff(self.agent, old, new, self.text_mode, self._evolver(), cur, hint)

    def comparison(self) -> Any:
        """The marked version against the selected one (None without a mark or outcomes)."""
        from jarvis_tui.learning.outcomes import compare_versions

        sel = self.selected_version()
        a, b = self.outcome_of(self.marked), self.outcome_of(sel)
        if a is None or b is None or self.marked == sel:
            return None
        return compare_versions(a, b)

    def _evidence(self) -> list[Any]:
        """The outcome lines above the diff: the selected version's (and the marked
        one's, with the comparison, when a version is marked)."""
        sel = self.selected_version()
        if self.agent is None or sel is None:
            return []
        parts: list[Any] = self._what_line(sel)
        if self._outcomes_error:
            return [*parts, Text("outcomes: cannot compute: " + self._outcomes_error, style="red")]
        if self.outcomes is None:
            return [*parts, Text("outcomes: computing…", style="dim")]
        if self.marked is not None and self.marked != sel:
            cmp = self.comparison()
            if cmp is not None:
                style = "bold"
                if cmp.enough and cmp.low is not None and cmp.low > 0:
                    style = "bold green"
                elif cmp.enough and cmp.high is not None and cmp.high < 0:
                    style = "bold red"
                parts.append(Text.assemble(("compare: ", "dim"), (cmp.verdict, style)))
            for v in (self.marked, sel):
                o = self.outcome_of(v)
                if o is not None:
                    parts.append(outcome_line(o))
        else:
            o = self.outcome_of(sel)
            if o is not None:
                parts.append(outcome_line(o))
        return parts

    def _what_line(self, number: int) -> list[Text]:
        """Version *number*'s cause and its whole note (the What column cuts it)."""
        v = next((v for v in self.versions if v["version"] == number), None)
        if v is None:
            return []
        cause = str(v.get("cause", ""))
        note = str(v.get("note") or v.get("summary") or "")
        out = Text.assemble((f"v{number} ", "bold"), (CAUSE_SHOWN.get(cause, cause), "cyan"))
        if note:
            out.append(": " + one_line(note, 400))
        return [out]

    def _render_diff(self) -> None:
        if self.proposals:
            return
        if self._lost_outcome() is not None:
            self._show(self._lost_panel())
            return
        parts = self._evidence()
        if self._diff_body is not None:
            parts.append(self._diff_body)
        self._show(Group(*parts))
        self._compare_status()

    def _compare_status(self) -> None:
        cmp = self.comparison() if self.marked is not None else None
        if cmp is not None:
            self._status(f"v{self.marked} marked · {cmp.verdict}")

    @work(thread=True, exclusive=True, exit_on_error=False, group="configs.diff",
          description="diff versions")  # fmt: skip
    def _compute_diff(self, agent: str, old: int, new: int, text_mode: bool,
                      ev: AgentConfigEvolver, current: Optional[int],
                      same_hint: str = "") -> None:  # fmt: skip
        from jarvis_tui.configs.versions import problem_words

        try:
            self._diff_parts(agent, old, new, text_mode, ev, current, same_hint)
        except ValueError as exc:  # a refused file (too large, a link): said, not a failure
            head = Text(f"{one_line(agent, 60)}: version {new}", style="bold")
            why = Text(f"\n⚠ cannot show this version: {problem_words(exc)}", style="red")
            self.post_message(self.DiffReady(Group(head, why), (agent, old, new)))

    def _diff_parts(self, agent: str, old: int, new: int, text_mode: bool,
                    ev: AgentConfigEvolver, current: Optional[int], same_hint: str) -> None:  # fmt: skip
        from jarvis_tui.learning.agent_evolver import toml_diff

        head = Text()
        problem = ev.config_problem(agent) if current in (old, new) else None
        if problem is not None:
            head.append(f"⚠ the current config cannot be used: {problem}\n", style="bold red")
        if old == new:  # the marked (or current) version itself: nothing to compare yet
            head.append(f"{one_line(agent, 60)}: version {new}", style="bold")
            if new == current:
                head.append(" (current)", style="green")
            head.append(" · " + same_hint, style="yellow")
            parts: list[Any] = [head]
            parts.append(Text("\nVersion " + str(new), style="bold underline"))
            parts.append(config_text(ev.read_version(agent, new), _where(ev, agent, new)))
            self.post_message(self.DiffReady(Group(*parts), (agent, old, new)))
            return
        head.append(f"{one_line(agent, 60)}: version {old} → version {new}", style="bold")
        if new == current:
            head.append(" (current)", style="green")
        parts = [head]
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
        parts.append(config_text(old_text, _where(ev, agent, old)))
        self.post_message(self.DiffReady(Group(*parts), (agent, old, new)))

    @on(DiffReady)
    def _diff_ready(self, msg: ConfigsPane.DiffReady) -> None:
        if msg.key is not None and msg.key != self._diff_key:
            return
        self._diff_body = msg.body
        self._render_diff()

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("accept", "skip"):
            return bool(self.proposals)
        if action in ("rollback", "mark", "toggle_text"):
            return self.selected_version() is not None
        if action == "compare":
            return self.marked is not None and self.selected_version() not in (None, self.marked)
        if action in ("evolve", "refresh"):
            return self.evolver is not None
        return True

    PALETTE = (
        ("rollback", "roll back to the selected version",
         "Preview what will be written and what its traces said, then y writes (b)"),
        ("mark", "mark the selected version", "Compare other versions with it (m)"),
        ("compare", "compare with the marked version",
         "Difference in mean feedback with its interval, and a verdict"),
        ("evolve", "run the evolver", "Propose configs from the traces (s)"),
        ("accept", "accept the evolver proposal", "Write it as a new version (y)"),
        ("skip", "skip the evolver proposal", "Nothing is written (n)"),
        ("toggle_text", "text diff", "Toggle the text / key-level diff (t)"),
        ("refresh", "reload", "Re-read agents/, versions and outcomes (r)"),
    )  # fmt: skip

    # palette_commands: the Pane default (PALETTE above, "configs: …").

    def action_toggle_text(self) -> None:
        self.text_mode = not self.text_mode
        self._diff_selected()

    def action_mark(self) -> None:
        """m: mark the selected version; on the marked one, unmark it; on another with one
        marked, say their comparison (the mark stays: it never moves silently)."""
        sel = self.selected_version()
        if self.marked is not None and sel is not None and sel != self.marked:
            self._say_comparison(sel)
            return
        self.marked = None if self.marked == sel else sel
        if self.marked is not None:
            self.app.notify(f"version {sel} marked: pick another to compare with it",
                            markup=False)  # fmt: skip
            self._status(f"v{sel} marked: pick another version to compare with it (m unmarks)")
        else:
            self._status(f"no version marked ({len(self.versions)} versions of {self.agent})")
        self._fill_versions(self.versions)
        self._diff_selected()

    def _say_comparison(self, sel: int) -> None:
        """m on another version while one is marked: the comparison, in the status line
        and a toast, with how to move the mark."""
        cmp = self.comparison()
        what = cmp.verdict if cmp is not None else "outcomes still computing"
        self._status(f"v{self.marked} marked · v{sel} compared with it: {what}")
        self.app.notify(f"v{sel} compared with the marked v{self.marked}: {what} · the mark "
                        f"stays on v{self.marked} (m there unmarks it)", markup=False)  # fmt: skip

    def action_compare(self) -> None:
        """Say the comparison of the selected version with the marked one."""
        cmp = self.comparison()
        if cmp is None:
            self.app.notify("mark a version (m), then select another to compare", markup=False)
            return
        self._diff_selected()
        self.app.notify(cmp.verdict, markup=False)

    def action_rollback(self) -> None:
        sel = self.selected_version()
        agent = self.agent
        if sel is None or agent is None:
            return
        if sel == self._current_version():
            self.app.notify("that is already the current version")
            return
        self._preview_rollback(agent, sel, self._evolver(), self._current_version(),
                               self.outcomes if agent == self.agent else None, self._store,
                               self.workspace)  # fmt: skip

    @work(thread=True, exclusive=True, exit_on_error=False, group="configs.preview",
          description="preview rollback")  # fmt: skip
    def _preview_rollback(self, agent: str, version: int, ev: AgentConfigEvolver,
                          current: Optional[int], outcomes: Any, store: Optional[TraceStore],
                          workspace: Optional[WorkspaceSession]) -> None:  # fmt: skip
        """Read exactly what a rollback would write (off the UI thread), then ask."""
        from jarvis_tui.configs.versions import NothingToRollBackError

        def evidence() -> Text:
            return preview_evidence(agent, version, current, outcomes, store, ev, workspace)

        try:
            text = ev.preview_rollback(agent, version)
        except NothingToRollBackError as exc:
            # Writing it would restart the current version's evidence for nothing:
            # say why beside the evidence, and ask nothing.
            refusal = str(exc)  # the title says it; the body does not repeat it
            body = Text("Nothing will be written.\n\n", style="bold")
            body.append_text(evidence())
            self.post_message(self.RollbackPreviewed(agent, version, refusal, body, ask=False,
                                                     refusal=refusal))  # fmt: skip
            return
        except ValueError as exc:  # the traceback goes to the log (_rollback_previewed)
            self.post_message(self.RollbackPreviewed(agent, version, "", Text(), error=str(exc),
                                                     failure=exc))  # fmt: skip
            return
        from jarvis_tui.learning.agent_evolver import toml_diff

        new_number = (current or 0) + 1
        where = _where(ev, agent, current) if current else f"agents/{one_line(agent, 60)}.toml"
        body = Text.assemble(
            (
                f"{where} will become version {version}'s content, recorded as "
                f"version {new_number} (cause: rollback).\n\n",
                "dim",
            ),  # fmt: skip
        )
        body.append_text(evidence())
        body.append("\nWhat changes (current → after the rollback):\n", style="bold")
        try:
            old = ev.load_version(agent, current) if current is not None else {}
            target = ev.load_version(agent, version)
            body.append_text(render_changes(toml_diff(old, target)))
        except ValueError as exc:
            body.append(f"cannot compare keys: {exc}\n", style="red")
        body.append("\nThe file will read:\n", style="bold")
        body.append_text(safe_text(text))
        self.post_message(self.RollbackPreviewed(
            agent, version, f"Roll {one_line(agent, 60)} back to version {version}?",
            body))  # fmt: skip

    @on(RollbackPreviewed)
    def _rollback_previewed(self, msg: ConfigsPane.RollbackPreviewed) -> None:
        if msg.error:
            what = f"preview the rollback of {one_line(msg.agent, 40)} to version {msg.version}"
            if msg.failure is not None:
                self.report_failure(what, msg.failure, f"{what} failed: {msg.error}")
            else:
                self.app.notify(msg.error, severity="error", timeout=8, markup=False)
            return
        if not msg.ask:
            self._status(f"{one_line(msg.agent, 40)}: {msg.refusal}")
            self.app.push_screen(ConfirmScreen(msg.title, msg.body, ask=False))
            return

        def done(ok: bool | None) -> None:
            if ok:
                self._do_rollback(msg.agent, msg.version, self._evolver())

        self.app.push_screen(ConfirmScreen(msg.title, msg.body), done)

    @work(thread=True, exit_on_error=False, group="configs.write", description="roll back")
    def _do_rollback(self, agent: str, version: int, ev: AgentConfigEvolver) -> None:
        ev.rollback(agent, version)
        self.post_message(self.Written(agent, f"rolled back to version {version}: version "
                                              f"{self._new_number(ev, agent)} written "
                                              f"(cause rollback)"))  # fmt: skip

    @staticmethod
    def _new_number(ev: AgentConfigEvolver, agent: str) -> int:
        versions = ev.list_versions(agent)
        return versions[-1]["version"] if versions else 0

    @on(Written)
    def _written(self, msg: ConfigsPane.Written) -> None:
        said = f"{one_line(msg.agent, 40)}: {msg.what}"
        self.app.notify(said, markup=False)
        self._after_write = (msg.agent, said)  # said in the status, its agent selected
        self._reload(keep=False)

    # ------------------------------------------------------------ evolve

    def action_evolve(self) -> None:
        self._status("Analysing every trace for recommendations…")
        self._run_evolver(self._evolver(), self._store)

    @work(thread=True, exclusive=True, exit_on_error=False, group="configs.evolve",
          description="analyse traces")  # fmt: skip
    def _run_evolver(self, ev: AgentConfigEvolver, store: Optional[TraceStore]) -> None:
        # The engine proposes (merge, tool order, kept temperature and prompt, nothing
        # changed, a bad agent as an error); the pane only adds the version numbers and,
        # by the learning cycle's own rule, whether a person chose the current version.
        from jarvis_tui.learning.learning_orchestrator import hand_choice

        stop = get_current_worker().cancelled_event
        seen = [0]

        def progress(n: int) -> None:  # the analysis thread: post only
            seen[0] = n
            self.post_message(self.EvolverProgressed(n))

        made = ev.propose_configs(stop=stop, progress=progress)
        if stop.is_set():
            return  # superseded, or the app is closing: nothing to show
        proposals: list[Proposal] = []
        errors: list[str] = []
        for c in made:
            try:
                if c.error:
                    raise ValueError(c.error)
                versions = ev.list_versions(c.agent)
            except (ValueError, OSError) as exc:
                errors.append(f"{c.agent}: no proposal: {exc}")
                continue
            number = (versions[-1]["version"] if versions else 0) + 1
            try:
                hand = hand_choice(store, c.agent, versions)
            except Exception as exc:  # noqa: BLE001 - a busy store: the rule cannot say
                errors.append(f"{c.agent}: ratings since its version: cannot count: {exc}")
                continue
            proposals.append(Proposal(c, number, hand))
        self.post_message(self.Proposals(proposals, seen[0], errors))

    @on(EvolverProgressed)
    def _evolver_progressed(self, msg: ConfigsPane.EvolverProgressed) -> None:
        if not self.proposals:
            self._status(f"Analysing traces… {msg.read:,} read")

    @on(Proposals)
    def _got_proposals(self, msg: ConfigsPane.Proposals) -> None:
        self.proposals = list(msg.proposals)
        self.proposal_errors = list(msg.errors)
        self._proposal_mode()
        if not self.proposals and self.proposal_errors:
            self._status(
                f"The evolver has nothing to write: {len(self.proposal_errors)} agent(s) "
                "could not be proposed for (below)."
            )
            self._show(Group(*self._error_lines()))
        elif not self.proposals and not msg.analysed:
            self._status("The evolver has no traces to learn from yet: once the assistant "
                         "has logged (and you have rated) some, s proposes configs.")  # fmt: skip
        elif not self.proposals:
            self._status(f"The evolver has nothing new to recommend ({msg.analysed:,} traces "
                         "analysed).")  # fmt: skip
            self._diff_selected()
        self.refresh_bindings()
        self._show_proposal()

    def _error_lines(self) -> list[Text]:
        """The agents the evolver could not propose for, one line each (literal text)."""
        return [Text(one_line(line, 400), style="red") for line in self.proposal_errors]

    def _show_proposal(self) -> None:
        from jarvis_tui.learning.agent_evolver import toml_diff

        if not self.proposals:
            return
        p = self.proposals[0]
        c = p.config
        self._proposal_status()
        # A new agent: list the proposed keys one by one, not as one new table.
        current = c.current or {k: {} for k in c.proposed}
        parts: list[Any] = [
            Text.assemble(
                (f"{one_line(p.agent, 60)}: evolver proposal", "bold"),
                (f"  ({len(self.proposals)} left)", "dim"),
            ),  # fmt: skip
            Text(f"best agent for: {', '.join(c.classes)}", style="dim"),
            *self._hand_lines(p),
            render_changes(toml_diff(current, c.proposed)),
            Text(self._proposal_keys(p), style="bold"),
            *self._error_lines(),
        ]
        self._show(Group(*parts))
        self.query_one("#configs-diff", VerticalScroll).scroll_home(animate=False)

    @staticmethod
    def _hand_lines(p: Proposal) -> list[Text]:
        """Above a proposal over a version a person chose: that it is one, and the
        evidence since, in the learning cycle's words."""
        if p.hand is None:
            return []
        style = "bold yellow" if p.hand.held else "yellow"
        return [Text("⚠ " + p.hand.proposal_line(), style=style)]

    @staticmethod
    def _proposal_keys(p: Proposal) -> str:
        agent = one_line(p.agent, 40)
        if p.hand is not None and p.hand.held:
            return (f"y: write it as version {p.next_version} of {agent} over version "
                    f"{p.hand.version} (asks once more) · n: skip it, version "
                    f"{p.hand.version} stays")  # fmt: skip
        return f"y: write it as version {p.next_version} of {agent} · n: skip it"

    def _proposal_status(self) -> None:
        """The status line while a proposal waits: whose, how many, what y and n do."""
        p = self.proposals[0]
        over = ""
        if p.hand is not None and p.hand.held:
            over = f" over v{p.hand.version} ({p.hand.by_hand}, asks once more)"
        self._status(
            f"Proposal for {one_line(p.agent, 40)} ({len(self.proposals)} left): y writes it "
            f"as version {p.next_version}{over}, n skips it"
        )

    def _proposal_mode(self) -> None:
        """While proposals wait, the diff gets the room (the lists hide when stacked)."""
        self.set_class(bool(self.proposals), "-proposal")

    def action_accept(self) -> None:
        if not self.proposals:
            return
        p = self.proposals[0]
        if p.hand is not None and p.hand.held:
            self._confirm_over_hand(p)
            return
        self._accept(p)

    def _confirm_over_hand(self, p: Proposal) -> None:
        """y over a version a person chose that the cycle would keep: ask once more."""
        hand = p.hand
        assert hand is not None
        agent = one_line(p.agent, 40)
        body = Text()
        body.append(hand.proposal_line() + ".\n\n", style="bold yellow")
        body.append(f"Writing the proposal makes version {p.next_version} current: version "
                    f"{hand.version} stops gathering evidence at "
                    f"{plural(hand.rated or 0, 'rating')}. A learning cycle (Routing s, "
                    f"jarvis-tui learn) keeps it until its traces hold {hand.minimum}.\n\n")  # fmt: skip
        body.append("The proposal changes (current → after the write):\n", style="bold")
        from jarvis_tui.learning.agent_evolver import toml_diff

        c = p.config
        body.append_text(render_changes(toml_diff(c.current or {}, c.proposed)))

        def done(ok: bool | None) -> None:
            if not self.proposals or self.proposals[0] is not p:
                return
            if ok:
                self._accept(p)
            else:
                self._status(f"{agent}: version {hand.version} stays; the proposal still waits "
                             "(y writes it after asking, n skips it)")  # fmt: skip

        self.app.push_screen(
            ConfirmScreen(
                f"Write version {p.next_version} of {agent} over version {hand.version}, "
                f"{HAND_TITLE.get(hand.cause, hand.cause)}?",
                body,
                hint=f"y: write version {p.next_version}   n / escape: keep version "
                f"{hand.version} (the proposal waits)",
            ),
            done,
        )

    def _accept(self, p: Proposal) -> None:
        """Write *p* (the first waiting proposal) and show the next."""
        self.proposals.remove(p)
        self._write_proposal(p, self._evolver())
        self._proposal_mode()
        self.refresh_bindings()
        if self.proposals:
            self._show_proposal()

    def action_skip(self) -> None:
        if not self.proposals:
            return
        p = self.proposals.pop(0)
        self.app.notify(f"skipped the proposal for {one_line(p.agent, 40)}: nothing written (a "
                        "learning cycle, Routing s or jarvis-tui learn, may still write it)",
                        markup=False)  # fmt: skip
        self._proposal_mode()
        self.refresh_bindings()
        if self.proposals:
            self._show_proposal()
        else:
            self._agents_status("All proposals handled")
            self._diff_selected()

    @work(thread=True, exit_on_error=False, group="configs.write", description="write config")
    def _write_proposal(self, p: Proposal, ev: AgentConfigEvolver) -> None:
        ev.write_proposal(p.config, note="accepted: best for " + ", ".join(p.config.classes))
        written = ev.list_versions(p.agent)
        number = written[-1]["version"] if written else p.next_version
        self.post_message(self.Written(p.agent, f"version {number} written (cause evolver)"))
