"""Trials in parallel: measured trials per minute with 4 workers vs 1, same run.

Run: ``python -m bench.bench_workers``. Both runs are ``jarvis-tui optimize
--evaluate measured --workers N`` on the same demo workspace, against a local
OpenAI-compatible server (127.0.0.1) that answers each request after 200 ms; a trial
answers SAMPLES queries one after the other (``--concurrency 1``), so one trial is
about SAMPLES × 200 ms. Trials per minute are counted over the trials' own window (the
first worker's first claim to the last result, from optimize.db's ``jt_trial_meta``);
the end-to-end time of each command (worker start-up included) is printed beside it.

Also checked, per run: no trial evaluated twice (the server saw exactly trials ×
samples requests) and none lost (optimize.db and the shared study both hold every
trial, each completed once). Target: 4 workers ≥ 3× the trials per minute of 1 worker.
Exits 1 when a target is missed.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from bench.common import OUT, Figure, parse_options, report

DELAY_S = 0.2
SAMPLES = 4
TRIALS = {1: 12, 4: 48}


def _workspace() -> Path:
    from jarvis_tui.demo import build_demo

    root = OUT / "workers-demo"
    marker = root / ".complete"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        build_demo(root, traces=1500, seed=4, optimize=False)
        marker.write_text("ok")
    return root


def _run(template: Path, workers: int, trials: int) -> dict:
    from jarvis_tui.cli import main
    from jarvis_tui.evals.local_server import ChatServer
    from jarvis_tui.learning.optimize import OptimizationStore
    from jarvis_tui.learning.optimize.workers import JOURNAL_FILE, SharedRun, open_storage

    home = OUT / f"workers-{workers}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(template, home, ignore=shutil.ignore_patterns(".complete"))
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def answer(user: str, system: str) -> str:
        with lock:
            seen[user] += 1
        return "an answer"

    with ChatServer({"*": (answer, DELAY_S)}) as server:
        argv = ["optimize", "--home", str(home), "--trials", str(trials), "--patience",
                str(trials), "--seed", "1", "--workers", str(workers), "--json",
                "--evaluate", "measured", "--eval-backend", server.url, "--samples",
                str(SAMPLES), "--concurrency", "1"]  # fmt: skip
        out = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(out):
            rc = main(argv)
        wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"optimize --workers {workers} failed (exit {rc})")
    run_id = json.loads(out.getvalue())["run_id"]
    with OptimizationStore(home / "optimize.db") as store:
        recorded = store.get_trials(run_id)
        meta = store.get_trial_meta(run_id)
    starts = [meta[t.trial_id]["started_at"] for t in recorded]
    ends = [meta[t.trial_id]["started_at"] + meta[t.trial_id]["seconds"] for t in recorded]
    window = max(ends) - min(starts)
    shared = SharedRun(open_storage(str(home / JOURNAL_FILE)), run_id, "journal")
    states = Counter(
        t.state.name for t in shared.trials() if t.user_attrs.get("jt_kind") == "config"
    )
    return {
        "per_min": len(recorded) / window * 60,
        "wall": wall,
        "requests": sum(seen.values()),
        "recorded": len(recorded),
        "unique": len({t.trial_id for t in recorded}),
        "complete": states.get("COMPLETE", 0),
        "states": dict(states),
        "workers": Counter(meta[t.trial_id]["worker"] for t in recorded),
    }


def main(argv: list[str] | None = None) -> int:
    parse_options(argv, __doc__, __name__)
    template = _workspace()
    one = _run(template, 1, TRIALS[1])
    four = _run(template, 4, TRIALS[4])
    figures = []
    for n, r in ((1, one), (4, four)):
        trials = TRIALS[n]
        once = r["requests"] == trials * SAMPLES
        kept = r["recorded"] == r["unique"] == r["complete"] == trials
        print(
            f"{n} worker(s): {r['recorded']} trials, {r['per_min']:.1f}/min, end to end "
            f"{r['wall']:.1f} s, requests {r['requests']} (expected {trials * SAMPLES}), "
            f"study {r['states']}, per worker {dict(r['workers'])}"
        )
        if n == 4:
            figures.append(
                Figure(
                    f"measured trials/min, 4 workers vs 1 (server 200 ms, {SAMPLES} samples"
                    f" per trial; end to end {four['wall']:.1f} s vs {one['wall']:.1f} s)",
                    "≥ 3× one worker",
                    r["per_min"],
                    "trials/min",
                    r["per_min"] >= 3 * one["per_min"],
                    baseline=one["per_min"],
                    baseline_name="1 worker",
                    higher_is_better=True,
                )
            )
        figures.append(
            Figure(
                f"{n} worker(s): trials evaluated twice / lost (of {trials})",
                "none",
                (r["requests"] - trials * SAMPLES) / SAMPLES + (trials - r["complete"]),
                "trials",
                once and kept,
            )
        )
    return 0 if report(figures, "Trials in parallel") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
