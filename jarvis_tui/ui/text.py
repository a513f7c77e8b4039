"""Untrusted text made safe to show: never markup, never a terminal escape.

Trace content comes from users and models. It goes into ``rich.text.Text`` as
plain text (no markup parsing) with every control character made visible, so
``[bold]`` shows as typed and ``\\x1b]0;title\\x07`` cannot retitle the terminal.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 controls except \t and \n, DEL, and C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def _picture(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode "control pictures": ␛ for ESC
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\x{code:02x}"


def visible(text: str) -> str:
    """Replace control characters by visible stand-ins (keeps newlines and tabs)."""
    return _CONTROL.sub(_picture, text)


def one_line(text: str, limit: int = 200) -> str:
    """A single-line, visible, truncated rendering for a table cell."""
    head = text[: limit + 1]
    head = head.replace("\r\n", "\n").replace("\n", " ⏎ ").replace("\t", " ")
    head = visible(head)
    if len(head) > limit or len(text) > limit + 1:
        head = head[: limit - 1] + "…"
    return head


def safe_text(text: str, *, limit: int | None = None, style: str = "") -> Text:
    """A ``Text`` holding *text* literally; truncated to *limit* chars with a note."""
    shown = text if limit is None or len(text) <= limit else text[:limit]
    out = Text(visible(shown), style=style)
    if limit is not None and len(text) > limit:
        out.append(
            f"\n… {len(text) - limit:,} more characters (enter: full view)", style="dim italic"
        )
    return out
