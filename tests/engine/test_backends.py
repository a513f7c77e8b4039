"""The optimizer's inference backends, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jarvis_tui.learning.optimize.backends import (
    BackendError,
    InferenceBackend,
    OpenAICompatibleBackend,
    ScriptedBackend,
    backend_from_env,
)

KEY = "sk-test-secret-4242"

# An action answers one request: (status, body, content type) or a function of the handler.
Action = tuple[int, bytes, str] | Callable[[BaseHTTPRequestHandler], None]


def completion(content: Any = "hello") -> tuple[int, bytes, str]:
    body = {
        "id": "cmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }
    return 200, json.dumps(body).encode(), "application/json"


@dataclass
class FakeServer:
    """What the handler answers (``script``, in order) and what it received."""

    url: str
    script: list[Action] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with fake.lock:
            fake.requests.append(
                {
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "content_type": self.headers.get("Content-Type"),
                    "body": json.loads(body) if body else None,
                }
            )
            action = fake.script.pop(0) if fake.script else completion()
        if callable(action):
            action(self)
            return
        status, payload, ctype = action
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (the timeout test) makes the late answer fail: expected.
        pass


@pytest.fixture
def server() -> Iterator[FakeServer]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    host, port = httpd.server_address[:2]
    httpd.fake = FakeServer(url=f"http://{host}:{port}/v1")
    # A short poll interval only makes shutdown() prompt; nothing waits on time.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield httpd.fake
    finally:
        httpd.fake.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def backend(url: str, **kwargs: Any) -> OpenAICompatibleBackend:
    kwargs.setdefault("timeout", 10.0)
    kwargs.setdefault("retry_wait", 0.0)
    return OpenAICompatibleBackend(url, **kwargs)


# ------------------------------------------------------------------------------ success


def test_generate_posts_an_openai_chat_request(server: FakeServer) -> None:
    server.script.append(completion("the answer"))
    b = backend(server.url, api_key=KEY)
    out = b.generate(
        "the prompt", model="qwen3:8b", system="be brief", temperature=0.3, max_tokens=77
    )
    assert out == "the answer"
    [req] = server.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["authorization"] == f"Bearer {KEY}"
    assert req["content_type"] == "application/json"
    assert req["body"] == {
        "model": "qwen3:8b",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "the prompt"},
        ],
        "temperature": 0.3,
        "max_tokens": 77,
        "stream": False,
    }


def test_no_key_means_no_authorization_header_and_no_empty_system(server: FakeServer) -> None:
    out = backend(server.url).generate("p", model="m")
    assert out == "hello"
    [req] = server.requests
    assert req["authorization"] is None
    assert req["body"]["messages"] == [{"role": "user", "content": "p"}]
    assert req["body"]["temperature"] == 0.7 and req["body"]["max_tokens"] == 2048


@pytest.mark.parametrize(
    "suffix",
    ["/chat/completions", "/chat/completions/", "/", ""],
    ids=["full", "full/", "/", "root"],
)
def test_url_joining(server: FakeServer, suffix: str) -> None:
    b = backend(server.url + suffix)
    assert b.url == server.url + "/chat/completions"
    b.generate("p", model="m")
    assert server.requests[0]["path"] == "/v1/chat/completions"


def test_content_as_list_of_parts_is_joined(server: FakeServer) -> None:
    parts = [
        {"type": "text", "text": "one "},
        {"type": "image_url"},
        {"type": "text", "text": "two"},
    ]
    server.script.append(completion(parts))
    assert backend(server.url).generate("p", model="m") == "one two"


# ------------------------------------------------------------------------------ retries


def test_500_then_200_is_retried(server: FakeServer) -> None:
    server.script += [(500, b"overloaded", "text/plain"), completion("second time lucky")]
    assert backend(server.url, retries=1).generate("p", model="m") == "second time lucky"
    assert len(server.requests) == 2


def test_429_is_retried_until_retries_run_out(server: FakeServer) -> None:
    server.script += [(429, b"slow down", "text/plain")] * 3
    with pytest.raises(BackendError) as info:
        backend(server.url, retries=2).generate("p", model="m")
    assert len(server.requests) == 3
    assert info.value.kind == "http" and info.value.status == 429
    assert "after 3 attempts" in str(info.value)


def test_401_fails_at_once_without_leaking_the_key(server: FakeServer) -> None:
    echo = json.dumps({"error": f"invalid key {KEY}\nsee the docs " + "x" * 300}).encode()
    server.script.append((401, echo, "application/json"))
    b = backend(server.url, api_key=KEY, retries=3)
    with pytest.raises(BackendError) as info:
        b.generate("p", model="m")
    err = info.value
    assert len(server.requests) == 1  # no retry on 4xx
    assert err.kind == "http" and err.status == 401
    msg = str(err)
    assert msg.startswith(f"optimizer endpoint {server.url}/chat/completions answered HTTP 401: ")
    assert "\n" not in msg
    assert KEY not in msg and KEY not in repr(err) and KEY not in repr(b)
    assert len(msg.split("answered HTTP 401: ", 1)[1]) <= 120


# ------------------------------------------------------------------------------ garbage


@pytest.mark.parametrize(
    ("payload", "ctype", "detail"),
    [
        (b"<html><body>Login</body></html>", "text/html", "not JSON"),
        (b'{"object": "list", "data": []}', "application/json", "no choices"),
        (b'{"choices": []}', "application/json", "no choices"),
        (b'{"choices": [{"message": {"content": null}}]}', "application/json", "no text"),
        (b'{"error": {"message": "model not found"}}', "application/json", "model not found"),
        (b"[1, 2]", "application/json", "not an object"),
    ],
    ids=["html", "no-choices", "empty-choices", "null-content", "error-200", "array"],
)
def test_200_that_is_not_a_chat_completion(
    server: FakeServer, payload: bytes, ctype: str, detail: str
) -> None:
    server.script.append((200, payload, ctype))
    with pytest.raises(BackendError) as info:
        backend(server.url, retries=2).generate("p", model="m")
    err = info.value
    assert err.kind == "garbage" and err.status is None
    assert "answered something that is not an OpenAI chat completion" in str(err)
    assert detail in str(err)
    assert "\n" not in str(err)
    assert len(server.requests) == 1  # garbage is not retried


# ------------------------------------------------------------------------------ network


def test_connection_refused() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(BackendError) as info:
        backend(url, retries=0).generate("p", model="m")
    assert info.value.kind == "unreachable"
    assert str(info.value) == (
        f"optimizer endpoint {url}/chat/completions is unreachable (connection refused)"
    )


def test_timeout(server: FakeServer) -> None:
    answered = threading.Event()

    def stall(handler: BaseHTTPRequestHandler) -> None:
        server.release.wait(timeout=30)
        try:
            status, payload, ctype = completion("too late")
            handler.send_response(status)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass
        finally:
            answered.set()

    server.script.append(stall)
    b = OpenAICompatibleBackend(server.url, timeout=0.3, retries=0, retry_wait=0)
    with pytest.raises(BackendError) as info:
        b.generate("p", model="m")
    server.release.set()
    assert answered.wait(timeout=10)
    assert info.value.kind == "timeout"
    assert (
        str(info.value) == f"optimizer endpoint {server.url}/chat/completions timed out after 0.3 s"
    )


# ------------------------------------------------------------------------------ construction


@pytest.mark.parametrize(
    "url", ["ftp://host/v1", "localhost:11434", "", "http://", "file:///tmp/x"]
)
def test_url_must_be_http(url: str) -> None:
    with pytest.raises(ValueError) as info:
        OpenAICompatibleBackend(url)
    assert "\n" not in str(info.value)
    assert "http://" in str(info.value)


def test_repr_and_messages_hide_credentials() -> None:
    b = OpenAICompatibleBackend("http://user:pw@127.0.0.1:1/v1", api_key=KEY)
    assert KEY not in repr(b) and "pw" not in repr(b)
    assert "api_key=set" in repr(b)
    assert b.has_api_key
    assert "api_key=none" in repr(OpenAICompatibleBackend("https://example.invalid/v1"))


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": 0}, {"timeout": -1}, {"retries": -1}, {"retries": 1.5}, {"retry_wait": -1}],
)
def test_bad_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        OpenAICompatibleBackend("http://127.0.0.1:1/v1", **kwargs)


def test_backends_satisfy_the_protocol() -> None:
    assert isinstance(OpenAICompatibleBackend("http://127.0.0.1:1/v1"), InferenceBackend)
    assert isinstance(ScriptedBackend(["x"]), InferenceBackend)


# ------------------------------------------------------------------------------ from env

_ENV = (
    "JARVIS_TUI_OPTIMIZER_URL",
    "JARVIS_TUI_OPTIMIZER_MODEL",
    "JARVIS_TUI_OPTIMIZER_KEY",
    "JARVIS_TUI_OPTIMIZER_TIMEOUT",
    "OPENAI_API_KEY",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_backend_from_env_none_without_url(clean_env: pytest.MonkeyPatch) -> None:
    assert backend_from_env() is None
    clean_env.setenv("JARVIS_TUI_OPTIMIZER_MODEL", "m")
    assert backend_from_env() is None


def test_backend_from_env_reads_everything(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JARVIS_TUI_OPTIMIZER_URL", "http://localhost:11434/v1")
    clean_env.setenv("JARVIS_TUI_OPTIMIZER_MODEL", "qwen3:8b")
    clean_env.setenv("JARVIS_TUI_OPTIMIZER_KEY", "k-jarvis")
    clean_env.setenv("OPENAI_API_KEY", "k-openai")
    clean_env.setenv("JARVIS_TUI_OPTIMIZER_TIMEOUT", "7.5")
    got = backend_from_env()
    assert got is not None
    b, model = got
    assert model == "qwen3:8b"
    assert b.url == "http://localhost:11434/v1/chat/completions"
    assert b.timeout == 7.5
    assert b._api_key == "k-jarvis"


def test_backend_from_env_defaults_and_fallbacks(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JARVIS_TUI_OPTIMIZER_URL", "http://env-host:8000/v1")
    clean_env.setenv("OPENAI_API_KEY", "k-openai")
    got = backend_from_env(url="http://arg-host:9000/v1", model="arg-model")
    assert got is not None
    b, model = got
    assert (b.url, model) == ("http://arg-host:9000/v1/chat/completions", "arg-model")
    assert b.timeout == 120.0
    assert b._api_key == "k-openai"
    clean_env.delenv("OPENAI_API_KEY")
    got = backend_from_env(model="m")
    assert got is not None and not got[0].has_api_key


def test_backend_from_env_url_without_model(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError) as info:
        backend_from_env(url="http://localhost:11434/v1")
    assert "JARVIS_TUI_OPTIMIZER_MODEL" in str(info.value)
    assert "\n" not in str(info.value)


def test_backend_from_env_bad_timeout(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JARVIS_TUI_OPTIMIZER_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="JARVIS_TUI_OPTIMIZER_TIMEOUT"):
        backend_from_env(url="http://localhost:11434/v1", model="m")


# ------------------------------------------------------------------------------ scripted


def test_scripted_replies_in_order_and_recorded() -> None:
    boom = BackendError("optimizer endpoint x is unreachable (test)", kind="unreachable")
    b = ScriptedBackend(["one", boom, "two"])
    assert b.generate("p1", model="m", system="s", temperature=0.1, max_tokens=5) == "one"
    with pytest.raises(BackendError) as info:
        b.generate("p2", model="m")
    assert info.value is boom
    assert b.generate("p3", model="m") == "two"
    with pytest.raises(BackendError) as info:
        b.generate("p4", model="m")
    assert info.value.kind == "garbage" and "\n" not in str(info.value)
    assert [c["prompt"] for c in b.calls] == ["p1", "p2", "p3", "p4"]
    assert b.calls[0] == {
        "prompt": "p1",
        "model": "m",
        "system": "s",
        "temperature": 0.1,
        "max_tokens": 5,
    }


def test_scripted_function() -> None:
    b = ScriptedBackend(lambda prompt, system: f"{system}:{prompt}")
    assert b.generate("hi", model="m", system="sys") == "sys:hi"
    assert len(b.calls) == 1


def test_scripted_is_thread_safe() -> None:
    n = 16
    b = ScriptedBackend([f"r{i}" for i in range(n)])
    barrier = threading.Barrier(n)
    got: list[str] = []
    got_lock = threading.Lock()

    def call(i: int) -> None:
        barrier.wait()
        out = b.generate(f"p{i}", model="m")
        with got_lock:
            got.append(out)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(f"r{i}" for i in range(n))
    assert len(b.calls) == n and b.remaining == 0
