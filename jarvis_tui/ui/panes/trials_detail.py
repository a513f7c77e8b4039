"""The Trials pane's detail panel: one trial in full, as a ``rich.text.Text``.

Pure functions of the run view (no widget, no thread): the trial's scores and how
they were obtained, its worker, the per-sample table of a measured trial (worst
first), its params against its parent and the best trial, the optimizer's reasoning,
analysis, failure patterns and per-benchmark scores. Every string from the data is
made visible text (never markup).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from rich.text import Text

from jarvis_tui.core.fmt import money
from jarvis_tui.evals.measure import worst_first
from jarvis_tui.learning.optimize.types import TrialResult
from jarvis_tui.ui.panes.trials_view import (
    ESTIMATE_GLYPH,
    MEASURED_GLYPH,
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


def empty_detail(view: RunView, *, running: bool, pending: bool) -> Text:
    """The detail when no trial is selected."""
    out = Text()
    if not view.trials and running:
        out.append("No trials yet. ", style="bold")
        out.append("The proposal below waits for your decision." if pending
                   else "The first trial is on its way.", style="dim")  # fmt: skip
    elif not view.trials:
        out.append("No trials yet. ", style="bold")
        out.append("s starts a run: Optuna proposes configs offline and each one is "
                   "estimated by replaying your labelled traces.", style="dim")  # fmt: skip
    return out


def proposal_detail(view: RunView, config: Any, source: str, width: int = 60) -> Text:
    """The proposal waiting for review, in full: one param per line, ``key old → new``
    against the run's best trial (``key value`` when it keeps the best's value, or
    when there is no trial to compare with yet). In a narrow panel the value goes on
    the line under its key."""
    out = Text()
    out.append("Proposal ", style="bold magenta")
    out.append(one_line(config.trial_id, 24), style="bold")
    out.append(f" ({one_line(source, 16)})\n", style="dim")
    best = _trial(view, view.best)
    params = dict(config.params)
    old = dict(best.config.params) if best is not None else {}
    if best is not None:
        out.append(f"vs best {one_line(best.trial_id, 24)}\n", style="dim")
    kw = min(28, max((len(one_line(k, 28)) for k in params), default=8))
    wide = width >= kw + 2 + 1 + 12
    vw = max(6, width - (kw + 3 if wide else 4))
    changed = 0
    keys = sorted(params) + sorted(set(old) - set(params))
    for key in keys:
        out.append(f"  {one_line(key, kw):<{kw}}" if wide else f"{one_line(key, 64)}\n")
        out.append(" " if wide else "    ")
        if key not in params:
            changed += 1
            out.append(one_line(show_value(old[key]), vw // 2), style="dim")
            out.append(" → (not set)", style="bold")
        elif key in old and old[key] == params[key]:
            out.append(one_line(show_value(params[key]), 200), style="dim")
        elif key in old:
            changed += 1
            was, new = show_value(old[key]), show_value(params[key])
            half = max(3, (vw - 3) // 2)
            out.append(one_line(was, max(half, vw - 3 - len(new))), style="dim")
            out.append(" → ", style="bold")
            out.append(one_line(new, max(half, vw - 3 - len(was))), style="bold yellow")
        else:
            changed += best is not None
            out.append(one_line(show_value(params[key]), 200),
                       style="bold yellow" if best is not None else "")  # fmt: skip
        out.append("\n")
    if best is not None and not changed:
        out.append("same values as the best trial\n", style="dim")
    if config.reasoning:
        out.append("\nreasoning\n", style="bold")
        out.append(visible(config.reasoning.strip()) + "\n")
    return out


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
) -> Text:
    """Trial *t* of *view* in full; *samples* are its per-sample rows and a note."""
    out = Text()
    m = view.meta.get(t.trial_id, {})
    out.append(visible(t.trial_id), style="bold")
    src = m.get("source")
    if src:
        out.append(f" · {one_line(str(src), 24)}", style="dim")
    if m.get("parent"):
        out.append(f" (after {one_line(str(m['parent']), 24)})", style="dim")
    if t.trial_id == view.best:
        out.append(" · best", style="bold yellow")
    if t.trial_id in view.frontier:
        out.append(" · frontier", style="bold")
    if m.get("infeasible"):
        out.append(" · infeasible: " + one_line(", ".join(map(str, m["infeasible"])), 80),
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
