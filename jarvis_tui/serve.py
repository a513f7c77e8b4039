"""`jarvis-tui serve`: the app in a web page, for its user only.

textual-serve (an aiohttp server) starts one app process per browser websocket. Out
of the box anyone who can reach the port, or any web page a browser on this machine
opens, can drive those apps. This server adds what a local tool needs:

- a secret made at each start (``secrets.token_urlsafe``), shown in the one URL it
  prints (``/?token=…``) and required on the page, its assets, downloads and the
  websocket (HTTP 403 without it). The page, once opened with ``?token=``, sets an
  HttpOnly, SameSite=Strict cookie so its assets carry the secret; the websocket
  URL the page uses carries it in its path (textual.js appends ``?width=…`` to it,
  so a query parameter would not survive);
- the websocket's ``Origin`` must be this server's own (403 otherwise, or when it is
  missing): cookies are shared by every port of a host, so without this check a page
  served on another local port could open the app with the user's cookie;
- a cap on concurrent sessions (a refusal page, or a websocket closed with 1013 and
  a line in the terminal) and on the terminal size a client may ask for;
- each app runs in its own process group and is quit, then terminated, then killed
  when its websocket closes, so a client that drops leaves no process behind.

textual-serve is an optional extra: it is imported only when the server starts, so
this module costs nothing to import (and never imports Textual).
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import secrets
import shlex
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # imported at run time only by `serve` (an optional extra)
    from textual_serve.app_service import AppService
    from textual_serve.server import Server

PROG = "jarvis-tui"
SERVE_HINT = f"{PROG} serve needs textual-serve: pip install 'jarvis-tui[serve]'"
DEFAULT_MAX_SESSIONS = 4
MAX_COLUMNS = 500
"""Widest terminal a client may ask for: an app drawing 3000 columns takes ~185 MB."""
MAX_ROWS = 200
"""Tallest terminal a client may ask for."""
STOP_TIMEOUT_S = 10.0
"""How long Ctrl+C waits for the open sessions to end."""
QUIT_GRACE_S = 5.0
"""How long an app gets to quit by itself once its websocket closed."""
TERM_GRACE_S = 2.0
"""How long an app gets after SIGTERM, before SIGKILL."""
FORBIDDEN = (
    "403 Forbidden: open the link with ?token=… that `jarvis-tui serve` printed when it "
    "started (the token changes at every start).\n"
)
BAD_ORIGIN = "403 Forbidden: this server's websocket is only for its own page.\n"


class ServeError(ValueError):
    """Why the server cannot start: the CLI prints it as one line and exits 1."""


def serve_app(
    home: Path,
    *,
    host: str,
    port: int,
    public_url: str | None = None,
    auth: bool = True,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
) -> int:
    """Run the server until Ctrl+C / SIGTERM; returns the exit status."""
    try:
        import aiohttp  # noqa: F401  (textual-serve's web server)
        from textual_serve.app_service import AppService
        from textual_serve.server import Server
    except ImportError:
        raise ServeError(SERVE_HINT) from None
    from jarvis_tui.ui.app import precheck

    home = home.absolute()
    problem = precheck(home)
    if problem is not None:
        raise ServeError(problem)
    _check_port_free(host, port)
    loopback = _is_loopback(host)
    where = _host_port(host, port)
    if not loopback and not auth:
        raise ServeError(
            f"--no-auth needs a loopback --host (127.0.0.1, ::1 or localhost): on {where} "
            "anyone on the network could use the app and the workspace"
        )
    if not loopback:
        print(
            f"{PROG}: warning: listening on {where}: other machines can reach this server; "
            "only a browser with the token link can use the app, and plain http sends that "
            "link in clear text (use a network you trust, or an https proxy)",
            file=sys.stderr,
        )
    public = (public_url or _public_url(host, port)).rstrip("/")
    argv = [sys.executable, "-m", "jarvis_tui", "--home", str(home)]
    server_class = _server_class(Server, AppService)
    server = server_class(
        shlex.join(argv), host=host, port=port, title=PROG, public_url=public,
        argv=argv, token=secrets.token_urlsafe(32) if auth else None,
        max_sessions=max_sessions, workspace=home,
    )  # fmt: skip
    try:
        # Returns on Ctrl+C or SIGTERM: textual-serve catches both, the server ends the
        # open sessions (each app quits) and stops.
        server.serve()
    except OSError as exc:  # the port was taken between the check and the bind
        raise _listen_error(host, port, exc) from None
    return 0


def clamp_size(value: object, limit: int, default: int) -> int:
    """A terminal dimension a client asked for, as a whole number in 1..limit."""
    if isinstance(value, bool):
        return default
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return default
    if not isinstance(value, int):
        return default
    return max(1, min(limit, value))


def _server_class(server_base: type[Server], service_base: type[AppService]) -> type:
    """textual-serve's Server with the token, Origin check, caps and cleanup above.

    Built at run time: textual-serve (and aiohttp) are imported only by ``serve``.
    """
    import asyncio
    import contextlib
    import json
    import logging
    import os
    import signal

    import aiohttp_jinja2
    from aiohttp import WSCloseCode, WSMsgType, web

    log = logging.getLogger("textual-serve")

    class AppSession(service_base):  # type: ignore[misc, valid-type]  # a base passed in
        """One browser tab's app: its own process group, ended with its websocket."""

        _task: asyncio.Task[None] | None  # the base's: what reads the app's output

        def __init__(self, argv: list[str], websocket: web.WebSocketResponse, **kwargs) -> None:
            super().__init__(
                shlex.join(argv), write_bytes=self._send_bytes, write_str=self._send_str,
                close=self._close, **kwargs,
            )  # fmt: skip
            self.argv = argv
            self.websocket = websocket

        # The app's output keeps being read after the browser went away: an app blocked
        # on a full stdout pipe would never read its quit message.
        async def _send_bytes(self, data: bytes) -> None:
            if not self.websocket.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.websocket.send_bytes(data)

        async def _send_str(self, data: str) -> None:
            if not self.websocket.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.websocket.send_str(data)

        async def _close(self) -> None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.websocket.close()

        async def _open_app_process(self, width: int = 80, height: int = 24):
            # No shell in between (a shell that forks would outlive a kill), and a
            # process group of its own, so whatever the app starts goes with it.
            environment = self._build_environment(width=width, height=height)
            self._process = process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=environment,
                start_new_session=True,
            )
            self._stdin = process.stdin
            return process

        async def set_terminal_size(self, width: int, height: int) -> None:
            await super().set_terminal_size(
                clamp_size(width, MAX_COLUMNS, 80), clamp_size(height, MAX_ROWS, 24)
            )

        def kill(self) -> None:
            """SIGKILL the app's process group, now."""
            self._signal(signal.SIGKILL)

        def _signal(self, sig: int) -> None:
            process = self._process
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, sig)

        async def _exited(self, timeout: float) -> bool:
            assert self._process is not None
            try:
                await asyncio.wait_for(self._process.wait(), timeout)
            except TimeoutError:
                return False
            return True

        async def end(self) -> None:
            """Ask the app to quit; terminate, then kill it if it does not in time."""
            process = self._process
            if process is None:
                return
            with contextlib.suppress(Exception):
                await self._download_manager.cancel_app_downloads(
                    app_service_id=self.app_service_id
                )
            if process.returncode is None:
                with contextlib.suppress(Exception):
                    await self.send_meta({"type": "quit"})
                if not await self._exited(QUIT_GRACE_S):
                    log.warning("app %s did not quit: terminating it", process.pid)
                    self._signal(signal.SIGTERM)
                    if not await self._exited(TERM_GRACE_S):
                        self.kill()
                        await process.wait()
            if self._task is not None:
                await self._task  # its output is read to the end: the pipe closed
                self._task = None

    class JarvisServer(server_base):  # type: ignore[misc, valid-type]  # a base passed in
        def __init__(
            self, command: str, *, argv: list[str], token: str | None, max_sessions: int,
            workspace: Path, **kwargs: Any,
        ) -> None:  # fmt: skip
            super().__init__(command, **kwargs)
            self.argv = argv
            self.token = token
            self.max_sessions = max_sessions
            self.workspace = workspace
            self.cookie_name = f"jarvis_tui_token_{self.port}"  # cookies ignore the port
            self.own_origin = _origin_of(self.public_url)
            self._sessions: set[asyncio.Task] = set()

        # ------------------------------------------------------------- the web app

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(self._guard)
            app.router.add_get("/ws/{token}", self.handle_websocket, name="websocket_token")
            return app

        def _token_ok(self, request: web.Request) -> tuple[bool, bool]:
            """(allowed, came from the query string)."""
            if self.token is None:
                return True, False
            secret = self.token.encode()
            path_token = request.match_info.get("token")
            for given, from_query in (
                (path_token, False),
                (request.query.get("token"), True),
                (request.cookies.get(self.cookie_name), False),
            ):
                if given and hmac.compare_digest(given.encode("utf-8", "replace"), secret):
                    return True, from_query
            return False, False

        def _origin_ok(self, request: web.Request) -> bool:
            origin = request.headers.get("Origin")
            if not origin:
                return False
            origin = origin.strip().rstrip("/").lower()
            if origin == self.own_origin:
                return True
            # Reached by an address rather than the public URL's name (127.0.0.1 for
            # localhost, this machine's IP for its name): the page's own origin, which
            # a page elsewhere cannot claim. Names other than localhost are not taken
            # from the Host header (DNS rebinding would make them match).
            host = request.host
            name = urlsplit(f"//{host}").hostname or ""
            if name != "localhost" and not _is_ip(name):
                return False
            return origin in (f"http://{host}".lower(), f"https://{host}".lower())

        @web.middleware
        async def _guard(self, request: web.Request, handler):
            route = request.match_info.route.name
            allowed, from_query = self._token_ok(request)
            if not allowed:
                raise web.HTTPForbidden(text=FORBIDDEN)
            if route in ("websocket", "websocket_token") and not self._origin_ok(request):
                raise web.HTTPForbidden(text=BAD_ORIGIN)
            response = await handler(request)
            if isinstance(response, web.Response) and not response.prepared:
                response.headers["Referrer-Policy"] = "no-referrer"
                response.headers["X-Frame-Options"] = "DENY"
                if route == "index":
                    response.headers["Cache-Control"] = "no-store"
                    if from_query and self.token is not None:
                        response.set_cookie(
                            self.cookie_name, self.token, path="/", httponly=True,
                            samesite="Strict", secure=self.public_url.startswith("https:"),
                        )  # fmt: skip
            return response

        def _full(self) -> bool:
            return len(self._sessions) >= self.max_sessions

        def _full_message(self) -> str:
            return (
                f"All {self.max_sessions} sessions of {PROG} serve are in use "
                f"(--max-sessions {self.max_sessions}): close another tab of the app, "
                "then reload this page."
            )

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            if self._full():
                return web.Response(
                    status=503, content_type="text/html",
                    text=f"<!DOCTYPE html><title>{PROG}</title><p>{self._full_message()}</p>\n",
                )  # fmt: skip
            font_size = clamp_size(request.query.get("fontsize", "16"), 64, 16)
            static = request.app.router["static"].url_for(filename="/")
            context = {
                "font_size": font_size,
                "app_websocket_url": self._websocket_url(),
                "config": {"static": {"url": f"{self.public_url}{static}".rstrip("/") + "/"}},
                "application": {"name": self.title},
            }
            return aiohttp_jinja2.render_template("app_index.html", request, context)

        def _websocket_url(self) -> str:
            scheme, rest = self.public_url.split(":", 1)
            url = f"{'wss' if scheme == 'https' else 'ws'}:{rest}/ws"
            return f"{url}/{self.token}" if self.token is not None else url

        # ------------------------------------------------------------- sessions

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            websocket = web.WebSocketResponse(heartbeat=15)
            if self._full():
                await websocket.prepare(request)
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await websocket.send_bytes(f"\r\n{self._full_message()}\r\n".encode())
                    await websocket.close(
                        code=WSCloseCode.TRY_AGAIN_LATER, message=b"all sessions in use"
                    )
                return websocket
            width = clamp_size(request.query.get("width", "80"), MAX_COLUMNS, 80)
            height = clamp_size(request.query.get("height", "24"), MAX_ROWS, 24)
            task = asyncio.current_task()
            assert task is not None
            self._sessions.add(task)  # counted until its app process is gone
            session: AppSession | None = None
            try:
                await websocket.prepare(request)
                session = AppSession(
                    self.argv, websocket, download_manager=self.download_manager,
                    debug=self.debug,
                )  # fmt: skip
                await session.start(width, height)
                await self._process_messages(websocket, session)
            except asyncio.CancelledError:
                pass  # the server stops: end the app below
            except Exception as error:
                log.exception(error)
            finally:
                try:
                    if session is not None:
                        ending = asyncio.ensure_future(session.end())
                        try:
                            await asyncio.shield(ending)
                        except asyncio.CancelledError:
                            session.kill()  # cancelled again: no time left to be polite
                            raise
                finally:
                    self._sessions.discard(task)
                    with contextlib.suppress(Exception):
                        await websocket.close()
            return websocket

        async def _process_messages(self, websocket: web.WebSocketResponse, session) -> None:
            """The browser's messages to its app; anything malformed is ignored."""
            async for message in websocket:
                if message.type == WSMsgType.ERROR:
                    break
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    envelope = json.loads(message.data)
                except ValueError:
                    continue
                if not isinstance(envelope, list) or not envelope:
                    continue
                kind = envelope[0]
                data = envelope[1] if len(envelope) > 1 else None
                if kind == "stdin" and isinstance(data, str):
                    await session.send_bytes(data.encode("utf-8", "replace"))
                elif kind == "resize" and isinstance(data, dict):
                    await session.set_terminal_size(data.get("width"), data.get("height"))
                elif kind == "ping":
                    await websocket.send_json(["pong", data])
                elif kind == "blur":
                    await session.blur()
                elif kind == "focus":
                    await session.focus()

        async def on_startup(self, app: web.Application) -> None:
            if self.token is not None:  # access log lines name the page and the websocket
                logging.getLogger("aiohttp.access").addFilter(_Redact(self.token))
            say = self._say
            say(f"{PROG} serve: the app on {self.workspace}")
            if self.token is None:
                say(
                    f"--no-auth: no token is asked: anyone who can connect to "
                    f"{_netloc(self.public_url)} (every user and program on this machine) "
                    "can use the app and read and change the workspace"
                )
                say(f"open {self.public_url}/")
            else:
                say(f"open {self.public_url}/?token={self.token}")
            say(
                f"each browser tab runs its own copy of the app (at most {self.max_sessions} "
                "at a time); press Ctrl+C to stop"
            )

        def _say(self, line: str) -> None:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)

        async def on_shutdown(self, app: web.Application) -> None:
            # Out of the box the shutdown waits (up to a minute) for each session to end
            # by itself; here each app gets its quit message at once and its page shows
            # "Session ended".
            sessions = list(self._sessions)
            for task in sessions:
                task.cancel()
            if sessions:
                await asyncio.wait(sessions, timeout=STOP_TIMEOUT_S)
            await super().on_shutdown(app)

    return JarvisServer


