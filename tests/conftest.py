"""Suite-wide: the user's environment must not change what a test does."""

from __future__ import annotations

import pytest

_ENV = (
    "JARVIS_TUI_HOME",
    "JARVIS_TUI_OPTIMIZER_URL",
    "JARVIS_TUI_OPTIMIZER_MODEL",
    "JARVIS_TUI_OPTIMIZER_KEY",
    "JARVIS_TUI_OPTIMIZER_TIMEOUT",
    "OPENAI_API_KEY",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """An optimizer endpoint configured in the shell would turn offline runs into
    network calls; a JARVIS_TUI_HOME would move the default workspace; the user's
    own jarvis-tui settings (keymap, theme) and logs stay out of tests."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    xdg = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(xdg / "state"))
