"""Every benchmark's command line: ``--help`` says what it measures and runs nothing
(a benchmark can take minutes and build a million-trace store), and an option it does
not take is refused with one line and exit 2 instead of being ignored."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHES = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


@pytest.mark.parametrize("name", BENCHES)
def test_help_says_what_it_measures_and_runs_nothing(name: str) -> None:
    done = _run(f"bench.{name}", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m bench.{name}")
    assert len(done.stdout.splitlines()) >= 4  # usage, a blank line, the description …
    assert done.stderr == ""


@pytest.mark.parametrize("name", BENCHES)
def test_an_option_it_does_not_take_is_refused(name: str) -> None:
    done = _run(f"bench.{name}", "--no-such-option")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].endswith("unrecognized arguments: --no-such-option")


def test_the_whole_suite_has_help_and_refuses_an_unknown_name() -> None:
    done = _run("bench", "--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: python -m bench [NAME ...]")
    assert all(name in done.stdout for name in BENCHES)
    done = _run("bench", "bench_nothing")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "unknown benchmark(s): bench_nothing" in done.stderr
