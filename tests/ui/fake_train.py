"""Stands in for ``jarvis-tui train`` as the Training pane's child process (tests patch
``jarvis_tui.ui.panes.training.TRAIN_COMMAND`` to ``(this file,)``): it writes a run
folder with one step, holds until cancelled (its stdin closes, or the cancel file
appears), then ends the run ``cancelled`` and prints the summary as ``--json`` would.
Fast: no torch, no model. With ``--phases`` it first prints a phase line, as
``jarvis-tui train --phases`` does; with ``FAKE_TRAIN_HOLD_IN_PHASE=1`` in its
environment it then holds in that phase (no run folder yet) until cancelled (and, with
``FAKE_TRAIN_END_AFTER=PATH``, until that file exists, as a slow child ends). With
``FAKE_TRAIN_IGNORE_STOP=1`` it never stops by itself (only a signal ends it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path

from jarvis_tui.learning.training.lora import CANCEL_FILE
from jarvis_tui.learning.training.runs import RunWriter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("--home", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--phases", action="store_true")
    args, _ = parser.parse_known_args()
    stop = threading.Event()

    def watch() -> None:
        while os.read(sys.stdin.fileno(), 4096):  # (not sys.stdin: see cli.py)
            pass
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    if args.phases:
        print(json.dumps({"phase": "building the demo model"}), flush=True)
        if os.environ.get("FAKE_TRAIN_HOLD_IN_PHASE") == "1":
            stop.wait()
            hold = os.environ.get("FAKE_TRAIN_END_AFTER")
            while hold and not Path(hold).exists():  # a slow end, as torch's can be
                stop.wait(0.05)
            print(json.dumps({"status": "cancelled", "message": "stopped before the first step"}))
            return
    writer = RunWriter(Path(args.home) / "checkpoints", model="fake", run_id=args.run_id,
                       total_steps=10)  # fmt: skip
    writer.append({"type": "step", "step": 1, "epoch": 0.1, "loss": 1.0, "lr": 1e-4,
                   "tokens": 10, "tokens_per_s": 100.0, "elapsed": 0.1, "eta": 1.0})  # fmt: skip
    if os.environ.get("FAKE_TRAIN_IGNORE_STOP") == "1":
        threading.Event().wait()  # a stuck child: only a kill ends it
    while not stop.wait(0.05) and not (writer.path / CANCEL_FILE).exists():
        pass
    writer.finish("cancelled", final_loss=1.0, steps_done=1)
    print(json.dumps({"status": "cancelled", "run_dir": str(writer.path)}))


if __name__ == "__main__":
    main()
