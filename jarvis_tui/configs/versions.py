"""Versioned agent config files, in the layout OpenJarvis's own evolver reads and writes.

Files under ``config_dir`` (``agents/`` of a workspace)::

    <agent>.toml                     the current config
    .history/<agent>.v000042.toml    a PREVIOUS version's exact bytes; never rewritten
    .history/<agent>.log.jsonl       sidecar: one line per version (seq, cause, note, ts,
                                     sha256, summary); OpenJarvis's glob never matches it
    .history/.lock                   flock: one writer at a time per config dir

This is OpenJarvis's layout (``openjarvis.learning.agent_evolver``): the current config
is archived as ``<agent>.v<max + 1>.toml`` only when a new version replaces it, so
after N writes ``.history`` holds N - 1 archives and both evolvers list the same N
versions, the current file last. Archive numbers are zero-padded so that OpenJarvis's
lexicographic sort puts them in version order too; archives OpenJarvis wrote itself
(``v1`` … ``v10``, unpadded) are read in numeric order.

Public version numbers are positions: 1 is the oldest archive, N the current file.
A version's *seq* is its archive number (the current file's is one more than the last
archive's).

The workspace is not trusted:

- nothing under ``agents/`` is followed through a symbolic link: every file is opened
  with ``O_NOFOLLOW`` relative to a descriptor of its directory, and ``.history`` itself
  must be a real directory. A link is refused with :class:`UnsafePathError` (writes:
  nothing is written; reads: the version is listed with an ``error``);
- every write is a temp file in the same directory (``O_EXCL``, 0600), fsynced, then
  renamed into place (an archive is linked, so an existing one is never replaced);
- a config larger than :data:`MAX_CONFIG_BYTES` is never read into memory
  (:class:`ConfigTooLargeError`), and a document nested deeper than :data:`MAX_DEPTH`
  is a :class:`BadConfigError`, not a ``RecursionError``;
- any agent name maps to a file name reversibly (:func:`agent_file_stem`): plain
  names, spaces and non-ASCII letters stay as they are (OpenJarvis uses the same file),
  ``/``, ``\\``, ``%``, glob characters, control characters and a leading ``.`` are
  percent-encoded.

Differences from OpenJarvis, on purpose:

- a hand edit of the current file is only *detected* (its version shows as
  ``external`` and is logged as such when the next write archives it); as in the
  reference, the version it overwrote is not kept;
- writers are serialised (flock) and write atomically; a writer killed at any point
  leaves a state the next reader lists correctly (see :meth:`VersionStore._snapshot`);
- workspaces written by older jarvis-tui releases, which also copied the current
  version into ``.history``, are read correctly (that copy is recognised and not listed
  twice) and migrate to this layout at the agent's next write, which keeps that copy as
  the previous version's archive.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import stat
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from jarvis_tui.paths import DIR_MODE, FILE_MODE, ensure_dir

VERSION_CAUSES: tuple[str, ...] = ("evolver", "rollback", "manual", "promoted-trial", "external")
"""Why a version exists; ``external`` marks a file changed outside this module."""

HISTORY_DIR = ".history"
LOCK_NAME = ".lock"
SEQ_WIDTH = 6
MAX_NOTE_LEN = 500
MAX_CONFIG_BYTES = 1 << 20
"""The largest config file that is read (1 MB); larger ones are reported, not loaded."""
MAX_DEPTH = 64
"""The deepest nesting of tables and arrays a config may have."""
MAX_FILE_STEM_BYTES = 200
"""Longest encoded agent name: room for ``.v000001.toml`` and temp suffixes in 255 bytes."""
MAX_AGENT_NAME_LEN = MAX_FILE_STEM_BYTES  # kept for callers of the old name

_ARCHIVE_RE = re.compile(r"(?P<agent>.+)\.v(?P<seq>[0-9]+)\.toml")
# Our temp files: ".<name>.<8 chars [a-z0-9_]>.tmp"; <name> ends in .toml.
_TEMP_RE = re.compile(r"\..+\.toml\.[a-z0-9_]{8}\.tmp")
_TEMP_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_LOG_SUFFIX = ".log.jsonl"
_TAIL_BYTES = 4096
MAX_LOG_BYTES = 8 << 20
"""At most this much of a history log is read (its newest lines)."""
_EXTERNAL_NOTE = "edited outside jarvis-tui"
# Characters a file name keeps as they are besides printable ones: none of these.
_ENCODED = frozenset('/\\%*?[]"\x00')
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


# ----------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------


class ConfigWriteError(OSError):
    """A config could not be written (directory missing, read-only, not a directory...).

    Raised before anything is changed, or after a failure that left the current
    config as it was: a reader never sees a half-written file.
    """


class UnsafePathError(ConfigWriteError, ValueError):
    """A file or directory under ``agents/`` is a symbolic link or not a regular file.

    It is never followed: a write raises this before anything is written, a read of
    that version raises it (a ``ValueError`` too, like a malformed file).
    """

    def __init__(self, path: Union[str, Path], reason: str, *, writing: bool = False) -> None:
        self.path = Path(path)
        """The refused path."""
        self.reason = reason
        """Why, in a few words."""
        tail = "; nothing was written" if writing else ""
        super().__init__(f"{path}: {reason}; not followed{tail}")


class NothingToRollBackError(ValueError):
    """A rollback target whose keys and values are the current config's.

    Writing it would add a version that changes nothing and restart the current
    version's evidence count, so it is refused; nothing is written.
    """

    def __init__(self, agent: str, version: int, current: int) -> None:
        self.agent = agent
        """The agent."""
        self.version = version
        """The refused target."""
        self.current = current
        """The current version, whose content the target already has."""
        super().__init__(
            f"v{version} is the current content (the same as v{current}) — nothing to roll back"
        )


class BadConfigError(ValueError):
    """A config file that cannot be used: too large, too deep, or not TOML (subclasses)."""

    def __init__(self, path: Union[str, Path], reason: str, message: Optional[str] = None) -> None:
        self.path = Path(path)
        """The file."""
        self.reason = reason
        """What is wrong, in one line."""
        super().__init__(message or f"{path}: {reason}")


class MalformedConfigError(BadConfigError):
    """A config file is not valid TOML; ``path``, ``line`` and ``column`` say where."""

    def __init__(self, path: Path, line: int, column: int, reason: str) -> None:
        self.line = line
        """1-based line of the error."""
        self.column = column
        """1-based column of the error."""
        super().__init__(
            path, reason, f"{path}: invalid TOML at line {line}, column {column}: {reason}"
        )


class ConfigTooLargeError(BadConfigError):
    """A config file larger than :data:`MAX_CONFIG_BYTES`; it was not read."""

    def __init__(self, path: Union[str, Path], size: int, limit: int = MAX_CONFIG_BYTES) -> None:
        self.size = size
        """The file's size in bytes."""
        self.limit = limit
        """The limit in bytes."""
        shown, most = _show_size(size), _show_size(limit)
        if shown == most:  # just over the limit: "1 MB, limit 1 MB" would say nothing
            shown = f"{size:,} bytes"
        super().__init__(path, f"config too large: {shown}, limit {most}")


