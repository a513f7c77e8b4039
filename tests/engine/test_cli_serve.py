"""`jarvis-tui serve`: what it refuses, what it hands textual-serve, and what a client
can and cannot do against a real server.

The first tests need no listening server: a fake ``textual_serve`` module records what
the command builds. The rest start a real ``jarvis-tui serve`` on a free localhost port
(one per module) and probe it with raw HTTP and websockets (aiohttp, which textual-serve
brings): the token on the page, its assets and the websocket, the websocket's Origin,
the session cap, the terminal size cap and no app process left after a client drops
(counted with psutil). Waits are polls with a deadline, never fixed sleeps.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import time
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


class FakeAppService:
    """Stands in for textual_serve.app_service.AppService: never started here."""


@pytest.fixture
def fake_serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeServer]]:
    pytest.importorskip("aiohttp")  # the server's own part is built on it
    pytest.importorskip("aiohttp_jinja2")
    package = types.ModuleType("textual_serve")
    module = types.ModuleType("textual_serve.server")
    module.Server = FakeServer  # type: ignore[attr-defined]
    services = types.ModuleType("textual_serve.app_service")
    services.AppService = FakeAppService  # type: ignore[attr-defined]
    package.server = module  # type: ignore[attr-defined]
    package.app_service = services  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "textual_serve", package)
    monkeypatch.setitem(sys.modules, "textual_serve.server", module)
    monkeypatch.setitem(sys.modules, "textual_serve.app_service", services)
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
    monkeypatch.setitem(sys.modules, "textual_serve.app_service", None)
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
    assert exc.value.code == 1  # every error exits 1
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
        "import sys, jarvis_tui.cli as cli, jarvis_tui.serve as serve\n"
        "serve._check_port_free = lambda host, port: None\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "serve", "--home", str(tmp_path), "--port", str(busy_port)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    line = _one_error_line(out.stderr)
    assert f"127.0.0.1:{busy_port}" in line


def test_serve_help_says_what_no_auth_and_max_sessions_mean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "?token=" in text
    assert "--no-auth" in text and "anyone who can connect to the port" in text
    assert "--max-sessions N" in text and "(default: 4)" in text


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_serve_rejects_a_bad_max_sessions(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--max-sessions", value])
    assert exc.value.code == 1  # every error exits 1
    assert "--max-sessions" in capsys.readouterr().err


def test_serve_off_loopback_warns(
    tmp_path: Path, fake_serve: type[FakeServer], capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    assert main(["serve", "--home", str(tmp_path), "--host", "0.0.0.0", "--port", str(port)]) == 0
    assert fake_serve.made[-1].served
    err = capsys.readouterr().err
    assert f"warning: listening on 0.0.0.0:{port}" in err and "token" in err
    assert main(["serve", "--home", str(tmp_path), "--port", str(port)]) == 0
    assert "warning" not in capsys.readouterr().err  # loopback: no warning


def test_serve_no_auth_only_on_loopback(
    tmp_path: Path, fake_serve: type[FakeServer], capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    args = ["serve", "--home", str(tmp_path), "--port", str(port), "--no-auth"]
    assert main([*args, "--host", "0.0.0.0"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "--no-auth needs a loopback --host" in line
    assert fake_serve.made == []
    assert main(args) == 0
    assert fake_serve.made[-1].served


# --------------------------------------------------------------------------- a real server

ROW_MOVE = re.compile(rb"\x1b\[(\d+);\d+H")


def _wait(check, timeout: float, what) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what()}")


class RealServer:
    """`jarvis-tui serve --max-sessions 1` in its own process group."""

    def __init__(self, home: Path, log: Path) -> None:
        self.log = log
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jarvis_tui", "serve", "--home", str(home),
             "--port", str(self.port), "--max-sessions", "1"],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.base = f"http://127.0.0.1:{self.port}"
        self.origin = self.base
        found = _wait(
            lambda: (
                self.proc.poll() is not None
                or re.search(rf"{re.escape(self.base)}/?(\?token=([\w-]+))?\s", self.output())
            ),
            timeout=60,
            what=lambda: f"the server's URL; its output:\n{self.output()}",
        )
        assert self.proc.poll() is None, self.output()
        self.token = found.group(2) or ""  # type: ignore[union-attr]
        _wait(self._answers, timeout=30, what=lambda: f"an answer; output:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def _answers(self) -> bool:
        try:
            self.get("/")
        except OSError:
            return False
        return True

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, str]:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode(errors="replace")

    def apps(self) -> list:
        """The app processes it runs (zombies it has not reaped yet count too)."""
        import psutil

        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    pytest.importorskip("textual_serve")
    pytest.importorskip("psutil")
    root = tmp_path_factory.mktemp("serve")
    TraceStore(root / "home" / "traces.db").close()
    server = RealServer(root / "home", root / "serve.log")
    try:
        yield server
    finally:
        server.stop()
        for app in server.apps():  # should any have outlived it
            with contextlib.suppress(Exception):
                app.kill()


async def _handshake(
    server: RealServer, path: str, *, origin: str | None, cookie: str = "", base: str = ""
) -> int:
    """The status of a websocket upgrade of PATH (101, or the refusal), then closed."""
    import aiohttp

    headers = {"Cookie": cookie} if cookie else {}
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(
                (base or server.base) + path, origin=origin, headers=headers, autoclose=True
            )
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        return 101


def _no_apps(server: RealServer, timeout: float = 40) -> None:
    _wait(lambda: not server.apps(), timeout,
          lambda: f"no app process; left: {server.apps()}\n{server.output()[-3000:]}")  # fmt: skip


async def test_without_the_token_everything_is_403(real_server: RealServer) -> None:
    s = real_server
    for path in ("/", "/?token=wrong", "/static/js/textual.js", "/static/css/xterm.css",
                 "/static/js/textual.js?token=", "/download/abc"):  # fmt: skip
        status, _, body = s.get(path)
        assert status == 403, path
        assert "token" in body
    assert await _handshake(s, "/ws", origin=s.origin) == 403
    assert await _handshake(s, "/ws/wrong-token", origin=s.origin) == 403
    assert await _handshake(s, "/ws?token=wrong", origin=s.origin) == 403
    assert s.apps() == []


async def test_with_the_token_the_page_its_assets_and_its_websocket(
    real_server: RealServer,
) -> None:
    s = real_server
    assert s.token, "the server printed no token URL"
    status, headers, body = s.get(f"/?token={s.token}")
    assert status == 200
    cookie = headers["Set-Cookie"]
    assert f"={s.token}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # The page's websocket URL carries the token (textual.js appends ?width=… to it).
    assert f'data-session-websocket-url="ws://127.0.0.1:{s.port}/ws/{s.token}"' in body
    cookie = cookie.split(";", 1)[0]
    assert s.get("/static/js/textual.js", {"Cookie": cookie})[0] == 200
    assert s.get(f"/static/css/xterm.css?token={s.token}")[0] == 200
    assert await _handshake(s, f"/ws/{s.token}", origin=s.origin) == 101
    assert await _handshake(s, "/ws", origin=s.origin, cookie=cookie) == 101
    _no_apps(s)


async def test_the_websocket_only_opens_from_its_own_page(real_server: RealServer) -> None:
    s = real_server
    assert s.token, "the server printed no token URL"
    path, cookie = f"/ws/{s.token}", f"jarvis_tui_token_{s.port}={s.token}"
    assert await _handshake(s, path, origin=None) == 403
    assert await _handshake(s, path, origin="http://evil.example") == 403
    # Another port of the same host: a different origin, yet the browser sends the cookie.
    other = f"http://127.0.0.1:{_free_port()}"
    assert await _handshake(s, path, origin=other) == 403
    assert await _handshake(s, "/ws", origin=other, cookie=cookie) == 403
    assert await _handshake(s, "/ws", origin="null", cookie=cookie) == 403
    # Reached by another address than it printed, the page is still its own origin,
    # but it cannot claim to be another one.
    assert await _handshake(s, path, origin=f"http://localhost:{s.port}") == 403
    assert s.apps() == []
    localhost = f"http://localhost:{s.port}"
    assert await _handshake(s, path, origin=localhost, base=localhost) == 101
    _no_apps(s)


async def test_sessions_and_terminal_size_are_capped(real_server: RealServer) -> None:
    import aiohttp

    s = real_server
    assert s.token, "the server printed no token URL"
    path = f"/ws/{s.token}"
    received = bytearray()
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{s.base}{path}?width=3000&height=3000", origin=s.origin)

        async def read_until(pattern: bytes, start: int, timeout: float = 60) -> int:
            """Reads the app's output until PATTERN shows after offset START."""
            deadline = time.monotonic() + timeout
            while received.find(pattern, start) < 0:
                left = deadline - time.monotonic()
                assert left > 0, f"no {pattern!r} in the app's output; {s.output()[-2000:]}"
                msg = await ws.receive(timeout=left)
                if msg.type == aiohttp.WSMsgType.BINARY:
                    received.extend(msg.data)
                elif msg.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"the session ended: {msg}; {s.output()[-2000:]}")
            return len(received)

        # The app process was asked for 500 x 200, not 3000 x 3000.
        (app,) = _wait(s.apps, 30, lambda: "the app process")  # type: ignore[misc]

        # Between fork and exec the child still has the server's environment: wait
        # for the app's own (the one that names its terminal size).
        def own_environ() -> dict | None:
            env = app.environ()
            return env if "ROWS" in env else None

        environ = _wait(own_environ, 30, lambda: "the app process's environment")
        assert (environ["COLUMNS"], environ["ROWS"]) == ("500", "200")  # type: ignore[index]
        await read_until(b"\x1b[200;", 0)

        # A second session: refused (the cap is 1), on the page and on the websocket.
        status, _, body = s.get(f"/?token={s.token}")
        assert status == 503 and "sessions" in body and "--max-sessions 1" in body
        async with session.ws_connect(f"{s.base}{path}", origin=s.origin) as second:
            refusal = await second.receive(timeout=30)
            assert refusal.type == aiohttp.WSMsgType.BINARY and b"sessions" in refusal.data
            closed = await second.receive(timeout=30)
            assert closed.type == aiohttp.WSMsgType.CLOSE
            assert closed.data == aiohttp.WSCloseCode.TRY_AGAIN_LATER
        assert len(s.apps()) == 1

        # A resize is capped too: shrink, then ask for 100000 x 100000.
        mark = len(received)
        await ws.send_json(["resize", {"width": 60, "height": 20}])
        await read_until(b"\x1b[20;", mark)
        mark = len(received)
        await ws.send_json(["resize", {"width": 100000, "height": 100000}])
        await read_until(b"\x1b[200;", mark)
        await ws.close()
        while (msg := await ws.receive(timeout=30)).type == aiohttp.WSMsgType.BINARY:
            received.extend(msg.data)
    rows = [int(m.group(1)) for m in ROW_MOVE.finditer(bytes(received[mark:]))]
    assert max(rows) == 200
    _no_apps(s)
    assert s.get(f"/?token={s.token}")[0] == 200  # the slot is free again


def test_a_client_that_drops_leaves_no_app_behind(real_server: RealServer) -> None:
    """A raw websocket asks for 3000 x 3000, reads a little, then resets the connection."""
    s = real_server
    assert s.token, "the server printed no token URL"
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET /ws/{s.token}?width=3000&height=3000 HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{s.port}\r\nOrigin: {s.origin}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = sock.recv(4096)
            assert chunk, got
            got += chunk
        assert got.startswith(b"HTTP/1.1 101"), got
        _wait(s.apps, 30, lambda: "the app process")
        while len(got) < 64_000:  # the app is drawing
            chunk = sock.recv(65536)
            assert chunk, "the server closed the session"
            got += chunk
    finally:
        # No close frame, no FIN: a reset, as when a laptop lid closes mid-session.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    _no_apps(s)
    assert s.get(f"/?token={s.token}")[0] == 200
    # The token is in the link it printed, not in its access log.
    assert s.output().count(s.token[:16]) == 1, s.output()
    assert "/ws/<token>?width=3000" in s.output()
