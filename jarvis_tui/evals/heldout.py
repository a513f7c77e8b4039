"""The held-out split as a trainer uses it: pairs it may train on, and the record of it.

A trainer (the Training pane, ``jarvis-tui train``) takes its SFT pairs through
:func:`training_pairs`, which drops every pair whose query :class:`EvalSplit` holds out
and counts them, and records the split in the run folder as ``split.json``
(:func:`write_split`), so an evaluation of the run's adapter (:func:`read_split`)
builds its eval set from the same held-out side and never scores the adapter on what
it was trained on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jarvis_tui.evals.sets import EvalSetError, EvalSplit
from jarvis_tui.paths import atomic_write_text

SPLIT_FILE = "split.json"
"""The split a run was trained with, beside its run.json."""


def training_pairs(
    pairs: Iterable[dict[str, Any]], split: EvalSplit, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Up to *limit* pairs of *pairs* that *split* does not hold out, and how many
    held-out pairs were passed over on the way."""
    kept: list[dict[str, Any]] = []
    held = 0
    if limit <= 0:
        return kept, held
    for pair in pairs:
        if split.is_held_out(str(pair.get("input", pair.get("query", "")))):
            held += 1
            continue
        kept.append(pair)
        if len(kept) >= limit:
            break
    return kept, held


def write_split(run_path: str | Path, split: EvalSplit, held_out: int) -> Path:
    """Record *split* in the run folder (atomically, owner-only, never via a symlink)."""
    data = {**split.to_dict(), "held_out_pairs": int(held_out)}
    return atomic_write_text(Path(run_path) / SPLIT_FILE, json.dumps(data, indent=1) + "\n")


def read_split(run_path: str | Path) -> EvalSplit:
    """The split recorded in a run folder; the default split for a run without one
    (trained before splits were recorded). Raises EvalSetError when the file is there
    but unreadable."""
    from jarvis_tui.core.safejson import parse

    p = Path(run_path) / SPLIT_FILE
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return EvalSplit()
    except OSError as exc:
        raise EvalSetError(f"cannot read {p}: {exc.strerror or exc}") from None
    data, why = parse(raw)
    if not isinstance(data, dict):
        raise EvalSetError(f"{p} is not a split record: {why or 'not an object'}")
    return EvalSplit.from_dict(data)


def held_out_count(run_path: str | Path) -> int | None:
    """How many mined pairs the run's split held out (None when not recorded)."""
    from jarvis_tui.core.safejson import parse

    try:
        data, _why = parse((Path(run_path) / SPLIT_FILE).read_bytes())
    except OSError:
        return None
    value = data.get("held_out_pairs") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = ["SPLIT_FILE", "held_out_count", "read_split", "training_pairs", "write_split"]