def problem_words(exc: ValueError) -> str:
    """Why a config file was refused, in one line without its path (the path is shown
    beside it): ``invalid TOML at line 1, column 7: …``, ``config too large: …``,
    ``is a symbolic link: not followed``."""
    if isinstance(exc, MalformedConfigError):
        return f"invalid TOML at line {exc.line}, column {exc.column}: {exc.reason}"
    if isinstance(exc, BadConfigError):
        return exc.reason
    if isinstance(exc, UnsafePathError):
        return f"{exc.reason}: not followed"
    return str(exc)


class WrongTypeError(BadConfigError):
    """A config that parses but whose ``[agent]`` table has a value of the wrong type
    (``max_turns = "five"``): OpenJarvis cannot use it either."""


_AGENT_TYPES: Dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "text"),
    "tools": ((list,), "a list of tool names"),
    "max_turns": ((int,), "a whole number"),
    "temperature": ((int, float), "a number"),
    "system_prompt": ((str,), "text"),
}


def agent_table_problem(data: Dict[str, Any]) -> Optional[str]:
    """Why the ``[agent]`` table of a parsed config cannot be used, in one line
    (``agent.max_turns must be a whole number (got "five")``); None when each key it has
    is of the type OpenJarvis reads (keys it does not have are fine)."""
    agent = data.get("agent")
    if agent is None:
        return None
    if not isinstance(agent, dict):
        return f"agent must be a table (got {type(agent).__name__})"
    for key, (types, words) in _AGENT_TYPES.items():
        if key not in agent:
            continue
        value = agent[key]
        ok = isinstance(value, types) and not isinstance(value, bool)
        if ok and key == "tools":
            ok = all(isinstance(t, str) for t in value)
        if not ok:
            shown = json.dumps(value, ensure_ascii=False, default=str)
            shown = shown if len(shown) <= 40 else shown[:39] + "…"
            return f"agent.{key} must be {words} (got {shown})"
    return None


def problem_kind(exc: ValueError) -> str:
    """Why a config file was refused, in a word or two (``invalid TOML``, ``symlink``,
    ``too large``): the mark beside its agent's name in a list."""
    if isinstance(exc, MalformedConfigError):
        return "invalid TOML"
    if isinstance(exc, ConfigTooLargeError):
        return "too large"
    if isinstance(exc, WrongTypeError):
        return "wrong type"
    if isinstance(exc, BadConfigError):
        return "nested too deep"
    if isinstance(exc, UnsafePathError):
        return "symlink" if "symbolic link" in exc.reason else "not a regular file"
    return "unusable"


@dataclass(frozen=True)
class AgentEntry:
    """One agent of ``agents/`` as every list of agents shows it (:meth:`VersionStore.agents`)."""

    name: str
    """The agent's real name."""
    versions: int
    """How many versions it has."""
    problem: Optional[str] = None
    """Why its current config cannot be used, in one line (:func:`problem_words`), or None."""
    kind: Optional[str] = None
    """The same in a word or two (:func:`problem_kind`), or None."""

    @property
    def usable(self) -> bool:
        """Whether its current config can be read and a new version written over it."""
        return self.problem is None

    @property
    def label(self) -> str:
        """``simple``, or ``broken (invalid TOML)``, ``link (symlink)`` for an unusable one."""
        return self.name if self.kind is None else f"{self.name} ({self.kind})"


def agents_words(entries: List[AgentEntry]) -> str:
    """``big (too large), broken (invalid TOML), orchestrator, simple``: the agents as a
    list says them, each unusable one with why."""
    return ", ".join(e.label for e in entries)


def _show_size(n: int) -> str:
    mb = n / (1 << 20)
    return f"{mb:.0f} MB" if mb >= 10 else f"{mb:.1f}".rstrip("0").rstrip(".") + " MB"


# ----------------------------------------------------------------------------------------
# names
# ----------------------------------------------------------------------------------------


def _not_a_stem_words(stem: str, wanted: str) -> str:
    """Why *stem* names no agent, in the characters at fault and how to rename it
    (``'[' ']' are written %5B %5D in an agent's file name: rename it to …``)."""
    odd: List[str] = []
    for i, c in enumerate(stem):
        if (c in _ENCODED or not c.isprintable() or (i == 0 and c == ".")) and c not in odd:
            odd.append(c)
    if not odd:  # a malformed escape such as "%zz"
        return f"not an agent's file name: rename it to '{wanted}' to use it"
    shown = " ".join(f"'{c}'" for c in odd[:6])
    codes = " ".join("".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in odd[:6])
    verb = "is" if len(odd) == 1 else "are"
    return (f"{shown} {verb} written {codes} in an agent's file name: rename it to "
            f"'{wanted}' to use it")  # fmt: skip


