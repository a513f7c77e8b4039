"""The one list of agents (``VersionStore.agents``): what the Configs pane lists and the
Trials promote form offers, each unusable agent with why in a word or two (walkthrough
W 38: the promote form listed a file no agent maps to and agents it then refused)."""

from __future__ import annotations

import os
from pathlib import Path

from jarvis_tui.configs.versions import VersionStore, agents_words


def test_agents_say_which_cannot_take_a_version_and_why(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "ok.toml").write_text('[agent]\nname = "ok"\n')
    (agents / "broken.toml").write_text("[agent\nname =")
    (agents / "big.toml").write_text("# " + "x" * (1 << 20) + "\n")
    (agents / "deep.toml").write_text("x = " + "[" * 100 + "]" * 100 + "\n")
    (tmp_path / "elsewhere.toml").write_text('[agent]\nname = "elsewhere"\n')
    os.symlink(tmp_path / "elsewhere.toml", agents / "link.toml")
    (agents / "[b]weird[b] é 🤖.toml").write_text('[agent]\nname = "w"\n')  # no agent's file
    (agents / "folder.toml").mkdir()  # not a file: not an agent
    store = VersionStore(agents)
    listed = store.agents()
    assert agents_words(listed) == (
        "big (too large), broken (invalid TOML), deep (nested too deep), link (symlink), ok"
    )
    assert [a.name for a in listed if a.usable] == ["ok"]
    assert [a.name for a in listed] == store.list_agents()
    broken = next(a for a in listed if a.name == "broken")
    assert broken.versions == 1 and broken.problem == store.config_problem("broken")
    assert [name for name, _why in store.skipped_files()] == ["[b]weird[b] é 🤖.toml"]


def test_a_value_of_the_wrong_type_is_marked_like_a_broken_file(tmp_path: Path) -> None:
    """W3 13: max_turns = "five" showed as a fine config (no ⚠); OpenJarvis cannot read it."""
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "simple.toml").write_text('[agent]\nname = "simple"\nmax_turns = "five"\n')
    (agents / "tools.toml").write_text('[agent]\ntools = ["a", 3]\n')
    (agents / "fine.toml").write_text(
        '[agent]\nname = "fine"\ntools = ["a"]\nmax_turns = 4\ntemperature = 1\n'
        'system_prompt = ""\n[intelligence]\nmodel = "m"\n'
    )
    store = VersionStore(agents)
    assert agents_words(store.agents()) == "fine, simple (wrong type), tools (wrong type)"
    assert store.config_problem("simple") == 'agent.max_turns must be a whole number (got "five")'
    assert (
        store.config_problem("tools") == 'agent.tools must be a list of tool names (got ["a", 3])'
    )
