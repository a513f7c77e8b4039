"""The Trials pane's detail panel: one trial in full, as a ``rich.text.Text``.

Pure functions of the run view (no widget, no thread): the trial's scores and how
they were obtained, its worker, the per-sample table of a measured trial (worst
first), its params against its parent and the best trial, the optimizer's reasoning,
analysis, failure patterns and per-benchmark scores. Every string from the data is
made visible text (never markup).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, MutableMapping
from typing import Any

from rich.console import Console
from rich.text import Text

from jarvis_tui.core.fmt import money
from jarvis_tui.evals.measure import worst_first
from jarvis_tui.learning.optimize.types import TrialResult
from jarvis_tui.ui.panes.trials_view import (
    ESTIMATE_GLYPH,
    MEASURED_GLYPH,
    MERGE_GLYPH,
    PARTIAL_GLYPH,
    RunView,
    cell,
    scoring,
    show_value,
)
from jarvis_tui.ui.text import one_line, visible

SAMPLE_ROWS_MAX = 500
"""At most this many per-sample rows in the detail (worst first)."""

READING = "reading…"
"""What the sample cache holds for an eval result file being read."""


def sample_rows(
    t: TrialResult, m: Mapping[str, Any], cache: MutableMapping[str, list[dict] | str]
) -> tuple[list[dict], str, str | None]:
    """The trial's per-sample rows (worst first), a note, and a file to read (or None).

    Rows come from the eval result file when there is one (query, reference and
    answer): *cache* holds the file's rows once read, or why it could not be; a file
    not in it yet is marked :data:`READING` and returned as the file to read. Without
    the file's rows the rows are the trial's ``sample_scores`` (record ids only).
    """
    path = m.get("eval_result")
    note = ""
    to_read = None
    if isinstance(path, str) and path:
        got = cache.get(path)
        if isinstance(got, list):
            return worst_first(got), "", None
        if got is None:
            cache[path] = READING
            to_read = path
            got = READING
        note = f"answers: {got}"
    rows = [{"record_id": s.record_id, "score": s.score, "latency_seconds": s.latency_seconds,
             "error": s.error} for s in t.sample_scores]  # fmt: skip
    return worst_first(rows), note, to_read


def sample_table(rows: list[dict], note: str, width: int, out: Text) -> None:
    """The per-sample table of a measured trial (worst first) appended to *out*."""
    if not rows:
        return
    errors = sum(1 for r in rows if r.get("error") is not None)
    out.append(f"\nsamples, worst first ({len(rows)}", style="bold")
    out.append(f", {errors} errors" if errors else "", style="bold red")
    out.append(")\n", style="bold")
    if note:
        out.append(one_line(note, width) + "\n", style="dim")
    rest = width - 14  # "score  lat s " before the texts
    full = "query" in rows[0]
    if full:
        wq = max(8, rest * 2 // 5)
        wr = max(6, (rest - wq) // 2 - 1)
        wa = max(6, rest - wq - wr - 2)
        head = (f"{'score':>5} {'lat s':>6}  {cell('query', wq)} {cell('reference', wr)} "
                f"{cell('answer', wa)}")  # fmt: skip
    else:
        head = f"{'score':>5} {'lat s':>6}  sample"
    out.append(one_line(head, width) + "\n", style="dim underline")
    for r in rows[:SAMPLE_ROWS_MAX]:
        err = r.get("error")
        score = r.get("score")
        text = "error" if err is not None else ("–" if score is None else f"{score:.3f}")
        style = "red" if err is not None else ("yellow" if (score or 0.0) < 0.5 else "")
        out.append(f"{text:>5} ", style=style or None)
        out.append(f"{r.get('latency_seconds', 0.0):6.2f}  ")
        if full:
            answer = f"✗ {err}" if err is not None else r.get("answer", "")
            for value, w in ((r.get("query", ""), wq), (r.get("reference", ""), wr),
                             (answer, wa)):  # fmt: skip
                out.append(cell(value, w) + " ")
        else:
            out.append(one_line(r.get("record_id", ""), max(8, rest // 2)))
            if err is not None:
                out.append(f"  ✗ {one_line(err, max(8, rest // 2))}", style="red")
        out.append("\n")
    if len(rows) > SAMPLE_ROWS_MAX:
        out.append(f"… {len(rows) - SAMPLE_ROWS_MAX} better samples not listed\n", style="dim")


def empty_detail(
    view: RunView, *, running: bool, pending: bool, space_error: str = "", space_fix: str = ""
) -> Text:
    """The detail when no trial is selected (*space_error*: why there is nothing to
    optimize yet, and *space_fix* what to do about it)."""
    out = Text()
    if not view.trials and running:
        out.append("No trials yet. ", style="bold")
        out.append("The proposal below waits for your decision." if pending
                   else "The first trial is on its way.", style="dim")  # fmt: skip
    elif not view.trials and space_error:
        reason = one_line(space_error, 300)
        out.append(reason[:1].upper() + reason[1:] + ".", style="bold")
        if space_fix:
            out.append("\n" + one_line(space_fix[:1].upper() + space_fix[1:], 300) + ".",
                       style="dim")  # fmt: skip
    elif not view.trials:
        out.append("No trials yet. ", style="bold")
        out.append("s starts a run: Optuna proposes configs offline and each one is "
                   "estimated by replaying your labelled traces.", style="dim")  # fmt: skip
    return out


def proposal_params(config: Any, view: RunView) -> list[str]:
    """The waiting proposal's param keys in the order the detail lists them (its own,
    sorted, then the best trial's keys it leaves unset)."""
    best = _trial(view, view.best)
    old = dict(best.config.params) if best is not None else {}
    params = dict(config.params)
    return sorted(params) + sorted(set(old) - set(params))