def agent_file_stem(name: object) -> str:
    """The file name (without ``.toml``) for agent *name*; reversible (:func:`agent_from_stem`).

    Printable characters stay as they are, so ``simple``, ``Assistant (prod)`` and
    ``ассистент`` name the same files OpenJarvis would use; ``/``, ``\\``, ``%``, ``"``,
    glob characters (``*?[]``), control and invisible characters and a leading ``.`` are
    percent-encoded as UTF-8 bytes (``support bot/v2`` → ``support bot%2Fv2``).
    Raises ``ValueError`` for a non-string, an empty name, a lone surrogate, or a name
    whose encoding is longer than :data:`MAX_FILE_STEM_BYTES` bytes.
    """
    if not isinstance(name, str):
        raise ValueError(f"agent name must be a string, not {type(name).__name__}")
    if not name:
        raise ValueError("agent name must not be empty")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("agent name is not valid Unicode text (lone surrogate)") from None
    parts = []
    for i, c in enumerate(name):
        if c in _ENCODED or not c.isprintable() or (i == 0 and c == "."):
            parts.append("".join(f"%{b:02X}" for b in c.encode("utf-8")))
        else:
            parts.append(c)
    stem = "".join(parts)
    size = len(stem.encode("utf-8"))
    if size > MAX_FILE_STEM_BYTES:
        shown = ascii(name[:40]) + ("…" if len(name) > 40 else "")
        raise ValueError(
            f"agent name {shown} is too long for a file name: "
            f"{size} bytes encoded, limit {MAX_FILE_STEM_BYTES}"
        )
    return stem


_PCT_RE = re.compile(r"(?:%[0-9A-F]{2})+")


def agent_from_stem(stem: str) -> Optional[str]:
    """The agent whose file stem is *stem*; None for a name :func:`agent_file_stem` never makes."""
    try:
        name = _PCT_RE.sub(lambda m: bytes.fromhex(m.group(0).replace("%", "")).decode(), stem)
    except UnicodeDecodeError:
        return None
    try:
        return name if agent_file_stem(name) == stem else None
    except ValueError:
        return None


def validate_agent_name(name: object) -> str:
    """Return *name* if it can name an agent's config files, else raise ``ValueError``.

    Every non-empty string of valid Unicode can, up to :data:`MAX_FILE_STEM_BYTES`
    bytes once encoded (see :func:`agent_file_stem`).
    """
    agent_file_stem(name)
    return name  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------
# parsing
# ----------------------------------------------------------------------------------------


def parse_config(content: Union[bytes, str], path: Union[str, Path] = "<config>") -> Dict[str, Any]:
    """Parse TOML *content*; a :class:`BadConfigError` says which file and why.

    :class:`MalformedConfigError` names the line and column; a document larger than
    :data:`MAX_CONFIG_BYTES` or nested deeper than :data:`MAX_DEPTH` is refused too.
    """
    p = Path(path)
    if isinstance(content, bytes):
        if len(content) > MAX_CONFIG_BYTES:
            raise ConfigTooLargeError(p, len(content))
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = content[: exc.start]
            line = before.count(b"\n") + 1
            column = exc.start - (before.rfind(b"\n") + 1) + 1
            raise MalformedConfigError(p, line, column, "not UTF-8 text") from exc
    else:
        text = content
        if len(text) > MAX_CONFIG_BYTES:
            raise ConfigTooLargeError(p, len(text.encode("utf-8", "replace")))
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise BadConfigError(p, f"nested more than {MAX_DEPTH} levels deep") from None
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
        m = re.search(r" \(at line (\d+), column (\d+)\)$", reason)
        if m:
            line, column = int(m.group(1)), int(m.group(2))
            reason = reason[: m.start()]
        else:
            reason = reason.removesuffix(" (at end of document)")
            line = text.count("\n") + 1
            column = len(text) - (text.rfind("\n") + 1) + 1
        raise MalformedConfigError(p, line, column, reason) from exc
    if _depth_exceeds(data, MAX_DEPTH):
        raise BadConfigError(p, f"nested more than {MAX_DEPTH} levels deep")
    return data


