"""Trace storage: the OpenJarvis ``TraceStore`` schema, plus what a browser needs."""

from jarvis_tui.traces.store import (
    LabelChange,
    LabelEvent,
    NotATraceStore,
    Page,
    ReadOnlyStore,
    SearchResult,
    StoreError,
    TraceFilter,
    TraceRow,
    TraceStore,
    to_fts_query,
)

__all__ = [
    "LabelChange",
    "LabelEvent",
    "NotATraceStore",
    "Page",
    "ReadOnlyStore",
    "SearchResult",
    "StoreError",
    "TraceFilter",
    "TraceRow",
    "TraceStore",
    "to_fts_query",
]
