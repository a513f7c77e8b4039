"""Training pane: mine SFT pairs, train a LoRA adapter, watch every step live.

Training never runs in the UI process: ``s`` launches ``jarvis-tui train`` as a
child process (its own process group) that writes a run folder, and the charts
follow that folder's ``metrics.jsonl`` (tailed incrementally) — exactly as they
follow a run started in another terminal or on a GPU box sharing the folder. The
app never imports torch, transformers or peft for a run. ``x`` cancels through the
run folder (its ``cancel`` file) and the child's stdin (closed: the child stops at
the next step and saves the adapter); quitting the app does the same, then
terminates what is left. A child that dies is shown as failed with its last stderr
line; its whole stderr goes to the app's log. ``E`` (the adapter against its base)
is a child too, ``jarvis-tui eval --compare RUN_ID --progress --json``: its progress
lines are shown as they come, ``x`` sends it SIGTERM (it prints the partial result
and writes nothing), and at its end the run folder's eval.json is shown.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.message import Message
from textual.visual import visualize
from textual.widgets import DataTable, Input, Label, ProgressBar, Static

from jarvis_tui.core.fmt import plural
from jarvis_tui.learning.training.settings import CLI_SETTINGS, FORM_SETTINGS, config_kwargs
from jarvis_tui.ui.gc_pacing import PACER
from jarvis_tui.ui.panes.base import Pane
from jarvis_tui.ui.scrolling import KeyedScroll
from jarvis_tui.ui.text import one_line, visible
from jarvis_tui.ui.widgets.chart import Chart, ChartSpec, Picture, Series, draw
from jarvis_tui.ui.widgets.focus import focus_now
from jarvis_tui.ui.widgets.nav_table import NavTable

MAX_POINTS = 20_000
"""Chart series are bounded (deque maxlen): memory does not grow with a long run."""
FOLLOW_SECONDS = 0.5
PLOT_POINTS = 400
"""At most this many points per chart series (longer runs are strided to the width)."""
PLOT_EVERY_S = 0.5
"""While a run streams, the charts are redrawn at most this often."""

TRAIN_MODULES = ("torch", "transformers", "peft")
"""What the ``train`` extra brings; without them the pane says how to install it."""
INSTALL_TRAIN = "pip install 'jarvis-tui[train]'"
INSTALL_TRAIN_DEV = "pip install -e '.[train]'"

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.events import DescendantFocus
    from textual.notifications import SeverityLevel

    from jarvis_tui.workspace import WorkspaceSession


def missing_train_modules() -> list[str]:
    """The train extra's modules that cannot be imported here (none are imported)."""
    missing = []
    for name in TRAIN_MODULES:
        if name in sys.modules and sys.modules[name] is None:  # blocked on purpose
            missing.append(name)
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            missing.append(name)
    return missing


def fit(parts: list[tuple[int, Text]], width: int, sep: str = " · ") -> Text:
    """Join *parts* (priority, text) in order, dropping the least important (highest
    number) until the line fits *width*: the state words always show."""
    keep = list(parts)
    while len(keep) > 1:
        if sum(p[1].cell_len for p in keep) + len(sep) * (len(keep) - 1) <= width:
            break
        keep.remove(max(keep, key=lambda p: p[0]))
    out = Text()
    for i, (_, part) in enumerate(keep):
        if i:
            out.append(sep, style="dim")
        out.append_text(part)
    out.truncate(max(1, width), overflow="ellipsis")
    return out


class FitLine(Static):
    """A one-line status that drops its least important parts to fit its width."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parts: list[tuple[int, Text]] = []

    def show(self, parts: list[tuple[int, Text]]) -> None:
        self.parts = parts
        self.refresh()

    def render(self) -> Text:
        return fit(self.parts, max(1, self.size.width)) if self.parts else Text("")


MODEL_PLACEHOLDERS = (
    "models/tiny-lm (built on first run)",
    "models/tiny-lm (default)",
    "models/tiny-lm",
)
"""The model field's placeholder, longest first: the longest that fits its box is shown."""


class FittedInput(Input):
    """A form field whose placeholder fits the box it has now: the longest of its
    choices that fits, else the last cut to end in … (never cut mid-word, unmarked)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.placeholders: tuple[str, ...] = ()
        """The placeholder's forms, longest first (none: no placeholder)."""

    def show_placeholder(self, choices: tuple[str, ...]) -> None:
        self.placeholders = choices
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        if not self.placeholders:
            return
        width = self.content_size.width - 1  # the cursor's cell
        if width <= 0:
            self.placeholder = self.placeholders[0]  # not laid out yet: refitted on resize
            return
        fits = [c for c in self.placeholders if len(c) <= width]
        self.placeholder = fits[0] if fits else one_line(self.placeholders[-1], width)


FIELDS: tuple[tuple[str, str, str], ...] = tuple(
    (s.name, s.label, s.show(s.default)) for s in FORM_SETTINGS
)
"""The form's fields (id, label, default), from the LoRA settings schema the ``train``
command's flags and LoRATrainingConfig.validate use too."""

MODEL_ACCEPTS = (
    "a local Hugging Face model folder (with config.json; a relative path is looked up in "
    "the workspace, then here), a model id already in the local Hugging Face cache "
    "(nothing is downloaded), or empty: the workspace's tiny LM"
)
"""What the form's model field takes (its tooltip; said beside a refused name)."""


def _hub_cached(name: str) -> bool:
    """Whether *name* (``org/model``) is in the local Hugging Face cache (a file lookup,
    nothing downloaded; without huggingface_hub: no)."""
    if importlib.util.find_spec("huggingface_hub") is None:
        return False
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # not a valid id
        return False
    return isinstance(found, str)


def resolve_model(text: str, root: Path) -> tuple[str, Optional[str]]:
    """The form's model *text* as the training child should get it (a relative folder
    found in the workspace *root* becomes its absolute path: the child's cwd is the
    app's), and why it cannot be trained on, or None. Read from disk only: no torch."""
    name = text.strip()
    if not name:
        return name, None
    given = Path(name).expanduser()
    candidates = [given] if given.is_absolute() else [root / given, given]
    found = next((c for c in candidates if c.exists()), None)
    if found is not None:
        if not found.is_dir():
            return name, f"{found}: a file, not a model folder"
        if not (found / "config.json").is_file():
            return name, f"{found}: not a Hugging Face model folder (no config.json)"
        return (str(found.resolve()) if found is not given else name), None
    if "/" in name.strip("/") and name.count("/") == 1 and not name.startswith((".", "/", "~")):
        if _hub_cached(name):
            return name, None
        return name, (f"{name}: no such folder in the workspace or the current directory, "
                      "nor a model in the local Hugging Face cache (nothing is downloaded)")  # fmt: skip
    return name, f"{name}: no such folder in the workspace or the current directory"


TRAIN_COMMAND: tuple[str, ...] = ("-m", "jarvis_tui")
"""What the child runs after ``sys.executable`` (then ``train …``)."""
EVAL_COMMAND: tuple[str, ...] = ("-m", "jarvis_tui")
"""What ``E``'s child runs after ``sys.executable`` (then ``eval --compare …``)."""
TRAIN_NICE = 10
"""The child's scheduling priority below the app's: on a busy machine the screen keeps
its CPU share (the run's threads, started later, inherit it)."""
EVAL_STARTING = "starting: loading the libraries, building the held-out set"
"""What E's child does before its first progress line (seconds on a small machine)."""
EMPTY_CHARTS = (
    "No run selected yet. s starts one from the form; runs trained elsewhere (jarvis-tui "
    "train, another machine) appear in the list and their charts here."
)
SHORT_ROWS = 30
"""A pane lower than this (an 80x24 terminal) shows the SFT pairs' counts without an
example: the LoRA form below them keeps its rows."""
QUIT_GRACE_S = 5.0
"""On quit, how long a child may take to finish its step and save before it is killed."""


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Send *sig* to the child's process group (it leads its own, see ``start_new_session``)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _phase_line(raw: bytes) -> Optional[str]:
    """The phase a ``train --phases`` stdout line names (``{"phase": "…"}``), else None."""
    if not raw.startswith(b'{"phase"'):
        return None
    try:
        rec = json.loads(raw)
    except ValueError:
        return None
    if isinstance(rec, dict) and len(rec) == 1 and isinstance(rec.get("phase"), str):
        return one_line(rec["phase"], 80)
    return None


def _progress_line(raw: bytes) -> Optional[tuple[str, int, int]]:
    """(stage, done, total) of an ``eval --compare --progress`` stdout line
    (``{"progress": "base", "done": 12, "total": 82}``), else None."""
    if not raw.startswith(b'{"progress"'):
        return None
    try:
        rec = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(rec, dict) or set(rec) != {"progress", "done", "total"}:
        return None
    stage, done, total = rec["progress"], rec["done"], rec["total"]
    if not isinstance(stage, str) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (done, total)
    ):
        return None
    return one_line(stage, 20), done, total


def _json_object(out: bytes) -> Optional[dict[str, Any]]:
    """The JSON object a child printed last (its ``--json`` output), or None."""
    from jarvis_tui.core.safejson import parse

    data, _why = parse(out.strip())
    return data if isinstance(data, dict) else None


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def short_run_id(run_id: str, width: int) -> str:
    """A run id in *width* cells that tells runs apart: a generated id
    (``20261201-130512-cb6a…``) keeps its time and suffix (``13:05 cb6a``), any other
    ends in … when cut."""
    import re

    text = one_line(run_id, 200)
    if len(text) <= width:
        return text
    m = re.fullmatch(r"(\d{8})[-T_]?(\d{2})(\d{2})(\d{2})?[-_]?([0-9a-zA-Z]+)?", text)
    if m:
        hhmm = f"{m.group(2)}:{m.group(3)}"
        suffix = (m.group(5) or "")[:4]
        short = f"{hhmm} {suffix}".strip()
        if len(short) <= width:
            return short
    return one_line(text, width)


class TrainingProcessFailed(RuntimeError):
    """The training child failed; the message carries its stderr (for the log)."""


def child_outcome(code: int, stdout: bytes, stderr: str, *, cancelled: bool) -> dict[str, Any]:
    """The run's summary from the child's exit: its ``--json`` summary when it printed
    one, else ``failed`` with the reason (the last stderr line, or how it died)."""
    text = stdout.decode("utf-8", "replace").strip()
    if text:
        try:
            summary = json.loads(text[text.find("{") :])
        except ValueError:
            summary = None
        if isinstance(summary, dict) and isinstance(summary.get("status"), str):
            return summary
    if code < 0 and cancelled:
        return {"status": "cancelled", "message": "stopped before the first step"}
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    prefix = "jarvis-tui: error: "
    said = [ln for ln in lines if ln.startswith(prefix)]  # its one line, whatever follows
    last = said[-1] if said else lines[-1] if lines else ""
    if last.startswith(prefix):
        last = last[len(prefix) :]
    if code < 0:
        why = f"the training process was killed by {_signal_name(code)}"
        if last:
            why += f" ({last})"
    else:
        why = last or f"the training process exited with code {code}"
    return {"status": "failed", "message": why}


