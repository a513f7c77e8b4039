"""Agent-config versioning figures with 1,000 archived versions (issue: AgentConfigEvolver).

Run: ``python -m bench.bench_configs [--versions N]``. Each figure is printed beside a
baseline measured in the same run: a re-implementation of the reference's approach
(number archives by glob + max + 1, archive with ``shutil.copy2``, write the config in
place with hand-formatted TOML, list by glob + lexicographic sort + one stat per file).
A last figure races two processes writing 100 versions each through both. Exits 1
when a target is missed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any, Callable, Dict, List

from bench.common import OUT, Figure, parser, report, timed
from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

AGENT = "bench"
PROMPT = 'You are a careful assistant.\nUse "tools" when needed; cite sources.\n' * 4


class _NoStore:
    def iter_traces(self, **_kw: Any) -> Any:
        return iter(())


class ReferenceConfigs:
    """The reference's versioning, re-implemented as the baseline (no lock, no fsync)."""

    def __init__(self, config_dir: Path) -> None:
        self.dir = config_dir
        self.hist = config_dir / ".history"
        self.hist.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _toml(data: Dict[str, Dict[str, Any]]) -> str:
        def fmt(v: Any) -> str:
            if isinstance(v, bool):
                return str(v).lower()
            if isinstance(v, (int, float)):
                return str(v)
            if isinstance(v, list):
                return "[" + ", ".join(fmt(x) for x in v) + "]"
            return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines = []
        for table, values in data.items():
            lines.append(f"[{table}]")
            lines += [f"{k} = {fmt(v)}" for k, v in values.items()]
            lines.append("")
        return "\n".join(lines) + "\n"

    def _archive(self, agent: str, current: Path) -> None:
        numbers = []
        for p in self.hist.glob(f"{agent}.v*.toml"):
            head, _, num = p.stem.rpartition(".v")
            if head and num.isdigit():
                numbers.append(int(num))
        dest = self.hist / f"{agent}.v{max(numbers, default=0) + 1}.toml"
        shutil.copy2(current, dest)

    def write_config(
        self, agent: str, *, tools: List[str], max_turns: int = 10, temperature: float = 0.3,
        system_prompt: str = "",
    ) -> Path:  # fmt: skip
        path = self.dir / f"{agent}.toml"
        if path.exists():
            self._archive(agent, path)
        data = {"agent": {"name": agent, "tools": tools, "max_turns": max_turns,
                          "temperature": temperature, "system_prompt": system_prompt}}  # fmt: skip
        path.write_text(self._toml(data), encoding="utf-8")
        return path

    def list_versions(self, agent: str) -> List[Dict[str, Any]]:
        out = []
        for i, p in enumerate(sorted(self.hist.glob(f"{agent}.v*.toml")), start=1):
            out.append({"version": i, "path": str(p), "modified": p.stat().st_mtime})
        current = self.dir / f"{agent}.toml"
        if current.exists():
            out.append({"version": len(out) + 1, "path": str(current),
                        "modified": current.stat().st_mtime})  # fmt: skip
        return out

    def rollback(self, agent: str, version: int) -> None:
        versions = self.list_versions(agent)
        target = next((v for v in versions if v["version"] == version), None)
        if target is None:
            raise ValueError(f"version {version} not found")
        current = self.dir / f"{agent}.toml"
        if Path(target["path"]) == current:
            return
        if current.exists():
            self._archive(agent, current)
        shutil.copy2(target["path"], current)


def _fill(write: Callable[..., Any], n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        write(AGENT, tools=[f"tool{i % 7}", "web_search"], max_turns=5 + i % 20,
              temperature=0.3, system_prompt=PROMPT)  # fmt: skip
    return time.perf_counter() - t0


def _race(make: Callable[[], Any]) -> tuple[int, int]:
    """Two forked processes write 100 versions each; (versions kept, unparseable files)."""
    pids = []
    for k in range(2):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                cfg = make()
                for i in range(100):
                    # one-line prompt: the reference's TOML breaks on a newline, and
                    # this figure is about the race alone
                    cfg.write_config(AGENT, tools=[f"p{k}-{i}"], system_prompt="race")
                code = 0
            except BaseException:
                pass
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    cfg = make()
    kept: set[str] = set()
    bad = 0
    for v in cfg.list_versions(AGENT):
        try:
            data = tomllib.loads(Path(v["path"]).read_text(encoding="utf-8"))
            kept.update(data["agent"]["tools"])
        except (tomllib.TOMLDecodeError, KeyError, UnicodeDecodeError):
            bad += 1
    return len(kept), bad


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, __name__)
    ap.add_argument("--versions", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=21)
    args = ap.parse_args(argv)
    n, repeat = args.versions, args.repeat
    OUT.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="configs-", dir=OUT))
    figs: list[Figure] = []
    try:
        ours = AgentConfigEvolver(_NoStore(), config_dir=root / "ours")
        ref = ReferenceConfigs(root / "reference")
        t_ours = _fill(ours.write_config, n + 1)  # n archived + the current one
        t_ref = _fill(ref.write_config, n + 1)
        print(f"filled {n:,} versions: ours {t_ours:.1f} s, reference {t_ref:.1f} s", flush=True)
        assert len(ours.list_versions(AGENT)) == n + 1

        counter = iter(range(10**9))

        def write_with(cfg: Any) -> Callable[[], None]:
            return lambda: cfg.write_config(
                AGENT, tools=[f"t{next(counter)}", "calculator"], max_turns=12,
                temperature=0.4, system_prompt=PROMPT,
            )  # fmt: skip

        w_ours = timed(write_with(ours), repeat=repeat)
        w_ref = timed(write_with(ref), repeat=repeat)
        figs.append(Figure(f"write_config with {n:,} archived versions", "≤ 20 ms",
                           w_ours * 1e3, "ms", w_ours <= 0.02, w_ref * 1e3,
                           "reference: glob + copy2 + in-place write"))  # fmt: skip

        targets = iter(range(10**9))

        def rollback_with(cfg: Any) -> Callable[[], None]:
            # a different old version each time, so no call is a no-op
            return lambda: cfg.rollback(AGENT, 1 + (next(targets) * 37) % n)

        r_ours = timed(rollback_with(ours), repeat=repeat)
        r_ref = timed(rollback_with(ref), repeat=repeat)
        figs.append(Figure("rollback (a new version)", "≤ 20 ms", r_ours * 1e3, "ms",
                           r_ours <= 0.02, r_ref * 1e3, "reference: list + copy2"))  # fmt: skip

        l_ours = timed(lambda: ours.list_versions(AGENT), repeat=repeat)
        l_ref = timed(lambda: ref.list_versions(AGENT), repeat=repeat)
        figs.append(Figure("list_versions (with cause, note, summary)", "≤ 50 ms",
                           l_ours * 1e3, "ms", l_ours <= 0.05, l_ref * 1e3,
                           "reference: glob + sort + stat"))  # fmt: skip

        # -- correctness under a race: what the speed buys or costs
        kept_ours, bad_ours = _race(
            lambda: AgentConfigEvolver(_NoStore(), config_dir=root / "race-ours")
        )
        kept_ref, bad_ref = _race(lambda: ReferenceConfigs(root / "race-reference"))
        figs.append(Figure("versions kept, 2 processes × 100 writes", "200 of 200",
                           kept_ours, "versions", kept_ours == 200 and bad_ours == 0, kept_ref,
                           f"reference, {bad_ref} unparseable files", higher_is_better=True))  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ok = report(figs, f"Agent config versions — {n:,} archived")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
