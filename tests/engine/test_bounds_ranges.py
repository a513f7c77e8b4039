"""Objective bounds (issue 10, finding 13): a limit outside what the metric can be is
refused with the reason, and a strict `<` / `>` is refused rather than silently made
`<=` / `>=`, in the engine, the CLI's `--bound` and the Trials `B` form alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.learning.optimize.types import ObjectiveBound


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("accuracy >= 1.5", "accuracy 1.5 is out of range: accuracy is 0–1 (or 0–100%)"),
        ("accuracy >= 150%", "accuracy 150% is out of range"),
        ("acc <= -0.1", "acc -0.1 is out of range"),
        ("latency <= -2s", "latency -2s is out of range: latency is 0 or more"),
        ("cost <= -0.01", "out of range: cost is 0 or more"),
        ("tokens <= -5", "out of range: tokens is 0 or more"),
        ("latency < 2s", "strict < is not supported: use <="),
        ("accuracy > 0.8", "strict > is not supported: use >="),
    ],
)
def test_a_bound_the_metric_cannot_meet_or_a_strict_one_is_refused(text, reason) -> None:
    with pytest.raises(ValueError) as err:
        ObjectiveBound.parse(text)
    assert reason in str(err.value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("accuracy >= 0.8", "accuracy >= 0.8"),
        ("accuracy >= 80%", "accuracy >= 0.8"),
        ("accuracy <= 1", "accuracy <= 1"),
        ("latency <= 2s", "mean_latency_seconds <= 2"),
        ("latency ≤ 1500ms", "mean_latency_seconds <= 1.5"),
        ("cost <= 0", "total_cost_usd <= 0"),
        ("accuracy ≥ 0", "accuracy >= 0"),
    ],
)
def test_a_bound_within_range_reads_as_typed(text, shown) -> None:
    assert str(ObjectiveBound.parse(text)) == shown


@pytest.mark.parametrize(
    ("bound", "reason"),
    [
        ("accuracy >= 1.5", "accuracy 1.5 is out of range"),
        ("latency < 2s", "use <="),
    ],
)
def test_cli_bound_out_of_range_is_one_line_and_starts_nothing(
    tmp_path: Path, capsys, bound, reason
) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    assert main(["optimize", "--home", str(home), "--trials", "2", "--bound", bound]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jarvis-tui: error: ") and reason in err[0]
    assert not (home / "optimize.db").exists()