STATUS_STYLES = {"completed": "bold green", "running": "bold yellow", "cancelled": "bold cyan",
                 "interrupted": "bold red", "failed": "bold red", "diverged": "bold red"}  # fmt: skip


def _seconds(value: Any) -> str:
    """12s, 4m05s, 1h02m: the one duration format of the pane (header, runs list,
    phases), rounded to the second; no space, so a line never wraps a number away
    from its unit, and it fits the runs list's 5-cell Time column."""
    try:
        sec = max(0, int(round(float(value))))
    except (TypeError, ValueError, OverflowError):
        return "–"
    if sec < 60:
        return f"{sec}s"
    if sec < 3600:
        return f"{sec // 60}m{sec % 60:02d}s"
    return f"{sec // 3600}h{sec % 3600 // 60:02d}m"


def spawn_child(argv: list[str], *, stdin: Any) -> tuple[subprocess.Popen[bytes], Any]:
    """Start a ``jarvis-tui`` child (a training run, an evaluation): its own session and
    process group (a ctrl+c in the terminal is the app's, and quitting can end the child
    and anything it started), stdout piped, stderr in an owner-only temporary file
    (returned with the process), TRAIN_NICE nicer than the app where the OS allows.
    Raises OSError when it cannot start (the file is closed then)."""
    stderr = tempfile.TemporaryFile()  # owner-only, gone when closed
    try:
        proc = subprocess.Popen(
            argv, stdin=stdin, stdout=subprocess.PIPE, stderr=stderr,
            start_new_session=True, close_fds=True,
        )  # fmt: skip
    except OSError:
        stderr.close()
        raise
    with contextlib.suppress(OSError, AttributeError):  # else: at the app's priority
        os.setpriority(os.PRIO_PROCESS, proc.pid, os.getpriority(os.PRIO_PROCESS, 0) + TRAIN_NICE)
    return proc, stderr


def ema(values: Sequence[Optional[float]], alpha: float) -> list[float]:
    """Exponential moving average (NaN-safe: a NaN point repeats the last value)."""
    out: list[float] = []
    cur: Optional[float] = None
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(cur if cur is not None else float("nan"))
            continue
        cur = v if cur is None else alpha * v + (1 - alpha) * cur
        out.append(cur)
    return out


def alerts(steps: list[dict[str, Any]], alpha: float = 0.1) -> list[str]:
    """NaN, a spike far above the moving average, or a plateau."""
    out: list[str] = []
    losses = [s.get("loss") for s in steps]
    if any(v is not None and not math.isfinite(v) for v in losses):
        first = next(s["step"] for s in steps if not math.isfinite(s.get("loss", 0.0)))
        out.append(f"loss is NaN/inf from step {first}: training diverged")
    smooth = ema(losses, alpha)
    for i in range(10, len(losses)):
        v, avg = losses[i], smooth[i - 1]
        if v is not None and math.isfinite(v) and math.isfinite(avg) and v > 3 * avg:
            out.append(f"spike at step {steps[i]['step']}: loss {v:.3f} vs average {avg:.3f}")
            break
    if len(smooth) >= 60 and all(math.isfinite(x) for x in smooth[-60:]):
        old, new = smooth[-60], smooth[-1]
        if old > 0 and abs(old - new) / old < 0.005:
            out.append(f"plateau: the smoothed loss moved {abs(old - new):.4f} in 60 steps")
    return out


@dataclass(frozen=True)
class ChartData:
    """What the three charts show, copied on the UI thread for the drawing worker
    (the step records themselves are never changed once read)."""

    followed: Optional[str]
    steps: list[dict[str, Any]]
    evals: list[dict[str, Any]]
    epochs: list[dict[str, Any]]
    overlays: dict[str, list[tuple[int, float]]]
    alpha: float
    width: int
    """The loss chart's width: about two points per column are plotted."""


