"""Key-level differences between two parsed TOML documents (``toml_diff``)."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List

_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_\-]+")

_SYMBOLS = {"added": "+", "removed": "-", "changed": "~"}


@dataclass(frozen=True)
class Change:
    """One difference between two configs, at a dotted key (``agent.tools``).

    ``kind`` is ``added``, ``removed`` or ``changed``. With ``element=True`` the change
    is one element of a list of scalars (``old`` or ``new`` is that element), so a
    tools list diffs as ``+ web_search`` / ``- calculator`` instead of whole lists.
    """

    key: str
    """Dotted path; keys that are not bare TOML keys are quoted."""
    kind: str
    """``added``, ``removed`` or ``changed``."""
    old: Any = None
    """The old value (or removed element); None when added."""
    new: Any = None
    """The new value (or added element); None when removed."""
    element: bool = False
    """True when this is one list element added or removed."""

    @property
    def symbol(self) -> str:
        """``+``, ``-`` or ``~``."""
        return _SYMBOLS[self.kind]

    def __str__(self) -> str:
        if self.element:
            value = self.new if self.kind == "added" else self.old
            shown = value if isinstance(value, str) else _show(value)
            return f"{self.key}: {self.symbol} {shown}"
        if self.kind == "added":
            return f"+ {self.key} = {_show(self.new)}"
        if self.kind == "removed":
            return f"- {self.key} = {_show(self.old)}"
        return f"~ {self.key}: {_show(self.old)} → {_show(self.new)}"


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _join_key(prefix: str, key: Any) -> str:
    k = str(key)
    part = k if _BARE_KEY_RE.fullmatch(k) else json.dumps(k, ensure_ascii=False)
    return f"{prefix}.{part}" if prefix else part


def _is_scalar(v: Any) -> bool:
    return not isinstance(v, (dict, list))


def _scalar_key(v: Any) -> tuple[str, str]:
    # Typed, so 1, 1.0 and true differ (TOML keeps them apart); repr makes nan == nan.
    return (type(v).__name__, repr(v))


def _same(a: Any, b: Any) -> bool:
    if _is_scalar(a) and _is_scalar(b):
        return _scalar_key(a) == _scalar_key(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return False


def toml_diff(old: Dict[str, Any], new: Dict[str, Any]) -> List[Change]:
    """Key-level differences from *old* to *new* (parsed TOML tables).

    Nested tables recurse (dotted keys); lists of scalars diff element by element
    (a list whose elements only moved is one ``changed``); anything else that differs
    (including a change of type, ``1`` → ``1.0``) is one ``changed``. Order: the keys
    of *old* as they appear, then keys only in *new*.
    """
    if not isinstance(old, dict) or not isinstance(new, dict):
        raise TypeError("toml_diff compares two dicts (parsed TOML documents)")
    out: List[Change] = []
    _diff_tables(old, new, "", out)
    return out


def _diff_tables(old: Dict[str, Any], new: Dict[str, Any], prefix: str, out: List[Change]) -> None:
    for k, v in old.items():
        key = _join_key(prefix, k)
        if k not in new:
            out.append(Change(key, "removed", old=v))
        else:
            _diff_values(v, new[k], key, out)
    for k, v in new.items():
        if k not in old:
            out.append(Change(_join_key(prefix, k), "added", new=v))


def _multiset_minus(a: list, b: list) -> list:
    """Elements of *a* not matched one-for-one by an element of *b* (order of *a* kept)."""
    spare = Counter(map(_scalar_key, b))
    out = []
    for x in a:
        k = _scalar_key(x)
        if spare[k] > 0:
            spare[k] -= 1
        else:
            out.append(x)
    return out


def _diff_values(a: Any, b: Any, key: str, out: List[Change]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        _diff_tables(a, b, key, out)
        return
    if _same(a, b):
        return
    if (
        isinstance(a, list)
        and isinstance(b, list)
        and all(map(_is_scalar, a))
        and all(map(_is_scalar, b))
    ):
        removed = _multiset_minus(a, b)
        added = _multiset_minus(b, a)
        if removed or added:
            out.extend(Change(key, "removed", old=x, element=True) for x in removed)
            out.extend(Change(key, "added", new=x, element=True) for x in added)
            return
    out.append(Change(key, "changed", old=a, new=b))


__all__ = ["Change", "toml_diff"]
