"""Loading a SearchSpace from TOML, and checking hand-written configs against it.

The TOML layout is OpenJarvis' ``[optimize]`` section::

    [[optimize.search]]
    name = "intelligence.temperature"
    type = "continuous"            # categorical | continuous | integer | subset | text
    low = 0.0
    high = 1.0
    description = "Generation temperature"

    [optimize.fixed]
    engine = "ollama"

    [optimize.constraints]
    rules = ["SimpleAgent should only have max_turns = 1"]

A malformed entry is a ValueError naming the entry, not a dimension the optimizer
later trips over.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Any, TypeGuard

from jarvis_tui.learning.optimize.types import DIM_TYPES, SearchDimension, SearchSpace


def build_search_space(config: dict[str, Any]) -> SearchSpace:
    """A SearchSpace from a TOML-style dict (with or without the ``optimize`` table)."""
    if not isinstance(config, dict):
        raise ValueError("search space: expected a table")
    opt = config.get("optimize", config)
    if not isinstance(opt, dict):
        raise ValueError("search space: [optimize] must be a table")
    entries = opt.get("search", [])
    if not isinstance(entries, list):
        raise ValueError("search space: optimize.search must be an array of tables")
    fixed = opt.get("fixed", {})
    if not isinstance(fixed, dict):
        raise ValueError("search space: optimize.fixed must be a table")
    cons = opt.get("constraints", {})
    rules = cons.get("rules", []) if isinstance(cons, dict) else cons
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise ValueError("search space: constraints must be a list of strings")

    dims: list[SearchDimension] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        dim = _build_dimension(i, entry)
        if dim.name in seen:
            raise ValueError(f"search space: dimension {dim.name!r} is defined twice")
        seen.add(dim.name)
        dims.append(dim)
    return SearchSpace(dimensions=dims, fixed=dict(fixed), constraints=list(rules))


def _finite_number(value: object) -> TypeGuard[int | float]:
    """A finite int or float (a bool is not a number here)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _build_dimension(i: int, entry: Any) -> SearchDimension:
    where = f"search space: entry {i + 1}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a table")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: missing name")
    where = f"search space: dimension {name!r}"
    dim_type = entry.get("type", entry.get("dim_type", "categorical"))
    if dim_type not in DIM_TYPES:
        raise ValueError(
            f"{where}: unknown type {dim_type!r} (expected one of {', '.join(DIM_TYPES)})"
        )
    values = entry.get("values", [])
    if not isinstance(values, list):
        raise ValueError(f"{where}: values must be a list")
    low, high = entry.get("low"), entry.get("high")
    if dim_type in ("categorical", "subset"):
        if not values:
            raise ValueError(f"{where}: {dim_type} needs a non-empty list of values")
    elif dim_type in ("continuous", "integer"):
        if not _finite_number(low):
            raise ValueError(f"{where}: {dim_type} needs a numeric low")
        if not _finite_number(high):
            raise ValueError(f"{where}: {dim_type} needs a numeric high")
        if low > high:
            raise ValueError(f"{where}: low ({low}) is greater than high ({high})")
    primitive = entry.get("primitive") or (name.split(".")[0] if "." in name else "")
    return SearchDimension(
        name=name,
        dim_type=dim_type,
        values=list(values),
        low=low,
        high=high,
        description=str(entry.get("description", "")),
        primitive=primitive,
    )


