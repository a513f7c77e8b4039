"""The collector's pacing while a run streams: full collections held back, run when due,
and the process's thresholds put back as they were."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from jarvis_tui.ui.gc_pacing import GcPacer


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_hold_defers_full_collections_until_due_and_release_restores(
    thresholds: tuple[int, int, int],
) -> None:
    pacer = GcPacer()
    assert not pacer.collect_if_due()  # not held: the collector's own business
    pacer.hold()
    pacer.hold()  # twice: still the thresholds from before the first
    young0, young1, full = gc.get_threshold()
    assert (young0, young1) == thresholds[:2] and full > 1000 * thresholds[2]
    gc.collect()
    for _ in range(thresholds[2] - 1):
        gc.collect(1)  # each counts one gen-1 collection towards a full one
    assert not pacer.collect_if_due()
    gc.collect(1)
    assert pacer.collect_if_due()  # as many as the threshold it held: a full one
    assert gc.get_count()[2] == 0
    pacer.release()
    assert gc.get_threshold() == thresholds
    pacer.release()  # twice: nothing more
    assert gc.get_threshold() == thresholds
