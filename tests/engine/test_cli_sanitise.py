"""What the CLI prints: data never reaches the terminal raw, numbers read for people.

Every string from data (a trace's model name, a foreign store's table names) or the
network (an endpoint's error text) is printed as text: escape sequences and invisible
format characters are made visible, Rich markup and emoji codes stay as typed.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from jarvis_tui.cli import main
from jarvis_tui.core.types import Trace
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.text import one_line, plain, safe_text, visible

# Retitles the terminal, writes the clipboard (OSC 52), then markup, an emoji code and
# a right-to-left override that would make "gpj.exe" read as "exe.jpg".
EVIL = "\x1b]0;pwned\x07\x1b]52;c;aGk=\x07[bold]big[/] :smile: \u202egpj.exe"
RAW = ("\x1b", "\x07", "\u202e", "😄")


def _assert_shown_as_text(out: str) -> None:
    for ch in RAW:
        assert ch not in out, repr(ch)
    assert "␛]0;pwned␇" in out
    assert "[bold]big[/] :smile: \\u202egpj.exe" in out


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("jarvis-tui: error: ") and "Traceback" not in err
    return lines[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A workspace whose traces name an evil model (labelled, so it gets routed)."""
    ws = tmp_path / "ws"
    store = TraceStore(ws / "traces.db")
    store.save_many(
        Trace(trace_id=f"e{i}", query=f"solve the equation x + {i} = 3", agent=("simple", "react")[i % 2],
              model=EVIL, result=f"r{i}", feedback=0.9, started_at=float(i),
              total_latency_seconds=1.0, total_tokens=20)
        for i in range(40)
    )  # fmt: skip
    store.close()
    return ws


# ------------------------------------------------------------------------- the sanitiser


@pytest.mark.parametrize("ch", [*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))])
def test_bidi_overrides_and_isolates_are_visible(ch: str) -> None:
    shown = visible(f"a{ch}b")
    assert ch not in shown and shown == f"a\\u{ord(ch):04x}b"
    assert ch not in one_line(f"a{ch}b") and ch not in safe_text(f"a{ch}b").plain


@pytest.mark.parametrize(
    "ch", ["\u200b", "\u200e", "\u2060", "\ufeff", "\u00ad", "\u2028", "\U000e0041", "\ud800"]
)
def test_other_invisible_format_characters_are_visible(ch: str) -> None:
    assert ch not in visible(f"x{ch}y")


def test_joiners_that_scripts_and_emoji_need_are_kept() -> None:
    family = "👩\u200d👩\u200d👧"
    assert visible(family) == family
    assert visible("می\u200cخواهم") == "می\u200cخواهم"


def test_plain_is_one_visible_line() -> None:
    assert plain("a\nb\tc\x1b[31m") == "a ⏎ b c␛[31m"
    assert plain(42) == "42"


# ------------------------------------------------------------------------- CLI sinks


def test_learn_prints_a_model_name_as_text(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["learn", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "route" in out
    _assert_shown_as_text(out)


def test_learn_json_escapes_control_characters(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["learn", "--home", str(home), "--json"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and json.loads(out)["routing"]  # machine output keeps the value
    assert EVIL in json.loads(out)["routing"].values()


def _foreign_db(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(f'CREATE TABLE "{EVIL}" (x)')
    conn.commit()
    conn.close()


def test_a_foreign_table_name_in_the_error_line_is_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _foreign_db(tmp_path / "traces.db")
    assert main(["learn", "--home", str(tmp_path)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "not an OpenJarvis trace store" in line
    _assert_shown_as_text(line)


def test_opening_the_app_on_a_foreign_store_says_so_as_text(tmp_path: Path) -> None:
    _foreign_db(tmp_path / "traces.db")
    # A subprocess keeps Textual out of the engine tests' interpreter; the app refuses
    # the store before it draws anything.
    done = subprocess.run(
        [sys.executable, "-m", "jarvis_tui", "--home", str(tmp_path)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 1
    _assert_shown_as_text(_one_error_line(done.stderr))


class _Evil(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = EVIL.encode()  # the error text, as some servers send it: raw
        self.send_response(400)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def evil_endpoint() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Evil)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    yield f"http://{host}:{port}/v1"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def test_optimize_prints_the_endpoints_error_text_as_text(
    home: Path, evil_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["optimize", "--home", str(home), "--trials", "2", "--backend", evil_endpoint,
                 "--model", "m"])  # fmt: skip
    captured = capsys.readouterr()
    both = captured.out + captured.err
    assert "HTTP 400" in both
    for ch in RAW:
        assert ch not in both, repr(ch)
    assert "[bold]big[/]" in both and "␛]0;pwned␇" in both
    if code != 0:
        _one_error_line(captured.err)


# ------------------------------------------------------------------------- issue 10


def test_learn_with_an_unknown_agent_is_an_error_naming_the_known_ones(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["learn", "--home", str(home), "--agent", "nosuch"]) == 1
    captured = capsys.readouterr()
    line = _one_error_line(captured.err)
    assert "'nosuch'" in line and "react, simple" in line
    assert captured.out == ""


def test_learn_with_a_known_agent_still_runs(home: Path, capsys) -> None:
    assert main(["learn", "--home", str(home), "--agent", "react"]) == 0
    assert "status: completed" in capsys.readouterr().out


class _FakeTrainer:
    def __init__(self, config: Any, *, model_name: str, device: str | None, **_: Any) -> None:
        pass  # (the trainer's other options — precision, threads, … — do not matter here)

    def train(self, pairs, *, callback, run_dir, eval_fraction, **_: Any) -> dict:  # noqa: ANN001
        callback({"step": 1, "total_steps": 1, "loss": 6.223599844200667, "tokens_per_s": 1234.5})
        return {"status": "completed", "run_dir": str(run_dir), "final_loss": 6.223599844200667,
                "tokens_per_s": 1234.5678, "train_examples": 8}  # fmt: skip


@pytest.fixture
def fake_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from jarvis_tui.learning.training import lora

    monkeypatch.setattr(lora, "LoRATrainer", _FakeTrainer)


def test_train_rounds_for_people_and_json_keeps_full_precision(
    home: Path, tmp_path: Path, fake_trainer: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--home", str(home), "--model", str(tmp_path), "--eval-split", "0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "final_loss: 6.224\n" in out and "tokens_per_s: 1,235\n" in out
    assert "6.2235" not in out
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["final_loss"] == 6.223599844200667


def test_demo_help_shows_a_percent_sign(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert "60% labelled" in " ".join(out.split()) and "%%" not in out


def test_an_empty_home_says_how_to_build_a_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opened: list[Path] = []
    module = types.ModuleType("jarvis_tui.ui.app")
    module.run_app = lambda home: opened.append(home) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "jarvis_tui.ui.app", module)
    assert main(["--home", str(tmp_path / "empty"), "--create"]) == 0
    assert opened == [tmp_path / "empty"]  # the app still opens (and starts empty)
    err = capsys.readouterr().err
    assert "no traces yet" in err and "jarvis-tui demo" in err
