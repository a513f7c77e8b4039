"""First paint: process start → the app's first frame (the Traces pane and the status
bar) and → the first frame with rows, against a bare Textual app's first paint and ``import textual`` in the same
run (three runs each, median; every run printed).

    python -m bench.bench_first_paint [--traces N] [--runs 3] [--before TREE]

``--before TREE`` also times the app of another checkout (``git archive REF | tar -x -C
TREE``) on the same store, interleaved with the others: before/after in one run.

Headless (``App.run_test``), as every other UI figure here: the time to draw into a
real terminal is the same for both apps and is not what differs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench._startup import HEAVY
from bench.common import Figure, large_store, report

TARGET_S = 0.5


ROOT = Path(__file__).resolve().parent.parent


def _env(root: Path = ROOT) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(root))


def _painted(args: list[str], root: Path = ROOT) -> tuple[float, float, dict]:
    """Seconds from spawning ``python -m bench._startup ARGS`` to its FRAME line (the
    first frame) and to its PAINTED line (rows on screen), and what it reported."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._startup", *args],
        stdout=subprocess.PIPE, text=True, env=_env(root), cwd=root,
    )  # fmt: skip
    assert proc.stdout is not None
    seen: dict[str, float] = {}
    info: dict = {}
    for line in proc.stdout:
        word = line.strip()
        if word in ("FRAME", "PAINTED"):
            seen.setdefault(word, time.perf_counter() - t0)
        elif line.startswith("{"):
            info = json.loads(line)
    proc.wait(timeout=300)
    return seen.get("FRAME", float("inf")), seen.get("PAINTED", float("inf")), info


def _import_textual() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import textual.app"], check=True, env=_env())
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--traces", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", type=Path, help="another checkout to time alongside")
    args = ap.parse_args(argv)
    home = large_store(args.traces)
    _painted(["--first-paint", str(home)])  # warm the page cache and the .pyc files

    frame, rows, bare, imp, info = [], [], [], [], {}
    b_frame: list[float] = []
    b_rows: list[float] = []
    b_info: dict = {}
    if args.before:
        _painted(["--first-paint", str(home)], args.before.resolve())  # warm it too
    for _ in range(args.runs):  # interleaved: a busy moment hits all three alike
        imp.append(_import_textual())
        bare.append(_painted(["--bare"])[0])
        f, r, info = _painted(["--first-paint", str(home)])
        frame.append(f)
        rows.append(r)
        if args.before:
            f, r, b_info = _painted(["--first-paint", str(home)], args.before.resolve())
            b_frame.append(f)
            b_rows.append(r)
    for name, xs in (("import textual.app", imp), ("bare Textual app", bare),
                     ("jarvis-tui frame", frame), ("jarvis-tui rows", rows),
                     ("before: frame", b_frame), ("before: rows", b_rows)):  # fmt: skip
        if xs:
            print(f"{name:>20}: " + "  ".join(f"{x:.3f} s" for x in xs))
    if args.before:
        print(
            "before: imported at first paint: "
            + (", ".join(b_info.get("imported", ["?"])) or "none")
        )
    imported = info.get("imported", ["?"])
    print("imported at first paint: " + (", ".join(imported) or "none of " + ", ".join(HEAVY)))
    med_frame, med_rows, med_bare, med_imp = (
        statistics.median(x) for x in (frame, rows, bare, imp)
    )
    figs = [
        Figure("start → first frame (Traces pane + status bar)", f"≤ {TARGET_S} s", med_frame, "s",
               med_frame <= TARGET_S, med_bare, "bare Textual app"),
        Figure(f"start → first rows painted ({args.traces:,} traces)", f"≤ {TARGET_S} s", med_rows,
               "s", med_rows <= TARGET_S, med_bare, "bare Textual app"),
        Figure("start → bare Textual app painted", "(baseline)", med_bare, "s", True,
               med_imp, "import textual.app"),
        Figure("numpy/optuna/torch/plotext imported before the first paint", "none",
               float(len(imported)), "modules", not imported),
    ]  # fmt: skip
    ok = report(figs, "First paint")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
