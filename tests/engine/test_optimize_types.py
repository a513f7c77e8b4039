"""Optimization types and search-space loading (engine only, no Textual)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from jarvis_tui.learning.optimize import (
    DEFAULT_OBJECTIVES,
    SearchDimension,
    SearchSpace,
    TrialConfig,
    TrialResult,
    build_search_space,
    load_search_space,
    validate_config,
)

TOML = """
[[optimize.search]]
name = "intelligence.model"
type = "categorical"
values = ["qwen3:8b", "llama3.1:70b"]
description = "Model"

[[optimize.search]]
name = "intelligence.temperature"
type = "continuous"
low = 0.0
high = 1.0

[[optimize.search]]
name = "agent.max_turns"
type = "integer"
low = 1
high = 10

[[optimize.search]]
name = "tools.tool_set"
type = "subset"
values = ["calculator", "think"]

[optimize.fixed]
engine = "ollama"

[optimize.constraints]
rules = ["simple agents take one turn"]
"""


def test_defaults_match_reference() -> None:
    r = TrialResult(trial_id="t", config=TrialConfig(trial_id="t"))
    assert r.accuracy == 0.0 and r.structured_feedback is None and r.per_benchmark == []
    assert [(o.metric, o.direction) for o in DEFAULT_OBJECTIVES] == [
        ("accuracy", "maximize"),
        ("mean_latency_seconds", "minimize"),
        ("total_cost_usd", "minimize"),
    ]
    names = [f.name for f in dataclasses.fields(SearchDimension)]
    assert names == ["name", "dim_type", "values", "low", "high", "description", "primitive"]


def test_load_from_toml(tmp_path: Path) -> None:
    p = tmp_path / "space.toml"
    p.write_text(TOML)
    space = load_search_space(p)
    assert [d.name for d in space.dimensions][:2] == [
        "intelligence.model",
        "intelligence.temperature",
    ]
    assert space.dimensions[0].primitive == "intelligence"
    assert space.fixed == {"engine": "ollama"}
    assert space.constraints == ["simple agents take one turn"]
    text = space.to_prompt_description()
    assert "## Intelligence" in text and "Range: [0.0, 1.0]" in text and "engine = ollama" in text


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ({"name": "a.b", "type": "fuzzy"}, "unknown type"),
        ({"name": "a.b", "type": "continuous", "low": 2, "high": 1}, r"low \(2\) is greater"),
        ({"name": "a.b", "type": "categorical", "values": []}, "non-empty"),
        ({"type": "categorical", "values": [1]}, "missing name"),
        ({"name": "a.b", "type": "integer", "low": 1}, "numeric high"),
    ],
)
def test_bad_dimensions(entry: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        build_search_space({"optimize": {"search": [entry]}})


def test_bad_toml_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("[[optimize.search\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_search_space(p)


def test_validate_config() -> None:
    space = build_search_space(__import__("tomllib").loads(TOML))
    assert (
        validate_config(
            space, {"intelligence.model": "qwen3:8b", "agent.max_turns": 3, "engine": "x"}
        )
        == []
    )
    problems = validate_config(
        space,
        {
            "intelligence.model": "gpt-9",
            "intelligence.temperature": 1.5,
            "agent.max_turns": 2.5,
            "tools.tool_set": ["calculator", "rm"],
            "nope": 1,
        },
    )
    assert len(problems) == 5
    joined = "\n".join(problems)
    for needle in (
        "gpt-9",
        "outside [0.0, 1.0]",
        "expected an integer",
        "'rm'",
        "nope: not a dimension",
    ):
        assert needle in joined


def test_empty_space_prompt() -> None:
    assert SearchSpace().to_prompt_description().startswith("# Search Space")