# --------------------------------------------------------------------------- helpers


class _Redact:
    """A logging filter that writes the token as ``<token>``: logs get pasted around."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def filter(self, record: Any) -> bool:
        if self.secret in str(record.msg):
            record.msg = str(record.msg).replace(self.secret, "<token>")
        if isinstance(record.args, tuple):
            record.args = tuple(
                a.replace(self.secret, "<token>") if isinstance(a, str) else a for a in record.args
            )
        return True


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _origin_of(url: str) -> str:
    """``scheme://host[:port]`` as a browser writes it in ``Origin``."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "http").lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def _netloc(url: str) -> str:
    return urlsplit(url).netloc or url


def _is_loopback(host: str) -> bool:
    """Every address HOST stands for is this machine's loopback."""
    if host.lower() == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(host or None, None, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)  # fmt: skip
    except (socket.gaierror, UnicodeError):
        return False
    try:
        return bool(infos) and all(
            ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]).is_loopback for info in infos
        )
    except ValueError:
        return False


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _public_url(host: str, port: int) -> str:
    """textual-serve's default (``http://HOST:PORT``), usable by a browser: an IPv6
    address in brackets, and this machine's name for a listen-on-everything host."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    return f"http://{_host_port(host, port)}"


def _describe(exc: OSError) -> str:
    text = exc.strerror or str(exc) or type(exc).__name__
    return " ".join(text.split())


def _listen_error(host: str, port: int, exc: OSError) -> ServeError:
    if exc.errno == errno.EADDRINUSE:
        reason = "the port is in use (pick another with --port)"
    else:
        reason = _describe(exc)
    return ServeError(f"cannot listen on {_host_port(host, port)}: {reason}")


def _check_port_free(host: str, port: int) -> None:
    """Bind HOST:PORT the way the server will (SO_REUSEADDR), so a taken port or an
    unknown host is one line before the server prints its banner."""
    where = _host_port(host, port)
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    for family, type_, proto, _, addr in infos:
        try:
            sock = socket.socket(family, type_, proto)
        except OSError:
            continue  # e.g. IPv6 disabled: the server skips that family as well
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(addr)
        except OSError as exc:
            raise _listen_error(host, port, exc) from None
        finally:
            sock.close()
