"""Queueing a config already tried (issue 10, finding 25): the engine finds the trial
with the same config and says whether evaluating it again can tell anything new."""

from __future__ import annotations

from jarvis_tui.learning.optimize.optimizer import same_config, same_config_words
from jarvis_tui.learning.optimize.types import TrialConfig, TrialResult


def trial(tid: str, accuracy: float, **params) -> TrialResult:
    return TrialResult(trial_id=tid, config=TrialConfig(trial_id=tid, params=params),
                       accuracy=accuracy)  # fmt: skip


TRIALS = [
    trial("t-1", 0.7, **{"intelligence.temperature": 0.3, "agent.max_turns": 4}),
    trial(
        "t-2",
        0.8125,
        **{"intelligence.temperature": 0.5, "agent.max_turns": 4, "tools.enabled": ["web", "calc"]},
    ),  # fmt: skip
]


def test_the_same_values_read_back_from_a_form_are_the_same_config() -> None:
    back = {"intelligence.temperature": "0.5", "agent.max_turns": 4.0,
            "tools.enabled": ["calc", "web"]}  # fmt: skip
    assert same_config(back, TRIALS).trial_id == "t-2"


def test_a_changed_or_extra_value_is_another_config() -> None:
    assert same_config({"intelligence.temperature": 0.31, "agent.max_turns": 4}, TRIALS) is None
    extra = {"intelligence.temperature": 0.3, "agent.max_turns": 4, "tools.enabled": []}
    assert same_config(extra, TRIALS) is None
    assert same_config({"intelligence.temperature": 0.3}, []) is None


def test_the_words_say_which_scoring_repeats_itself() -> None:
    t = TRIALS[1]
    assert same_config_words(t, measured=False) == (
        "same config as t-2 (accuracy 0.812): a trace replay gives the same numbers, "
        "so it is not queued; change a value"
    )
    assert same_config_words(t, measured=True) == (
        "same config as t-2 (accuracy 0.812): measured again, its numbers may differ"
    )