def _depth_exceeds(data: Any, limit: int) -> bool:
    """Whether tables/arrays nest deeper than *limit* (iterative: no RecursionError)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def summarize_config(data: Dict[str, Any]) -> str:
    """One line describing a config: its tools, max_turns and temperature."""
    agent = data.get("agent")
    if not isinstance(agent, dict):
        return "no [agent] table"
    parts = []
    tools = agent.get("tools")
    if isinstance(tools, list):
        names = [str(t) for t in tools]
        shown = ", ".join(names[:4]) + (f" +{len(names) - 4}" if len(names) > 4 else "")
        parts.append(f"tools: {shown}" if names else "no tools")
    for key in ("max_turns", "temperature"):
        if key in agent:
            parts.append(f"{key} {agent[key]}")
    prompt = agent.get("system_prompt")
    if isinstance(prompt, str) and prompt:
        parts.append(f"prompt {len(prompt)} chars")
    text = " · ".join(parts) or "empty [agent] table"
    return text if len(text) <= 120 else text[:119] + "…"


def summarize_bytes(content: bytes) -> str:
    """:func:`summarize_config` of *content*, or why it cannot be read."""
    try:
        return summarize_config(parse_config(content))
    except MalformedConfigError:
        return "not valid TOML"
    except BadConfigError as exc:
        return exc.reason


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def archive_name(stem: str, seq: int) -> str:
    """The archive file name of version *seq* (zero-padded: sorts as numbers do)."""
    return f"{stem}.v{seq:0{SEQ_WIDTH}d}.toml"


# ----------------------------------------------------------------------------------------
# files, relative to directory descriptors, never through a link
# ----------------------------------------------------------------------------------------


def _read_file(dfd: int, name: str, shown: Path) -> bytes:
    """The bytes of regular file *name* in *dfd*; never follows a link, never reads > 1 MB."""
    try:
        fd = os.open(name, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, dir_fd=dfd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(shown, "is a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(shown, "is not a regular file")
        if st.st_size > MAX_CONFIG_BYTES:
            raise ConfigTooLargeError(shown, st.st_size)
        chunks = []
        left = MAX_CONFIG_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > MAX_CONFIG_BYTES:  # it grew while we read it
            raise ConfigTooLargeError(shown, len(data))
        return data
    finally:
        os.close(fd)


def _lstat(dfd: int, name: str) -> Optional[os.stat_result]:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _temp_name(name: str) -> str:
    return f".{name}.{''.join(secrets.choice(_TEMP_CHARS) for _ in range(8))}.tmp"


def _write_atomic(dfd: int, name: str, data: bytes, shown: Path, *, replace: bool) -> None:
    """Write *name* in *dfd* atomically (temp file, fsync, rename), owner-only.

    ``replace=False`` (archives) never replaces an existing file: the temp file is
    hard-linked into place, which fails if *name* exists.
    """
    tmp = _temp_name(name)
    fd = os.open(
        tmp,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC,
        FILE_MODE,
        dir_fd=dfd,
    )
    try:
        try:
            os.fchmod(fd, FILE_MODE)  # the umask filtered O_CREAT's mode
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        else:
            try:
                os.link(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
            except FileExistsError:
                raise ConfigWriteError(
                    f"{shown} already exists; it was not replaced, nothing was written"
                ) from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                    raise
                # no hard links here (some network and FUSE file systems): check, rename
                if _lstat(dfd, name) is not None:
                    raise ConfigWriteError(
                        f"{shown} already exists; it was not replaced, nothing was written"
                    ) from None
                os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            else:
                os.unlink(tmp, dir_fd=dfd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dfd)
        except OSError:
            pass
        raise
    _fsync_fd(dfd)


def _fsync_fd(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError:
        pass


def _scan(dfd: int) -> List[os.DirEntry]:
    if dfd < 0:
        return []
    with os.scandir(dfd) as it:
        return list(it)


def _unlink_quietly(dfd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dfd)
    except OSError:
        pass


# ----------------------------------------------------------------------------------------
# the history log (sidecar)
# ----------------------------------------------------------------------------------------


def _valid_entry(e: Any) -> bool:
    return (
        isinstance(e, dict)
        and isinstance(e.get("seq"), int)
        and not isinstance(e.get("seq"), bool)
        and e["seq"] >= 1
        and isinstance(e.get("sha256"), str)
    )


def _parse_log_lines(chunk: bytes) -> List[Dict[str, Any]]:
    lines = [line.strip() for line in chunk.split(b"\n") if line.strip()]
    parsed: List[Any] = []
    try:  # one parse for the whole log is 3x faster than a json.loads per line
        if all(line[:1] == b"{" and line[-1:] == b"}" for line in lines):
            parsed = json.loads(b"[" + b",".join(lines) + b"]")
        else:
            raise ValueError("a torn line")
    except (ValueError, RecursionError):
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except (ValueError, RecursionError):
                continue  # a line torn by a crash, or edited by hand: skip it
    return [e for e in parsed if _valid_entry(e)]


def _entry(seq: int, cause: str, note: str, sha: str, summary: str) -> Dict[str, Any]:
    return {
        "seq": seq,
        "cause": cause,
        "note": note,
        "ts": time.time(),
        "sha256": sha,
        "summary": summary,
    }


def check_text(what: str, value: Any) -> str:
    """*value* if it is a str of valid Unicode, else ``ValueError`` naming *what*."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} is not valid Unicode text (lone surrogate)") from exc
    return value


def check_cause(cause: Any, note: Any) -> tuple[str, str]:
    """(cause, note) if *cause* is one of :data:`VERSION_CAUSES` and *note* is short text."""
    if cause not in VERSION_CAUSES:
        raise ValueError(f"cause must be one of {', '.join(VERSION_CAUSES)}; got {cause!r}")
    check_text("note", note)
    if len(note) > MAX_NOTE_LEN:
        raise ValueError(f"note is longer than {MAX_NOTE_LEN} characters")
    return cause, note


# ----------------------------------------------------------------------------------------
# the store
# ----------------------------------------------------------------------------------------


@dataclass
class _Dirs:
    """Open descriptors of ``config_dir`` and ``.history`` (-1: does not exist)."""

    cfd: int
    hfd: int


@dataclass
class _Snapshot:
    """What is on disk for one agent, read under the lock."""

    stem: str
    archives: List[tuple[int, str]]
    """(seq, file name) of the archives listed as versions, oldest first."""
    log: List[Dict[str, Any]]
    """Log entries in file order (the tail, or all of it)."""
    current: Optional[bytes]
    """The current file's bytes (None: absent or unreadable)."""
    current_error: Optional[BadConfigError | UnsafePathError]
    """Why the current file exists but could not be read."""
    current_seq: int
    """The current file's seq (also the next version's when there is no current file)."""
    current_archived: bool
    """The current file's bytes are already the last archive (an interrupted write, or
    the layout of older jarvis-tui releases): the next write must not archive it again."""
    _index: Optional[Dict[tuple[Optional[int], Optional[str]], Dict[str, Any]]] = None

    @property
    def has_current(self) -> bool:
        return self.current is not None or self.current_error is not None

    def entry(self, seq: Optional[int], sha: Optional[str]) -> Optional[Dict[str, Any]]:
        """The newest log entry for *seq* (with content *sha*, when given)."""
        if self._index is None:  # one pass: list_versions asks once per version
            self._index = {}
            for e in self.log:  # later lines win
                self._index[(e["seq"], None)] = e
                self._index[(e["seq"], e["sha256"])] = e
        return self._index.get((seq, sha))


@dataclass(frozen=True)
class _Version:
    number: int
    seq: Optional[int]
    name: str  # file name in .history, or the config file's name for the current one
    current: bool


