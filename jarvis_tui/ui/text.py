"""Untrusted text made safe to show: never markup, never a terminal escape.

Trace content comes from users and models. It goes into ``rich.text.Text`` as
plain text (no markup parsing) with every control character made visible, so
``[bold]`` shows as typed and ``\\x1b]0;title\\x07`` cannot retitle the terminal.
Invisible format characters are shown too (``\\u202e``): a bidi override would
otherwise make ``exe.txt`` read as ``txt.exe``, and tag characters can hide a
whole sentence in what looks like an empty name.

This is the one sanitiser: the panes use :func:`visible`, :func:`one_line` and
:func:`safe_text`; the CLI prints :func:`plain` (one line) for every string that
comes from data or the network.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 controls except \t and \n, DEL, C1 controls; then invisible format characters:
# soft hyphen, Arabic letter mark, Mongolian vowel separator, zero-width space, LRM/RLM,
# line/paragraph separators, bidi embeddings/overrides (U+202A-202E) and isolates
# (U+2066-2069), word joiner and invisible operators, deprecated format controls, BOM,
# interlinear annotations, shorthand and musical format controls, language tag and
# tag characters, and lone surrogates (which would make printing fail).
# Kept as they are: ZWNJ/ZWJ (U+200C/U+200D), which Persian, Indic scripts and emoji
# sequences need, and the visible prepended marks (U+0600-0605 and the like).
_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f"
    r"\u00ad\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    r"\ud800-\udfff\ufeff\ufff9-\ufffb"
    r"\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def _picture(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode "control pictures": ␛ for ESC
    if code == 0x7F:
        return "\u2421"  # ␡
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


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


def short_path(path: object, limit: int = 60) -> str:
    """*path* on one line, cut in the middle with "…" to at most *limit* characters:
    the start says where it is, the end which file (a reason after it stays visible)."""
    s = one_line(str(path), 10_000)
    if len(s) <= limit:
        return s
    head = (limit - 1) // 3
    return s[:head] + "…" + s[len(s) - (limit - 1 - head) :]


def plain(text: object, limit: int = 1000) -> str:
    """One line of untrusted *text* for a terminal that prints it as is (the CLI).

    Control and format characters are visible, newlines are ``⏎``, and Rich markup
    stays literal as long as the result is printed as a ``Text`` or with
    ``markup=False`` (it is never parsed here). Anything not a ``str`` is ``str()``-ed.
    """
    return one_line(text if isinstance(text, str) else str(text), limit)


def plain_text(*parts: object, style: str = "") -> Text:
    """A ``Text`` of :func:`plain` *parts* joined: a CLI line that no data can restyle."""
    return Text("".join(plain(p) for p in parts), style=style)


def safe_text(text: str, *, limit: int | None = None, style: str = "") -> Text:
    """A ``Text`` holding *text* literally; truncated to *limit* chars with a note."""
    shown = text if limit is None or len(text) <= limit else text[:limit]
    out = Text(visible(shown), style=style)
    if limit is not None and len(text) > limit:
        out.append(
            f"\n… {len(text) - limit:,} more characters (enter: full view)", style="dim italic"
        )
    return out
