"""``python -m bench [NAME ...]``: every benchmark (or those named, e.g. ``bench_optimize``),
one after the other, then one table of every figure; exit 1 if any target is missed."""

from __future__ import annotations

import sys
from pathlib import Path

from bench import (
    bench_analyze,
    bench_classify,
    bench_configs,
    bench_evals,
    bench_first_paint,
    bench_forms,
    bench_label_queue,
    bench_learning,
    bench_optimize,
    bench_outcomes,
    bench_search,
    bench_store,
    bench_store_neighbour,
    bench_training,
    bench_trials_pane,
    bench_trials_plot,
    bench_ui_lag,
    bench_workers,
)
from bench.common import summary

ALL = (bench_store, bench_first_paint, bench_forms, bench_search, bench_store_neighbour, bench_learning, bench_analyze, bench_configs, bench_training, bench_ui_lag,
       bench_optimize, bench_trials_plot, bench_trials_pane, bench_evals, bench_workers,
       bench_classify, bench_outcomes, bench_label_queue)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv)
    known = {m.__name__.rsplit(".", 1)[-1]: m for m in ALL}
    if names in (["-h"], ["--help"]):
        print("usage: python -m bench [NAME ...]\n\n" + (__doc__ or "").strip())
        print("\nbenchmarks: " + ", ".join(known))
        alone = sorted({p.stem for p in Path(__file__).parent.glob("bench_*.py")} - set(known))
        if alone:  # against another revision of the code, or a machine of their own
            print("run on their own only: " + ", ".join(alone))
        print("each one's own options: python -m bench.NAME --help")
        return 0
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(known)}",
              file=sys.stderr)  # fmt: skip
        return 2
    failed = []
    for mod in [known[n] for n in names] or ALL:
        if mod.main([]) != 0:
            failed.append(mod.__name__)
    print()
    summary()
    if failed:
        print("targets missed in: " + ", ".join(failed))
        return 1
    print("every target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
