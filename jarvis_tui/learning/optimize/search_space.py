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

Unlike the reference, a malformed entry is a ValueError naming the entry, not a
dimension the optimizer later trips over.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Any

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
        for label, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"{where}: {dim_type} needs a numeric {label}")
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
            elif not (dim.low <= value <= dim.high):
                problems.append(f"{key}: {value} is outside [{dim.low}, {dim.high}]")
        elif t == "text" and not isinstance(value, str):
            problems.append(f"{key}: expected text, got {type(value).__name__}")
    return problems


__all__ = ["build_search_space", "load_search_space", "validate_config"]
