"""Learning primitive: router policies, reward functions and trace-driven learning.

Names mirror ``openjarvis.learning``. Heavy dependencies (torch) are never
imported from here; training lives in ``jarvis_tui.learning.training``.
"""

from jarvis_tui.learning.classify import QUERY_CLASSES, classify_query

__all__ = ["QUERY_CLASSES", "classify_query"]
