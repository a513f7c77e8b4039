"""Query classification: moved to :mod:`jarvis_tui.core.classify` (the trace store uses
it, and the store sits below the learning layer); re-exported here so that every
import of ``jarvis_tui.learning.classify`` keeps working and names the same objects."""

from __future__ import annotations

from jarvis_tui.core.classify import *  # noqa: F403 - the public names, re-exported
from jarvis_tui.core.classify import (  # noqa: F401 - private names tests and benches read
    _PROBES,
    _classify_reference,
    _detect_reference,
    _probe_matches,
)
from jarvis_tui.core.classify import __all__ as __all__  # noqa: PLE0605
