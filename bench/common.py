"""Shared helpers: timing, the cached large store, and the report table."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

OUT = Path(os.environ.get("JARVIS_BENCH_DIR", Path(__file__).resolve().parent / "out"))

USER_DIRS = {"XDG_CONFIG_HOME": "config", "XDG_STATE_HOME": "state"}
"""The user's own settings and state folders (jarvis_tui.ui.settings reads them)."""


def isolate_user_dirs() -> Path:
    """Point this process and its children at empty XDG config and state folders (a
    temporary folder, removed at exit), as tests/conftest.py does for the tests: the
    developer's own ~/.config/jarvis-tui (a theme, a keymap) must not change a figure
    or a screenshot. Returns the folder."""
    root = Path(tempfile.mkdtemp(prefix="jarvis-tui-xdg-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    for name, sub in USER_DIRS.items():
        os.environ[name] = str(root / sub)
    return root


isolate_user_dirs()  # every benchmark imports this module, and its children inherit it


@dataclass
class Figure:
    """One line of the report: a measured figure against its target and a baseline."""

    name: str
    target: str
    measured: float
    unit: str
    ok: bool
    baseline: float | None = None
    baseline_name: str = ""
    higher_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.measured == 0 or self.baseline == 0:
            return None
        if self.higher_is_better:
            return self.measured / self.baseline
        return self.baseline / self.measured


def count_arg(text: str) -> int:
    """A positive whole number from the command line (``1_000_000`` allowed)."""
    try:
        n = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text!r}")
    return n


def parser(doc: str | None, module: str) -> argparse.ArgumentParser:
    """An argument parser for the benchmark *module* (``__name__``): its usage names the
    command that runs it, its description is the first paragraph of *doc*."""
    if module == "__main__":  # run as python -m bench.bench_x: the name it was run by
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else Path(sys.argv[0]).stem
    first = (doc or "").strip().split("\n\n", 1)[0]
    return argparse.ArgumentParser(
        prog=f"python -m {module}", description=first,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip


def parse_options(
    argv: list[str] | None, doc: str | None, module: str, *positional: tuple[str, type, object, str]
) -> list:
    """The benchmark *module*'s command line: ``--help`` prints the first paragraph of
    its *doc*, anything it does not take is refused (exit 2, one line), and each
    *positional* ``(name, type, default, help)`` is optional; their values, in order."""
    ap = parser(doc, module)
    for name, kind, default, text in positional:
        ap.add_argument(name, type=kind, nargs="?", default=default, help=text)
    args = ap.parse_args(argv)  # None: sys.argv[1:]
    return [getattr(args, name) for name, *_ in positional]


def timed(fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of *fn* in seconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def large_store(n: int, seed: int = 7) -> Path:
    """A demo workspace with *n* traces, built once and cached under bench/out/."""
    from jarvis_tui.demo import build_demo

    root = OUT / f"demo-{n}-{seed}"
    marker = root / ".complete"
    if not marker.exists():
        if root.exists():
            shutil.rmtree(root)
        t0 = time.perf_counter()
        print(f"building a {n:,}-trace demo store in {root} (once; cached)…", flush=True)
        build_demo(root, traces=n, seed=seed)
        marker.write_text(f"{time.perf_counter() - t0:.1f}\n")
    return root


def openjarvis_copy(src_db: Path, dest: Path) -> Path:
    """A copy of *src_db* as OpenJarvis itself leaves it: none of our tables or indexes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(dest) + suffix)
        if p.exists():
            p.unlink()
    src = sqlite3.connect(src_db)
    src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    src.close()
    shutil.copyfile(src_db, dest)
    conn = sqlite3.connect(dest)
    names = conn.execute(
        "SELECT type, name FROM sqlite_master WHERE name LIKE 'jt_%' AND type IN ('table','index','trigger')"
    ).fetchall()
    for kind, name in names:
        if kind == "trigger":
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    for kind, name in names:
        if kind == "index":
            conn.execute(f"DROP INDEX IF EXISTS {name}")
    for kind, name in names:
        if kind == "table":
            conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.commit()
    conn.close()
    return dest


REPORTED: list[tuple[str, Figure]] = []
"""Every figure reported in this process, with its section (for ``python -m bench``)."""


def report(figures: list[Figure], title: str) -> bool:
    """Print the table; True when every target is met."""
    REPORTED.extend((title, f) for f in figures)
    return _print(figures, title)


def summary() -> bool:
    """One table of every figure reported so far, each under its section's name."""
    figures = [
        Figure(
            f"{title} — {f.name.strip()}",
            f.target,
            f.measured,
            f.unit,
            f.ok,
            f.baseline,
            f.baseline_name,
            f.higher_is_better,
        )  # fmt: skip
        for title, f in REPORTED
    ]
    return _print(figures, "Every benchmark")


def _print(figures: list[Figure], title: str) -> bool:
    table = Table(title=title, show_lines=False)
    for col in ("figure", "target", "measured", "baseline", "ratio", ""):
        table.add_column(col)
    for f in figures:
        ratio = f.ratio
        table.add_row(
            f.name,
            f.target,
            f"{f.measured:,.3g} {f.unit}" if f.measured < 1000 else f"{f.measured:,.0f} {f.unit}",
            "" if f.baseline is None else f"{f.baseline:,.3g} {f.unit} ({f.baseline_name})",
            "" if ratio is None else f"{ratio:,.1f}×",
            "[green]ok[/]" if f.ok else "[bold red]MISSED[/]",
        )
    Console(width=160).print(table)
    return all(f.ok for f in figures)
