"""`jarvis-tui serve`: what it refuses (one line, exit 1) and what it hands textual-serve.

No browser and no listening server: a fake ``textual_serve`` module records what
the command builds; the real one runs only in a subprocess, to check that a port
taken after our own check is still one line.
"""

from __future__ import annotations

import errno
import shlex
import socket
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.traces.store import TraceStore


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("jarvis-tui: error: ")
    assert "Traceback" not in err
    return lines[0]


class FakeServer:
    """Stands in for textual_serve.server.Server: records, serves nothing."""

    made: list[FakeServer] = []
    on_serve: BaseException | None = None

    def __init__(self, command: str, host: str = "localhost", port: int = 8000,
                 title: str | None = None, public_url: str | None = None) -> None:  # fmt: skip
        self.command, self.host, self.port = command, host, port
        self.title, self.public_url = title, public_url
        self.served = False
        FakeServer.made.append(self)

    def serve(self, debug: bool = False) -> None:
        self.served = True
        if FakeServer.on_serve is not None:
            raise FakeServer.on_serve


@pytest.fixture
def fake_serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeServer]]:
    package = types.ModuleType("textual_serve")
    module = types.ModuleType("textual_serve.server")
    module.Server = FakeServer  # type: ignore[attr-defined]
    package.server = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "textual_serve", package)
    monkeypatch.setitem(sys.modules, "textual_serve.server", module)
    FakeServer.made, FakeServer.on_serve = [], None
    yield FakeServer
    FakeServer.made, FakeServer.on_serve = [], None


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_refuses_a_file(
    tmp_path: Path, fake_serve: type[FakeServer], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "not-a-dir"
    path.write_text("x")
    assert main(["serve", "--home", str(path), "--port", str(_free_port())]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert str(path) in line and "not a directory" in line
    assert fake_serve.made == []


def test_serve_refuses_a_bad_trace_store(
    tmp_path: Path, fake_serve: type[FakeServer], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "traces.db").write_bytes(b"not a database at all" * 100)
    assert main(["--home", str(tmp_path), "serve", "--port", str(_free_port())]) == 1
    _one_error_line(capsys.readouterr().err)
    assert fake_serve.made == []


def test_serve_without_textual_serve_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "textual_serve", None)  # makes the import fail
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    assert main(["serve", "--home", str(tmp_path)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line == (
        "jarvis-tui: error: jarvis-tui serve needs textual-serve: pip install 'jarvis-tui[serve]'"
    )


def test_serve_on_a_port_in_use(
    tmp_path: Path, fake_serve: type[FakeServer], busy_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert main(["serve", "--home", str(tmp_path), "--port", str(busy_port)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert f"127.0.0.1:{busy_port}" in line and "in use" in line
    assert fake_serve.made == []


def test_serve_on_an_unknown_host(
    tmp_path: Path, fake_serve: type[FakeServer], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--home", str(tmp_path), "--host", "no-such-host.invalid"]) == 1
    assert "no-such-host.invalid" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_serve_rejects_a_bad_port(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", port])
    assert exc.value.code == 2
    assert "--port" in capsys.readouterr().err


def test_serve_runs_the_app_on_the_workspace(tmp_path: Path, fake_serve: type[FakeServer]) -> None:
    home = tmp_path / "a workspace; with 'quotes'"
    TraceStore(home / "traces.db").close()
    port = _free_port()
    assert main(["serve", "--home", str(home), "--port", str(port)]) == 0
    (server,) = fake_serve.made
    assert server.served
    assert (server.host, server.port, server.title) == ("127.0.0.1", port, "jarvis-tui")
    assert server.public_url == f"http://127.0.0.1:{port}"
    # The shell runs it: the same interpreter, the workspace as one argument.
    assert shlex.split(server.command) == [
        sys.executable, "-m", "jarvis_tui", "--home", str(home.absolute())
    ]  # fmt: skip


def test_serve_public_url_and_ipv6_host(tmp_path: Path, fake_serve: type[FakeServer]) -> None:
    port = _free_port()
    args = ["serve", "--home", str(tmp_path), "--port", str(port)]
    assert main([*args, "--public-url", "https://jt.example.org/"]) == 0
    assert fake_serve.made[-1].public_url == "https://jt.example.org"
    if socket.has_ipv6:
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
        except OSError:
            return  # no IPv6 loopback here
        assert main([*args, "--host", "::1"]) == 0
        assert fake_serve.made[-1].public_url == f"http://[::1]:{port}"


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (OSError(errno.EADDRINUSE, "error while attempting to bind"), "the port is in use"),
        (OSError(errno.EACCES, "Permission denied"), "Permission denied"),
    ],
)
def test_serve_bind_failure_in_the_server_is_one_line(
    tmp_path: Path, fake_serve: type[FakeServer], capsys: pytest.CaptureFixture[str],
    error: OSError, said: str,
) -> None:  # fmt: skip
    """textual-serve binds only once it runs: its OSError is one line as well."""
    fake_serve.on_serve = error
    port = _free_port()
    assert main(["serve", "--home", str(tmp_path), "--port", str(port)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert f"cannot listen on 127.0.0.1:{port}: {said}" in line


def test_real_textual_serve_on_a_port_taken_after_the_check(tmp_path: Path, busy_port: int) -> None:
    """The port check skipped, textual-serve itself finds the port taken: one line."""
    pytest.importorskip("textual_serve")
    code = (
        "import sys, jarvis_tui.cli as cli\n"
        "cli._check_port_free = lambda host, port: None\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "serve", "--home", str(tmp_path), "--port", str(busy_port)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    line = _one_error_line(out.stderr)
    assert f"127.0.0.1:{busy_port}" in line
