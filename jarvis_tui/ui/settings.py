"""User settings: a ``[keymap]`` of binding ids to keys, and the theme last chosen.

Read from ``$XDG_CONFIG_HOME/jarvis-tui/config.toml`` (default
``~/.config/jarvis-tui/config.toml``) and then ``<workspace>/jarvis-tui.toml``, whose
keymap entries win. A file that is not TOML, a keymap entry that is not a string,
an id no binding has, or a value of the wrong kind (``theme = 5``) is reported (one
line each) and skipped: the rest applies.

The theme is written back to the user file only (atomically, owner-only, replacing a
symlink rather than writing through it), keeping every other key of the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jarvis_tui.paths import atomic_write_text

APP_DIR = "jarvis-tui"
WORKSPACE_FILE = "jarvis-tui.toml"


def user_config_path() -> Path:
    """``$XDG_CONFIG_HOME/jarvis-tui/config.toml`` (``~/.config`` when unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / APP_DIR / "config.toml"


def user_state_dir() -> Path:
    """``$XDG_STATE_HOME/jarvis-tui`` (``~/.local/state`` when unset): logs when the
    workspace cannot take them."""
    base = os.environ.get("XDG_STATE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / APP_DIR


@dataclass
class Settings:
    """What the settings files say, and what was wrong with them."""

    keymap: dict[str, str] = field(default_factory=dict)
    """Binding id → comma-separated keys (Textual's ``App.set_keymap`` form)."""
    theme: str | None = None
    """The theme the user last picked (user file only)."""
    problems: list[str] = field(default_factory=list)
    """One line per file that had something unusable in it."""


def _read_toml(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(data, None), ({}, None) for no file, or (None, why) for an unreadable one."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return None, f"{path}: cannot read ({exc.strerror or exc})"
    import tomllib  # only for a file that exists: most starts read none (issue 15)

    try:
        return tomllib.loads(raw.decode("utf-8")), None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return None, f"{path}: not valid TOML ({exc}); its settings were not applied"


def _keymap_collisions(
    keymap: dict[str, str], defaults: Mapping[str, tuple[str, str]]
) -> list[tuple[str, str]]:
    """``(binding id, the id it collides with)`` for each keymap entry whose key another
    binding of the same scope (the id's first word, or the app's own keys) keeps for a
    different action: such an entry is dead (``traces.success = "j"`` under the table's
    ``traces.down``) or steals a key, so it is ignored and the default kept. Keys are
    compared after the keymap (a swap of two keys is fine)."""

    def keys_of(binding_id: str) -> set[str]:
        raw = keymap.get(binding_id, defaults.get(binding_id, ("", ""))[0])
        return {k.strip() for k in raw.split(",") if k.strip()}

    out = []
    for binding_id in keymap:
        if binding_id not in defaults:
            continue
        scope = binding_id.split(".", 1)[0]
        action = defaults[binding_id][1]
        mine = keys_of(binding_id)
        for other, (_keys, other_action) in sorted(defaults.items()):
            if other == binding_id or other_action == action:
                continue
            if other.split(".", 1)[0] not in (scope, "app"):
                continue
            if mine & keys_of(other):
                out.append((binding_id, other))
                break
    return out


def _wrong_types(path: Path, data: dict[str, Any], *, is_user: bool) -> list[str]:
    """One line for the values of *data* that are of the wrong kind or in the wrong file
    (``theme = 5``; a theme in a workspace file, which only the user file sets), as a
    file that is not TOML is: said, and the value ignored."""
    wrong = []
    theme = data.get("theme")
    if theme is not None and not isinstance(theme, str):
        from jarvis_tui.ui.text import one_line

        shown = one_line(repr(theme), 40)
        wrong.append(f'theme = {shown} must be a theme name such as "textual-dark"')
    elif theme is not None and not is_user:
        wrong.append(f"theme is read from {user_config_path()} only (ctrl+p → theme writes it)")
    judge = data.get("judge")
    if (
        not is_user
        and judge is not None
        and (
            not isinstance(judge, dict)
            or any(k in judge and not isinstance(judge[k], str) for k in JUDGE_KEYS)
        )
    ):
        wrong.append('[judge] must be a table of url = "…" and model = "…"')
    return [f"{path}: {w} (ignored)" for w in wrong]


def load_settings(
    workspace: Path | None,
    known_ids: Iterable[str],
    defaults: Mapping[str, tuple[str, str]] | None = None,
) -> Settings:
    """Read the user file, then the workspace file; validate keymap ids against *known_ids*.

    *defaults* (binding id → (default keys, action)): a keymap entry whose key collides
    with another binding of its scope is reported and ignored (see
    :func:`_keymap_collisions`)."""
    known = set(known_ids)
    out = Settings()
    files = [(user_config_path(), True)]
    if workspace is not None:
        files.append((workspace / WORKSPACE_FILE, False))
    for path, is_user in files:
        data, problem = _read_toml(path)
        if problem:
            out.problems.append(problem)
            continue
        assert data is not None
        out.problems.extend(_wrong_types(path, data, is_user=is_user))
        if is_user and isinstance(data.get("theme"), str):
            out.theme = data["theme"]
        keymap = data.get("keymap", {})
        if not isinstance(keymap, dict):
            out.problems.append(f'{path}: [keymap] must be a table of binding id = "keys"')
            continue
        unknown, bad = [], []
        for binding_id, keys in keymap.items():
            if binding_id not in known:
                unknown.append(binding_id)
            elif not isinstance(keys, str) or not keys.strip():
                bad.append(binding_id)
            else:
                out.keymap[binding_id] = ",".join(k.strip() for k in keys.split(",") if k.strip())
        if unknown:
            out.problems.append(
                f"{path}: unknown binding id(s) {', '.join(sorted(unknown))} (ignored; "
                "jarvis-tui keys lists every id)"
            )
        if bad:
            out.problems.append(
                f'{path}: {", ".join(sorted(bad))} must be a string of keys like "j,down" (ignored)'
            )
    if defaults:
        for binding_id, other in _keymap_collisions(out.keymap, defaults):
            keys = out.keymap.pop(binding_id)
            out.problems.append(
                f"keymap: {binding_id} = {keys} collides with {other}: ignored, kept "
                f"{defaults[binding_id][0]}"
            )
    return out


def save_theme(theme: str) -> str | None:
    """Remember *theme* in the user file; None, or why it was not saved."""
    return _remember(user_config_path(), "theme", theme, "theme not saved")


JUDGE_KEYS = ("url", "model")
"""What the judge form remembers per workspace (``[judge]`` in the workspace file); an
API key never: the endpoint's key stays in the environment."""


def load_judge_form(workspace: Path) -> dict[str, str]:
    """The judge form's last submitted values in this workspace ({} when none)."""
    data, _problem = _read_toml(workspace / WORKSPACE_FILE)
    judge = (data or {}).get("judge")
    if not isinstance(judge, dict):
        return {}
    return {k: judge[k] for k in JUDGE_KEYS if isinstance(judge.get(k), str) and judge[k]}


def save_judge_form(workspace: Path, values: dict[str, Any]) -> str | None:
    """Remember the judge form's *values* (url, model) in the workspace file, keeping
    every other key of it (atomically, owner-only); None, or why it was not saved."""
    judge = {k: str(values[k]).strip() for k in JUDGE_KEYS if str(values.get(k, "")).strip()}
    return _remember(workspace / WORKSPACE_FILE, "judge", judge, "judge endpoint not remembered")


def _remember(path: Path, key: str, value: Any, failed: str) -> str | None:
    """Set top-level *key* of the settings file at *path* to *value*, keeping every other
    key, comment and blank line of it (``tomlkit``), atomically and owner-only; None, or
    why not (*failed* and the reason). Nothing is written when the value is already so."""
    import tomlkit

    data, problem = _read_toml(path)
    if problem:
        return f"{failed}: {problem}"
    assert data is not None
    if data.get(key) == value:
        return None
    try:
        try:  # a file of comments only is {} to tomllib: its comments stay too
            doc = tomlkit.parse(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            doc = tomlkit.document()
        doc[key] = value
        atomic_write_text(path, tomlkit.dumps(doc))
    except OSError as exc:
        return f"{failed}: {path}: {exc.strerror or exc}"
    return None
