"""AgentConfigEvolver under concurrent processes and SIGKILL at random points.

(a) Two processes writing 100 versions each lose none (the reference, archiving by
    "max existing number + 1" without a lock and writing in place, lost most of them).
(b) 200 writers killed mid-write/mid-rollback: after every kill each archived version
    is intact and never changes, the current config parses, and every version listed
    before the kill is still listed at the same position with the same content.

The layout is OpenJarvis's: .history holds the previous versions only, numbered by
position, so a number logged by a write that was killed before its rename is used
again by the next write (its stale log line is never shown).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import time
import tomllib
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

from jarvis_tui.configs.versions import NothingToRollBackError
from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

AGENT = "bot"


class _NoStore:
    def iter_traces(self, **_kw: Any) -> Any:
        return iter(())


def _evolver(config_dir: Path) -> AgentConfigEvolver:
    return AgentConfigEvolver(_NoStore(), config_dir=config_dir, lock_timeout=60)


def _fork(body: Callable[[], None]) -> int:
    """Run *body* in a forked child that exits with 0 on success, 1 on an exception."""
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            body()
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _log_entries(history: Path) -> List[Dict[str, Any]]:
    path = history / f"{AGENT}.log.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().split(b"\n"):
        try:
            e = json.loads(line)
        except ValueError:
            continue  # a line torn by the kill: tolerated, never counted
        out.append(e)
    return out


def _archives(history: Path) -> Dict[int, bytes]:
    out = {}
    for p in history.glob(f"{AGENT}.v*.toml"):
        seq = int(p.name[len(AGENT) + 2 : -len(".toml")])
        assert seq not in out, f"two archives for seq {seq}"
        out[seq] = p.read_bytes()
    return out


# ---------------------------------------------------------------------------------------
# (a) two processes, 100 versions each
# ---------------------------------------------------------------------------------------


def test_two_processes_writing_100_versions_each_lose_none(tmp_path: Path) -> None:
    cfg = tmp_path / "agents"
    _evolver(cfg)  # create the directories before the race

    def writer(k: int) -> Callable[[], None]:
        def run() -> None:
            ev = _evolver(cfg)
            for i in range(100):
                ev.write_config(
                    AGENT,
                    tools=[f"p{k}-{i}"],
                    max_turns=i + 1,
                    system_prompt=f'process {k}\nwrite "{i}"',
                    note=f"p{k}-{i}",
                )

        return run

    pids = [_fork(writer(k)) for k in range(2)]
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0

    ev = _evolver(cfg)
    versions = ev.list_versions(AGENT)
    assert len(versions) == 200
    assert [v["version"] for v in versions] == list(range(1, 201))
    assert [v["seq"] for v in versions] == list(range(1, 201))  # unique and contiguous
    assert versions[-1]["current"]
    assert {v["cause"] for v in versions} == {"evolver"}

    written = set()
    for v in versions:
        data = ev.load_version(AGENT, v["version"])["agent"]  # every version parses
        (tool,) = data["tools"]
        assert v["note"] == tool
        k, i = tool[1:].split("-")
        assert data["system_prompt"] == f'process {k}\nwrite "{i}"'
        written.add(tool)
    assert written == {f"p{k}-{i}" for k in range(2) for i in range(100)}
    tomllib.loads(ev.config_path(AGENT).read_text())
    # each process's own writes stay in its order
    for k in range(2):
        mine = [int(v["note"].split("-")[1]) for v in versions if v["note"].startswith(f"p{k}-")]
        assert mine == list(range(100))
    entries = _log_entries(ev.history_dir)
    assert [e["seq"] for e in entries] == list(range(1, 201))
    assert len(_archives(ev.history_dir)) == 199  # the previous versions
    assert not list(cfg.rglob("*.tmp"))


# ---------------------------------------------------------------------------------------
# (b) 200 kills
# ---------------------------------------------------------------------------------------


def _work(cfg: Path, seed: int) -> None:
    """Write and roll back until killed."""
    rng = random.Random(seed)
    ev = _evolver(cfg)
    i = 0
    while True:
        i += 1
        n = len(ev.list_versions(AGENT))
        if n > 1 and rng.random() < 0.3:
            try:
                ev.rollback(AGENT, rng.randint(1, n))
            except NothingToRollBackError:
                pass  # that version's content is the current one: refused, nothing written
        else:
            ev.write_config(
                AGENT,
                tools=[f"s{seed}-{i}", "web_search"],
                max_turns=rng.randint(1, 50),
                system_prompt=f'seed {seed}\nwrite {i} "quoted" \\ é\n' * rng.randint(1, 40),
            )


def _kill_at_nth_syscall(n: int) -> None:
    """In the child: SIGKILL itself on the n-th write/fsync/rename/unlink/open."""
    calls = [0]

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*a: Any, **k: Any) -> Any:
            calls[0] += 1
            if calls[0] >= n:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*a, **k)

        return inner

    for name in ("write", "fsync", "replace", "unlink", "fchmod"):
        setattr(os, name, wrap(getattr(os, name)))


class _Invariants:
    """What must hold after every kill, and must never change between kills."""

    def __init__(self, cfg: Path) -> None:
        self.cfg = cfg
        self.ev = _evolver(cfg)
        self.archive_sha: Dict[int, str] = {}  # every archive ever seen -> its content hash
        self.positions: List[str] = []  # content hash of each listed version, in order
        self.pending = 0  # kills that left the current version archived before its rename
        self.stale = 0  # kills that left a logged number that no file has (yet)
        self.temps = 0  # kills that left a temp file behind

    def check(self, where: str) -> None:
        hist = self.ev.history_dir
        archives = _archives(hist)
        for seq, content in archives.items():
            tomllib.loads(content.decode())  # intact and parseable
            old = self.archive_sha.setdefault(seq, _sha(content))
            assert old == _sha(content), f"{where}: archive {seq} changed"
        current = self.ev.config_path(AGENT)
        if current.exists():
            tomllib.loads(current.read_text())
        versions = self.ev.list_versions(AGENT)
        assert [v["version"] for v in versions] == list(range(1, len(versions) + 1))
        assert all(v["cause"] in ("evolver", "rollback") for v in versions), where
        assert all(v["error"] is None for v in versions), where
        if versions:
            assert versions[-1]["current"] and versions[-1]["seq"] is not None, where
            self.pending += versions[-1]["seq"] in archives
            logged = max((e["seq"] for e in _log_entries(hist)), default=0)
            self.stale += logged > versions[-1]["seq"]
        self.temps += bool(list(self.cfg.rglob("*.tmp")))
        now = [_sha(Path(v["path"]).read_bytes()) for v in versions]
        # history is never lost: what was listed is still listed at the same position
        assert now[: len(self.positions)] == self.positions, f"{where}: history changed"
        self.positions = now


def test_sigkill_at_random_points_never_corrupts_history(tmp_path: Path) -> None:
    cfg = tmp_path / "agents"
    ev = _evolver(cfg)
    ev.write_config(AGENT, tools=["seed"])
    inv = _Invariants(cfg)
    inv.check("start")
    rng = random.Random(20240601)
    runs = 200
    for run in range(runs):
        if run % 2 == 0:
            # a kill at a chosen syscall: covers every step of write and rollback
            n = rng.randint(1, 40)

            def body(n: int = n, run: int = run) -> None:
                _kill_at_nth_syscall(n)
                _work(cfg, run)

            pid = _fork(body)
            _, status = os.waitpid(pid, 0)
        else:
            # a kill after a random delay, wherever the writer happens to be
            pid = _fork(lambda run=run: _work(cfg, run))
            time.sleep(rng.uniform(0.0, 0.012))
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
            f"run {run}: the writer failed instead of being killed (status {status})"
        )
        inv.check(f"after kill {run}")
    # the next ordinary write repairs whatever the last kill left and cleans temp files
    ev.write_config(AGENT, tools=["after"])
    inv.check("final")
    assert not list(cfg.rglob("*.tmp"))
    # the kills landed everywhere: real progress, numbers logged before the rename,
    # current versions archived before the rename, and temp files
    assert len(inv.positions) > 100
    assert inv.stale and inv.pending and inv.temps, (inv.stale, inv.pending, inv.temps)
