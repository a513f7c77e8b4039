"""Form-open latency: a key (or palette command) → the form painted, for every form a
new user opens (issue 10: 1.3–2 s under load), against a bare Textual ``ModalScreen``
with the same number of Input and Select widgets, pushed over the same pane in the same
run (the baseline).

    python -m bench.bench_forms [--traces N] [--repeat 5] [--before TREE]

Headless (``run_test``, 120x40) on a cached demo workspace (copied per run, the app
writes to it). "Painted" is the first frame the compositor makes with the form on
screen (``App._display`` called for the form's screen): composing, styling, layout and
rendering the form all come before it. Each form is opened *repeat* times (escape
between): the first open (it imports the form's module and reads its styles) and the
median of the others are both given; the baseline is timed the same way, interleaved.
The Training pane's form is not a modal: its figure is ``L`` → the pane with its form
painted, the first time the pane is shown (it is built then).

``--before TREE`` times another checkout (``git archive REF | tar -x -C TREE``) in a
child process on the same workspace right after: before/after in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import OUT, Figure, large_store, parser, report

TARGET_RATIO = 1.5
"""Each form within 1.5× the bare modal with as many fields (issue 10)."""
SIZE = (120, 40)
RUN = ("trials.run",)


def _bare_screen(inputs: int, selects: int) -> Any:
    """A plain ModalScreen with *inputs* Inputs and *selects* Selects in one box."""
    from textual.containers import Vertical
    from textual.screen import ModalScreen
    from textual.widgets import Input, Select

    class BareForm(ModalScreen[None]):
        DEFAULT_CSS = (
            "BareForm { align: center middle; } BareForm > Vertical { width: 92; height: auto; }"
        )
        BINDINGS = [("escape", "dismiss", "Close")]

        def compose(self) -> Any:
            with Vertical():
                for i in range(selects):
                    yield Select([("one", 1), ("two", 2)], id=f"s{i}", compact=True)
                for i in range(inputs):
                    yield Input(value="x", id=f"i{i}", compact=True)

    return BareForm()


class Painted:
    """The first frame of a modal pushed over *base*: ``App._display`` wrapped, which the
    compositor calls with each frame it makes (headless too: only the write is skipped).
    Records the wall time and the main thread's CPU time (``time.thread_time``)."""

    def __init__(self, app: Any) -> None:
        self.done = asyncio.Event()
        self.at: tuple[float, float, Any] | None = None
        self.wanted: Callable[[Any], bool] | None = None
        display = app._display

        def recording(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if (self.wanted is not None and self.at is None and renderable is not None
                    and screen is app.screen and self.wanted(screen)):  # fmt: skip
                self.at = (time.perf_counter(), time.thread_time(), screen)
                self.done.set()

        app._display = recording

    def arm(self, wanted: Callable[[Any], bool] | None) -> None:
        """Record the next frame of a screen for which *wanted(screen)* holds."""
        self.wanted, self.at = wanted, None
        self.done.clear()

    async def timed(self, opener: Callable[[], Awaitable[None]],
                    wanted: Callable[[Any], bool]) -> tuple[float, float, Any]:  # fmt: skip
        """(seconds, main-thread CPU seconds) from *opener* to the first frame *wanted*."""
        self.arm(wanted)
        t0, c0 = time.perf_counter(), time.thread_time()
        await opener()
        await asyncio.wait_for(self.done.wait(), 60)
        assert self.at is not None
        wall, cpu, screen = self.at
        self.arm(None)
        return wall - t0, cpu - c0, screen


async def _until(pilot: Any, cond: Callable[[], bool], what: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)
    del pilot


async def _open(app: Any, pilot: Any, painted: Painted, opener: Callable[[], Awaitable[None]],
                base: Any) -> tuple[float, float, Any]:  # fmt: skip
    """(seconds, main-thread CPU seconds) from *opener* to the first frame of the modal it
    pushes over *base*, and that modal."""
    del app, pilot
    return await painted.timed(opener, lambda screen: screen is not base and screen.is_modal)


def _fields(screen: Any) -> tuple[int, int]:
    from textual.widgets import Input, Select

    return len(screen.query(Input)), len(screen.query(Select))


async def _close(app: Any, pilot: Any, base: Any) -> None:
    from jarvis_tui.ui.testing import settle

    await pilot.press("escape")
    await _until(pilot, lambda: app.screen is base, "the form closed")
    await settle(app, pilot, rounds=2, ignore=RUN)


async def _time_form(app: Any, pilot: Any, painted: Painted, name: str,
                     opener: Callable[[], Awaitable[None]], repeat: int) -> dict[str, Any]:  # fmt: skip
    """The form's open times and the bare modal's (same field counts), interleaved."""
    base = app.screen
    form: list[float] = []
    bare: list[float] = []
    form_cpu: list[float] = []
    bare_cpu: list[float] = []
    counts = (0, 0)
    for i in range(repeat):
        took, cpu, screen = await _open(app, pilot, painted, opener, base)
        form.append(took)
        form_cpu.append(cpu)
        if i == 0:
            counts = _fields(screen)
        await _close(app, pilot, base)

        async def push_bare(counts: tuple[int, int] = counts) -> None:
            app.push_screen(_bare_screen(*counts))

        took, cpu, _screen = await _open(app, pilot, painted, push_bare, base)
        bare.append(took)
        bare_cpu.append(cpu)
        await _close(app, pilot, base)
    return {"name": name, "inputs": counts[0], "selects": counts[1], "form": form,
            "bare": bare, "form_cpu": form_cpu, "bare_cpu": bare_cpu}  # fmt: skip


async def _measure(home: Path, repeat: int) -> list[dict[str, Any]]:
    from jarvis_tui.ui.app import JarvisApp
    from jarvis_tui.ui.testing import settle

    os.environ.pop("JARVIS_TUI_JUDGE_URL", None)
    os.environ.pop("JARVIS_TUI_JUDGE_MODEL", None)
    out: list[dict[str, Any]] = []
    app = JarvisApp(home)
    async with app.run_test(size=SIZE) as pilot:
        painted = Painted(app)
        await settle(app, pilot, ignore=RUN)

        def key(*keys: str) -> Callable[[], Awaitable[None]]:
            async def go() -> None:
                await pilot.press(*keys)

            return go

        # Traces: J (the judge form: no endpoint in the environment), the export form.
        traces = app.pane("traces")
        await _until(pilot, lambda: getattr(traces, "store", None) is not None, "the store")
        await settle(app, pilot, ignore=RUN)
        out.append(await _time_form(app, pilot, painted, "Traces J (judge form)", key("J"), repeat))

        async def export() -> None:
            traces.export_labels()  # type: ignore[attr-defined]

        out.append(await _time_form(app, pilot, painted, "Traces export labels form", export,
                                    repeat))  # fmt: skip

        # Training: L builds the pane with its form (once): to the first frame with it.
        def training_shown(screen: Any) -> bool:
            pane = app.pane("training")
            return pane.is_mounted and bool(pane.query("#training-form-errors"))

        wall, cpu, _s = await painted.timed(key("L"), training_shown)
        await settle(app, pilot, ignore=RUN)
        out.append({"name": "Training L (pane + form, first show)", "form": [wall],
                    "form_cpu": [cpu], "bare": [], "bare_cpu": [],
                    "inputs": len(app.pane("training").query("Input")), "selects": 0})  # fmt: skip

        # Trials: a (queue), s (start), w (export prompt), then e on a waiting proposal.
        await pilot.press("P")
        await settle(app, pilot, ignore=RUN)
        await pilot.press("l")
        await settle(app, pilot, ignore=RUN)
        out.append(await _time_form(app, pilot, painted, "Trials a (queue form)", key("a"), repeat))
        out.append(await _time_form(app, pilot, painted, "Trials s (start form)", key("s"), repeat))
        out.append(await _time_form(app, pilot, painted, "Trials w (export prompt)", key("w"),
                                    repeat))  # fmt: skip
        pane = app.pane("trials")
        await pilot.press("v", "s")
        await _until(pilot, lambda: bool(app.screen.query("#field-0")), "the start form")
        app.screen.query_one("#field-0").value = "50"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await _until(pilot, lambda: getattr(pane, "pending", None) is not None, "a proposal",
                     timeout=120)  # fmt: skip
        await settle(app, pilot, ignore=RUN)
        out.append(await _time_form(app, pilot, painted, "Trials e (edit-then-accept form)",
                                    key("e"), repeat))  # fmt: skip
        await pilot.press("x")
        await settle(app, pilot)
    return out


def _child(home: Path, repeat: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-forms-"))
    try:
        shutil.copytree(home, work / "ws", symlinks=True)
        rows = asyncio.run(_measure(work / "ws", repeat))
        import jarvis_tui

        rows[0]["tree"] = str(Path(jarvis_tui.__file__).parent.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("RESULT " + json.dumps(rows), flush=True)


def _run_child(root: Path, home: Path, repeat: int) -> list[dict[str, Any]]:
    env = dict(os.environ, PYTHONPATH=str(root))
    env["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    here = Path(__file__).resolve()  # the child is this file, on *root*'s jarvis_tui
    proc = subprocess.run(
        [sys.executable, "-P", str(here), "--child", str(home), "--repeat", str(repeat)],
        capture_output=True, text=True, env=env, cwd=root, timeout=1200,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            rows = list(json.loads(line[7:]))
            print(f"timed {rows[0]['tree']}")
            return rows
    raise RuntimeError(f"the form bench in {root} failed:\n{proc.stderr[-3000:]}")


def _ms(xs: list[float]) -> str:
    return " ".join(f"{x * 1000:.0f}" for x in xs)


def _show(label: str, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        print(f"{label}{r['name']} ({r['inputs']} inputs, {r['selects']} selects): "
              f"form ms {_ms(r['form'])} (CPU {_ms(r['form_cpu'])})"
              + (f" · bare ms {_ms(r['bare'])} (CPU {_ms(r['bare_cpu'])})" if r["bare"] else ""))  # fmt: skip


def _warm(xs: list[float]) -> float:
    """The median of the opens after the first (the first imports and reads styles)."""
    return statistics.median(xs[1:] if len(xs) > 1 else xs)


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, __name__)
    ap.add_argument("--traces", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--before", type=Path, help="another checkout to time alongside")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.repeat)
        return 0
    home = large_store(args.traces)
    root = Path(__file__).resolve().parent.parent
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    now = _run_child(root, home, args.repeat)
    then = _run_child(args.before.resolve(), home, args.repeat) if args.before else []
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    _show("", now)
    if then:
        _show("before: ", then)
    figs: list[Figure] = []
    by_name = {r["name"]: r for r in then}
    for r in now:
        old = by_name.get(r["name"])
        if not r["bare"]:  # the Training pane: no modal twin; before/after only
            figs.append(Figure(f"{r['name']}, main-thread CPU", "(for load)", r["form_cpu"][0],
                               "s", True, old["form_cpu"][0] if old else None, "before tree"))  # fmt: skip
            continue
        form, bare = _warm(r["form_cpu"]), _warm(r["bare_cpu"])
        figs.append(Figure(f"{r['name']}: CPU", f"≤ {TARGET_RATIO}× bare", form, "s",
                           form <= TARGET_RATIO * bare, bare, "bare modal"))  # fmt: skip
        wall, bare_wall = _warm(r["form"]), _warm(r["bare"])
        figs.append(Figure(f"{r['name']}: wall", "(load)", wall, "s", True, bare_wall,
                           "bare modal"))  # fmt: skip
        first = r["form_cpu"][0]
        figs.append(Figure(f"{r['name']}: first open, CPU", "(imports)", first, "s", True,
                           r["bare_cpu"][0], "bare modal, first"))  # fmt: skip
        if old:
            figs.append(Figure(f"{r['name']}: CPU vs before", "(before/after)", form, "s", True,
                               _warm(old["form_cpu"]), "before tree"))  # fmt: skip
            figs.append(Figure(f"{r['name']}: first open CPU vs before", "(before/after)",
                               first, "s", True, old["form_cpu"][0], "before tree"))  # fmt: skip
    print(
        "ratio: baseline / measured (above 1: faster than the baseline); the target "
        "compares main-thread CPU, which a loaded machine changes much less than wall time"
    )
    ok = report(figs, "Form open → painted (headless, 120x40)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())  # the child finds jarvis_tui (of this tree or --before's) on PYTHONPATH
