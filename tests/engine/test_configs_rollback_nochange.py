"""A rollback to content the current config already has is refused (issue 10).

Writing it would add a version that changes nothing and restart the current
version's evidence count; the user is told why and nothing is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.configs.versions import NothingToRollBackError, VersionStore

V1 = b'[agent]\nname = "react"\nmax_turns = 8\n'
V2 = b'[agent]\nname = "react"\nmax_turns = 12\n'


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture
def store(tmp_path: Path) -> VersionStore:
    """react: v1 = V1, v2 = V2, v3 = V1 (a rollback), v4 = V2 (a hand copy of v2)."""
    vs = VersionStore(tmp_path / "agents")
    for content in (V1, V2, V1, V2):
        vs.write_version("react", lambda _cur, c=content: (c, "s"), cause="manual")
    return vs


def test_rollback_to_the_current_content_is_refused_and_writes_nothing(
    store: VersionStore,
) -> None:
    before = tree(store.config_dir)
    with pytest.raises(NothingToRollBackError) as err:
        store.rollback("react", 2)
    assert str(err.value) == "v2 is the current content (the same as v4) — nothing to roll back"
    assert isinstance(err.value, ValueError)  # callers that catch ValueError still do
    assert tree(store.config_dir) == before
    assert [v["version"] for v in store.list_versions("react")] == [1, 2, 3, 4]


def test_preview_says_the_same_before_anything_is_asked(store: VersionStore) -> None:
    with pytest.raises(NothingToRollBackError, match="v2 is the current content"):
        store.preview_rollback("react", 2)


def test_same_keys_in_another_layout_is_still_nothing_to_roll_back(tmp_path: Path) -> None:
    vs = VersionStore(tmp_path / "agents")
    vs.write_version("bot", lambda _c: (b"[agent]\nmax_turns = 3\n", "s"), cause="manual")
    vs.write_version("bot", lambda _c: (b"# my note\n[agent]\nmax_turns   =   3\n", "s"),
                     cause="manual")  # fmt: skip
    with pytest.raises(NothingToRollBackError, match="v1 is the current content"):
        vs.rollback("bot", 1)


def test_a_rollback_that_changes_something_still_writes(store: VersionStore) -> None:
    assert store.preview_rollback("react", 1) == V1.decode()
    store.rollback("react", 1)
    versions = store.list_versions("react")
    assert [v["cause"] for v in versions][-1] == "rollback"
    assert (store.config_dir / "react.toml").read_bytes() == V1


def test_a_broken_current_config_can_be_repaired_by_a_rollback(store: VersionStore) -> None:
    (store.config_dir / "react.toml").write_bytes(b"[agent\nbroken")
    store.rollback("react", 2)
    assert (store.config_dir / "react.toml").read_bytes() == V2
