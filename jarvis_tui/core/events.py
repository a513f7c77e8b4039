"""A minimal publish/subscribe bus, shaped like ``openjarvis.core.events``.

Only what a trace store needs: :class:`EventType` values are OpenJarvis's strings
(``"trace_complete"`` …; a ``str`` enum, so they compare and hash equal to
OpenJarvis's own members), :class:`Event` carries ``event_type``, ``timestamp``
and ``data``, and :meth:`EventBus.subscribe` / :meth:`EventBus.publish` behave as
OpenJarvis's do: callbacks run synchronously in the publishing thread, in
registration order. Any bus with the same ``subscribe`` signature (OpenJarvis's
included) works with :meth:`jarvis_tui.traces.TraceStore.subscribe_to_bus`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Dict, List, Optional


class EventType(str, Enum):
    """The event categories jarvis-tui uses (a subset of OpenJarvis's, same values)."""

    INFERENCE_START = "inference_start"
    INFERENCE_END = "inference_end"
    TOOL_CALL_START = "tool_call_start"
    TOOL_CALL_END = "tool_call_end"
    TRACE_STEP = "trace_step"
    TRACE_COMPLETE = "trace_complete"
    FEEDBACK_RECEIVED = "feedback_received"


@dataclass(slots=True)
class Event:
    """One published event."""

    event_type: EventType
    timestamp: float
    data: Dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]


class EventBus:
    """Thread-safe publish/subscribe bus (callbacks run in the publisher's thread)."""

    def __init__(self, *, record_history: bool = False) -> None:
        self._subscribers: Dict[Any, List[Subscriber]] = {}
        self._lock = threading.Lock()
        self._record_history = record_history
        self._history: List[Event] = []

    def subscribe(self, event_type: EventType, callback: Subscriber) -> None:
        """Call *callback* for every event of *event_type* published from now on."""
        with self._lock:
            self._subscribers.setdefault(event_type, []).append(callback)

    def unsubscribe(self, event_type: EventType, callback: Subscriber) -> None:
        """Stop calling *callback* for *event_type* (no error if it was not subscribed)."""
        with self._lock:
            listeners = self._subscribers.get(event_type, [])
            if callback in listeners:
                listeners.remove(callback)

    def publish(self, event_type: EventType, data: Optional[Dict[str, Any]] = None) -> Event:
        """Create an event and hand it to every subscriber of its type; returns it."""
        event = Event(event_type=event_type, timestamp=time.time(), data=data or {})
        with self._lock:
            if self._record_history:
                self._history.append(event)
            listeners = list(self._subscribers.get(event_type, []))
        for callback in listeners:
            callback(event)
        return event

    @property
    def history(self) -> List[Event]:
        """Every event published so far when ``record_history`` is on (a copy)."""
        with self._lock:
            return list(self._history)


__all__ = ["Event", "EventBus", "EventType", "Subscriber"]
