"""Textual's parsed stylesheet rules, kept between starts (issue 15).

Textual parses every CSS source again on each start: the app's ``.tcss`` files and
the ``DEFAULT_CSS`` of each widget class mounted, 35 parses, ~13 ms of the first
paint's main thread. :class:`CssCache` keeps what they gave in one file under the
user's cache directory (``$XDG_CACHE_HOME/jarvis-tui``, ``~/.cache`` when unset) and
hands it back, unpickled in ~2.5 ms.

An entry is found only by everything the parse depends on: the CSS text itself
(so an edited file is simply a miss), where it was read from, the default/tie-breaker/
scope arguments, and the CSS variables (the theme's colours); the file as a whole is
for one Textual version, one Python and one format (:data:`FORMAT`), anything else is
not read. What a miss parses is added; the file is written again (atomically,
owner-only) when the app ends, only if something was added.

The file is untrusted input: one that is not a regular file of this user's, that is
writable by others, too large, truncated, corrupt or foreign is ignored (and replaced
at the end), never an error. It is read through :class:`_Unpickler`, which builds only
the few Textual classes a parsed rule is made of (no other callable is reachable), and
every entry read is checked to be a list of ``RuleSet``. A parse that reports errors
is never stored, so Textual still reports them from its own parse.
"""

from __future__ import annotations

import functools
import io
import os
import pickle
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORMAT = 1
"""Bumped when what is stored changes."""

FILE_NAME = "css-rules.pickle"
MAX_BYTES = 4 << 20
"""A larger file is not read (the app's own rules take ~100 KB)."""
MAX_ENTRIES = 400
"""Entries kept: this run's first, then the ones read, up to this many."""

_ALLOWED: dict[str, frozenset[str]] = {
    "textual.color": frozenset({"Color"}),
    "textual.css.model": frozenset(
        "CombinatorType RuleSet Selector SelectorSet SelectorType"
        " _check_class _check_id _check_type _check_universal".split()
    ),
    "textual.css.scalar": frozenset({"Scalar", "Unit"}),
    "textual.css.styles": frozenset({"Styles"}),
    "textual.geometry": frozenset({"Spacing"}),
    "textual.layouts.horizontal": frozenset({"HorizontalLayout"}),
    "textual.layouts.vertical": frozenset({"VerticalLayout"}),
    "textual.layouts.grid": frozenset({"GridLayout"}),
    "textual.layouts.stream": frozenset({"StreamLayout"}),
}
"""What a pickled rule may name: the classes and selector checks parsed rules are made
of (``getattr`` is allowed for an enum member or a dict's ``get``/``__contains__`` only, and
``functools.partial`` for an allowed selector check only)."""


def _getattr(obj: Any, name: Any) -> Any:
    """``getattr`` as pickle uses it in parsed rules, and for nothing else: an enum
    member, or a dict's ``get`` or ``__contains__`` (``Styles.get_rule`` and
    ``has_rule`` are those of its rules)."""
    import enum

    if type(obj) is dict and name in ("get", "__contains__"):
        return getattr(obj, name)
    if not (isinstance(obj, type) and issubclass(obj, enum.Enum) and isinstance(name, str)):
        raise pickle.UnpicklingError("getattr of something other than an enum member")
    if name not in obj.__members__:
        raise pickle.UnpicklingError(f"{obj.__name__} has no member {name!r}")
    return obj.__members__[name]


_CHECKS: tuple[Any, ...] = ()
"""The allowed selector checks (filled on first use)."""


def _partial(func: Any) -> Any:
    """``functools.partial`` of one of the allowed selector checks only."""
    global _CHECKS
    if not _CHECKS:
        from textual.css import model

        names = _ALLOWED["textual.css.model"]
        _CHECKS = tuple(getattr(model, n) for n in names if n.startswith("_check"))
    if not any(func is check for check in _CHECKS):
        raise pickle.UnpicklingError("partial of a function other than a selector check")
    return functools.partial(func)


class _SafePartial:
    """Stands in for ``functools.partial`` while unpickling (see :func:`_partial`)."""

    def __new__(cls, func: Any) -> Any:
        return _partial(func)


