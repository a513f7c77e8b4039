"""First paint: process start → the app's first frame and → the first frame with rows,
as a user sees it: ``jarvis-tui --home STORE`` in a real terminal (a pseudo-terminal,
120x40), timed by what it writes (the Traces tab, then the status line's ``rows 1–``),
against a bare Textual app's first frame in the same terminal (three runs each,
interleaved, median; every run printed).

    python -m bench.bench_first_paint [--traces N] [--runs 3] [--before TREE]

``--before TREE`` also times the app of another checkout (``git archive REF | tar -x -C
TREE``) on the same store, interleaved with the others: before/after in one run.

Each figure is given twice: the wall time, and the CPU seconds the main thread had used
by then (from ``/proc``; the store's worker threads are not counted), which a busy
machine changes much less.
The children compile to ``.pyc`` (under ``bench/out/pycache``) as an installed app does,
even where ``PYTHONDONTWRITEBYTECODE`` is set: compiling every module on every start
is not what a user pays; likewise the parsed-CSS cache (``bench/out/cache``) is
written by the untimed first run. What was imported by the first rows is checked in-process
(``bench._startup --first-paint``, headless).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from bench._startup import HEAVY
from bench.common import OUT, Figure, large_store, parser, report

TARGET_S = 0.5
SIZE = (120, 40)
FRAME_MARK = "Traces [T]"
"""In the first frame: the tab bar with the Traces pane under it."""
ROWS_MARK = "rows 1\u2013"
"""The status line once the first page is in the table (same frame as the rows)."""

ROOT = Path(__file__).resolve().parent.parent

BARE = """
from textual.app import App
from textual.widgets import Footer, Header, Static
class Bare(App):
    def compose(self):
        yield Header()
        yield Static("Traces [T] rows 1\u2013 (a bare app)", markup=False)
        yield Footer()
Bare().run()
"""


def _env(root: Path = ROOT) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(root), TERM="xterm-256color")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    # The parsed-CSS cache (jarvis_tui.ui.css_cache) of the runs, not the user's: warm
    # from the first (untimed) run on, as on every start but a user's first.
    env["XDG_CACHE_HOME"] = str(OUT / "cache")
    for name in ("COLUMNS", "LINES", "TEXTUAL", "TEXTUAL_DRIVER"):
        env.pop(name, None)
    return env


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) the main thread of process *pid* has used so far:
    the UI's own work, without the store's worker threads running beside it."""
    try:
        with open(f"/proc/{pid}/task/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _in_terminal(argv: list[str], root: Path, timeout: float = 120.0) -> dict[str, float]:
    """Run *argv* in a pseudo-terminal; seconds (and CPU seconds) to each mark written,
    then ctrl+q (killed if it has not quit 20 s later)."""
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the program, in the terminal
        os.chdir(root)
        os.execve(argv[0], argv, _env(root))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    marks = {"frame": FRAME_MARK.encode(), "rows": ROWS_MARK.encode()}
    seen: dict[str, float] = {}
    out = b""
    try:
        while len(seen) < 2 * len(marks) and time.perf_counter() - t0 < timeout:
            if not select.select([fd], [], [], 0.5)[0]:
                continue
            try:
                data = os.read(fd, 1 << 16)
            except OSError:
                break
            if not data:
                break
            out += data
            for name, mark in marks.items():
                if name not in seen and mark in out:
                    seen[name] = time.perf_counter() - t0
                    seen[name + "_cpu"] = _cpu(pid)
    finally:
        _quit(pid, fd)
    return seen


def _quit(pid: int, fd: int) -> None:
    try:
        os.write(fd, b"\x11")  # ctrl+q
    except OSError:
        pass
    end = time.perf_counter() + 20
    while time.perf_counter() < end:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                if not os.read(fd, 1 << 16):
                    break
            except OSError:
                break
        if os.waitpid(pid, os.WNOHANG)[0]:
            break
    else:
        os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    os.close(fd)


def _app(home: Path, root: Path = ROOT) -> dict[str, float]:
    return _in_terminal([sys.executable, "-m", "jarvis_tui", "--home", str(home)], root)


def _bare() -> dict[str, float]:
    return _in_terminal([sys.executable, "-c", BARE], ROOT)


def _imported(home: Path, root: Path = ROOT) -> list[str]:
    """The heavy modules imported by the first rows (in-process, headless)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench._startup", "--first-paint", str(home)],
        capture_output=True, text=True, env=_env(root), cwd=root, timeout=300,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            return list(json.loads(line).get("imported", ["?"]))
    return ["?"]


def _line(name: str, runs: list[dict[str, float]], key: str) -> str:
    inf = float("inf")
    return f"{name:>22}: " + "  ".join(
        f"{r.get(key, inf):.3f} s ({r.get(key + '_cpu', inf):.2f} s main-thread CPU)" for r in runs
    )


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r.get(key, float("inf")) for r in runs)


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, __name__)
    ap.add_argument("--traces", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", type=Path, help="another checkout to time alongside")
    args = ap.parse_args(argv)
    home = large_store(args.traces)
    before = args.before.resolve() if args.before else None
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    _app(home)  # warm the page cache and compile the .pyc files
    _bare()
    if before:
        _app(home, before)
    now: list[dict[str, float]] = []
    then: list[dict[str, float]] = []
    bare: list[dict[str, float]] = []
    for _ in range(args.runs):  # interleaved: a busy moment hits all of them alike
        bare.append(_bare())
        now.append(_app(home))
        if before:
            then.append(_app(home, before))
    print(_line("bare Textual app", bare, "frame"))
    for label, runs in (("", now), ("before: ", then)):
        if runs:
            print(_line(label + "jarvis-tui frame", runs, "frame"))
            print(_line(label + "jarvis-tui rows", runs, "rows"))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if before:
        b_imported = _imported(home, before)
        print("before: imported at first paint: " + (", ".join(b_imported) or "none"))
    imported = _imported(home)
    print("imported at first paint: " + (", ".join(imported) or "none of " + ", ".join(HEAVY)))
    frame, rows, base = _median(now, "frame"), _median(now, "rows"), _median(bare, "frame")
    figs = [
        Figure("start → first frame (Traces pane + status bar)", f"≤ {TARGET_S} s", frame, "s",
               frame <= TARGET_S, base, "bare Textual app"),
        Figure(f"start → first rows painted ({args.traces:,} traces)", f"≤ {TARGET_S} s", rows,
               "s", rows <= TARGET_S, base, "bare Textual app"),
        Figure("main-thread CPU by the first rows", "(for load)", _median(now, "rows_cpu"),
               "s", True, _median(bare, "frame_cpu"), "bare Textual app"),
        Figure("numpy/optuna/torch/plotext imported before the first paint", "none",
               float(len(imported)), "modules", not imported),
    ]  # fmt: skip
    if before:
        figs[1:1] = [
            Figure("first rows painted, vs the before tree", "(before/after)", rows, "s",
                   True, _median(then, "rows"), "before tree"),
            Figure("main-thread CPU by the first rows, vs before", "(before/after)",
                   _median(now, "rows_cpu"), "s", True, _median(then, "rows_cpu"), "before tree"),
        ]  # fmt: skip
    ok = report(figs, "First paint")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