def load_search_space(path: str | os.PathLike[str]) -> SearchSpace:
    """A SearchSpace from a TOML file; ValueError (with the file name) if it is not one."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{p}: not valid TOML: {exc}") from exc
    try:
        return build_search_space(data)
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from exc


def validate_config(space: SearchSpace, params: dict[str, Any]) -> list[str]:
    """Problems with a hand-written config: unknown keys, wrong types, values off the space.

    An empty list means the config may be evaluated. Keys of ``space.fixed`` are allowed.
    """
    problems: list[str] = []
    for key, value in params.items():
        dim = space.dimension(key)
        if dim is None:
            if key not in space.fixed:
                problems.append(f"{key}: not a dimension of the search space")
            continue
        t = dim.dim_type
        if t == "categorical":
            if value not in dim.values:
                problems.append(f"{key}: {value!r} is not one of {dim.values}")
        elif t == "subset":
            if not isinstance(value, list | tuple):
                problems.append(f"{key}: expected a list, got {type(value).__name__}")
            else:
                extra = [v for v in value if v not in dim.values]
                if extra:
                    problems.append(f"{key}: {extra} not among {dim.values}")
        elif t in ("continuous", "integer"):
            ok_type = (int,) if t == "integer" else (int, float)
            if isinstance(value, bool) or not isinstance(value, ok_type):
                want = "an integer" if t == "integer" else "a number"
                problems.append(f"{key}: expected {want}, got {value!r}")
            elif dim.low is not None and dim.high is not None and not dim.low <= value <= dim.high:
                problems.append(f"{key}: {value} is outside [{dim.low}, {dim.high}]")
        elif t == "text" and not isinstance(value, str):
            problems.append(f"{key}: expected text, got {type(value).__name__}")
    return problems


def default_search_space() -> SearchSpace:
    """A fresh copy of OpenJarvis's default search space (all five primitives)."""
    dim = SearchDimension
    return SearchSpace(
        dimensions=[
            dim("intelligence.model", "categorical",
                ["qwen3:8b", "qwen3:4b", "qwen3:1.7b", "llama3.1:8b", "llama3.1:70b",
                 "gemma2:9b", "mistral:7b", "deepseek-r1:8b"],
                description="The LLM model to use for generation", primitive="intelligence"),
            dim("intelligence.temperature", "continuous", low=0.0, high=1.0,
                description="Generation temperature (0 = deterministic, 1 = creative)",
                primitive="intelligence"),
            dim("intelligence.max_tokens", "integer", low=256, high=8192,
                description="Maximum tokens to generate per response", primitive="intelligence"),
            dim("intelligence.top_p", "continuous", low=0.0, high=1.0,
                description="Nucleus sampling probability threshold", primitive="intelligence"),
            dim("intelligence.system_prompt", "text",
                description="System prompt to guide model behavior", primitive="intelligence"),
            dim("engine.backend", "categorical",
                ["ollama", "vllm", "sglang", "llamacpp", "mlx", "lmstudio", "exo", "nexa",
                 "ovms", "uzu", "apple_fm"],
                description="Inference engine backend", primitive="engine"),
            dim("agent.type", "categorical",
                ["simple", "orchestrator", "native_react", "native_openhands"],
                description="Agent architecture to use", primitive="agent"),
            dim("agent.max_turns", "integer", low=1, high=30,
                description="Maximum number of agent reasoning turns", primitive="agent"),
            dim("tools.tool_set", "subset",
                ["calculator", "think", "file_read", "file_write", "web_search",
                 "code_interpreter", "llm", "shell_exec", "apply_patch", "http_request",
                 "database_query"],
                description="Set of tools available to the agent", primitive="tools"),
            dim("learning.routing_policy", "categorical",
                ["heuristic", "grpo", "bandit", "learned"],
                description="Router policy for model/agent selection", primitive="learning"),
        ],
        fixed={},
        constraints=[
            "SimpleAgent (agent.type='simple') should only have max_turns = 1",
            "agent.max_turns must be >= 1",
            "intelligence.temperature and intelligence.top_p should not both be at extreme values",
        ],
    )  # fmt: skip


DEFAULT_SEARCH_SPACE: SearchSpace = default_search_space()
"""OpenJarvis's default search space: model, temperature, max tokens, top-p, system
prompt, engine, agent type, max turns, tool set and routing policy, with its values.
Shared and mutable as in OpenJarvis: call :func:`default_search_space` for a copy
to change."""


__all__ = [
    "DEFAULT_SEARCH_SPACE",
    "build_search_space",
    "default_search_space",
    "load_search_space",
    "validate_config",
]