class _Unpickler(pickle.Unpickler):
    """Builds only what :data:`_ALLOWED` names (plus the two guarded helpers)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "getattr"):
            return _getattr
        if (module, name) == ("functools", "partial"):
            return _SafePartial
        if name in _ALLOWED.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in the CSS cache")


def default_path() -> Path:
    """``$XDG_CACHE_HOME/jarvis-tui/css-rules.pickle`` (``~/.cache`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "jarvis-tui" / FILE_NAME


_FINGERPRINT_FILES = (
    "__init__.py", "css/parse.py", "css/model.py", "css/styles.py", "css/tokenize.py",
    "css/_styles_builder.py", "color.py",
)  # fmt: skip
"""Textual's files a parse depends on most: an upgrade rewrites them."""


def _header() -> tuple[Any, ...]:
    """What the whole file is for: this format, this Python, and this Textual install,
    told by the size and time of its parser's files (``textual.__version__`` is looked
    up in the installed metadata: ~10 ms, most of what the cache saves)."""
    import textual

    root = Path(textual.__file__).parent
    files = []
    for name in _FINGERPRINT_FILES:
        try:
            st = os.stat(root / name)
        except OSError:
            files.append((name, -1, -1))
            continue
        files.append((name, st.st_size, st.st_mtime_ns))
    return ("jarvis-tui css cache", FORMAT, sys.version_info[:3], str(root), tuple(files))


def _read_file(path: Path) -> bytes | None:
    """The file's bytes, if it is a regular file of this user's, not writable by others,
    read without following a link; else None."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_mode & 0o022
            or (hasattr(os, "getuid") and st.st_uid != os.getuid())
            or st.st_size > MAX_BYTES
        ):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(MAX_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)


def _load(data: bytes) -> dict[tuple[Any, ...], list[Any]]:
    """The entries in *data*; {} for anything not a cache of this version."""
    from textual.css.model import RuleSet

    try:
        loaded = _Unpickler(io.BytesIO(data)).load()
    except Exception:  # truncated, corrupt, foreign: ignored
        return {}
    if not (isinstance(loaded, tuple) and len(loaded) == 2 and loaded[0] == _header()):
        return {}
    entries = loaded[1]
    if not isinstance(entries, dict):
        return {}
    good: dict[tuple[Any, ...], list[Any]] = {}
    for key, rules in entries.items():
        if (
            isinstance(key, tuple)
            and isinstance(rules, list)
            and all(type(rule) is RuleSet and not rule.errors for rule in rules)
        ):
            good[key] = rules
    return good


class CssCache:
    """Parsed rules by what they were parsed from, read from and saved to *path*."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._entries: dict[tuple[Any, ...], list[Any]] | None = None
        self._used: dict[tuple[Any, ...], list[Any]] = {}
        self._added = False
        self._variables: tuple[object, tuple[tuple[str, str], ...]] | None = None
        self.hits = 0
        self.misses = 0

    def _read(self) -> dict[tuple[Any, ...], list[Any]]:
        if self._entries is None:
            data = _read_file(self.path)
            self._entries = _load(data) if data else {}
            if data and not self._entries:
                self._added = True  # unreadable: written again at the end
        return self._entries

    def _variables_key(self, variables: dict[str, str]) -> tuple[tuple[str, str], ...]:
        # the same dict object until the theme changes (Stylesheet.set_variables)
        if self._variables is None or self._variables[0] is not variables:
            self._variables = (variables, tuple(sorted(variables.items())))
        return self._variables[1]

    def install(self, stylesheet: Any) -> None:
        """Serve *stylesheet*'s parses (``Stylesheet._parse_rules``) from the cache."""
        parse: Callable[..., list[Any]] = stylesheet._parse_rules

        def parse_rules(
            css: str,
            read_from: Any,
            is_default_rules: bool = False,
            tie_breaker: int = 0,
            scope: str = "",
        ) -> list[Any]:
            where = tuple(read_from)
            if where == ("", str(hash(css))):  # Textual's name for CSS from nowhere:
                where = ("", "")  # the string's hash, new in each process
            key = (
                css, where, is_default_rules, tie_breaker, scope,
                self._variables_key(stylesheet._variables),
            )  # fmt: skip
            rules = self._used.get(key)
            if rules is None:
                rules = self._read().get(key)
                if rules is None:
                    self.misses += 1
                    rules = parse(css, read_from, is_default_rules, tie_breaker, scope)
                    if any(rule.errors for rule in rules):
                        return rules  # Textual reports them; never stored
                    self._added = True
                else:
                    self.hits += 1
                self._used[key] = rules
            return rules

        stylesheet._parse_rules = parse_rules

    def save(self) -> bool:
        """Write the file again if this run parsed something it lacked; True if written.
        Never raises: a cache that cannot be written is only not written."""
        if not self._added:
            return False
        entries = dict(self._used)
        for key, rules in (self._entries or {}).items():
            if len(entries) >= MAX_ENTRIES:
                break
            entries.setdefault(key, rules)
        # Only what reads back: an entry naming a class the reader does not allow
        # (a rule kind not met before) would make every start ignore the whole file.
        kept = {key: rules for key, rules in entries.items() if _reads_back(rules)}
        try:
            data = pickle.dumps((_header(), kept), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            return False
        try:
            _write(self.path, data)
        except OSError:
            return False
        self._added = False
        return True


def _reads_back(rules: list[Any]) -> bool:
    try:
        _Unpickler(io.BytesIO(pickle.dumps(rules, protocol=pickle.HIGHEST_PROTOCOL))).load()
    except Exception:
        return False
    return True


def _write(path: Path, data: bytes) -> None:
    """Atomically, owner-only, never through a link (the file or its folder)."""
    from jarvis_tui.paths import atomic_write_bytes, ensure_dir

    if path.parent.is_symlink() or path.is_symlink():
        raise OSError(f"{path} or its folder is a symbolic link")
    ensure_dir(path.parent)
    atomic_write_bytes(path, data)