class VersionStore:
    """Every version of each agent config under *config_dir*, OpenJarvis's layout.

    Thread- and process-safe: writes take an exclusive ``flock`` on ``.history/.lock``;
    reads take a shared one when the lock file exists.
    """

    def __init__(self, config_dir: Union[str, Path], *, lock_timeout: float = 30.0) -> None:
        if not (
            isinstance(lock_timeout, (int, float))
            and not isinstance(lock_timeout, bool)
            and lock_timeout >= 0
        ):
            raise ValueError(f"lock_timeout must be a number of seconds >= 0, not {lock_timeout!r}")
        self._config_dir = Path(config_dir)
        self._history_dir = self._config_dir / HISTORY_DIR
        self._lock_timeout = float(lock_timeout)
        try:
            with self._open_dirs(write=True):
                pass
        except OSError:
            pass  # read-only or hostile workspace: reading still works; a write says why

    @property
    def config_dir(self) -> Path:
        """Where the current configs live."""
        return self._config_dir

    @property
    def history_dir(self) -> Path:
        """Where archived versions, the per-agent logs and the lock file live."""
        return self._history_dir

    def config_path(self, agent_name: str) -> Path:
        """The current config file of *agent_name* (it may not exist)."""
        return self._config_dir / f"{agent_file_stem(agent_name)}.toml"

    # ------------------------------------------------------------------------------------
    # reading
    # ------------------------------------------------------------------------------------

    def list_versions(self, agent_name: str) -> List[Dict[str, Any]]:
        """List all versions (including current) for *agent_name*, oldest first.

        Each dict has the spec's ``version`` (1..N; N is current), ``path`` (the
        config file for the current version, else its archive) and ``modified``,
        plus ``seq`` (its archive number), ``current``, ``cause``, ``note``,
        ``summary``, ``sha256``, ``created`` (when it was logged; None if unknown) and
        ``error`` (None, or why the file cannot be used: a symbolic link, too large).
        Versions are ordered numerically (v10 after v9, not before it as a sort by
        name would put it). A version with no log line (written by OpenJarvis, or a hand edit)
        shows as ``external``. A bad file never raises here: it is an entry with an
        ``error``.
        """
        stem = agent_file_stem(agent_name)
        with self._session(write=False) as d:
            snap = self._snapshot(d, stem, full_log=True)
            out: List[Dict[str, Any]] = []
            dirs = {
                True: (d.cfd, os.fspath(self._config_dir)),
                False: (d.hfd, os.fspath(self._history_dir)),
            }
            for v in self._positions(snap):
                dfd, directory = dirs[v.current]
                path = os.path.join(directory, v.name)  # str: thousands of versions
                st = _lstat(dfd, v.name) if dfd >= 0 else None
                refused: Optional[ValueError] = None
                if v.current and snap.current_error is not None:
                    refused = snap.current_error
                elif st is not None and stat.S_ISLNK(st.st_mode):
                    refused = UnsafePathError(path, "is a symbolic link")
                elif st is not None and not stat.S_ISREG(st.st_mode):
                    refused = UnsafePathError(path, "is not a regular file")
                elif st is not None and st.st_size > MAX_CONFIG_BYTES:
                    refused = ConfigTooLargeError(path, st.st_size)
                error = None if refused is None else str(refused)
                sha = _sha256(snap.current) if v.current and snap.current is not None else None
                entry = snap.entry(v.seq, sha) if (sha or not v.current) else None
                if refused is not None:
                    # The summary (the What column) says why without the path beside it.
                    cause, note, summary = "external", "", problem_words(refused)
                    created = None
                    if entry is not None:
                        cause, note = entry.get("cause", "external"), str(entry.get("note", ""))
                elif entry is not None:
                    cause = str(entry.get("cause") or "external")
                    note = str(entry.get("note", ""))
                    summary = str(entry.get("summary", ""))
                    created = entry.get("ts")
                elif v.current:
                    assert snap.current is not None
                    cause, note = "external", "edited outside, logged at the next write"
                    summary, created = summarize_bytes(snap.current), None
                else:
                    cause, note, summary, created = "external", "not in the history log", "", None
                out.append(
                    {
                        "version": v.number,
                        "path": path,
                        "modified": st.st_mtime if st is not None else 0.0,
                        "seq": v.seq,
                        "current": v.current,
                        "cause": cause if cause in VERSION_CAUSES else "external",
                        "note": note,
                        "summary": summary,
                        "sha256": entry.get("sha256") if entry else sha,
                        "created": created if isinstance(created, (int, float)) else None,
                        "error": error,
                    }
                )
            return out

    def read_version(self, agent_name: str, version: int) -> str:
        """The raw text of *version* (undecodable bytes replaced), valid TOML or not.

        Raises :class:`ConfigTooLargeError` or :class:`UnsafePathError` (both
        ``ValueError``) for a file that is not read.
        """
        content, _ = self._content(agent_name, version)
        return content.decode("utf-8", errors="replace")

    def load_version(self, agent_name: str, version: int) -> Dict[str, Any]:
        """*version* parsed; a :class:`BadConfigError` (a ``ValueError``) says which file and why."""
        content, path = self._content(agent_name, version)
        return parse_config(content, path)

    def list_agents(self) -> List[str]:
        """Agents with a current config or any history, sorted; contents are not parsed.

        Names are the agents' real names (file names decoded, see
        :func:`agent_file_stem`); files whose names no agent maps to are left out. A
        config that is a symbolic link is listed (its version shows the error).
        """
        stems: set[str] = set()
        with self._open_dirs(write=False) as d:
            if d.cfd < 0:
                return []
            for entry in _scan(d.cfd):
                n = entry.name
                if n.endswith(".toml") and (
                    entry.is_symlink() or entry.is_file(follow_symlinks=False)
                ):
                    stems.add(n[: -len(".toml")])
            for entry in _scan(d.hfd):
                m = _ARCHIVE_RE.fullmatch(entry.name)
                if m:
                    stems.add(m.group("agent"))
                elif entry.name.endswith(_LOG_SUFFIX):
                    stems.add(entry.name[: -len(_LOG_SUFFIX)])
        names = (agent_from_stem(s) for s in stems)
        return sorted(n for n in names if n is not None)

    def skipped_files(self) -> List[tuple[str, str]]:
        """Config files in the folder that name no agent, each with why and what to do:
        ``(file name, reason)``, sorted. :meth:`list_agents` leaves them out, so a user
        who put ``[b]bot.toml`` there is told rather than shown nothing."""
        out: List[tuple[str, str]] = []
        with self._open_dirs(write=False) as d:
            if d.cfd < 0:
                return []
            for entry in _scan(d.cfd):
                n = entry.name
                if not n.endswith(".toml") or not (
                    entry.is_symlink() or entry.is_file(follow_symlinks=False)
                ):
                    continue
                stem = n[: -len(".toml")]
                if agent_from_stem(stem) is not None:
                    continue
                try:
                    wanted = agent_file_stem(stem) + ".toml"
                except ValueError as exc:
                    out.append((n, str(exc)))
                    continue
                out.append((n, _not_a_stem_words(stem, wanted)))
        return sorted(out)

    def config_problem(self, agent_name: str) -> Optional[str]:
        """Why *agent_name*'s current config cannot be used, in one line without its path
        (``invalid TOML at line 1, column 7: …``, ``config too large: …``, a symbolic
        link not followed); None when it parses (or there is no current config)."""
        exc = self._current_error(agent_name, self.list_versions(agent_name))
        return None if exc is None else problem_words(exc)

    def _current_error(
        self, agent_name: str, versions: List[Dict[str, Any]]
    ) -> Optional[ValueError]:
        if not versions or not versions[-1]["current"]:
            return None
        try:
            data = self.load_version(agent_name, versions[-1]["version"])
        except ValueError as exc:
            return exc
        wrong = agent_table_problem(data)
        return None if wrong is None else WrongTypeError(versions[-1]["path"], wrong)

    def agents(self) -> List[AgentEntry]:
        """Every agent :meth:`list_agents` names, with its version count and, for one whose
        current config cannot be used (not valid TOML, a symlink, too large), why: the
        one list the Configs pane and the Trials promote form both show."""
        out = []
        for name in self.list_agents():
            versions = self.list_versions(name)
            exc = self._current_error(name, versions)
            if exc is None:
                out.append(AgentEntry(name, len(versions)))
            else:
                out.append(AgentEntry(name, len(versions), problem_words(exc), problem_kind(exc)))
        return out

    # ------------------------------------------------------------------------------------
    # writing
    # ------------------------------------------------------------------------------------

    def rollback(self, agent_name: str, version: int) -> None:
        """Make *version* the current config again, as a new version.

        The current config is archived, the target's exact bytes become current and
        the new version's cause is ``rollback`` ("rollback to version N"); nothing is
        overwritten or dropped. Rolling back to the current version does nothing.
        Raises ``ValueError`` naming the available versions when *version* does not
        exist, :class:`NothingToRollBackError` (a ``ValueError``) when the target has
        the current config's keys and values, and :class:`BadConfigError` when the
        target is not valid TOML, too large or a link; such a file is never copied
        into place.
        """
        stem = agent_file_stem(agent_name)
        with self._session(write=True) as d:
            snap = self._snapshot(d, stem, cleanup=True)
            versions = self._positions(snap)
            target = self._find(agent_name, versions, version)
            if target.current:
                return
            path = self._history_dir / target.name
            content = _read_file(d.hfd, target.name, path)
            data = parse_config(content, path)
            self._refuse_no_change(agent_name, snap, versions, target, data)
            self._commit(
                d,
                snap,
                content,
                "rollback",
                f"rollback to version {target.number}",
                summarize_config(data),
            )

    def preview_rollback(self, agent_name: str, version: int) -> str:
        """Exactly the text :meth:`rollback` would write for *version*.

        For the current version (a no-op rollback) this is the current text, which
        stays as it is. Otherwise raises as :meth:`rollback` does for a missing,
        unusable or unchanging (:class:`NothingToRollBackError`) target.
        """
        stem = agent_file_stem(agent_name)
        with self._session(write=False) as d:
            snap = self._snapshot(d, stem)
            versions = self._positions(snap)
            target = self._find(agent_name, versions, version)
            if target.current:
                if snap.current_error is not None:
                    raise snap.current_error
                assert snap.current is not None
                return snap.current.decode("utf-8", errors="replace")
            path = self._history_dir / target.name
            content = _read_file(d.hfd, target.name, path)
            data = parse_config(content, path)  # rollback refuses what would not parse
            self._refuse_no_change(agent_name, snap, versions, target, data)
            return content.decode("utf-8")

    def write_version(
        self,
        agent_name: str,
        make: Any,
        *,
        cause: str,
        note: str = "",
    ) -> int:
        """Write a new version of *agent_name*: ``make(current_bytes_or_None) -> (bytes, summary)``.

        *make* runs with the lock held, on the current config as it is on disk, so
        an edit never loses a concurrent writer's version. Returns the new version's
        number (its position). Raises :class:`ConfigWriteError` when nothing could be
        written, and whatever *make* raises.
        """
        stem = agent_file_stem(agent_name)
        cause, note = check_cause(cause, note)
        with self._session(write=True) as d:
            snap = self._snapshot(d, stem, cleanup=True)
            if snap.current_error is not None:
                raise snap.current_error
            content, summary = make(snap.current)
            self._commit(d, snap, content, cause, note, summary)
            # the old current file (if any) becomes the last archive
            return len(snap.archives) + (1 if snap.has_current else 0) + 1

    # ------------------------------------------------------------------------------------
    # internals
    # ------------------------------------------------------------------------------------

    def _content(self, agent_name: str, version: int) -> tuple[bytes, Path]:
        stem = agent_file_stem(agent_name)
        with self._session(write=False) as d:
            snap = self._snapshot(d, stem)
            target = self._find(agent_name, self._positions(snap), version)
            if target.current:
                if snap.current_error is not None:
                    raise snap.current_error
                assert snap.current is not None
                return snap.current, self._config_dir / target.name
            path = self._history_dir / target.name
            return _read_file(d.hfd, target.name, path), path

    @contextmanager
    def _open_dirs(self, *, write: bool) -> Iterator[_Dirs]:
        """Descriptors of the config dir and of ``.history`` (created when writing).

        The config dir is the user's choice and may itself be a link; ``.history``
        inside it must be a real directory.
        """
        cfd = hfd = -1
        try:
            if write:
                self._check_writable()
            try:
                cfd = os.open(self._config_dir, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
            except (FileNotFoundError, NotADirectoryError):
                if write:
                    raise
                yield _Dirs(-1, -1)
                return
            if write:
                try:
                    os.mkdir(HISTORY_DIR, DIR_MODE, dir_fd=cfd)
                    created = True
                except FileExistsError:
                    created = False
            try:
                hfd = os.open(
                    HISTORY_DIR, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=cfd
                )
            except FileNotFoundError:
                if write:
                    raise
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    st = _lstat(cfd, HISTORY_DIR)
                    what = (
                        "is a symbolic link"
                        if st is not None and stat.S_ISLNK(st.st_mode)
                        else "is not a directory"
                    )
                    raise UnsafePathError(self._history_dir, what, writing=write) from None
                raise
            if write and created:
                os.fchmod(hfd, DIR_MODE)  # mkdir's mode is filtered by the umask
            if write and not os.access(self._history_dir, os.W_OK | os.X_OK):
                raise ConfigWriteError(
                    f"the agent config directory {self._history_dir} is not writable; "
                    "nothing was written"
                )
            yield _Dirs(cfd, hfd)
        finally:
            for fd in (hfd, cfd):
                if fd >= 0:
                    os.close(fd)

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[_Dirs]:
        """Open the directories and hold ``.history/.lock`` (exclusive when writing)."""
        with self._open_dirs(write=write) as d:
            shown = self._history_dir / LOCK_NAME
            fd = -1
            if write:
                try:
                    fd = os.open(
                        LOCK_NAME,
                        os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC,
                        FILE_MODE,
                        dir_fd=d.hfd,
                    )
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        raise UnsafePathError(shown, "is a symbolic link", writing=True) from None
                    raise ConfigWriteError(
                        f"cannot create the lock file {shown}: {exc.strerror or exc}; "
                        "nothing was written"
                    ) from exc
            elif d.hfd >= 0:
                try:
                    fd = os.open(
                        LOCK_NAME,
                        os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC,
                        dir_fd=d.hfd,
                    )
                except OSError:
                    fd = -1  # never written by us (or a link we would refuse): nothing to wait for
            try:
                if fd >= 0:
                    if not stat.S_ISREG(os.fstat(fd).st_mode):
                        if write:
                            raise UnsafePathError(shown, "is not a regular file", writing=True)
                    else:
                        self._acquire(fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH, shown)
                yield d
            finally:
                if fd >= 0:
                    os.close(fd)  # closing the descriptor releases the lock

    def _acquire(self, fd: int, op: int, path: Path) -> None:
        # Polling with LOCK_NB so a stuck writer elsewhere becomes a TimeoutError, not a
        # hang; the backoff stays short because a write holds the lock for ~1 ms.
        deadline = time.monotonic() + self._lock_timeout
        delay = 0.0002
        while True:
            try:
                fcntl.flock(fd, op | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"another process has held {path} for {self._lock_timeout:g} s; "
                    "try again when it has finished writing agent configs"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def _check_writable(self) -> None:
        try:
            ensure_dir(self._config_dir)
        except OSError as exc:
            raise ConfigWriteError(
                f"cannot create the agent config directory {self._config_dir}: "
                f"{exc.strerror or exc}; nothing was written"
            ) from exc
        if not os.access(self._config_dir, os.W_OK | os.X_OK):
            raise ConfigWriteError(
                f"the agent config directory {self._config_dir} is not writable; "
                "nothing was written"
            )

    def _snapshot(
        self, d: _Dirs, stem: str, *, cleanup: bool = False, full_log: bool = False
    ) -> _Snapshot:
        """Read *stem*'s archives, log and current file (call with the lock held).

        ``cleanup`` (exclusive lock only) removes temp files left by a killed writer.

        A write logs the new version, archives the current file, then renames the new
        one into place. A writer killed after the archive and before the rename
        leaves the current file's bytes as the last archive too; so did every write
        of older jarvis-tui releases. That archive is recognised (same content, logged
        under its own number, and the current file logged under no later one) and is
        not listed twice: it is the current version's, and the next write keeps it as
        the previous version's archive instead of writing another.
        """
        prefix = f"{stem}.v"
        cut = len(prefix)
        archives = []
        for entry in _scan(d.hfd):
            n = entry.name
            if n.startswith(prefix) and n.endswith(".toml"):
                digits = n[cut:-5]
                if digits.isdigit() and digits.isascii():
                    archives.append((int(digits), n))
            elif cleanup and n.startswith(".") and _TEMP_RE.fullmatch(n):
                if entry.is_file(follow_symlinks=False):
                    _unlink_quietly(d.hfd, n)
        if cleanup:
            for entry in _scan(d.cfd):
                n = entry.name
                if (
                    n.startswith(".")
                    and _TEMP_RE.fullmatch(n)
                    and entry.is_file(follow_symlinks=False)
                ):
                    _unlink_quietly(d.cfd, n)
        archives.sort()
        last = archives[-1][0] if archives else 0
        log = self._read_log(d, stem, min_seq=None if full_log else max(last - 1, 0))

        current: Optional[bytes] = None
        error: Optional[BadConfigError | UnsafePathError] = None
        name = f"{stem}.toml"
        if d.cfd >= 0:
            try:
                current = _read_file(d.cfd, name, self._config_dir / name)
            except (FileNotFoundError, NotADirectoryError):
                pass
            except (BadConfigError, UnsafePathError) as exc:
                error = exc
        snap = _Snapshot(stem, archives, log, current, error, last + 1, False)
        if current is not None and archives:
            sha = _sha256(current)
            if snap.entry(last, sha) is not None and snap.entry(last + 1, sha) is None:
                try:
                    previous = _read_file(
                        d.hfd, archives[-1][1], self._history_dir / archives[-1][1]
                    )
                except (OSError, ValueError):
                    previous = None
                if previous is not None and _sha256(previous) == sha:
                    snap.archives = archives[:-1]
                    snap.current_seq = last
                    snap.current_archived = True
        return snap

    def _read_log(self, d: _Dirs, stem: str, *, min_seq: Optional[int]) -> List[Dict[str, Any]]:
        """Log entries; with *min_seq*, only a tail that reaches back to it (a few lines).

        A log that is a link or not a regular file is not read (a write refuses it).
        """
        if d.hfd < 0:
            return []
        try:
            fd = os.open(
                f"{stem}{_LOG_SUFFIX}",
                os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC,
                dir_fd=d.hfd,
            )
        except OSError:
            return []
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return []
            size = st.st_size
            block = _TAIL_BYTES
            while min_seq is not None and size > block and block < MAX_LOG_BYTES:
                fh.seek(size - block)
                chunk = fh.read(block)
                tail = _parse_log_lines(chunk[chunk.find(b"\n") + 1 :])  # drop a partial line
                if tail and tail[0]["seq"] <= min_seq:
                    return tail
                block *= 8
            if size > MAX_LOG_BYTES:  # a huge log: its newest lines are enough
                fh.seek(size - MAX_LOG_BYTES)
                chunk = fh.read(MAX_LOG_BYTES)
                return _parse_log_lines(chunk[chunk.find(b"\n") + 1 :])
            fh.seek(0)
            return _parse_log_lines(fh.read())

    def _append_log(self, d: _Dirs, stem: str, entry: Dict[str, Any]) -> None:
        """Append one line and fsync."""
        name = f"{stem}{_LOG_SUFFIX}"
        shown = self._history_dir / name
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            fd = os.open(
                name,
                os.O_RDWR | os.O_APPEND | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC,
                FILE_MODE,
                dir_fd=d.hfd,
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafePathError(shown, "is a symbolic link", writing=True) from None
            if exc.errno == errno.ENXIO:  # a FIFO with no reader
                raise UnsafePathError(shown, "is not a regular file", writing=True) from None
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafePathError(shown, "is not a regular file", writing=True)
            if st.st_nlink > 1:
                raise UnsafePathError(shown, "has other hard links", writing=True)
            size = st.st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a crash tore the last line: start a fresh one
            _write_all(fd, line + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        if size == 0:
            _fsync_fd(d.hfd)

    def _commit(
        self, d: _Dirs, snap: _Snapshot, content: bytes, cause: str, note: str, summary: str
    ) -> int:
        """Make *content* the current config as a new version (lock held); returns its seq.

        1. A current file that matches no logged version (edited by hand, or written by
           OpenJarvis) is logged as an ``external`` version.
        2. The new version's log line is appended and fsynced.
        3. The current file is archived (unless it already is), never replacing a file.
        4. The config file is replaced atomically (temp file, fsync, rename).

        A kill between any two steps leaves a state the next snapshot reads correctly.
        An exception before step 4 completes leaves the current config as it was.
        """
        stem = snap.stem
        if snap.current_error is not None:
            raise snap.current_error
        try:
            seq = snap.current_seq
            edited: Optional[os.stat_result] = None
            if snap.current is not None:
                sha = _sha256(snap.current)
                if snap.entry(seq, sha) is None:
                    summ = summarize_bytes(snap.current)
                    self._append_log(d, stem, _entry(seq, "external", _EXTERNAL_NOTE, sha, summ))
                    edited = _lstat(d.cfd, f"{stem}.toml")
                new = seq + 1
            else:
                new = seq
            self._append_log(d, stem, _entry(new, cause, note, _sha256(content), summary))
            if snap.current is not None and not snap.current_archived:
                name = archive_name(stem, seq)
                _write_atomic(d.hfd, name, snap.current, self._history_dir / name, replace=False)
                if edited is not None:  # a hand edit keeps its time: when it was made
                    try:
                        os.utime(name, ns=(edited.st_atime_ns, edited.st_mtime_ns),
                                 dir_fd=d.hfd, follow_symlinks=False)  # fmt: skip
                    except OSError:
                        pass  # then it is placed when it was first seen
            name = f"{stem}.toml"
            _write_atomic(d.cfd, name, content, self._config_dir / name, replace=True)
        except OSError as exc:
            if isinstance(exc, ConfigWriteError):
                raise
            raise ConfigWriteError(
                f"could not write the config {stem}.toml in {self._config_dir}: "
                f"{exc.strerror or exc}; the current config is unchanged"
            ) from exc
        return new

    def _positions(self, snap: _Snapshot) -> List[_Version]:
        versions = [
            _Version(i, seq, fname, False) for i, (seq, fname) in enumerate(snap.archives, start=1)
        ]
        if snap.has_current:
            versions.append(
                _Version(len(versions) + 1, snap.current_seq, f"{snap.stem}.toml", True)
            )
        return versions

    @staticmethod
    def _refuse_no_change(
        agent: str,
        snap: _Snapshot,
        versions: List[_Version],
        target: _Version,
        data: Dict[str, Any],
    ) -> None:
        """Raise :class:`NothingToRollBackError` when *data* is the current config's.

        Compared as parsed TOML (what the agent reads), so a copy that differs only
        in comments or layout is refused too; a current file that is unusable or not
        TOML is not "the same", and the rollback repairs it.
        """
        if snap.current is None or snap.current_error is not None or not versions:
            return
        try:
            current = parse_config(snap.current, f"{snap.stem}.toml")
        except ValueError:
            return
        if current == data:
            raise NothingToRollBackError(agent, target.number, versions[-1].number)

    @staticmethod
    def _find(agent: str, versions: List[_Version], version: Any) -> _Version:
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError(f"version must be an int, not {type(version).__name__}")
        if 1 <= version <= len(versions):
            return versions[version - 1]
        if not versions:
            raise ValueError(f"Version {version} not found for agent '{agent}': it has no versions")
        n = len(versions)
        available = ", ".join(map(str, range(1, n + 1))) if n <= 20 else f"1-{n}"
        raise ValueError(
            f"Version {version} not found for agent '{agent}'. Available versions: {available}"
        )


__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "VERSION_CAUSES",
    "AgentEntry",
    "BadConfigError",
    "ConfigTooLargeError",
    "ConfigWriteError",
    "MalformedConfigError",
    "NothingToRollBackError",
    "UnsafePathError",
    "VersionStore",
    "agent_file_stem",
    "agent_from_stem",
    "agents_words",
    "parse_config",
    "problem_kind",
    "problem_words",
    "summarize_config",
    "validate_agent_name",
]
