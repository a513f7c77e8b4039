"""The optimizer's key stays with its endpoint, and its timeout bounds a whole request.

Real HTTP servers on 127.0.0.1: one that redirects to a second one (on another port,
so another origin) that records what it receives, and one that trickles its answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jarvis_tui.learning.optimize.backends import BackendError, OpenAICompatibleBackend

KEY = "sk-security-test-7373"
COMPLETION = json.dumps(
    {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]}
).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    answer: Callable[[BaseHTTPRequestHandler], None]
    seen: list[dict[str, Any]]
    stop: threading.Event

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up makes the rest of an answer fail: expected


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.seen.append(
            {"method": self.command, "path": self.path,
             "authorization": self.headers.get("Authorization")}
        )  # fmt: skip
        self.server.answer(self)

    do_POST = do_GET = _record  # noqa: N815 - the names http.server calls

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], _Server]]:
    servers: list[tuple[_Server, threading.Thread]] = []

    def start(answer: Callable[[BaseHTTPRequestHandler], None]) -> _Server:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.answer, httpd.seen, httpd.stop = answer, [], threading.Event()
        thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        servers.append((httpd, thread))
        return httpd

    yield start
    for httpd, thread in servers:
        httpd.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def _url(httpd: _Server) -> str:
    host, port = httpd.server_address[:2]
    return f"http://{host}:{port}/v1"


def _complete(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(COMPLETION)))
    handler.end_headers()
    handler.wfile.write(COMPLETION)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_never_receives_the_key(serve, status: int) -> None:
    other = serve(_complete)
    other_port = other.server_address[1]

    def redirect(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", f"{_url(other)}/chat/completions")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    first = serve(redirect)
    backend = OpenAICompatibleBackend(_url(first), api_key=KEY, timeout=10, retries=2)
    with pytest.raises(BackendError) as info:
        backend.generate("p", model="m")
    assert other.seen == []  # not followed at all, so the key never left its endpoint
    assert len(first.seen) == 1  # a redirect is not retried either
    err = info.value
    assert err.kind == "http" and err.status == status
    assert f"127.0.0.1:{other_port}" in str(err)
    assert KEY not in str(err)


def test_a_redirect_to_the_same_host_is_not_followed_either(serve) -> None:
    def redirect(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", "/elsewhere")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    first = serve(redirect)
    with pytest.raises(BackendError) as info:
        OpenAICompatibleBackend(_url(first), api_key=KEY, retries=0).generate("p", model="m")
    assert [r["method"] for r in first.seen] == ["POST"]  # no GET to /elsewhere
    assert info.value.kind == "http" and "redirect" in str(info.value)


def _trickle(where: str) -> Callable[[BaseHTTPRequestHandler], None]:
    """An answer whose head or body comes one byte every 0.05 s (about 6 s, then whole)."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        body = b" " * 40 + COMPLETION  # JSON allows leading whitespace
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        if where == "body":
            handler.wfile.write(head)
            handler.wfile.flush()
            slow = body
        else:
            slow = head + body
        stop = handler.server.stop
        for i in range(len(slow)):
            if stop.wait(0.05):
                return
            try:
                handler.wfile.write(slow[i : i + 1])
                handler.wfile.flush()
            except OSError:
                return  # the client gave up

    return answer


@pytest.mark.parametrize("where", ["head", "body"])
def test_a_trickling_endpoint_times_out_on_the_whole_request(serve, where: str) -> None:
    httpd = serve(_trickle(where))
    timeout = 0.5
    backend = OpenAICompatibleBackend(_url(httpd), timeout=timeout, retries=0)
    started = time.monotonic()
    with pytest.raises(BackendError) as info:
        backend.generate("p", model="m")
    elapsed = time.monotonic() - started
    assert info.value.kind == "timeout"
    assert "timed out after 0.5 s" in str(info.value)
    assert elapsed < 5 * timeout  # a bound, not a speed claim: per-read timeouts never fire


def test_a_normal_answer_still_works_under_the_deadline(serve) -> None:
    httpd = serve(_complete)
    backend = OpenAICompatibleBackend(_url(httpd), api_key=KEY, timeout=10)
    assert backend.generate("p", model="m") == "ok"
    assert httpd.seen[0]["authorization"] == f"Bearer {KEY}"
