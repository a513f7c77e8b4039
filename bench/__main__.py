"""``python -m bench``: every benchmark, one after the other; exit 1 if any target is missed."""

from __future__ import annotations

import sys

from bench import (
    bench_configs,
    bench_learning,
    bench_optimize,
    bench_store,
    bench_training,
    bench_trials_pane,
    bench_trials_plot,
    bench_ui_lag,
)
from bench.common import summary


def main() -> int:
    failed = []
    for mod in (bench_store, bench_learning, bench_configs, bench_training, bench_ui_lag,
                bench_optimize, bench_trials_plot, bench_trials_pane):  # fmt: skip
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
