"""The engine never imports Textual, and only training code may import torch (STYLE rule 1).

Each check runs in a fresh interpreter, so modules imported by other tests (or by
pytest plugins such as pytest-textual-snapshot) cannot hide or fake a violation.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
import textwrap

import jarvis_tui

UI_PREFIX = "jarvis_tui.ui"
ENTRY_POINTS = {"jarvis_tui.cli", "jarvis_tui.__main__"}  # __main__ would run the CLI
TRAINING_PREFIX = "jarvis_tui.learning.training"
HEAVY = ("torch", "transformers", "peft")
# Optional extras a module may import at the top, and where: anywhere else, a
# missing extra means the module is not importable without it, which is a bug.
OPTIONAL = {
    "torch": TRAINING_PREFIX,
    "transformers": TRAINING_PREFIX,
    "peft": TRAINING_PREFIX,
    "optuna": "jarvis_tui.learning.optimize",
}


def _in(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _engine_modules() -> list[str]:
    names = [
        m.name
        for m in pkgutil.walk_packages(jarvis_tui.__path__, "jarvis_tui.")
        if not _in(m.name, UI_PREFIX) and m.name not in ENTRY_POINTS
    ]
    return sorted(["jarvis_tui", *names])


_PROBE = textwrap.dedent(
    """
    import importlib, json, sys
    names, optional = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    errors, skipped = [], []
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            root = (exc.name or "").split(".")[0]
            prefix = optional.get(root)
            if prefix and (name == prefix or name.startswith(prefix + ".")):
                skipped.append(name)
            else:
                errors.append(f"{name}: {exc!r}")
        except Exception as exc:
            errors.append(f"{name}: {exc!r}")
    print(json.dumps({
        "errors": errors,
        "skipped": skipped,
        "loaded": sorted(m for m in sys.modules if "." not in m),
    }))
    """
)


def _probe(names: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(names), json.dumps(OPTIONAL)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_engine_modules_are_found() -> None:
    names = _engine_modules()
    assert {"jarvis_tui.demo", "jarvis_tui.traces.store", "jarvis_tui.paths"} <= set(names)
    assert not any(_in(n, UI_PREFIX) for n in names)


def test_engine_never_imports_textual() -> None:
    result = _probe(_engine_modules())
    assert result["errors"] == []
    assert "textual" not in result["loaded"]


def test_non_training_engine_never_imports_torch() -> None:
    names = [n for n in _engine_modules() if not _in(n, TRAINING_PREFIX)]
    result = _probe(names)
    assert result["errors"] == []
    assert not set(HEAVY) & set(result["loaded"])


def test_cli_imports_neither_ui_nor_torch() -> None:
    result = _probe(["jarvis_tui.cli"])
    assert result["errors"] == []
    assert not {*HEAVY, "textual"} & set(result["loaded"])


def test_learning_package_is_light_and_lists_its_lazy_names() -> None:
    """``import jarvis_tui.learning`` loads none of the heavy or optional libraries; the
    optimizer, store and trainer names are listed and come in on first use."""
    code = textwrap.dedent(
        """
        import json, sys
        import jarvis_tui.learning as L
        before = sorted(m for m in ("torch", "transformers", "peft", "optuna", "numpy")
                        if m in sys.modules)
        names = ["LLMOptimizer", "OptimizationEngine", "OptimizationStore", "LoRATrainer",
                 "LoRATrainingConfig", "HAS_TORCH"]
        listed = [n for n in names if n in L.__all__ and n in dir(L)]
        resolved = [n for n in names if getattr(L, n) is not None]
        print(json.dumps({"before": before, "listed": listed, "resolved": resolved,
                          "has_torch": L.HAS_TORCH}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["before"] == []
    assert len(result["listed"]) == len(result["resolved"]) == 6
    import importlib.util

    assert result["has_torch"] is (importlib.util.find_spec("torch") is not None)


def test_the_forms_and_their_search_spaces_import_no_numpy() -> None:
    """The Traces pane's judge and export forms (built from a SearchSpace) open without
    numpy: only the Pareto frontier needs it, and it is imported on first use."""
    code = textwrap.dedent(
        """
        import json, sys
        import jarvis_tui.ui.screens.forms, jarvis_tui.ui.screens.export_form
        from jarvis_tui.ui.panes import evidence
        evidence.judge_form_space(), evidence.export_space()
        import jarvis_tui.learning.optimize as O
        before = "numpy" in sys.modules
        O.compute_pareto_frontier  # listed, and there on first use
        print(json.dumps({"before": before, "after": "numpy" in sys.modules}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"before": False, "after": True}


FIRST_PAINT_HEAVY = (*HEAVY, "numpy", "optuna", "plotext", "textual_plotext")
"""What the first paint must not import: the Training, Trials and Routing panes' libraries
(and the optimizer's), which come in when those panes are first shown."""

FIRST_PAINT_UNSHOWN = ("textual.widgets._text_area", "textual.document._document")
"""Nor the widgets of screens not shown yet: the note editor's TextArea (and its document
and tree-sitter modules), imported when a note is first edited (issue 15)."""

_FIRST_PAINT = textwrap.dedent(
    """
    import asyncio, json, sys
    from jarvis_tui.ui.app import JarvisApp

    async def main(home, heavy):
        app = JarvisApp(home)
        async with app.run_test(size=(120, 40)) as pilot:
            status = app.query_one("#traces-status")
            while not str(status.render()).startswith("rows "):  # the first page is in
                await pilot.pause(0.01)
            await pilot.pause()  # and painted
            print(json.dumps({"status": str(status.render())[:200],
                              "loaded": sorted(m for m in heavy if m in sys.modules)}))

    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
    """
)


def test_the_first_paint_imports_no_numpy_optuna_or_torch(demo_copy) -> None:
    """Up to the first rows painted on a demo workspace (traces, agents, an optimization
    study), none of numpy, optuna, torch (nor transformers, peft, plotext) is imported,
    nor the note editor's TextArea."""
    home = demo_copy(traces=300, seed=3)  # built here: only the app's process is measured
    assert (home / "optimize.toml").is_file() and (home / "agents").is_dir()
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_PAINT, str(home),
         json.dumps([*FIRST_PAINT_HEAVY, *FIRST_PAINT_UNSHOWN])],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"].startswith("rows 1–"), result
    assert result["loaded"] == [], result
