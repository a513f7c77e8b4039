"""Suite-wide: the user's environment must not change what a test does; demo
workspaces built once per run and copied (``demo_template``, ``demo_copy``)."""

from __future__ import annotations

from pathlib import Path

import pytest

_ENV = (
    "JARVIS_TUI_HOME",
    "JARVIS_TUI_OPTIMIZER_URL",
    "JARVIS_TUI_OPTIMIZER_MODEL",
    "JARVIS_TUI_OPTIMIZER_KEY",
    "JARVIS_TUI_OPTIMIZER_TIMEOUT",
    "OPENAI_API_KEY",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """An optimizer endpoint configured in the shell would turn offline runs into
    network calls; a JARVIS_TUI_HOME would move the default workspace; the user's
    own jarvis-tui settings (keymap, theme) and logs stay out of tests."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    xdg = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(xdg / "state"))


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory):
    """``demo_template(traces=1500, seed=3, ...)``: the folder of a demo workspace built
    with those arguments of :func:`jarvis_tui.demo.build_demo`, built once for the whole
    run and shared by every pytest-xdist worker (the first to ask builds it under a file
    lock; the others wait, then reuse it). Never write into it: copy it (``demo_copy``).
    A build takes seconds; a copy, milliseconds. ``now`` is the build's clock: a test
    that needs a fixed one passes ``now=PINNED_NOW``."""
    import fcntl
    import hashlib
    import json
    import os
    import shutil

    from jarvis_tui.demo import build_demo

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # popen-gw0/.. is the run's folder, one for all workers
    cache = root / "demo-templates"
    cache.mkdir(exist_ok=True)

    def template(**kwargs) -> Path:
        key = hashlib.sha256(json.dumps(kwargs, sort_keys=True, default=repr).encode())
        built = cache / key.hexdigest()[:16]
        with open(cache / f"{built.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not built.is_dir():
                partial = cache / f"{built.name}.partial-{os.getpid()}"
                shutil.rmtree(partial, ignore_errors=True)
                build_demo(partial / "ws", **kwargs)
                partial.rename(built)  # whole or absent, even if a build fails midway
        return built / "ws"

    return template


@pytest.fixture
def demo_copy(demo_template, tmp_path: Path):
    """``demo_copy(traces=1500, seed=3, ...)``: a private, writable copy (``tmp_path/ws``)
    of the shared demo built with those arguments (``demo_template``)."""
    import shutil

    def copy(**kwargs) -> Path:
        dest = tmp_path / "ws"
        shutil.copytree(demo_template(**kwargs), dest, symlinks=True)
        return dest

    return copy
