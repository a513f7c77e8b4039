"""The LLM optimizer whose replies are rejected (walkthrough 41), through a real HTTP
endpoint in this process: README's one rule. Each proposal gets 3 replies; none usable,
a random config stands in (source ``fallback``); a second such proposal in a row (6
rejected replies in a row) ends the run ``failed`` with one line; one usable reply
resets the count, so an optimizer that answers now and then completes its run."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.learning.optimize import OptimizationStore, SearchDimension, SearchSpace
from jarvis_tui.learning.optimize.backends import OpenAICompatibleBackend
from jarvis_tui.learning.optimize.llm_optimizer import LLMOptimizer
from jarvis_tui.learning.optimize.optimizer import OptimizationEngine
from jarvis_tui.learning.optimize.types import TrialConfig, TrialResult

SPACE = SearchSpace(
    dimensions=[
        SearchDimension("intelligence.temperature", "continuous", low=0.0, high=1.0,
                        primitive="intelligence"),
    ]
)  # fmt: skip
GARBAGE = "Score: 0.8 because [bold red]good[/] \x1b]0;x\x07 answer"


class Runner:
    benchmark = "fake"
    is_estimate = True

    def run_trial(self, config: TrialConfig) -> TrialResult:
        return TrialResult(trial_id=config.trial_id, config=config, accuracy=random.random(),
                           mean_latency_seconds=1.0, total_cost_usd=0.01)  # fmt: skip


def endpoint(script: list[bool]) -> ChatServer:
    """Proposal replies in order: True a usable config, False garbage (then garbage)."""
    lock = threading.Lock()

    def answer(user: str, system: str) -> str:
        if "analyst" in system:
            return '{"summary_text": "fine"}'
        with lock:
            usable = script.pop(0) if script else False
        if not usable:
            return GARBAGE
        t = round(random.random(), 3)
        return f"```json\n{json.dumps({'intelligence.temperature': t})}\n```"

    return ChatServer({"*": answer})


def run(tmp_path: Path, script: list[bool], trials: int):
    with endpoint(script) as server, OptimizationStore(tmp_path / "optimize.db") as store:
        backend = OpenAICompatibleBackend(server.url, retries=0)
        opt = LLMOptimizer(SPACE, optimizer_model="j1", optimizer_backend=backend)
        result = OptimizationEngine(SPACE, opt, Runner(), store=store,
                                    max_trials=trials, early_stop_patience=99).run()  # fmt: skip
        meta = store.get_run_meta(result.run_id)
        sources = [m.get("source") for m in store.get_trial_meta(result.run_id).values()]
        return result, meta, sources


def test_six_rejected_replies_in_a_row_fail_the_run_with_one_line(tmp_path: Path) -> None:
    result, meta, sources = run(tmp_path, [], trials=4)
    assert result.status == "failed"
    message = str(meta.get("message", ""))
    assert message.startswith("the optimizer answered no usable config in 6 replies in a row")
    assert "optimizer reply has no JSON object" in message and "\n" not in message
    assert sources == ["fallback"]  # one stand-in, then it stopped


def test_one_usable_reply_resets_the_count_and_the_run_completes(tmp_path: Path) -> None:
    # proposal 1: 3 garbage (fallback); 2: usable; 3: 3 garbage (fallback); 4: usable
    script = [False, False, False, True, False, False, False, True]
    result, _meta, sources = run(tmp_path, script, trials=4)
    assert result.status == "completed", result
    assert sources.count("fallback") == 2 and len(sources) == 4, sources
