"""Proposals compare by the config the evaluator reads (issue 14).

With every ``routing.<class>.model`` overridden, ``intelligence.model`` answers no
query: a proposal that changes only it is the same trial in effect. The engine must
not replay it, must tell the proposer why, and a targeted proposal aimed at
``intelligence`` goes to ``routing`` instead (the one thing that changes a model).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvis_tui.demo import build_demo
from jarvis_tui.learning.optimize import SearchDimension, SearchSpace, TrialConfig, TrialFeedback
from jarvis_tui.learning.optimize.optimizer import OptimizationEngine
from jarvis_tui.learning.optimize.trial_runner import (
    SHADOWED,
    TraceReplayRunner,
    effective_params,
)
from jarvis_tui.paths import Workspace
from jarvis_tui.traces.store import TraceStore

CLASSES = ("code", "general", "long", "math", "short")
MODELS = ["gpt-4o-mini", "llama3.1:70b", "llama3.1:8b", "phi3:3.8b", "qwen2.5-coder:7b"]
SPACE = SearchSpace(
    dimensions=[
        SearchDimension("intelligence.model", "categorical", MODELS, primitive="intelligence"),
        *(
            SearchDimension(f"routing.{c}.model", "categorical", ["default", *MODELS],
                            primitive="routing")
            for c in CLASSES
        ),
    ]
)  # fmt: skip
ROUTED = {f"routing.{c}.model": "llama3.1:70b" for c in CLASSES}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TraceStore]:
    root = build_demo(tmp_path_factory.mktemp("eff") / "ws", traces=2_000, seed=7)
    s = TraceStore(Workspace(root).traces_db)
    yield s
    s.close()


def routed(intel: str, code: str) -> dict:
    return {"intelligence.model": intel, **ROUTED, "routing.code.model": code}


class Scripted:
    """Proposes fully routed configs (the second one differs from the first only in
    intelligence.model); the feedback says target intelligence, as the offline
    proposer does for a latency bound."""

    optimizer_model = "scripted"

    def __init__(self) -> None:
        self.i = 0
        self.script = [
            routed("gpt-4o-mini", "llama3.1:70b"),
            routed("phi3:3.8b", "llama3.1:70b"),  # a repeat of the first in effect
            *(routed("gpt-4o-mini", m) for m in MODELS),
        ]
        self.targeted: list[tuple[str, dict]] = []
        self.told: list[str] = []

    def _next(self, params: dict | None = None) -> TrialConfig:
        self.i += 1
        p = params or self.script[(self.i - 1) % len(self.script)]
        return TrialConfig(trial_id=f"p{self.i:02d}", params=dict(p))

    def propose_initial(self) -> TrialConfig:
        return self._next()

    def propose_next(self, history, traces=None, frontier_ids=None) -> TrialConfig:
        return self._next()

    def propose_targeted(self, history, base_config, target_primitive, frontier_ids=None):
        self.targeted.append((target_primitive, dict(base_config.params)))
        p = dict(base_config.params)
        if target_primitive == "routing":  # a change that matters: one class moves
            p["routing.math.model"] = MODELS[self.i % len(MODELS)]
        else:  # what the offline proposer did: only the shadowed model changes
            p["intelligence.model"] = MODELS[self.i % len(MODELS)]
        return self._next(p)

    def propose_merge(self, candidates, history, frontier_ids=None) -> TrialConfig:
        return self._next()

    def analyze_trial(self, trial, summary, **kw) -> TrialFeedback:
        return TrialFeedback(summary_text="", target_primitive="intelligence")

    def note_reply_error(self, reason: str) -> None:
        self.told.append(reason)


def test_effective_params_resolve_defaults_and_shadowed_model() -> None:
    eff = effective_params({"intelligence.model": "a", **ROUTED}, CLASSES)
    assert eff["intelligence.model"] == SHADOWED
    one_default = {"intelligence.model": "a", **ROUTED, "routing.code.model": "default"}
    eff = effective_params(one_default, CLASSES)
    assert eff["intelligence.model"] == "a" and eff["routing.code.model"] == "a"
    # a class the traces have but the config does not route still uses the model
    assert (
        effective_params({"intelligence.model": "a", **ROUTED}, (*CLASSES, "other"))[
            "intelligence.model"
        ]
        == "a"
    )


def test_replay_gives_equal_results_for_configs_equal_in_effect(store: TraceStore) -> None:
    runner = TraceReplayRunner(store)
    a = runner.run_trial(TrialConfig("a", {"intelligence.model": "phi3:3.8b", **ROUTED}))
    b = runner.run_trial(TrialConfig("b", {"intelligence.model": "gpt-4o-mini", **ROUTED}))
    assert (a.accuracy, a.mean_latency_seconds) == (b.accuracy, b.mean_latency_seconds)
    assert runner.effective_params(a.config.params) == runner.effective_params(b.config.params)


def test_an_effective_repeat_is_never_evaluated_and_the_proposer_is_told_why(
    store: TraceStore, tmp_path: Path
) -> None:
    runner = TraceReplayRunner(store)
    proposer = Scripted()
    notices: list[str] = []
    engine = OptimizationEngine(SPACE, proposer, runner, max_trials=6, early_stop_patience=99)
    run = engine.run(on_event=lambda e: e.kind == "notice" and notices.append(e.message))
    keys = [str(sorted(runner.effective_params(t.config.params).items())) for t in run.trials]
    assert len(keys) == len(set(keys)), "two trials with the same effective config"
    why = "intelligence.model is shadowed by routing overrides for all classes"
    assert any(f"in effect ({why})" in n for n in notices), notices
    assert any(why in t for t in proposer.told), proposer.told
    # a targeted proposal from a base whose model answers nothing goes to routing
    shadowed = [t for t, base in proposer.targeted if all(base[k] != "default" for k in ROUTED)]
    assert shadowed and set(shadowed) == {"routing"}, proposer.targeted
    targeted = [t for t in run.trials if "targeted at routing" in (t.config.reasoning or "")]
    assert targeted and all(why in t.config.reasoning for t in targeted)
