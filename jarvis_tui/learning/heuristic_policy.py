"""Wire :class:`~jarvis_tui.learning.router.HeuristicRouter` into the RouterPolicyRegistry.

Importing this module registers nothing: registration happens in
:func:`ensure_registered` (called by ``jarvis_tui.learning.ensure_registered``), so a
test that clears the registry can put the entries back by calling it again.
"""

from __future__ import annotations

from jarvis_tui.core.registry import RouterPolicyRegistry
from jarvis_tui.learning.router import HeuristicRouter


def ensure_registered() -> None:
    """Register HeuristicRouter as ``heuristic`` if not already present."""
    if not RouterPolicyRegistry.contains("heuristic"):
        try:
            RouterPolicyRegistry.register_value("heuristic", HeuristicRouter)
        except ValueError:
            pass  # another thread registered it between the check and here


__all__ = ["HeuristicRouter", "ensure_registered"]
