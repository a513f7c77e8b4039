"""agents/ exactly as OpenJarvis's own AgentConfigEvolver lays it out, both ways.

OpenJarvis (``openjarvis.learning.agent_evolver``) archives the current config as
``.history/<agent>.v<max+1>.toml`` just before replacing it, and lists versions as
``sorted(glob("<agent>.v*.toml"))`` followed by the current file. ``_OpenJarvis`` below
does the same file operations (it is not installed here), so a folder written by one
side can be read by the other.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path
from typing import Any, Dict, List

import pytest

from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

AGENT = "bot"


class _NoStore:
    def iter_traces(self, **_kw: Any) -> Any:
        return iter(())


class _OpenJarvis:
    """OpenJarvis's versioning file operations (write_config, list_versions, rollback)."""

    def __init__(self, config_dir: Path) -> None:
        self.dir = config_dir
        self.hist = config_dir / ".history"
        self.hist.mkdir(parents=True, exist_ok=True)

    def _archive(self, agent: str) -> None:
        numbers = []
        for p in self.hist.glob(f"{agent}.v*.toml"):
            head, sep, num = p.stem.rpartition(".v")
            if sep and num.isdigit():
                numbers.append(int(num))
        shutil.copy2(
            self.dir / f"{agent}.toml", self.hist / f"{agent}.v{max(numbers, default=0) + 1}.toml"
        )

    def write(self, agent: str, text: str) -> None:
        if (self.dir / f"{agent}.toml").exists():
            self._archive(agent)
        (self.dir / f"{agent}.toml").write_text(text)

    def list_versions(self, agent: str) -> List[Dict[str, Any]]:
        out = [
            {"version": i, "path": str(p)}
            for i, p in enumerate(sorted(self.hist.glob(f"{agent}.v*.toml")), start=1)
        ]
        current = self.dir / f"{agent}.toml"
        if current.exists():
            out.append({"version": len(out) + 1, "path": str(current)})
        return out

    def rollback(self, agent: str, version: int) -> None:
        target = Path(self.list_versions(agent)[version - 1]["path"])
        if target == self.dir / f"{agent}.toml":
            return
        self._archive(agent)
        shutil.copy2(target, self.dir / f"{agent}.toml")


def _config(i: int) -> str:
    return f'[agent]\nname = "{AGENT}"\ntools = ["t{i}"]\nmax_turns = {i}\n'


def _ev(config_dir: Path) -> AgentConfigEvolver:
    return AgentConfigEvolver(_NoStore(), config_dir=config_dir)


def _turns(ev: AgentConfigEvolver) -> List[int]:
    return [
        ev.load_version(AGENT, v["version"])["agent"]["max_turns"] for v in ev.list_versions(AGENT)
    ]


def _history_files(config_dir: Path) -> List[str]:
    return sorted(p.name for p in (config_dir / ".history").iterdir())


# ---------------------------------------------------------------------------------------
# jarvis-tui writes, OpenJarvis reads
# ---------------------------------------------------------------------------------------


def test_first_write_archives_nothing(tmp_path: Path) -> None:
    ev = _ev(tmp_path / "agents")
    ev.write_config(AGENT, tools=["a"])
    assert list((tmp_path / "agents" / ".history").glob(f"{AGENT}.v*.toml")) == []
    assert [v["current"] for v in ev.list_versions(AGENT)] == [True]


@pytest.mark.parametrize("n", [2, 12])
def test_n_writes_leave_the_n_minus_1_archives_openjarvis_would(tmp_path: Path, n: int) -> None:
    ours, theirs = tmp_path / "ours" / "agents", tmp_path / "theirs" / "agents"
    ev, oj = _ev(ours), _OpenJarvis(theirs)
    for i in range(1, n + 1):
        ev.write_config(AGENT, tools=[f"t{i}"], max_turns=i)
        oj.write(AGENT, ev.config_path(AGENT).read_text())
    archives = [f"{AGENT}.v{i:06d}.toml" for i in range(1, n)]
    # exactly OpenJarvis's files (zero-padded names), plus sidecars its glob never matches
    assert _history_files(ours) == sorted([*archives, ".lock", f"{AGENT}.log.jsonl"])
    assert sorted(p.name for p in (theirs / ".history").iterdir()) == sorted(
        f"{AGENT}.v{i}.toml" for i in range(1, n)
    )
    for sidecar in (".lock", f"{AGENT}.log.jsonl"):
        assert not fnmatch.fnmatch(sidecar, f"{AGENT}.v*.toml")
    # OpenJarvis pointed at our folder lists the same versions, in the same order
    mine = ev.list_versions(AGENT)
    assert [(v["version"], v["path"]) for v in mine] == [
        (v["version"], v["path"]) for v in _OpenJarvis(ours).list_versions(AGENT)
    ]
    assert [v["version"] for v in mine] == list(range(1, n + 1)) and mine[-1]["current"]

    # and each version has the bytes OpenJarvis kept for it (in version order: OpenJarvis
    # itself sorts its unpadded names as strings, v10 before v2)
    def number(v: Dict[str, Any]) -> int:
        stem = Path(v["path"]).stem
        return int(stem.rpartition(".v")[2]) if ".v" in stem else n

    for a, b in zip(mine, sorted(oj.list_versions(AGENT), key=number), strict=True):
        assert Path(a["path"]).read_bytes() == Path(b["path"]).read_bytes()
    assert _turns(ev) == list(range(1, n + 1))


