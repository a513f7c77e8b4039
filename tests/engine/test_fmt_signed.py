"""A difference that rounds to zero is shown without a sign (issue 10: the Configs
rollback verdict read 'no clear difference between v1 and v4: -0.00 ± 0.02')."""

from __future__ import annotations

from jarvis_tui.core.fmt import signed
from jarvis_tui.learning.outcomes import VersionOutcome, compare_versions
from jarvis_tui.learning.stats import mean_ci


def test_signed_drops_the_sign_of_a_rounded_zero() -> None:
    assert signed(-0.001) == "0.00"
    assert signed(0.004) == "0.00"
    assert signed(-0.0004, 3) == "0.000"
    assert signed(0.061) == "+0.06"
    assert signed(-0.2) == "-0.20"
    assert signed(-0.0051) == "-0.01"


def _version(v: int, scores: list[float]) -> VersionOutcome:
    n, total, sq = len(scores), sum(scores), sum(x * x for x in scores)
    return VersionOutcome(version=v, cause="edit", note="", summary="", written_at=None,
                          approximate=False, why_approximate="", current=False, traces=n,
                          rated=n, feedback=mean_ci(n, total, sq), feedback_sq_sum=sq,
                          success=0, failure=0, mean_latency_seconds=None,
                          mean_tokens=None)  # fmt: skip


def test_a_version_verdict_never_says_minus_zero() -> None:
    a = _version(1, [0.5, 0.7] * 20)
    b = _version(4, [0.499, 0.699] * 20)  # 0.001 lower: rounds to zero
    verdict = compare_versions(a, b).verdict
    assert verdict.startswith("no clear difference between v4 and v1: 0.00 ± ")
    assert "-0.00" not in verdict