def proposal_detail(
    view: RunView,
    config: Any,
    source: str,
    width: int = 60,
    *,
    selected: int | None = None,
    rows: int | None = None,
) -> Text:
    """The proposal waiting for review, in full: one param per line, ``key old → new``
    against the run's best trial (``key value`` when it keeps the best's value, or
    when there is no trial to compare with yet). In a narrow panel the value goes on
    the line under its key.

    *selected* marks one param (``▸``) and the head says which of how many it is;
    with *rows* (the panel's height) a list that does not fit is shown as a window
    around the selected param, with how many more are above and below, so the
    selected one is always on screen (``,`` and ``.`` step through them)."""
    best = _trial(view, view.best)
    params = dict(config.params)
    old = dict(best.config.params) if best is not None else {}
    keys = proposal_params(config, view)
    kw = min(28, max((len(one_line(k, 28)) for k in keys), default=8))
    wide = width >= kw + 2 + 1 + 12
    vw = max(6, width - (kw + 3 if wide else 4))
    changed = 0
    blocks: list[Text] = []
    for i, key in enumerate(keys):
        out = Text()
        mark = "▸ " if i == selected else "  "
        key_style = "bold reverse" if i == selected else ""
        if wide:
            out.append(mark)
            name = one_line(key, kw)
            out.append(name, style=key_style)
            out.append(" " * (kw - len(name) + 1))
        else:
            # the marked key whole (it folds), the others on one line each; the mark
            # goes on the value's line (a mark before a long key would wrap alone)
            out.append(one_line(key, 64 if i == selected else max(4, width)), style=key_style)
            out.append("\n  ▸ " if i == selected else "\n    ")
        cut = 200 if i == selected else None  # the marked value whole (it wraps)
        if key not in params:
            changed += 1
            out.append(one_line(show_value(old[key]), cut or vw // 2), style="dim")
            out.append(" → (not set)", style="bold")
        elif key in old and old[key] == params[key]:
            out.append(one_line(show_value(params[key]), 200), style="dim")
        elif key in old:
            changed += 1
            was, new = show_value(old[key]), show_value(params[key])
            half = max(3, (vw - 3) // 2)
            out.append(one_line(was, cut or max(half, vw - 3 - len(new))), style="dim")
            out.append(" → ", style="bold")
            out.append(one_line(new, cut or max(half, vw - 3 - len(was))), style="bold yellow")
        else:
            changed += best is not None
            out.append(one_line(show_value(params[key]), 200),
                       style="bold yellow" if best is not None else "")  # fmt: skip
        out.append("\n")
        blocks.append(out)
    head = Text()
    count = Text()
    short = rows is not None and rows < SHORT_PANEL and selected is not None and keys
    if short:  # one line: which param of how many, then the proposal's id
        at = min(max(selected or 0, 0), len(keys) - 1)
        head.append(f"param {at + 1}/{len(keys)}", style="bold magenta")
        room = width - head.cell_len - 1
        if room >= 6:
            head.append(" " + one_line(config.trial_id, room), style="bold")
        head.append("\n")
    else:
        head.append("Proposal ", style="bold magenta")
        head.append(one_line(config.trial_id, 24), style="bold")
        head.append(f" ({one_line(source, 16)})\n", style="dim")
        if selected is not None and keys:
            at = min(max(selected, 0), len(keys) - 1)
            count.append(f"param {at + 1} of {len(keys)}", style="bold")
            if best is not None:
                count.append(f" · {changed} changed", style="dim")
            count.append(" · , . step\n", style="dim")
    vs = Text(f"vs best {one_line(best.trial_id, 24)}\n", style="dim") if best else Text()
    shown = blocks
    above = below = 0
    if rows is not None and selected is not None and blocks:
        used = _lines(head, width) + _lines(count, width)
        room = rows - used
        if sum(_lines(b, width) for b in blocks) + _lines(vs, width) > room:
            vs = Text()  # the list wins the room; the head says which param it is
            at = min(max(selected, 0), len(blocks) - 1)
            lo = hi = at
            room -= _lines(blocks[at], width)
            # Grow the window around the selected param; each side that is cut
            # costs one line to say how many more there are.
            while True:
                grew = False
                for side in (1, -1):
                    j = hi + 1 if side == 1 else lo - 1
                    if not 0 <= j < len(blocks):
                        continue
                    cost = _lines(blocks[j], width)
                    edges = (lo - (side == -1) > 0) + (hi + (side == 1) < len(blocks) - 1)
                    if cost + edges <= room:
                        room -= cost
                        lo, hi = (lo, j) if side == 1 else (j, hi)
                        grew = True
                if not grew:
                    break
            shown, above, below = blocks[lo : hi + 1], lo, len(blocks) - 1 - hi
            # what is cut is said where a line is left (the head says which param
            # of how many in any case)
            if above and room >= 1:
                room -= 1
            else:
                above = 0
            if not (below and room >= 1):
                below = 0
    out = head + count + vs
    if above:
        out.append(f"↑ {above} more\n", style="dim")
    for block in shown:
        out.append_text(block)
    if below:
        out.append(f"↓ {below} more\n", style="dim")
    if best is not None and not changed and len(shown) == len(blocks):
        out.append("same values as the best trial\n", style="dim")
    if config.reasoning:
        out.append("\nreasoning\n", style="bold")
        out.append(visible(config.reasoning.strip()) + "\n")
    return out


SHORT_PANEL = 10
"""A detail panel lower than this gives a waiting proposal a one-line head."""


def _lines(text: Text, width: int) -> int:
    """How many screen lines *text* takes, word-wrapped, in a panel *width* cells wide."""
    if not text.plain.strip("\n"):
        return 0
    console = Console(width=max(1, width), color_system=None, file=io.StringIO())
    return len(text.wrap(console, max(1, width))) - text.plain.endswith("\n")


def _trial(view: RunView, trial_id: Any) -> TrialResult | None:
    if not isinstance(trial_id, str):
        return None
    return next((t for t in view.trials if t.trial_id == trial_id), None)


def trial_detail(
    view: RunView,
    t: TrialResult,
    *,
    samples: tuple[list[dict], str] = ([], ""),
    width: int = 60,
    merge: bool = False,
) -> Text:
    """Trial *t* of *view* in full; *samples* are its per-sample rows and a note;
    *merge*: it is marked for the next merge. Its marks are named with the glyph the
    table's last column shows (★ best, ● frontier, × infeasible, ⊕ marked)."""
    out = Text()
    m = view.meta.get(t.trial_id, {})
    out.append(visible(t.trial_id), style="bold")
    src = m.get("source")
    if src:
        out.append(f" · {one_line(str(src), 24)}", style="dim")
    if m.get("parent"):
        out.append(f" (after {one_line(str(m['parent']), 24)})", style="dim")
    if t.trial_id == view.best:
        out.append(" · ★ best", style="bold yellow")
    if t.trial_id in view.frontier:
        out.append(" · ● frontier", style="bold")
    if merge:
        out.append(f" · {MERGE_GLYPH} marked for the next merge (m unmarks)",
                   style="bold magenta")  # fmt: skip
    if m.get("infeasible"):
        out.append(" · × infeasible: " + one_line(", ".join(map(str, m["infeasible"])), 80),
                   style="red")  # fmt: skip
    worker = m.get("worker")
    if isinstance(worker, str) and worker:
        out.append(" · worker ", style="dim")
        out.append(one_line(worker, 24), style="cyan")
    out.append("\n")
    out.append(
        f"accuracy {t.accuracy:.3f} · latency {t.mean_latency_seconds:.2f}s · "
        f"cost {money(t.total_cost_usd)}"
        f" · {t.samples_evaluated:,} samples"
    )
    measured = scoring(view, t.trial_id) == "measured"
    if not measured:
        out.append("\n")
        out.append(f"{ESTIMATE_GLYPH} estimate from replayed traces", style="italic dim")
        out.append(" · M measures it", style="dim")
    else:
        out.append("\n")
        out.append(f"{PARTIAL_GLYPH if m.get('partial') else MEASURED_GLYPH} measured ",
                   style="bold green")  # fmt: skip
        es = m.get("eval_set")
        if isinstance(es, dict) and es.get("id"):
            out.append(f"on eval set {one_line(str(es['id']), 24)}")
        if m.get("generator"):
            out.append(f" · {one_line(str(m['generator']), 48)}", style="dim")
        if m.get("partial"):
            out.append(" · partial: cancelled midway", style="yellow")
    out.append("\n")
    if measured:  # the evidence first: the worst samples, then the params
        sample_table(samples[0], samples[1], width, out)
    out.append("\n")
    best = _trial(view, view.best)
    best = best if best is not t else None
    parent = _trial(view, m.get("parent"))
    against = []
    if parent is not None:
        against.append(Text(f"← parent {one_line(parent.trial_id, 24)}", style="cyan"))
    if best is not None:
        against.append(Text(f"≠ best {one_line(best.trial_id, 24)}", style="yellow"))
    out.append("params", style="bold")
    if against:
        out.append(" (")
        out.append(Text(", ").join(against))
        out.append(")")
    out.append("\n")
    for key, value in sorted(t.config.params.items()):
        out.append(f"  {one_line(key, 22):<22} ")
        out.append(one_line(show_value(value), 24))
        shown = value
        for other_trial, mark, style in ((parent, "←", "cyan"), (best, "≠", "yellow")):
            if other_trial is None:
                continue
            other = other_trial.config.params.get(key)
            if other != value and other != shown:  # say a value once
                out.append(f" {mark} {one_line(show_value(other), 16)}", style=style)
                shown = other
        out.append("\n")
    if t.config.reasoning:
        out.append("\nreasoning\n", style="bold")
        out.append(visible(t.config.reasoning.strip()) + "\n")
    if t.analysis:
        out.append("\nanalysis\n", style="bold")
        out.append(visible(t.analysis.strip()) + "\n")
    fb = t.structured_feedback
    patterns = list(fb.failure_patterns) if fb else []
    patterns += [f for f in t.failure_modes if f not in patterns]
    if patterns:
        out.append("\nfailure patterns & notes\n", style="bold")
        for p in patterns[:12]:
            out.append(f"  • {visible(str(p))}\n")
    if fb and fb.suggested_changes:
        out.append("\nsuggested\n", style="bold")
        for s in fb.suggested_changes[:6]:
            out.append(f"  • {visible(str(s))}\n")
    if t.per_benchmark:
        out.append("\nper benchmark\n", style="bold")
        for b in t.per_benchmark:
            out.append(
                f"  {one_line(b.benchmark, 14):<14} acc {b.accuracy:.3f}  "
                f"lat {b.mean_latency_seconds:5.2f}s  n {b.samples_evaluated:>6,}"
                f"  w {b.weight:.2f}" + (f"  errors {b.errors}" if b.errors else "") + "\n"
            )
    return out
