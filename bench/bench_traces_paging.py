"""Paging through the Traces pane at any depth, against the DataTable window it replaced.

Run: ``python -m bench.bench_traces_paging [--traces N] [--keys K] [--rounds R]
[--baseline-rev REV]``.
A child process opens the app at 120x40 on the cached N-trace demo store and times,
key by key with the app settled after each (its page reads included): K PgDn and K
``j`` from the top, ``G`` (the last trace), K PgUp and K ``k`` at the bottom of the
store (the deepest rows), then ``g``. The same child runs on *REV*'s ``jarvis_tui``
(``git archive`` into bench/out; default: the last revision with the 600-row
``DataTable`` window), interleaved: R rounds of baseline then now, K/R presses of each
key per round, so a machine whose load drifts during the run (other work on a shared
box) weighs on both alike. Each figure is the median (and max) of all its rounds'
presses. Exits 1 when a median is more than 20 % slower than the baseline's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bench.common import OUT, Figure, large_store, parser, report

ROOT = Path(__file__).resolve().parent.parent

BASELINE_REV = "73b48b0"
"""The last revision whose Traces table was the ``DataTable`` window."""

CHILD = r"""
import asyncio, json, statistics, sys, time
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle

async def main(home, n):
    app = JarvisApp(home)
    out = {}
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one("TracesPane")
        while not pane.rows:
            await pilot.pause(0.01)
        await settle(app, pilot)
        app.query_one("#trace-table").focus()
        await pilot.pause()
        async def keys(name, key, count):
            samples = []
            for _ in range(count):
                t0 = time.perf_counter()
                await pilot.press(key)
                await settle(app, pilot, rounds=1)
                samples.append(time.perf_counter() - t0)
            out[name] = [1e3 * t for t in samples]
        await keys("pagedown", "pagedown", n)
        await keys("j", "j", n)
        await keys("G", "G", 1)
        out["bottom"] = pane.cursor_position
        await keys("pageup_deep", "pageup", n)
        await keys("k_deep", "k", n)
        await keys("g", "g", 1)
        out["top"] = pane.cursor_position
    print("RESULT " + json.dumps(out), flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""

FIGURES = (
    ("pagedown", "PgDn from the top"),
    ("j", "j from the top"),
    ("G", "G: the last trace"),
    ("pageup_deep", "PgUp at the bottom of the store"),
    ("k_deep", "k at the bottom of the store"),
    ("g", "g: back to the first"),
)


def run_child(tree: Path, home: Path, keys: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), str(keys)], env=env, cwd=tree,
        capture_output=True, text=True, timeout=1_800, check=False,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(f"bench child failed: {proc.stderr.strip().splitlines()[-1:]}")


def export_rev(rev: str) -> Path:
    """*rev*'s jarvis_tui and styles in a folder of their own (nothing else is touched)."""
    OUT.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix=f"rev-{rev[:12]}-", dir=OUT))
    archive = dest / "rev.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "archive", rev, "jarvis_tui", "styles"], cwd=ROOT, stdout=fh,
                       check=True)  # fmt: skip
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, __name__)
    ap.add_argument("--traces", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=60, help="presses of each paging key")
    ap.add_argument("--rounds", type=int, default=2,
                        help="alternations of baseline and now (the presses split among them)")  # fmt: skip
    ap.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision to compare with")
    args = ap.parse_args(argv)
    home = large_store(args.traces)
    base_tree = export_rev(args.baseline_rev)
    rounds = max(1, args.rounds)
    per_round = max(1, args.keys // rounds)
    base: dict = {}
    now: dict = {}
    for _ in range(rounds):  # interleaved: load that drifts weighs on both alike
        for tree, into in ((base_tree, base), (ROOT, now)):
            got = run_child(tree, home, per_round)
            for name, _label in FIGURES:
                into.setdefault(name, []).extend(got[name])
            into["bottom"], into["top"] = got["bottom"], got["top"]
    print(f"cursor after G: {now['bottom']:,} (baseline {base['bottom']:,}); "
          f"after g: {now['top']} (baseline {base['top']})")  # fmt: skip
    figs = []
    for name, label in FIGURES:
        measured, b = statistics.median(now[name]), statistics.median(base[name])
        figs.append(Figure(f"{label} (median of {len(now[name])})", "≤ 1.2 × baseline",
                           measured, "ms", measured <= 1.2 * b, b,
                           f"rev {args.baseline_rev}"))  # fmt: skip
        figs.append(Figure(f"{label} (max)", "—", max(now[name]), "ms", True,
                           max(base[name]), f"rev {args.baseline_rev}"))  # fmt: skip
    ok = report(figs, f"Traces pane paging — {args.traces:,} traces")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