def test_rollbacks_archive_like_openjarvis(tmp_path: Path) -> None:
    ev = _ev(tmp_path / "agents")
    for i in range(1, 4):
        ev.write_config(AGENT, tools=[f"t{i}"], max_turns=i)
    ev.rollback(AGENT, 1)
    ev.rollback(AGENT, 3)
    assert _turns(ev) == [1, 2, 3, 1, 3]
    oj = _OpenJarvis(tmp_path / "agents")
    assert len(oj.list_versions(AGENT)) == 5
    assert [v["cause"] for v in ev.list_versions(AGENT)][3:] == ["rollback", "rollback"]


# ---------------------------------------------------------------------------------------
# OpenJarvis writes, jarvis-tui reads
# ---------------------------------------------------------------------------------------


def test_openjarvis_history_past_v9_reads_in_version_order(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    oj = _OpenJarvis(agents)
    for i in range(1, 13):
        oj.write(AGENT, _config(i))
    oj.rollback(AGENT, 2)  # OpenJarvis's own positions: v10, v11 sort before v2
    # files only: OpenJarvis writes no sidecar
    assert not list((agents / ".history").glob("*.jsonl"))
    ev = _ev(agents)
    versions = ev.list_versions(AGENT)
    assert [v["version"] for v in versions] == list(range(1, 14))
    assert [v["seq"] for v in versions] == list(range(1, 14))
    assert _turns(ev)[:12] == list(range(1, 13))
    assert {v["cause"] for v in versions} == {"external"}
    assert versions[-1]["current"] and versions[-1]["path"] == str(agents / f"{AGENT}.toml")
    # OpenJarvis's rollback copied its position 2, which is v10 (max_turns 10)
    assert _turns(ev)[-1] == 10
    # our rollback reads version 3 as max_turns 3 and archives the current as v13
    ev.rollback(AGENT, 3)
    assert ev.config_path(AGENT).read_text() == _config(3)
    assert (agents / ".history" / f"{AGENT}.v000013.toml").read_text() == _config(10)
    assert _turns(ev) == [*range(1, 13), 10, 3]
    # and OpenJarvis keeps writing into the same folder (max + 1 = 14)
    oj.write(AGENT, _config(99))
    assert (agents / ".history" / f"{AGENT}.v14.toml").read_text() == _config(3)
    assert _turns(ev) == [*range(1, 13), 10, 3, 99]
    assert ev.list_versions(AGENT)[-1]["cause"] == "external"


def test_a_config_openjarvis_replaced_is_an_external_version(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    ev = _ev(agents)
    ev.write_config(AGENT, tools=["a"], max_turns=1, cause="manual", note="mine")
    _OpenJarvis(agents).write(AGENT, _config(2))
    versions = ev.list_versions(AGENT)
    assert [(v["cause"], v["note"]) for v in versions][0] == ("manual", "mine")
    assert versions[1]["cause"] == "external"
    ev.write_config(AGENT, tools=["c"], max_turns=3)
    assert _turns(ev) == [1, 2, 3]
    assert [v["cause"] for v in ev.list_versions(AGENT)] == ["manual", "external", "evolver"]


# ---------------------------------------------------------------------------------------
# workspaces written by older jarvis-tui releases (current also copied into .history)
# ---------------------------------------------------------------------------------------


def _old_layout(agents: Path, n: int) -> None:
    hist = agents / ".history"
    hist.mkdir(parents=True)
    import hashlib

    lines = []
    for i in range(1, n + 1):
        text = _config(i).encode()
        (hist / f"{AGENT}.v{i:06d}.toml").write_bytes(text)
        entry = {"seq": i, "cause": "manual", "note": f"n{i}", "ts": 1.0 * i}
        entry.update(sha256=hashlib.sha256(text).hexdigest(), summary="")
        lines.append(json.dumps(entry))
    (hist / f"{AGENT}.log.jsonl").write_text("\n".join(lines) + "\n")
    (agents / f"{AGENT}.toml").write_bytes(_config(n).encode())


def test_old_jarvis_tui_layout_reads_correctly_and_migrates_on_the_next_write(
    tmp_path: Path,
) -> None:
    agents = tmp_path / "agents"
    _old_layout(agents, 3)
    ev = _ev(agents)
    versions = ev.list_versions(AGENT)
    # the copy of the current version is not listed twice
    assert [(v["version"], v["current"], v["note"]) for v in versions] == [
        (1, False, "n1"),
        (2, False, "n2"),
        (3, True, "n3"),
    ]
    assert _turns(ev) == [1, 2, 3]
    ev.write_config(AGENT, tools=["t4"], max_turns=4)
    # migrated: the old copy of version 3 is now its archive, nothing is duplicated
    assert _history_files(agents) == sorted(
        [*(f"{AGENT}.v{i:06d}.toml" for i in range(1, 4)), ".lock", f"{AGENT}.log.jsonl"]
    )
    assert _turns(ev) == [1, 2, 3, 4]
    assert [v["note"] for v in ev.list_versions(AGENT)][:3] == ["n1", "n2", "n3"]
    assert [v["path"] for v in ev.list_versions(AGENT)] == [
        v["path"] for v in _OpenJarvis(agents).list_versions(AGENT)
    ]


# ---------------------------------------------------------------------------------------
# the user's comments and layout survive a write
# ---------------------------------------------------------------------------------------

_HAND_WRITTEN = """\
# Support agent: keep answers short.
[agent]
name = "bot"   # the name OpenJarvis routes to
tools = ["web_search"]
max_turns = 5
temperature = 0.2
system_prompt = "Be brief."
custom = "mine"

# Which model serves it
[intelligence]
model = "qwen3:8b"  # local
"""


def test_accepting_a_proposal_keeps_comments_and_layout(tmp_path: Path) -> None:
    ev = _ev(tmp_path / "agents")
    ev.config_path(AGENT).write_text(_HAND_WRITTEN)
    ev.write_config(
        AGENT, tools=["web_search", "calculator"], max_turns=7, temperature=0.2,
        system_prompt="Be brief.",
    )  # fmt: skip
    text = ev.config_path(AGENT).read_text()
    assert text == _HAND_WRITTEN.replace(
        'tools = ["web_search"]', 'tools = ["web_search", "calculator"]'
    ).replace("max_turns = 5", "max_turns = 7")
    assert ev.read_version(AGENT, 1) == _HAND_WRITTEN  # the hand-written one is archived


def test_promoting_a_trial_keeps_comments(tmp_path: Path) -> None:
    ev = _ev(tmp_path / "agents")
    ev.config_path(AGENT).write_text(_HAND_WRITTEN)
    ev.promote_params(AGENT, {"intelligence.model": "gpt-oss:20b", "agent.temperature": 0.5})
    text = ev.config_path(AGENT).read_text()
    assert "# Support agent: keep answers short." in text
    assert "# the name OpenJarvis routes to" in text and "# Which model serves it" in text
    data = ev.load_version(AGENT, 2)
    assert data["intelligence"]["model"] == "gpt-oss:20b"
    assert data["agent"]["temperature"] == 0.5 and data["agent"]["custom"] == "mine"


def test_a_layout_tomlkit_cannot_edit_still_writes_the_right_values(tmp_path: Path) -> None:
    ev = _ev(tmp_path / "agents")
    # [agent] as dotted keys and an inline table elsewhere
    ev.config_path(AGENT).write_text('agent.name = "bot"\nagent.tools = []\nx = {a = 1}\n')
    ev.write_config(AGENT, tools=["a"], max_turns=3, system_prompt='multi\nline "q"')
    data = ev.load_version(AGENT, 2)
    assert data["agent"]["tools"] == ["a"] and data["agent"]["max_turns"] == 3
    assert data["agent"]["system_prompt"] == 'multi\nline "q"' and data["x"] == {"a": 1}