def chart_specs(data: ChartData) -> dict[str, ChartSpec]:
    """The loss (with its EMA, eval points, epoch lines, overlaid runs), learning-rate
    and tokens/s charts of *data*, by chart id (any thread)."""
    # Plot about two points per column (braille: two dots a cell): a terminal chart
    # cannot show more, and plotext's cost grows with the points.
    steps = data.steps
    stride = max(1, len(steps) // min(PLOT_POINTS, 2 * data.width))
    shown = steps[::stride]
    if steps and shown[-1] is not steps[-1]:
        shown.append(steps[-1])
    xs = [s["step"] for s in shown]
    # The ticks cover every curve drawn: an overlaid run longer than the followed one
    # sets the scale (walkthrough W3 20: ticks 2 5 9 in the first columns).
    every = xs + [p[0] for rid, pts in data.overlays.items() if rid != data.followed
                  for p in pts]  # fmt: skip
    span = (min(every), max(every)) if every else None
    own = (min(xs), max(xs)) if xs else None  # (the lr and tokens/s charts: its steps)
    series = [
        Series([p[0] for p in points], [p[1] for p in points], label=one_line(run_id, 14))
        for run_id, points in data.overlays.items()
        if points and run_id != data.followed
    ]
    vlines: tuple[float, ...] = ()
    if xs:
        full = ema([s["loss"] for s in steps], data.alpha)
        smooth = full[::stride]
        if len(smooth) < len(xs):
            smooth.append(full[-1])  # the last step, appended to the strided points
        series += [Series(xs, [s["loss"] for s in shown], label="loss"),
                   Series(xs, smooth[: len(xs)], label="EMA")]  # fmt: skip
        if data.evals:
            series.append(Series([e["step"] for e in data.evals],
                                 [e["eval_loss"] for e in data.evals],
                                 label="eval", scatter=True, marker="●"))  # fmt: skip
        # Epoch ends inside the curve: the last one is the chart's right edge (a line
        # there drew a one-column second frame, `┬┐` … `┴┘`).
        vlines = tuple(e["step"] for e in data.epochs if min(xs) < e["step"] < max(xs))
    title = (f"loss (EMA α={data.alpha:.2f})" if xs
             else "loss: no step recorded" if data.followed  # (a run with none yet)
             else "loss: no run selected")  # fmt: skip
    specs = {"chart-loss": ChartSpec(title, series=tuple(series), vlines=vlines, steps=span)}
    for chart_id, key, long, short, decimals in (
        ("chart-lr", "lr", "learning rate", "lr", None),
        ("chart-tps", "tokens_per_s", "real tokens/s", "tok/s", 0),  # whole tokens/s
    ):  # fmt: skip
        line = (Series(xs, [s.get(key, 0.0) for s in shown]),) if xs else ()
        specs[chart_id] = ChartSpec(long, short, line, steps=own, y_decimals=decimals)
    return specs


def _num(value: Any, fmt: str) -> str:
    """*value* formatted, or – when it is not a finite number (eval.json: any writer)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return format(value, fmt)


def _side(m: Any) -> dict[str, Any]:
    return m if isinstance(m, dict) else {}


def _count(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _error_counts(name: str, m: dict[str, Any], *, reasons: bool = True) -> Optional[str]:
    """``base: 0 scored, 16 errors (empty answer)`` for a side with errors, else None
    (*m* from an eval.json: any writer, shown as text); the reasons left out when not
    *reasons* (a narrow pane: the verdict has them)."""
    errors, scored = _count(m.get("errors")), _count(m.get("scored"))
    if not errors:
        return None
    why_ = m.get("error_reasons") if reasons else None
    names = [one_line(str(r), 40) for r in why_] if isinstance(why_, dict) else []
    why = f" ({'; '.join(names[:2])}{'; …' if len(names) > 2 else ''})" if names else ""
    done = "?" if scored is None else f"{scored:,}"
    return f"{name}: {done} scored, {plural(errors, 'error')}{why}"


def comparison_table(c: dict[str, Any], *, compact: bool = False) -> Group:
    """Base and base + adapter side by side: eval loss, score ± interval, latency p50,
    then the verdict. *c* is an eval.json (any writer): every value is shown as text.
    *compact* (a narrow pane): 38 columns, the set id left to eval.json. A partial
    (cancelled) evaluation shows only what was measured, and no verdict."""
    base, tuned = _side(c.get("base")), _side(c.get("adapter"))
    partial = bool(c.get("partial"))
    es = _side(c.get("eval_set"))
    total = _count(es.get("samples"))
    done_base, done_tuned = _count(base.get("samples")), _count(tuned.get("samples"))
    # A side a cancelled evaluation never reached has no numbers (unknown counts: shown).
    ran = {side: not partial or done is None or done > 0
           for side, done in (("base", done_base), ("adapter", done_tuned))}  # fmt: skip

    def score(m: dict[str, Any], side: str) -> str:
        if not ran[side] or unscored(m):
            return "–"  # an empty answer is an error, never a 0 (issue 10)
        ci: Any = m.get("accuracy_ci")
        acc = m.get("accuracy")
        half = "–"
        numbers = isinstance(ci, list) and len(ci) == 2
        numbers = numbers and all(_num(x, "f") != "–" for x in ci)
        if numbers:
            half = _num((ci[1] - ci[0]) / 2, ".3f")
            if compact and half.startswith("0."):
                half = half[1:]  # ±.043
        return f"{_num(acc, '.3f')} ±{half}"

    def unscored(m: dict[str, Any]) -> bool:
        return bool(_count(m.get("samples"))) and _count(m.get("scored")) == 0

    def latency(m: dict[str, Any], side: str) -> str:
        v = m.get("p50_latency_seconds")
        return "–" if not ran[side] or _num(v, ".2f") == "–" else f"{v:.2f} s"

    def loss(key: str, side: str) -> str:
        return _num(c.get(key), ".3f") if ran[side] else "–"

    of = "?" if total is None else f"{total:,}"
    if partial:
        # What was measured, of how many: the counts come from the sides, not the set.
        shown_n = done_base if done_base is not None else "?"
        count = f"{shown_n} of {of}"
    else:
        count = of
    held = "held-out" if compact else "held-out samples"
    title = Text("vs base", style="bold")
    if not compact:
        title.append(" on " + one_line(str(es.get("id", "?")), 20), style="bold")
    title.append(f" · {count} {held} · ROUGE-L")
    # Every cell starts at its column's edge (left-justified, the gap on its right) and
    # the blank header cell has a style of its own: the header sits over its values in a
    # terminal and in a renderer that trims each span's spaces (an SVG viewer) alike.
    table = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, show_edge=False,
                  expand=False, header_style="bold")  # fmt: skip
    table.add_column(Text(""), style="dim", header_style="dim", no_wrap=True)
    table.add_column(Text("base"), no_wrap=True)
    table.add_column(Text("+ adapter"), no_wrap=True)

    def row(label: str, a: str, b: str) -> None:
        table.add_row(Text(label), Text(a), Text(b))

    row("eval loss", loss("base_eval_loss", "base"), loss("adapter_eval_loss", "adapter"))
    row("score", score(base, "base"), score(tuned, "adapter"))
    row("latency p50", latency(base, "base"), latency(tuned, "adapter"))
    # A side's errors in the CLI's words: "base: 0 scored, 16 errors (empty answer)".
    errors = [Text(line, style="yellow") for side, m in (("base", base), ("adapter", tuned))
              if ran[side]
              and (line := _error_counts(side, m, reasons=not compact)) is not None]  # fmt: skip
    if partial:
        if ran["adapter"]:
            what = f"cancelled during the adapter {done_tuned or 0}/{of} (base {done_base}/{of})"
        else:
            what = f"cancelled after base {done_base or 0}/{of} — adapter not evaluated"
        return Group(title, table, *errors,
                     Text(f"{what} · not saved, no verdict", style="bold yellow"))  # fmt: skip
    verdict = one_line(str(c.get("verdict", "")), 200)
    style = ("bold green" if verdict.startswith("adapter better")
             else "bold red" if verdict.startswith("adapter worse") else "bold")  # fmt: skip
    return Group(title, table, *errors, Text(verdict, style=style))


class TrainingPane(Pane):
    """LoRA training: data, form, live charts, runs."""

    PANE_ID = "training"
    HELP_TITLE = "Training"
    HELP_TEXT = (
        "Mine SFT pairs from labelled traces (min quality), pick a model (the workspace's "
        "tiny LM by default, or a local model folder: a refused value is said beside the "
        "form as it is typed) and LoRA settings (tab walks the form, escape goes back to "
        "the runs list), then s starts a run in the background. The charts follow the "
        "run's metrics file step by step: raw and smoothed loss (> / < change the "
        "smoothing), eval loss, learning rate and real tokens/s; x cancels cleanly (the "
        "current step finishes and the adapter is saved; before the first step nothing "
        "is saved); one run at a time (s while one runs says so). The runs list shows "
        "every run in checkpoints/, also those started elsewhere; m marks the highlighted "
        "run to overlay its loss on the chart; enter opens the highlighted run's summary "
        "(model, data, LoRA settings, figures, folder; escape closes it); r reads the list "
        "and the SFT pair counts again (also done whenever the pane is shown). A run "
        "never trains on the held-out queries (about 10%, recorded in its folder as split.json): E evaluates the "
        "highlighted finished run against its base model on them (ROUGE-L score ± 95% "
        "interval, eval loss, latency p50, side by side, and a verdict; x cancels); the "
        "result is kept in the run folder (eval.json) and shown whenever the run is "
        f"highlighted. Training needs the train extra: {INSTALL_TRAIN}."
    )

    BINDINGS = [
        Binding("s", "start", "Start run", id="training.start"),
        Binding("x", "cancel", "Cancel run / evaluation", id="training.stop"),
        Binding("m", "overlay", "Overlay run", id="training.mark"),
        Binding("enter", "open_run", "Open run (its summary)", show=False, id="training.open"),
        Binding("E", "evaluate", "Evaluate vs base", id="training.evaluate"),
        Binding("r", "reload", "Reload runs and counts", show=False, id="training.refresh"),
        Binding(
            "greater_than_sign",
            "smoothing(-1)",
            "Smoother loss",
            show=False,
            id="training.smoother",
        ),  # fmt: skip
        Binding("less_than_sign", "smoothing(1)", "Rawer loss", show=False, id="training.rawer"),
    ]

    class Mined(Message):
        """The SFT pairs the form's min quality gives: a preview and the counts."""

        def __init__(self, pairs: list[dict[str, Any]], total: int, held: int,
                     min_quality: float, labelled: Optional[int]) -> None:  # fmt: skip
            super().__init__()
            self.pairs, self.total, self.held = pairs, total, held
            self.min_quality, self.labelled = min_quality, labelled

    class EvalProgress(Message):
        """A stage of the adapter evaluation moved (at most four a second)."""

        def __init__(self, run_id: str, stage: str, done: int, total: int) -> None:
            super().__init__()
            self.run_id, self.stage, self.done, self.total = run_id, stage, done, total

    class EvalDone(Message):
        """The adapter evaluation ended: its comparison, or why there is none."""

        def __init__(self, run_id: str, comparison: Optional[dict[str, Any]], problem: str) -> None:
            super().__init__()
            self.run_id, self.comparison, self.problem = run_id, comparison, problem

    class RunsLoaded(Message):
        def __init__(self, runs: list[Any]) -> None:
            super().__init__()
            self.runs = runs

    class MetricsArrived(Message):
        """New lines of the followed run's metrics file."""

        def __init__(self, run_id: str, records: list[dict[str, Any]], reset: bool) -> None:
            super().__init__()
            self.run_id, self.records, self.reset = run_id, records, reset

    class ChartsDrawn(Message):
        """The charts' specs and their pictures, drawn off the UI thread (by chart id;
        no picture for a chart that was hidden)."""

        def __init__(self, drawn: dict[str, tuple[ChartSpec, Optional[Picture]]]) -> None:
            super().__init__()
            self.drawn = drawn

    class RunFinished(Message):
        def __init__(self, summary: dict[str, Any]) -> None:
            super().__init__()
            self.summary = summary

    class OverlayLoaded(Message):
        """A marked run's loss curve, read from its metrics file."""

        def __init__(self, run_id: str, points: list[tuple[int, float]]) -> None:
            super().__init__()
            self.run_id, self.points = run_id, points

    class PhaseChanged(Message):
        """The training child said what it does before its first step (``--phases``)."""

        def __init__(self, run_id: str, phase: str) -> None:
            super().__init__()
            self.run_id, self.phase = run_id, phase

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store: Any = None
        self.workspace: WorkspaceSession | None = None
        self.pairs: list[dict[str, Any]] = []
        """A preview of the mined SFT pairs (the first few)."""
        self.total_pairs = 0
        self.runs: list[Any] = []
        self.followed: Optional[str] = None
        """The run whose metrics the charts show."""
        self.steps: deque[dict[str, Any]] = deque(maxlen=MAX_POINTS)
        self.evals: deque[dict[str, Any]] = deque(maxlen=1_000)
        self.epochs: deque[dict[str, Any]] = deque(maxlen=1_000)
        self.overlays: dict[str, list[tuple[int, float]]] = {}
        self.alpha = 0.1
        """EMA smoothing of the loss curve."""
        self.training = False
        """A run started from this pane is in progress."""
        self.run_id: Optional[str] = None
        """The run the pane's training process writes (its folder in checkpoints/)."""
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._cancelled = False
        self._cancel_at = 0.0  # when x asked the run to stop
        self._cancel_asked = threading.Event()  # the running child's: handed to its worker
        self._quitting = False  # ctrl+q asked; the app ends when the children are gone
        self._await_run = False  # the started run's folder is not in the list yet
        self._runs_seen = False  # the runs list has been read once (new runs are news)
        self._ended_note = ""
        """The started run ended before it had a folder ("… cancelled before the first
        step; nothing saved"): said where the charts go, and no other run is followed in
        its place until the user highlights one."""
        self._tail: Any = None
        self._started_at = 0.0
        self.phase = ""
        """What the started run does before its first step ("loading the model")."""
        self._phase_at = 0.0
        self._loaded = False
        self._last_plot = 0.0
        self._plotted: Any = None  # what the charts show now (redrawn when it changes)
        self._drawing = False  # a drawing of the charts is in flight (one at a time)
        self._progress_due = False  # metrics came: the progress line shows them next
        self._runs_due: Optional[TrainingPane.RunsLoaded] = None  # shown after the drawing
        self._draw_again = False  # something changed meanwhile: draw when it lands
        self._alerts_shown: list[str] = []  # what #training-alerts says now
        self._box_rows: dict[str, Optional[tuple[int, int]]] = {}  # (height, width) by box
        self._charts: dict[str, Chart] = {}  # by id, once composed
        self._ticks = 0
        self._run_col = 0
        self.missing: list[str] = []
        """The train extra's modules that are not installed (checked when the store opens)."""
        self.held_out = 0
        """Mined pairs whose query the eval split holds out (never trained on)."""
        self.evaluating: Optional[str] = None
        """The run whose adapter is being evaluated against its base."""
        self._eval_stop: Optional[threading.Event] = None
        """Set when the user cancelled the evaluation (the child got its SIGTERM)."""
        self._eval_proc: Optional[subprocess.Popen[bytes]] = None
        """The evaluation child (``jarvis-tui eval --compare``) while it runs."""
        self.comparison: Optional[dict[str, Any]] = None
        """The followed run's comparison with its base (its eval.json, or the last one)."""
        self._form_said = False  # #training-form-errors shows the form's problems now
        self._marked: dict[str, str] = {}  # what each field's ✗ line says now (by name)
        self._said = ""  # the status line's extra now (kept when the runs are read again)
        self._arrival: Optional[tuple[str, str]] = None  # (run, what _said of it) if said
        self._mined_quality: Optional[float] = None  # what the SFT pair counts are for
        self._mined_msg: Optional[TrainingPane.Mined] = None  # what #training-data shows
        self._eval_words = ""  # what the evaluation child does now (its last stage)
        self._eval_at = 0.0  # since when
        self._eval_note: Optional[Text] = None
        """What the comparison box says instead: progress, or why there is nothing."""

    def compose(self) -> ComposeResult:
        yield Static(Text("Waiting for the workspace…", style="dim"), id="training-status")
        with Horizontal(id="training-main"):
            with KeyedScroll(id="training-left"):
                yield Static(id="training-data")
                # The runs list first: it is the pane's navigation (escape lands there).
                yield NavTable(id="training-runs", cursor_type="row")
                yield Static(Text("LoRA settings · tab / escape", style="dim"),
                             id="training-form-title")  # fmt: skip
                # under the title: in view with any field of the form (the errors line
                # under the last one is below the fold at 80x24)
                yield Static(id="training-form-notice")
                for setting in FORM_SETTINGS:
                    with Horizontal(classes="form-row", id=f"row-{setting.name}"):
                        yield Label(setting.label, classes="form-label")
                        field = FittedInput(value=setting.show(setting.default),
                                            id=f"f-{setting.name}", classes="form-input")  # fmt: skip
                        field.tooltip = f"{setting.label}: " + (
                            MODEL_ACCEPTS if setting.name == "model" else setting.accepts()
                        )
                        yield field
                    # why its value is refused, under the field (as the Trials forms say it)
                    yield Static(id=f"e-{setting.name}", classes="form-error")
                yield Static(id="training-form-errors")
                # docked at the panel's foot: says that fields are below the fold
                yield Static(id="training-more")
            with Vertical(id="training-charts"):
                yield Static(id="training-install")
                with Horizontal(id="training-progress-row"):
                    yield ProgressBar(id="training-progress", show_eta=False,
                                      show_percentage=False)  # fmt: skip
                    yield FitLine(id="training-eta")
                yield Static(id="training-compare")
                yield Static(Text(EMPTY_CHARTS, style="dim"), id="training-empty")
                yield Chart(id="chart-loss")
                with Horizontal(id="training-small-charts"):
                    yield Chart(id="chart-lr")
                    yield Chart(id="chart-tps")
                yield Static(id="training-alerts")

    def on_mount(self) -> None:
        self.watch(self.query_one("#training-left"), "scroll_y", self._say_more_below,
                   init=False)  # fmt: skip
        self._runs_columns()
        self.set_interval(FOLLOW_SECONDS, self._follow)
        # Determinate from the start: an indeterminate bar animates forever.
        self.query_one("#training-progress", ProgressBar).update(total=100, progress=0)
        self._plot()

    def _run_width(self) -> int:
        """The Run column gets what the left panel has left (ids end in …)."""
        avail = (40 if self.has_class("-narrow") else 46) - 5  # padding, border, scrollbar
        if self.has_class("-narrow"):  # no Time column: the run ids stay distinguishable
            return max(8, avail - (9 + 5) - 6)
        return max(8, avail - (9 + 5 + 5) - 8)

    def _runs_columns(self) -> None:
        self._run_col = self._run_width()
        runs = self.query_one("#training-runs", DataTable)
        runs.clear(columns=True)
        columns = [("Run", "run", self._run_col), ("Status", "status", 9), ("Loss", "loss", 5)]
        if not self.has_class("-narrow"):
            columns.append(("Time", "time", 5))
        for label, key, width in columns:
            runs.add_column(Text(label), key=key, width=width)

    def on_resize(self) -> None:
        narrow = self.size.width < 100
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            self._show_compare()
        short = self.size.height < SHORT_ROWS
        if short != self.has_class("-short"):
            self.set_class(short, "-short")
            self._show_data()
        self.call_after_refresh(self._say_more_below)
        if self._run_width() != self._run_col:
            self._runs_columns()
            if self.runs:
                self._fill_runs()
        self._status(self._said)
        if self.steps:
            self._update_progress()

    def _say_more_below(self, *_: object) -> None:
        """When fields of the LoRA form are below the left panel's fold (80x24, or a
        long runs list), a line at its foot says how many and how to reach them."""
        left = self.query_one("#training-left", VerticalScroll)
        more = self.query_one("#training-more", Static)
        fold = left.scroll_offset.y + left.scrollable_content_region.height
        below = sum(1 for row in self.query(".form-row") if row.virtual_region.bottom > fold)
        if below:
            more.update(Text(f"↓ {plural(below, 'more field')} below · tab",
                             style="bold"))  # fmt: skip
        if bool(below) != more.has_class("-shown"):
            more.set_class(bool(below), "-shown")
            self.call_after_refresh(self._say_more_below)  # the line takes a row itself

    def workspace_ready(self, session: WorkspaceSession) -> None:
        super().workspace_ready(session)
        self.store = session.traces
        self._check_install()
        self.query_one("#f-model", FittedInput).show_placeholder(MODEL_PLACEHOLDERS)

    def _visible(self) -> bool:
        try:
            return self.app.query_one("#panes").active == "training"  # type: ignore[attr-defined]
        except Exception:
            return False

    def focus_default(self) -> None:
        focus_now(self.query_one("#training-runs", DataTable))  # immediate
        # (the app calls on_shown next when the pane comes on screen; escape only focuses)

    def on_shown(self) -> None:
        """Every time the pane comes on screen: the SFT pairs and labelled counts are
        mined again (labels given in Traces or by another process since) and the runs
        listed again."""
        if self.store is not None:
            self._loaded = True
            self._start_mining()
            self.action_refresh_runs()

    # ------------------------------------------------------------ data

    def _form(self) -> tuple[dict[str, Any], list[str]]:
        """The form's values, and every refusal in the schema's words (its bounds)."""
        values: dict[str, Any] = {}
        problems: list[str] = []
        for s in FORM_SETTINGS:
            value, problem = s.parse(self.query_one(f"#f-{s.name}", Input).value)
            if s.name == "model" and not problem and self.workspace is not None:
                value, problem = resolve_model(value, Path(self.session.root))
            # marked in place: the field, and why under it (as it is typed, and on s)
            self.query_one(f"#f-{s.name}", Input).set_class(bool(problem), "-refused")
            self._mark_field(s.name, problem)
            if problem:
                problems.append(f"{s.label} {problem}")
            else:
                values[s.name] = value
        return values, problems

    def _mark_field(self, name: str, problem: Optional[str]) -> None:
        """The ✗ line under field *name*: why its value is refused (hidden when it is
        not); the min quality's says which value the SFT pair counts above are for."""
        said = "" if problem is None else "✗ " + visible(one_line(problem, 300))
        note = ""
        if said and name == "min_quality" and self._mined_quality is not None:
            note = f"\nSFT pairs above: ≥ {self._mined_quality:.2f}, the last valid"
        if self._marked.get(name, "") == said + note:
            return  # (checked at every keystroke: no repaint for the same words)
        self._marked[name] = said + note
        line = self.query_one(f"#e-{name}", Static)
        line.update(Text.assemble((said, "bold red"), (note, "dim")))
        line.set_class(bool(said), "-shown")
        self.query_one(f"#row-{name}").set_class(bool(said), "-invalid")

    def _refused_fields(self) -> list[str]:
        """The labels of the fields marked ✗ now, in the form's order."""
        return [s.label for s in FORM_SETTINGS if self._marked.get(s.name)]

    @on(Input.Changed, "#f-min_quality")
    def _quality_changed(self) -> None:
        if self.store is not None and self._loaded:
            self._start_mining()

    @on(Input.Changed, ".form-input")
    def _form_changed(self) -> None:
        """A value the run would refuse is said under its field as it is typed (s says
        the same); a fixed field clears its line, a fixed form what s said at its foot."""
        _values, problems = self._form()
        if not problems and self._form_said:
            self.query_one("#training-form-errors", Static).update("")
            self._form_said = False

    def form_notice_line(self) -> Callable[[str, str], None] | None:
        """Where the app shows a notification instead of a toast while a field of the
        LoRA settings is focused (as every form screen does: a toast lay over the form);
        None when the focus is elsewhere (the toast it was)."""
        focused = self.screen.focused
        if focused is None or not focused.has_class("form-input"):
            return None
        return self._show_form_notice

    def _show_form_notice(self, message: str, severity: str) -> None:
        line = self.query_one("#training-form-notice", Static)
        line.update(Text(visible(one_line(message, 300))))
        line.add_class("-shown")
        for level in ("warning", "error"):
            line.set_class(severity == level, f"-{level}")
        focused = self.screen.focused

        def into_view() -> None:  # the line, then the field typed in (it wins)
            line.scroll_visible(animate=False, immediate=True)
            if focused is not None:
                focused.scroll_visible(animate=False, immediate=True)

        self.call_after_refresh(into_view)  # once the line has its height

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        """Leaving the form leaves its notice too (tab between its fields keeps it)."""
        if not event.widget.has_class("form-input"):
            self.query_one("#training-form-notice", Static).remove_class("-shown")

    def _start_mining(self) -> None:
        """Mine with the form's min quality (read here, on the UI thread)."""
        values, _problems = self._form()
        if "min_quality" in values:  # else the form says why beside the field on s
            self._mine(self.store, values["min_quality"])

    @work(thread=True, exclusive=True, exit_on_error=False, group="training.mine",
          description="mine SFT pairs")  # fmt: skip
    def _mine(self, store: Any, min_quality: float) -> None:
        from jarvis_tui.evals.sets import EvalSplit
        from jarvis_tui.learning.training.data import TrainingDataMiner

        labelled = store.count_filtered()[1] if hasattr(store, "count_filtered") else None
        miner = TrainingDataMiner(store, min_quality=min_quality)
        split = EvalSplit()
        pairs: list[dict[str, Any]] = []
        total = held = 0
        for pair in miner.iter_sft_pairs():
            total += 1
            if split.is_held_out(str(pair.get("input", ""))):
                held += 1
            elif len(pairs) < 3:  # a preview: the run mines its own pairs when it starts
                pairs.append(pair)
        self.post_message(self.Mined(pairs, total, held, min_quality, labelled))

    @on(Mined)
    def _mined(self, msg: TrainingPane.Mined) -> None:
        values, _problems = self._form()
        if values.get("min_quality") != msg.min_quality:
            # Typed over since (a newer mining comes), or the field is refused now: the
            # header keeps the last valid value's counts.
            return
        self.pairs = msg.pairs
        self.total_pairs = msg.total - msg.held
        self.held_out = msg.held
        self._mined_quality = msg.min_quality
        self._mined_msg = msg
        self._show_data()
        self._status(self._said)
        self.call_after_refresh(self._say_more_below)  # its lines move the form

    def _show_data(self) -> None:
        """The SFT pairs' counts and an example; on a short screen (80x24) the counts
        alone, in two lines: the form under them keeps its rows."""
        msg = self._mined_msg
        if msg is None:
            return
        short = self.has_class("-short")
        out = Text()
        # Every pair mined, as Routing's learning cycle and `jarvis-tui learn` count
        # them, then how the eval split divides them (issue 10: one word, one number).
        out.append(plural(msg.total, "SFT pair"), style="bold")
        out.append(f" ({self.total_pairs:,} to train · {msg.held:,} held out"
                   + ("" if short else ", never trained on") + ")")  # fmt: skip
        # What they are, in the words the other panes count in (Traces: "labelled").
        of = "" if msg.labelled is None else f" of {msg.labelled:,} labelled"
        if short:
            out.append(f": scored ≥ {msg.min_quality:.2f}{of}", style="dim")
            if not msg.pairs:
                out.append("\nLabel traces (score ≥ min quality) first.", style="yellow")
            self.query_one("#training-data", Static).update(out)
            return
        out.append(f": traces scored ≥ {msg.min_quality:.2f}{of}, not failed, no "
                   "duplicates, newest first\n", style="dim")  # fmt: skip
        if msg.pairs:
            p = msg.pairs[0]
            out.append("e.g. ", style="dim")
            out.append(one_line(p["input"], 60) + "\n")
            out.append("  → ", style="dim")
            out.append(one_line(p["output"], 60), style="italic")
        else:
            out.append("Label traces (score ≥ min quality) to get training data.", style="yellow")
        self.query_one("#training-data", Static).update(out)

    def _check_install(self) -> list[str]:
        """Without the train extra, say in place (persistently) what to install."""
        missing = missing_train_modules()
        self.missing = missing
        self.set_class(bool(missing), "-no-torch")
        box = self.query_one("#training-install", Static)
        if missing:
            box.update(
                Text.assemble(
                    ("Training needs the train extra", "bold"),
                    f" ({', '.join(missing)} not installed). Install it into this "
                    "environment, then restart jarvis-tui:\n  ",
                    (INSTALL_TRAIN, "bold"),
                    "\nor, from a checkout of the project:\n  ",
                    (INSTALL_TRAIN_DEV, "bold"),
                    "\nRuns in checkpoints/ (trained elsewhere) are still shown.",
                )
            )
        else:
            box.update("")
        return missing

    def _status(self, extra: str = "") -> None:
        """One line, by priority: state words first, counts and extras when room."""
        self._said = extra
        parts: list[tuple[int, Text]] = []
        if getattr(self, "missing", None):
            parts.append((0, Text("train extra missing: " + INSTALL_TRAIN, style="bold red")))
        if self._quitting and self._children():
            what = " and ".join(
                word for proc, word in ((self._proc, "the run"), (self._eval_proc, "the evaluation"))
                if proc is not None and proc.poll() is None
            )  # fmt: skip
            parts.append((0, Text(f"quitting: stopping {what} · ctrl+q again: quit now",
                                  style="bold red")))  # fmt: skip
        elif self.training:
            parts.append((0, Text("training…", style="bold yellow")))
        run = self._run(self.followed) if self.followed else None
        if run is not None:
            parts.append((1, Text.assemble(("following ", "dim"),
                                           (one_line(run.run_id, 40), "bold"), " ",
                                           (run.status, "bold"))))  # fmt: skip
        # Until they are read, said so: a false "0 runs" reads as "my runs are gone".
        runs = f"{plural(len(self.runs), 'run')} in" if self._runs_seen else "reading"
        parts.append((3, Text(f"{runs} checkpoints/" + ("" if self._runs_seen else "…"))))
        if self._mined_msg is None and self._loaded:
            parts.append((2, Text("counting SFT pairs…")))
        elif self.total_pairs or self._loaded:
            parts.append((2, Text(plural(self.total_pairs + self.held_out, "SFT pair"))))
        if extra:
            parts.append((2, Text(visible(extra))))
        width = (self.size.width or self.app.size.width) - 2
        # One row whatever it says (height 1): a repaint, not a layout of the screen.
        self.query_one("#training-status", Static).update(fit(parts, width), layout=False)

    # ------------------------------------------------------------ runs

    def action_refresh_runs(self) -> None:
        if self.workspace is not None:
            self._load_runs(Path(self.session.checkpoints_dir))

    def action_reload(self) -> None:
        """``r``: the runs and the SFT pair / labelled counts, read again."""
        if self.store is not None and self._loaded:
            self._start_mining()
        self.action_refresh_runs()

    @work(thread=True, exclusive=True, exit_on_error=False, group="training.runs",
          description="list runs")  # fmt: skip
    def _load_runs(self, checkpoints: Path) -> None:
        from jarvis_tui.learning.training.runs import list_runs

        self.post_message(self.RunsLoaded(list_runs(checkpoints)))

    @on(RunsLoaded)
    def _runs_loaded(self, msg: TrainingPane.RunsLoaded) -> None:
        if self._drawing:
            # Shown with the charts being drawn: a repaint now would share the GIL
            # with their drawing (the list is read again every 5 s, with a batch).
            self._runs_due = msg
            return
        known = {r.run_id for r in self.runs}
        seen_before, self._runs_seen = self._runs_seen, True
        self.runs = msg.runs
        keep = self.followed
        self._fill_runs()
        table = self.query_one("#training-runs", DataTable)
        ids = [r.run_id for r in msg.runs]
        arrived = [r for r in msg.runs if seen_before and r.run_id not in known
                   and r.status == "running" and r.run_id != self.run_id]  # fmt: skip
        if self._arrival is not None and self._said == self._arrival[1]:
            # The news of a run started elsewhere lasts while it runs: once it has ended,
            # "following <it> completed" says the rest (not a stale "running").
            gone_by = self._run(self._arrival[0])
            if gone_by is None or gone_by.status != "running":
                self._said, self._arrival = "", None
        if arrived and not self._await_run:
            # A run started elsewhere (jarvis-tui train, another machine) is followed live
            # unless the user watches another running one: then it is said. (Short: the
            # "following <run> <state>" part before it names the followed one.)
            name = short_run_id(arrived[0].run_id, 24)
            followed = self._run(self.followed) if self.followed else None
            if followed is not None and self.run_state(followed) == "running":
                self._said = f"new run {name} started elsewhere: j / k shows it"
            else:
                keep, self._ended_note = arrived[0].run_id, ""
                self._said = "a new run started elsewhere: followed"
            self._arrival = (arrived[0].run_id, self._said)
        if self._await_run and self.run_id in ids:
            # The run this pane started has its folder now: the charts show it (whatever
            # row a refresh of the list highlighted meanwhile).
            keep = self.run_id
            self._await_run = False
            if self.training and self.phase:
                self.phase, self._phase_at = "the first step", time.monotonic()
        # The highlighted run, unless a run starts or ended before its folder: no other
        # run's charts in its place.
        gone = keep is None or keep not in ids
        if gone and msg.runs and not (self._await_run or self._ended_note):
            keep = ids[max(0, min(table.cursor_row, len(ids) - 1))]
        if keep is not None and keep in [r.run_id for r in msg.runs]:
            with self.prevent(DataTable.RowHighlighted):  # followed here, not by the event
                table.move_cursor(row=[r.run_id for r in msg.runs].index(keep))
            self._follow_run(keep)
            self._update_progress()
        self._status(self._said)  # (the list is read again every 5 s: what was said stays)
        self.call_after_refresh(self._say_more_below)  # the list's rows move the form

    def _fill_runs(self) -> None:
        table = self.query_one("#training-runs", DataTable)
        row = table.cursor_row
        # The table's own highlight of its new first row is not the user's: which run is
        # followed is decided by the caller (a run starting follows none in its place).
        with self.prevent(DataTable.RowHighlighted):
            self._fill_rows(table, row)

    def _fill_rows(self, table: DataTable[Any], row: int) -> None:
        table.clear()
        for r in self.runs:
            loss, dur = self._loss_time(r)
            # run ids come from run.json files anyone can write: text, never markup
            table.add_row(
                Text(short_run_id(r.run_id, self._run_col)),
                Text(one_line(r.status, 9),
                     style=STATUS_STYLES.get(r.status, "").replace("bold ", "")),  # fmt: skip
                Text(loss), *([] if self.has_class("-narrow") else [Text(dur)]), key=r.run_id,
            )  # fmt: skip
        if self.runs:
            table.move_cursor(row=max(0, min(row, len(self.runs) - 1)))

    def _loss_time(self, r: Any) -> tuple[str, str]:
        """The runs list's Loss and Time: the run's final figures, or, for the followed
        run while it trains, its last step's loss and the time it has trained so far."""
        if self.steps and r.run_id == self.followed and self.run_state(r) == "running":
            last = self.steps[-1]
            loss = last.get("loss")
            finite = isinstance(loss, (int, float)) and math.isfinite(loss)
            return (f"{loss:.3f}" if finite else "NaN"), _seconds(last.get("elapsed"))
        loss_s = "–" if r.final_loss is None else f"{r.final_loss:.3f}"
        return loss_s, "–" if not r.duration else _seconds(r.duration)

    def _live_row(self, run: Any) -> None:
        """The followed run's row follows its steps while it trains (not "running – –")."""
        if run is None or self.run_state(run) != "running":
            return
        table = self.query_one("#training-runs", NavTable)
        loss, dur = self._loss_time(run)
        try:
            table.update_cell(run.run_id, "loss", Text(loss))
            if not self.has_class("-narrow"):
                table.update_cell(run.run_id, "time", Text(dur))
        except Exception:  # the row or column is being rebuilt (a resize, a reload)
            pass
        table.drop_render_caches()  # stale rendered cells: garbage each collection walks

    @on(DataTable.RowHighlighted, "#training-runs")
    def _run_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value:
            if self._ended_note:  # the user picks a run to look at: the note has been seen
                self._ended_note = self._said = ""
                self._show_starting()
            before = self.followed
            self._follow_run(str(event.row_key.value))
            if self.followed != before:
                self._status(self._said)  # "following <it>"

    def _run(self, run_id: str) -> Any:
        return next((r for r in self.runs if r.run_id == run_id), None)

    @on(DataTable.RowSelected, "#training-runs")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_run()

    def action_open_run(self) -> None:
        """``enter``: the highlighted run's summary (its run.json), escape closes it."""
        run = self._selected_run()
        if run is None:
            self._status("enter: no run to open yet: train one first (s)")
            return
        from jarvis_tui.evals.adapters import load_comparison
        from jarvis_tui.learning.training.runs import RunInfo
        from jarvis_tui.ui.screens.run_detail import RunDetailScreen

        run = RunInfo.load(run.path)  # as it is now (a run trains on, elsewhere too)
        data = load_comparison(run.path)
        self.app.push_screen(RunDetailScreen(run, data if isinstance(data, dict) else None))

    def _follow_run(self, run_id: str) -> None:
        if run_id == self.followed:
            return
        from jarvis_tui.learning.training.runs import METRICS_FILE, MetricsTail

        run = self._run(run_id)
        if run is None:
            return
        self.followed = run_id
        if self.evaluating is None:
            self._load_comparison(run)
        self._tail = MetricsTail(Path(run.path) / METRICS_FILE)
        self.steps.clear()
        self.evals.clear()
        self.epochs.clear()
        self._follow()

    def _follow(self) -> None:
        # Between two batches (their drawing and repaint done): a full collection, when
        # one is due while metrics stream (jarvis_tui.ui.gc_pacing).
        PACER.collect_if_due()
        reading = self._tail is not None and self.followed is not None
        if reading:
            self._read_tail(str(self.followed), self._tail)
        self._ticks += 1
        if self.evaluating is not None and self._eval_stop is not None:
            self._say_eval()  # its seconds tick on between progress lines (or cancelling)
        if self.training and not self.steps:
            self._update_progress()  # the phase's seconds tick on
        elif self.steps and not reading:
            self._plot()  # a change held back by the redraw limit (else: the read's reply)
        if (
            self._await_run and self.run_id is not None
            and (self.run_path(self.run_id) / "run.json").is_file()
        ):  # fmt: skip
            self.action_refresh_runs()  # the child has made its run folder: follow it
        elif self._ticks % 10 == 0 and self._loaded and self._visible():
            # Runs started elsewhere (jarvis-tui train, another machine) show up.
            self.action_refresh_runs()

    @work(thread=True, exclusive=True, exit_on_error=False, group="training.tail",
          description="follow metrics")  # fmt: skip
    def _read_tail(self, run_id: str, tail: Any) -> None:
        restarts = tail.restarts
        records = tail.read_new()  # serialized: a read still running gives the next []
        # Nothing new too: the reply draws what the redraw limit held back, after the
        # read (a drawing started before it would share the GIL with the steps' repaint).
        self.post_message(self.MetricsArrived(run_id, records, tail.restarts != restarts))

    @on(MetricsArrived)
    def _metrics(self, msg: TrainingPane.MetricsArrived) -> None:
        if msg.run_id != self.followed:
            return
        if not msg.records and not msg.reset:
            PACER.release()  # nothing streams now
            self._plot()  # a change held back by the redraw limit
            return
        PACER.hold()  # full collections at the follow timer's ticks while it streams
        if msg.reset:  # the file was replaced or truncated: these records are all of it
            self.steps.clear()
            self.evals.clear()
            self.epochs.clear()
        for rec in msg.records:
            kind = rec.get("type", "step")
            if kind == "step":
                self.steps.append(rec)
            elif kind == "eval":
                self.evals.append(rec)
            elif kind == "epoch":
                self.epochs.append(rec)
        self._show_charts()
        # One repaint for the batch, once its charts are drawn: the progress line and
        # the runs row with them (a drawing in a thread while the UI thread paints
        # shares the GIL: the paint took twice as long); now when no drawing is due.
        self._progress_due = True
        if not self._plot() and not self._drawing:
            self._update_progress()

    def run_state(self, run: Any) -> str:
        """The followed run's state word (its run.json, or "running" while we train it)."""
        if run is None:
            return "running" if self.training else "no run"
        if self.training and run.status in ("running", "interrupted"):
            return "running"
        return str(run.status)

    def _update_progress(self) -> None:
        self._progress_due = False
        run = self._run(self.followed) if self.followed else None
        bar = self.query_one("#training-progress", ProgressBar)
        eta = self.query_one("#training-eta", FitLine)
        if not self.steps:
            bar.update(total=100, progress=0)
            eta.show(self._starting_parts())
            self._show_starting()
            return
        last = self.steps[-1]
        total = getattr(run, "total_steps", 0) or last["step"]
        bar.update(total=max(total, last["step"]), progress=last["step"])
        status = self.run_state(run)
        self._live_row(run)
        parts: list[tuple[int, Text]] = [
            (0, Text(status, style=STATUS_STYLES.get(status, "bold"))),
            (1, Text(f"step {last['step']:,}/{total:,}")),
        ]
        if status == "running":
            parts.append((2, Text(f"ETA {_seconds(last.get('eta', 0))}")))
        elif run is not None and run.duration:
            parts.append((4, Text(f"took {_seconds(run.duration)}")))
        loss = last.get("loss")
        if status != "running" and run is not None and run.final_loss is not None:
            loss = run.final_loss  # the runs list's figure: one loss per run (run_loss)
        shown = f"{loss:.3f}" if isinstance(loss, (int, float)) and math.isfinite(loss) else "NaN"
        parts.append((3, Text(f"loss {shown}")))
        parts.append((5, Text(f"{last.get('tokens_per_s', 0):,.0f} tok/s")))
        fast = getattr(run, "config", {}).get("fast_path") if run is not None else None
        if isinstance(fast, dict):  # what the run picked to go fast (run.json: any writer)
            words = [str(fast.get("precision", "?"))]
            words.append("ckpt" if fast.get("checkpointing") else "no ckpt")
            if isinstance(fast.get("world_size"), int) and fast["world_size"] > 1:
                words.append(f"{fast['world_size']} ranks")
            parts.append((6, Text(one_line(" · ".join(words), 40), style="dim")))
        eta.show(parts)
        found = alerts(list(self.steps)[-2_000:], self.alpha)
        if found != self._alerts_shown:
            self._alerts_shown = found
            text = Text("\n".join("⚠ " + a for a in found), style="bold red") if found else Text("")
            self._update_box(self.query_one("#training-alerts", Static), text)

    def _update_box(self, box: Static, text: Text) -> None:
        """*box* (an auto-height Static) shows *text*; the screen is laid out again only
        when the box's height changes: a plateau's figure changes every step, a phase's
        seconds every tick, and a layout costs the UI thread 15-60 ms (bench_ui_lag)."""
        width = box.content_size.width
        # (its styles, as Widget.get_content_height hands them to the visual)
        visual = visualize(box, text)
        rows = (visual.get_height(box.styles, width), width) if width else None  # type: ignore[arg-type]
        box.update(text, layout=rows is None or rows != self._box_rows.get(str(box.id)))
        self._box_rows[str(box.id)] = rows

    def _starting_parts(self) -> list[tuple[int, Text]]:
        """While a started run has no step yet: what it does, for how long."""
        if not self.training or self.steps or not self.phase:
            return []
        now = time.monotonic()
        if self._cancelled:  # x said: no phase goes on in its words (nor "the first step")
            return [
                (0, Text("cancelling", style="bold yellow")),
                (1, Text("the run had not reached its first step")),
                (2, Text(f"{_seconds(now - self._cancel_at)} since x", style="dim")),
            ]
        return [
            (0, Text("starting", style="bold yellow")),
            (1, Text(f"{self.phase} … {_seconds(now - self._phase_at)}")),
            (2, Text(f"{_seconds(now - self._started_at)} since s", style="dim")),
        ]

    def _show_starting(self) -> None:
        """The chart area's sentence: the started run's phase, or how to start one."""
        box = self.query_one("#training-empty", Static)
        run = self._run(self.followed) if self.followed else None
        if self.training and not self.steps and self._cancelled:
            took = _seconds(time.monotonic() - self._cancel_at)
            self._update_box(box, Text.assemble(
                ("Cancelling the run: ", "bold yellow"),
                f"it had not reached its first step … {took} (the training process ends)",
            ))  # fmt: skip
        elif self.training and not self.steps and self.phase:
            took = _seconds(time.monotonic() - self._phase_at)
            self._update_box(box, Text.assemble(("Starting the run: ", "bold yellow"),
                                                self.phase, f" … {took}",
                                                ("  · x cancels", "dim")))  # fmt: skip
        elif self._ended_note:
            self._update_box(box, Text.assemble(
                (visible(self._ended_note), "bold"),
                ("\nj / k shows a run's charts; s starts another run.", "dim"),
            ))  # fmt: skip
        elif run is not None and not self.steps and not self.overlays:
            said = one_line(visible(str(run.message or "")), 200)
            self._update_box(box, Text.assemble(
                (one_line(run.run_id, 40), "bold"), f" {run.status}: no step recorded",
                (f" ({said})" if said else "", "dim"),
            ))  # fmt: skip
        else:
            self._update_box(box, Text(EMPTY_CHARTS, style="dim"))

    @on(Chart.Resized)
    def _chart_resized(self, _msg: Chart.Resized) -> None:
        self._plot()  # refits the point density to the width (it draws only what changed)

    @on(PhaseChanged)
    def _phase_changed(self, msg: TrainingPane.PhaseChanged) -> None:
        if msg.run_id != self.run_id or not self.training:
            return
        self.phase, self._phase_at = msg.phase, time.monotonic()
        if not self.steps:
            self._update_progress()

    def _show_charts(self) -> None:
        """No points: a sentence, not three empty chart frames."""
        self.set_class(not self.steps and not self.overlays, "-no-run")

    def _plot(self) -> bool:
        """Redraw the three charts when what they show changed, at most twice a second
        while a run streams, in a thread worker (:meth:`_draw_charts`): a plotext canvas
        costs tens of ms, which on the UI thread was most of the app's lag while a run
        trained (issues 11 and 15). One drawing at a time: what changes meanwhile is
        drawn next, the newest data only. True when a drawing started."""
        self._show_charts()
        if not self._charts:  # (a query walks the pane's widgets: once)
            self._charts = {str(c.id): c for c in self.query(Chart)}
        charts = self._charts
        loss_width = charts["chart-loss"].size.width
        if self.steps and not loss_width:
            return False  # just shown: its first size (Chart.Resized) draws it, fitted to it
        width = max(10, loss_width)
        last = self.steps[-1]["step"] if self.steps else None
        shown_now = (self.followed, len(self.steps), last, len(self.evals), len(self.epochs),
                     self.alpha, tuple(self.overlays), width,
                     charts["chart-lr"].size.width)  # fmt: skip
        if shown_now == self._plotted:
            return False  # nothing new to draw
        now = time.monotonic()
        if now - self._last_plot < PLOT_EVERY_S and self.training:
            return False  # the next metrics (or the follow tick) draws it
        if self._drawing:
            self._draw_again = True  # when the drawing in flight is shown
            return False
        self._last_plot = now
        self._plotted = shown_now
        self._drawing = True
        data = ChartData(self.followed, list(self.steps), list(self.evals), list(self.epochs),
                         dict(self.overlays), self.alpha, width)  # fmt: skip
        sizes = {chart_id: (c.size.width, c.size.height) for chart_id, c in charts.items()}
        styles = {chart_id: c.visual_style for chart_id, c in charts.items()}
        self._draw_charts(data, sizes, styles, charts["chart-loss"].plotext_theme)
        return True

    @work(thread=True, exit_on_error=False, group="training.charts",
          description="draw the charts")  # fmt: skip
    def _draw_charts(self, data: ChartData, sizes: dict[str, tuple[int, int]],
                     styles: dict[str, Any], theme: str) -> None:  # fmt: skip
        drawn: dict[str, tuple[ChartSpec, Optional[Picture]]] = {}
        try:
            for chart_id, spec in chart_specs(data).items():
                width, height = sizes.get(chart_id, (0, 0))
                picture = None
                if width > 0 and height > 0:  # a hidden chart draws when it shows
                    picture = draw(spec, width, height, theme)
                    picture = self._charts[chart_id].lines(picture, styles[chart_id])
                drawn[chart_id] = (spec, picture)
        finally:
            self.post_message(self.ChartsDrawn(drawn))

    @on(ChartsDrawn)
    def _charts_drawn(self, msg: TrainingPane.ChartsDrawn) -> None:
        self._drawing = False
        for chart_id, (spec, picture) in msg.drawn.items():
            self._charts[chart_id].show(spec, picture)
        if self._progress_due:
            self._update_progress()  # the metrics the drawing shows, painted with it
        runs, self._runs_due = self._runs_due, None
        if runs is not None:
            self._runs_loaded(runs)
        if self._draw_again:
            self._draw_again = False
            if not (self.training and self._tail is not None):
                self._plot()
            # (while a run streams, the next read's reply draws it: now it would share
            # the GIL with this repaint)

    def action_smoothing(self, direction: int) -> None:
        steps = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
        i = min(range(len(steps)), key=lambda k: abs(steps[k] - self.alpha))
        self.alpha = steps[max(0, min(len(steps) - 1, i + direction))]
        self._last_plot = 0.0
        self._plot()

    def action_overlay(self) -> None:
        table = self.query_one("#training-runs", DataTable)
        if table.row_count == 0:
            self._status("m: no run to overlay yet: train one first (s)")
            return
        run_id = str(table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value)
        name = one_line(run_id, 30)
        if run_id in self.overlays:
            del self.overlays[run_id]
            self._last_plot = 0.0
            self._plot()
            self._status(f"m: {name} no longer overlaid")
        else:
            run = self._run(run_id)
            if run is not None:
                self._load_overlay(run_id, Path(run.path))
                if len(self.runs) < 2:
                    self._status(f"m: {name} marked; it is the only run, so the chart "
                                 "already shows it: train another to compare")  # fmt: skip
                elif run_id == self.followed:
                    self._status(f"m: {name} marked: its loss is overlaid when you "
                                 "highlight another run")  # fmt: skip
                else:
                    self._status(f"m: {name} overlaid on the loss chart")

    @work(thread=True, exit_on_error=False, group="training.overlay", description="load run")
    def _load_overlay(self, run_id: str, path: Path) -> None:
        from jarvis_tui.learning.training.runs import METRICS_FILE, MetricsTail

        records = MetricsTail(path / METRICS_FILE).read_new()
        points = [(r["step"], r["loss"]) for r in records if r.get("type", "step") == "step"]
        self.post_message(self.OverlayLoaded(run_id, points))

    @on(OverlayLoaded)
    def _set_overlay(self, msg: TrainingPane.OverlayLoaded) -> None:
        self.overlays[msg.run_id] = msg.points
        self._last_plot = 0.0
        self._plot()

    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("start", "start", "Train a LoRA adapter with the form's settings (s)"),
        ("cancel", "cancel", "Cancel the run or the evaluation in progress (x)"),
        ("evaluate", "evaluate the selected run against its base",
         "Held-out queries answered by the base model and base + adapter (E)"),
        ("overlay", "overlay the marked run", "The highlighted run's loss on the chart (m)"),
        ("reload", "reload", "Read the runs in checkpoints/ and the SFT pair counts again (r)"),
    )  # fmt: skip

    # palette_commands: the Pane default (PALETTE above, "training: …").

    # ------------------------------------------------------------ start / cancel

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # "start" applies always: while a run starts or trains, s says so (not silence)
        if action == "cancel":
            return self.training or self.evaluating is not None
        if action == "evaluate":
            return self.evaluating is None
        return True

    def action_start(self) -> None:
        if self.workspace is None:
            return
        if self.training:
            name = one_line(self.run_id or "", 40)
            if self._cancelled:
                self._status(f"{name} is being cancelled: s starts a run once it has ended")
            elif self.steps and self.followed == self.run_id:
                self._status(f"training {name} already: one run at a time (x cancels it)")
            else:
                self._status(f"a run is starting already ({name}): one run at a time (x "
                             "cancels it)")  # fmt: skip
            return
        errors = self.query_one("#training-form-errors", Static)
        missing = self._check_install()
        if missing:
            # Said in place and kept (a toast would vanish): what is missing, what to run.
            errors.update(Text(f"✗ cannot train: {', '.join(missing)} not installed · "
                               f"{INSTALL_TRAIN}", style="bold red"))  # fmt: skip
            self._status()
            return
        values, problems = self._form()
        if not problems:
            from jarvis_tui.learning.training.lora import LoRATrainingConfig

            config = LoRATrainingConfig(**config_kwargs(values),
                                        output_dir=str(self.session.checkpoints_dir))  # fmt: skip
            problems = list(config.validate())
        if not problems and not self.total_pairs:
            problems = ["no SFT pairs: label traces or lower min quality"]
        if problems:
            marked = self._refused_fields()
            if marked:  # each said under its field; here which ones (one may be off screen)
                n = len(marked)
                said = (f"✗ not started: {plural(n, 'field')} marked ✗ "
                        f"{'needs' if n == 1 else 'need'} fixing: {', '.join(marked)}")  # fmt: skip
                name = next(s.name for s in FORM_SETTINGS if self._marked.get(s.name))
                errors.update(Text(said, style="bold red"))
                self.call_after_refresh(self.query_one(f"#e-{name}").scroll_visible,
                                        animate=False)  # fmt: skip
            else:  # the settings together (the trainer's checks), or no data: said here
                errors.update(Text("\n".join("✗ " + visible(p) for p in problems),
                                   style="bold red"))  # fmt: skip
                self.call_after_refresh(errors.scroll_visible, animate=False)
            self._form_said = True
            self._status("not started: " + one_line(problems[0], 120))  # s answered here too
            return
        from jarvis_tui.learning.training.runs import new_run_id

        run_id = new_run_id()
        argv = self.train_argv(values, run_id)
        try:
            proc, stderr = spawn_child(argv, stdin=subprocess.PIPE)
        except OSError as exc:
            errors.update(Text(f"✗ cannot start training: {visible(str(exc))}", style="bold red"))
            return
        errors.update("")
        if self.evaluating is None:  # the chart area is the new run's: no old E note
            self.comparison = None
            self._say_compare(None)
        self.training = True
        self.run_id = run_id
        self._proc = proc
        self._cancelled = False
        self._cancel_asked = threading.Event()
        self._await_run = True
        self._ended_note = ""
        self._started_at = self._phase_at = time.monotonic()
        self.phase = "starting the training process"
        self.followed = None
        self._tail = None  # the charts wait for the new run's folder
        self.steps.clear()
        self.evals.clear()
        self.epochs.clear()
        self._last_plot = 0.0
        self._plot()
        self.refresh_bindings()
        self._status(f"up to {values['max_pairs']:,} pairs")
        self._update_progress()
        log = getattr(self.app, "error_log", None)
        command = " ".join(argv[1:])
        self._train(proc, stderr, self.run_path(run_id), command, self._cancel_asked, log)

    def train_argv(self, values: dict[str, Any], run_id: str) -> list[str]:
        """The ``jarvis-tui train`` command line for the form's *values*."""
        argv = [sys.executable, *TRAIN_COMMAND, "train", "--home", str(self.session.root),
                "--run-id", run_id, "--json", "--threads", "ui", "--until-stdin-closes",
                "--phases"]  # fmt: skip
        for s in CLI_SETTINGS:
            value = values[s.name]
            if value == "" or value is None:
                continue
            argv += [s.flag, repr(value) if isinstance(value, float) else str(value)]
        return argv

    def run_path(self, run_id: str) -> Path:
        return Path(self.session.checkpoints_dir) / run_id

    @work(thread=True, exit_on_error=False, group="training.run", description="LoRA training")
    def _train(self, proc: subprocess.Popen[bytes], err: Any, run_path: Path, command: str,
               cancelled: threading.Event, log: Any) -> None:  # fmt: skip
        """Wait for the training child; its summary (or why it failed) becomes RunFinished.
        *cancelled* is set when the user asked it to stop; *log* records a failure."""
        run_id = run_path.name
        from jarvis_tui.learning.training.lora import mark_run_failed
        from jarvis_tui.learning.training.runs import RunInfo

        assert proc.stdout is not None
        summary_lines: list[bytes] = []  # the --json summary, after the phase lines
        for raw in proc.stdout:
            phase = _phase_line(raw)
            if phase is None:
                summary_lines.append(raw)
            else:
                self.post_message(self.PhaseChanged(run_id, phase))
        out = b"".join(summary_lines)
        code = proc.wait()
        with err:  # the temporary file the child wrote its stderr to
            err.seek(0)
            stderr = err.read().decode("utf-8", "replace")
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
        summary = child_outcome(code, out, stderr, cancelled=cancelled.is_set())
        if summary["status"] == "failed":
            if (run_path / "run.json").is_file() and RunInfo.load(run_path).status in (
                "running", "interrupted",
            ):  # fmt: skip
                mark_run_failed(run_path, summary["message"])  # its writer is gone
            if log is not None:
                tail = "\n".join(stderr.splitlines()[-200:])
                log.record("LoRA training", TrainingProcessFailed(
                    f"{command}\nexit status {code}; its stderr:\n{tail}"))  # fmt: skip
        self.post_message(self.RunFinished(dict(summary)))

    def action_cancel(self) -> None:
        stop, child = self._eval_stop, self._eval_proc
        if stop is not None and child is not None and self.evaluating and not stop.is_set():
            stop.set()
            # The child stops between batches, prints what it measured, writes nothing.
            with contextlib.suppress(OSError):
                child.send_signal(signal.SIGTERM)
            self._eval_words, self._eval_at = "cancelling the evaluation", time.monotonic()
            self._say_eval()  # said at once: the child may take seconds to stop
            self._status("cancelling the evaluation… the partial result is shown, not saved")
        if self._proc is not None and self.training and not self._cancelled:
            self._cancelled = True
            self._cancel_at = time.monotonic()
            folder = self.run_id is not None and self.run_path(self.run_id).is_dir()
            self._cancel_asked.set()
            self._ask_child_to_stop()
            if self.steps and self.followed == self.run_id:
                self._status("cancelling: finishing the current step and saving the adapter")
            elif folder:  # (it saves what it has: an adapter of 0 steps)
                self._status("cancelling: the run has not reached its first step")
            else:  # still starting: there is no step to finish, nothing to save
                self._status("cancelling: the run has not reached its first step; nothing "
                             "will be saved")  # fmt: skip
            if not self.steps:
                self._update_progress()  # said at once where the phase was

    def _ask_child_to_stop(self) -> None:
        """The cancel file in its run folder (the trainer checks it at every step) and
        EOF on its stdin (``--until-stdin-closes``: also before the folder exists)."""
        proc, run_id = self._proc, self.run_id
        if proc is None or run_id is None:
            return
        folder = self.run_path(run_id)
        if folder.is_dir() and not folder.is_symlink():
            from jarvis_tui.learning.training.lora import CANCEL_FILE
            from jarvis_tui.paths import FILE_MODE

            try:
                flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                os.close(os.open(folder / CANCEL_FILE, flags, FILE_MODE))
            except OSError:
                pass  # the stdin below still stops it
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def _children(self) -> list[subprocess.Popen[bytes]]:
        """This pane's child processes that still run (training, evaluation)."""
        return [p for p in (self._proc, self._eval_proc) if p is not None and p.poll() is None]

    def hold_quit(self) -> bool:
        """The app is asked to quit (ctrl+q). With a child running: ask it to stop
        (its step finishes, the adapter is saved), say so, and hold the quit (True)
        until it is gone, then end the app (:meth:`_quit_when_done`); a child still
        there after QUIT_GRACE_S, or a second ctrl+q, is killed and the app ends now."""
        children = self._children()
        if not children:
            return False
        if self._quitting:  # the second ctrl+q: quit now
            for proc in children:
                _kill_group(proc, signal.SIGKILL)
            return False
        self._quitting = True
        self.action_cancel()
        doing = ("the training run: finishing the current step and saving" if self.training
                 else "the evaluation: nothing is saved")  # fmt: skip
        self.app.notify(f"stopping {doing} … (ctrl+q again: quit now)", title="Quitting",
                        timeout=QUIT_GRACE_S + 10, markup=False)  # fmt: skip
        self._status()
        self.set_timer(QUIT_GRACE_S, self._quit_overdue)
        return True

    def _quit_overdue(self) -> None:
        """The grace period is over: what still runs is killed (the app then ends)."""
        for proc in self._children():
            _kill_group(proc, signal.SIGKILL)

    def _quit_when_done(self, note: Optional[str] = None) -> None:
        """A child ended: when the app is quitting and none is left, it ends now (with
        *note*, what became of the run: ``run_app`` prints it on stdout once the app is
        gone, one line, the path whole; Textual's exit message would fold it)."""
        if self._quitting and note:  # kept when the other child (an evaluation) ends last
            self.app.exit_note = note  # type: ignore[attr-defined]
        if self._quitting and not self._children():
            self.app.exit()

    def _quit_note(self, summary: dict[str, Any]) -> Optional[str]:
        """One line for the terminal after ctrl+q stopped a run: its state and folder."""
        if self.run_id is None or self.workspace is None:
            return None
        status = one_line(str(summary.get("status") or "cancelled"), 20)
        at = ""
        if self.steps and self.followed == self.run_id:  # the steps the pane was shown
            run = self._run(self.run_id)
            done = int(self.steps[-1]["step"])
            total = max(done, int(getattr(run, "total_steps", 0) or 0))
            at = f" at step {done:,}/{total:,}"
        folder = self.run_path(self.run_id)
        run = one_line(self.run_id, 80)
        saved = folder.is_dir() and any(folder.glob("*/adapter_config.json"))
        if not at and status == "cancelled" and not saved:  # never stepped: nothing to name
            return f"jarvis-tui: training run {run} cancelled before the first step (ctrl+q); nothing saved"
        where = visible(str(folder))
        return f"jarvis-tui: training run {run} {status}{at} (ctrl+q): {where}"

    def on_unmount(self) -> None:
        """The app quits: a running child stops cleanly, or is killed after a grace period."""
        PACER.release()
        evaluation = self._eval_proc
        if evaluation is not None and evaluation.poll() is None:
            with contextlib.suppress(OSError):
                evaluation.send_signal(signal.SIGTERM)  # it ends, writing nothing
            try:
                evaluation.wait(timeout=QUIT_GRACE_S)
            except subprocess.TimeoutExpired:
                _kill_group(evaluation, signal.SIGKILL)
                evaluation.wait()
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self._cancelled = True
        self._cancel_asked.set()
        self._ask_child_to_stop()  # (a SIGTERM now would be its second stop: an interrupt)
        try:
            proc.wait(timeout=QUIT_GRACE_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc, signal.SIGKILL)
            proc.wait()

    # ------------------------------------------------------------ evaluate vs base

    EVAL_SAMPLES = 50
    """Held-out samples an evaluation answers (twice: base, then base + adapter)."""

    def _selected_run(self) -> Any:
        table = self.query_one("#training-runs", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return self._run(str(key))

    def _say_compare(self, note: Optional[Text]) -> None:
        self._eval_note = note
        self._show_compare()

    def action_evaluate(self) -> None:
        if self.evaluating is not None or self.workspace is None:
            return
        run = self._selected_run()
        if run is None:
            self._say_compare(Text("✗ no run to evaluate: train one first (s)", style="bold red"))
            return
        self._follow_run(run.run_id)
        if self.run_state(run) == "running":
            self._say_compare(Text("✗ this run is still training: evaluate it when it has "
                                   "finished", style="bold red"))  # fmt: skip
            return
        from jarvis_tui.evals.adapters import comparison_problem

        # Said before anything starts (the child would say the same, seconds later).
        problem = comparison_problem(run, Path(self.session.root))
        if problem:
            self._say_compare(Text("✗ " + visible(one_line(problem, 400)), style="bold red"))
            return
        missing = self._check_install()
        if missing:
            self._say_compare(Text(f"✗ cannot evaluate: {', '.join(missing)} not installed · "
                                   f"{INSTALL_TRAIN}", style="bold red"))  # fmt: skip
            return
        argv = [sys.executable, *EVAL_COMMAND, "eval", "--home", str(self.session.root),
                "--compare", run.run_id, "--samples", str(self.EVAL_SAMPLES), "--progress",
                "--json"]  # fmt: skip
        try:
            proc, stderr = spawn_child(argv, stdin=subprocess.DEVNULL)
        except OSError as exc:
            self._say_compare(Text(f"✗ cannot start the evaluation: {visible(str(exc))}",
                                   style="bold red"))  # fmt: skip
            return
        self.evaluating = run.run_id
        self._eval_stop = threading.Event()
        self._eval_proc = proc
        self.comparison = None
        self.refresh_bindings()
        self._eval_words, self._eval_at = EVAL_STARTING, time.monotonic()
        self._say_eval()
        self._status("evaluating against the base model")
        log = getattr(self.app, "error_log", None)
        self._evaluate(proc, stderr, Path(run.path), " ".join(argv[1:]), self._eval_stop, log)

    @work(thread=True, exit_on_error=False, group="training.eval",
          description="evaluate adapter vs base")  # fmt: skip
    def _evaluate(self, proc: subprocess.Popen[bytes], err: Any, run_path: Path, command: str,
                  cancelled: threading.Event, log: Any) -> None:  # fmt: skip
        """Follow the evaluation child (``jarvis-tui eval --compare``): its progress lines
        become EvalProgress; at its end, the run folder's eval.json (or, cancelled, the
        partial comparison it printed) becomes EvalDone, else why it failed (its last
        stderr line). *cancelled* is set when the user asked it to stop."""
        run_id = run_path.name
        try:
            comparison, problem = self._eval_outcome(proc, err, run_path, command, cancelled, log)
        except Exception as exc:  # said in place; the log has the traceback
            self.post_message(self.EvalDone(run_id, None, f"{type(exc).__name__}: {exc}"))
            raise
        self.post_message(self.EvalDone(run_id, comparison, problem))

    def _eval_outcome(self, proc: subprocess.Popen[bytes], err: Any, run_path: Path,
                      command: str, cancelled: threading.Event,
                      log: Any) -> tuple[Optional[dict[str, Any]], str]:  # fmt: skip
        """(the comparison, or None and why) once the evaluation child has ended."""
        from jarvis_tui.evals.adapters import load_comparison

        assert proc.stdout is not None
        out: list[bytes] = []  # the --json comparison, after the progress lines
        for raw in proc.stdout:
            step = _progress_line(raw)
            if step is None:
                out.append(raw)
            else:
                self.post_message(self.EvalProgress(run_path.name, *step))
        code = proc.wait()
        with err:  # the temporary file the child wrote its stderr to
            err.seek(0)
            stderr = err.read().decode("utf-8", "replace")
        printed = _json_object(b"".join(out))
        if code == 0:
            kept = load_comparison(run_path)  # what it wrote is what anyone will see
            if kept is not None:
                return kept, ""
            problem = f"the evaluation wrote no readable {run_path.name}/eval.json"
        elif cancelled.is_set() and printed is not None and printed.get("partial"):
            return printed, ""
        elif cancelled.is_set():  # stopped while it was still starting
            return None, "evaluation cancelled before anything was measured: nothing saved"
        else:
            problem = child_outcome(code, b"", stderr, cancelled=False)["message"]
            problem = problem.replace("the training process", "the evaluation process")
        if log is not None:
            tail = "\n".join(stderr.splitlines()[-200:])
            log.record("adapter evaluation", TrainingProcessFailed(
                f"{command}\nexit status {code}; its stderr:\n{tail}"))  # fmt: skip
        return None, problem

    def _say_eval(self) -> None:
        """The comparison box while E runs: its stage, for how long (ticks on)."""
        if self.evaluating is None:
            return
        who = "" if self.evaluating == self.followed else f"{one_line(self.evaluating, 24)}: "
        took = _seconds(time.monotonic() - self._eval_at)
        if self._eval_stop is not None and self._eval_stop.is_set():
            self._say_compare(Text.assemble(("cancelling the evaluation", "bold yellow"),
                                            f" {who}… {took}"))  # fmt: skip
            return
        self._say_compare(Text.assemble(("evaluating ", "bold yellow"), who, self._eval_words,
                                        f" … {took}", ("  · x cancels", "dim")))  # fmt: skip

    @on(EvalProgress)
    def _eval_progress(self, msg: TrainingPane.EvalProgress) -> None:
        if msg.run_id != self.evaluating:
            return
        if self._eval_stop is not None and self._eval_stop.is_set():
            return  # "cancelling" stays until the child has ended
        # One denominator, the samples of a side: "base 16/50 · adapter 0/50".
        n = msg.total
        base = f"{msg.done}/{n}" if msg.stage == "base" else f"{n}/{n}"
        tuned = f"{msg.done}/{n}" if msg.stage == "adapter" else f"0/{n}"
        words = f"base {base} · adapter {tuned}"
        if msg.done == 0:  # said as each side starts: its model loads before any answer
            words += f": loading the {'base model' if msg.stage == 'base' else msg.stage}"
        if words != self._eval_words:
            self._eval_words, self._eval_at = words, time.monotonic()
        self._say_eval()
        self._status(words)

    @on(EvalDone)
    def _eval_done(self, msg: TrainingPane.EvalDone) -> None:
        self.evaluating = None
        self._eval_stop = None
        self._eval_proc = None
        if self._quitting:
            self._quit_when_done()
            return
        self.refresh_bindings()
        if msg.run_id != self.followed:  # the user moved on: show what that run has
            followed = self._run(self.followed) if self.followed else None
            if followed is not None:
                self._load_comparison(followed)
            verdict = one_line(str((msg.comparison or {}).get("verdict", "")), 60)
            if msg.comparison is not None and msg.comparison.get("partial"):
                verdict = "cancelled, not saved, no verdict"
            self._status(f"evaluated {one_line(msg.run_id, 30)}: {verdict or 'failed'}")
            return
        if msg.comparison is None:
            self.comparison = None
            self._say_compare(Text("✗ " + visible(one_line(msg.problem, 400)), style="bold red"))
            self._status()
            return
        self.comparison = msg.comparison
        self._say_compare(None)
        if msg.comparison.get("partial"):  # what was measured is shown beside: no result
            self._status("evaluation cancelled: nothing saved, no verdict")
            return
        self._status("evaluated: " + one_line(str(msg.comparison.get("verdict", "")), 80))

    def _load_comparison(self, run: Any) -> None:
        from jarvis_tui.evals.adapters import load_comparison

        data = load_comparison(run.path)
        self.comparison = data if isinstance(data, dict) else None
        self._eval_note = None
        self._show_compare()

    def _show_compare(self) -> None:
        box = self.query_one("#training-compare", Static)
        if self._eval_note is not None:
            box.update(self._eval_note)
        elif self.comparison is not None:
            table = comparison_table(self.comparison, compact=self.has_class("-narrow"))
            if self.has_class("-narrow"):  # the small charts give way to it: said, not gone
                table = Group(table, Text("lr and tok/s charts: 100 columns or more",
                                          style="dim"))  # fmt: skip
            box.update(table)
        else:
            box.update("")
        self.set_class(self._eval_note is not None or self.comparison is not None, "-compare")

    @on(RunFinished)
    def _finished(self, msg: TrainingPane.RunFinished) -> None:
        self.training = False
        self.phase = ""
        self._proc = None
        if self._quitting:
            self._quit_when_done(self._quit_note(msg.summary))
            return
        self.refresh_bindings()
        s = msg.summary
        status = s.get("status", "?")
        note = ""
        if self.run_id is not None and not self.run_path(self.run_id).is_dir():
            # It ended before its folder: the runs list shows the others, none followed
            # in its place (no other run's charts under its name).
            self._await_run = False
            note = f"training run {one_line(self.run_id, 40)} {one_line(str(status), 20)} "
            note += "before the first step" + ("; nothing saved" if status == "cancelled"
                                               else "")  # fmt: skip
            self._ended_note = note if self.followed is None else ""
        severity: SeverityLevel = (
            "information" if status in ("completed", "cancelled")
            else "warning" if status == "skipped"
            else "error"
        )  # fmt: skip
        text = f"training {status}"
        if s.get("message") or s.get("reason"):
            text += f": {s.get('message') or s.get('reason')}"
        if s.get("truncated") or s.get("dropped"):
            text += (
                f" ({s.get('truncated', 0)} pairs truncated to the max length,"
                f" {s.get('dropped', 0)} dropped: no response left)"
            )
        if note and status == "cancelled":
            text = note  # (the child's "stopped before the first step", in the pane's words)
        self.app.notify(text, severity=severity, timeout=8, markup=False)
        if severity == "error":  # kept on screen, not only in a toast
            self.query_one("#training-form-errors", Static).update(
                Text("✗ " + visible(one_line(text, 400)), style="bold red")
            )
        self._last_plot = 0.0
        self._status(note)  # ("up to N pairs" was the run's)
        self._update_progress()  # the starting phase is over, whatever came of it
        self._follow()
        self.action_refresh_runs()
