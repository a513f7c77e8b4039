"""Full garbage collections at a moment the app picks, while a run streams its metrics.

Every line Textual paints is a ``Strip`` that keeps itself in its own caches (a
divide or a length adjustment that changes nothing caches ``self``): cyclic garbage
that only the cyclic collector frees. While a run streams, the Training pane paints
twice a second and the charts' lines live about as long, so they reach the oldest
generation, and CPython's automatic full collection came every few seconds: 20-45 ms
holding the GIL on a loaded 2-core machine, at whatever moment an allocation tipped
it, often inside a repaint or a chart drawing (stacked, over the 50 ms the app allows
itself, bench_ui_lag).

:data:`PACER` holds the automatic full collections back while a pane streams
(:meth:`GcPacer.hold`: the oldest generation's threshold raised out of reach) and the
pane runs one from its follow timer when one is due by CPython's own count
(:meth:`GcPacer.collect_if_due`, as many gen-1 collections as the threshold it held),
between two batches, when neither a repaint nor a drawing is in flight. The young
generations are collected as before. :meth:`GcPacer.release` puts the threshold back.
"""

from __future__ import annotations

import gc
from typing import Optional

HELD = 1_000_000
"""The oldest generation's threshold while held: automatic full collections never come."""


class GcPacer:
    """Holds CPython's automatic full collections back and runs them when told (one per
    process: the collector's thresholds are the process's)."""

    def __init__(self) -> None:
        self._saved: Optional[tuple[int, int, int]] = None

    @property
    def held(self) -> bool:
        return self._saved is not None

    def hold(self) -> None:
        """Automatic full collections off (the young generations as they were)."""
        if self._saved is None:
            saved = gc.get_threshold()
            self._saved = (saved[0], saved[1], saved[2])
            gc.set_threshold(saved[0], saved[1], HELD)

    def release(self) -> None:
        """The thresholds as they were before :meth:`hold`."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def collect_if_due(self) -> bool:
        """While held: a full collection when CPython would have made one by now (its
        gen-1 collections since the last full one reached the held threshold)."""
        if self._saved is None or gc.get_count()[2] < self._saved[2]:
            return False
        gc.collect()
        return True


PACER = GcPacer()
