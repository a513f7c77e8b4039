"""Shared fixtures for the engine tests (no Textual here: STYLE.md rule 12)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from jarvis_tui.core.types import StepType, Trace, TraceStep

_REPO = Path(__file__).resolve().parents[2]


def _fixture_dir() -> Path:
    """OpenJarvis-written files: ``$JT_OJ_FIXTURES``, else ``shared/`` in or beside the repo."""
    env = os.environ.get("JT_OJ_FIXTURES")
    candidates = [Path(env)] if env else []
    candidates += [
        _REPO / "shared" / "fixtures" / "openjarvis",
        _REPO.parent / "shared" / "fixtures" / "openjarvis",
    ]
    for c in candidates:
        if (c / "traces.db").is_file():
            return c
    return candidates[0]


OJ_FIXTURES = _fixture_dir()


def sft_pairs_home(home: Path) -> Path:
    """*home* with 12 rated arithmetic traces (0.9): the smallest workspace ``train``
    finds SFT pairs in."""
    from jarvis_tui.traces import TraceStore

    store = TraceStore(home / "traces.db")
    store.save_many(
        Trace(trace_id=f"p{i}", query=f"what is {i} plus {i}?", result=f"It is {2 * i}.",
              feedback=0.9, started_at=float(i))
        for i in range(12)
    )  # fmt: skip
    store.close()
    return home


def build_trace(i: int = 0, *, n_steps: int = 2, **overrides: Any) -> Trace:
    """A complete trace numbered *i*; keyword arguments override any field."""
    t0 = 1_700_000_000.0 + i
    fields: dict[str, Any] = dict(
        trace_id=f"t{i:05d}",
        query=f"question number {i}",
        agent="simple",
        model="qwen3:8b",
        engine="ollama",
        result=f"answer {i}",
        outcome=None,
        feedback=None,
        started_at=t0,
        ended_at=t0 + 1.5,
        total_tokens=10 + i,
        total_latency_seconds=1.5,
        metadata={"i": i},
        messages=[{"role": "user", "content": f"question number {i}"}],
    )
    if "steps" not in overrides:
        kinds = [StepType.ROUTE, StepType.TOOL_CALL, StepType.RESPOND, StepType.GENERATE]
        fields["steps"] = [
            TraceStep(
                step_type=kinds[k % len(kinds)],
                timestamp=t0 + k / 10,
                duration_seconds=0.25 * (k + 1),
                input={"k": k, "tool": "calculator"},
                output={"content": f"out {i}.{k}", "tokens": k},
                metadata={"step": k},
            )
            for k in range(n_steps)
        ]
    fields.update(overrides)
    return Trace(**fields)


@pytest.fixture(scope="session")
def make_trace() -> Callable[..., Trace]:
    """:func:`build_trace` as a fixture."""
    return build_trace


@pytest.fixture
def oj_copy(tmp_path: Path) -> Callable[[str], Path]:
    """Copy an OpenJarvis fixture into tmp_path (writable) and return the copy's path."""

    def copy(name: str = "traces.db") -> Path:
        src = OJ_FIXTURES / name
        if not src.is_file():
            pytest.skip(f"OpenJarvis fixture {src} not available")
        dst = tmp_path / "oj" / name
        dst.parent.mkdir(exist_ok=True)
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o644)
        return dst

    return copy


@pytest.fixture
def store(tmp_path: Path):
    """A fresh, empty store on a file in tmp_path."""
    from jarvis_tui.traces.store import TraceStore

    s = TraceStore(tmp_path / "traces.db")
    yield s
    s.close()
