"""Work-arounds for Textual bugs the app would otherwise carry, each to be removed once
the Textual range in pyproject admits no version with the bug.

``apply()`` is idempotent; :mod:`jarvis_tui.ui.app` calls it when it is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from textual._styles_cache import StylesCache  # private module: the bug lives there

_FIXED = "_jarvis_tui_fixed"
"""Marks a function this module put in Textual's place."""


def apply() -> None:
    """Patch what is broken in the installed Textual; a no-op where it is not.

    **The styles-cache leak** (Textualize/textual#6665, open in Textual 8.2):
    ``StylesCache.get_inner_outer`` is an instance method under ``lru_cache(1024)``, so
    the cache's keys hold the last 1,024 ``StylesCache`` objects, one per widget ever
    rendered, each with every line it painted. Screens and widgets long gone stay in
    memory: measured 2026-12-03, 28 app sessions in one process left 19,866 strips and
    ~250,000 objects alive after a full collection, every one scanned by each full GC
    pass. The answer depends on the two colours only (the body never reads ``self``):
    Textual's own body, cached on the colours, lets a widget's cache go with it.
    """
    current = StylesCache.__dict__.get("get_inner_outer")
    body = getattr(current, "__wrapped__", None)
    if getattr(current, _FIXED, False) or not hasattr(current, "cache_info") or body is None:
        return  # already applied, or this Textual no longer caches on self
    StylesCache.get_inner_outer = _cached_on_colours(body)  # type: ignore[method-assign,assignment]


def _cached_on_colours(body: Callable[..., Any]) -> Callable[..., Any]:
    @lru_cache(maxsize=1024)
    def inner_outer(base_background: Any, background: Any) -> Any:
        return body(None, base_background, background)

    def get_inner_outer(self: StylesCache, base_background: Any, background: Any) -> Any:
        return inner_outer(base_background, background)

    setattr(get_inner_outer, _FIXED, True)
    return get_inner_outer
