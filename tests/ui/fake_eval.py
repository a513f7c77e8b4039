"""Stands in for ``jarvis-tui`` as the Training pane's evaluation child (tests patch
``jarvis_tui.ui.panes.training.EVAL_COMMAND`` to ``(this file,)``): the real
``jarvis-tui eval --compare`` (its flags, signals, progress lines and output), with
the measuring replaced so that no model runs (no torch): it says ``base n-1/n``, then
holds until it is cancelled (SIGTERM / SIGINT) and returns what ``compare_adapter``
returns then: the base measured on n-1 samples, the adapter on none, ``partial``.
Fast and deterministic: the test decides when the cancel comes (and, with
$FAKE_EVAL_HOLD naming a file, when the cancelled child ends: once that file exists).
"""

from __future__ import annotations

import os
import sys
import time

from jarvis_tui.cli import main
from jarvis_tui.evals import adapters


def compare(run, eval_set, scorer, *, cancel=None, progress=None, **kwargs):
    n = len(eval_set)
    progress("base", n - 1, n)  # the user sees it, then presses x
    assert cancel is not None
    while not cancel.wait(0.05):  # (a wait the signal handler can interrupt)
        pass
    hold = os.environ.get("FAKE_EVAL_HOLD")  # cancelled: stop only once this file exists
    while hold and not os.path.exists(hold):
        time.sleep(0.02)
    base = {"accuracy": 0.25, "accuracy_ci": [0.1, 0.4], "p50_latency_seconds": 0.5,
            "samples": n - 1, "scored": n - 1}  # fmt: skip
    none = {"accuracy": 0.0, "accuracy_ci": [0.0, 0.0], "p50_latency_seconds": 0.0,
            "samples": 0, "scored": 0}  # fmt: skip
    return adapters.AdapterComparison(
        run_id=run.run_id, base_model=str(run.model), eval_set=eval_set.describe(),
        base=base, adapter=none, base_eval_loss=2.0, adapter_eval_loss=None, partial=True,
    )  # fmt: skip


if __name__ == "__main__":
    adapters.compare_adapter = compare  # type: ignore[assignment]
    sys.exit(main(sys.argv[1:]))
