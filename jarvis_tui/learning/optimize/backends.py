"""Where the optimizer's prompts go: any OpenAI-compatible chat-completions endpoint.

OpenJarvis hands ``LLMOptimizer`` one of its own inference engines; here the optimizer
talks to whatever serves ``/v1/chat/completions`` (Ollama, vLLM, llama.cpp, a cloud API)
with the standard library only, so the engine needs no SDK and no network library.

Every failure is a :class:`BackendError` whose message is one line a user can act on
("... is unreachable (connection refused)"), never a traceback and never the API key.

The key stays with its endpoint: a redirect (3xx) is never followed (urllib would turn
the POST into a GET and send ``Authorization`` to whatever host the reply names), and
``timeout`` is a deadline for the whole request (connect, send, headers and body), not
a limit per socket read that an endpoint trickling one byte a second never reaches.
"""

from __future__ import annotations

import functools
import http.client
import io
import json
import math
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, cast, runtime_checkable

#: Environment variables read by :func:`backend_from_env`.
ENV_URL = "JARVIS_TUI_OPTIMIZER_URL"
ENV_MODEL = "JARVIS_TUI_OPTIMIZER_MODEL"
ENV_KEY = "JARVIS_TUI_OPTIMIZER_KEY"
ENV_TIMEOUT = "JARVIS_TUI_OPTIMIZER_TIMEOUT"

BACKEND_ERROR_KINDS = ("unreachable", "timeout", "http", "garbage", "cancelled")

# A chat completion is a few KiB; anything far larger is not one, and reading it whole
# would only hold memory hostage.
_MAX_BODY_BYTES = 16 * 1024 * 1024
_SNIPPET_CHARS = 120
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


@runtime_checkable
class InferenceBackend(Protocol):
    """Anything that turns a prompt into a completion (the optimizer's only dependency)."""

    def generate(
        self,
        prompt: str,
        *,
        model: str,
        system: str = "",
        temperature: float = 0.7,
        max_tokens: int = 2048,
    ) -> str: ...


def _one_line(text: str, limit: int | None = None) -> str:
    """*text* with all whitespace runs (newlines included) collapsed to single spaces."""
    flat = " ".join(str(text).split())
    if limit is not None and len(flat) > limit:
        flat = flat[: max(0, limit - 1)] + "…"
    return flat


class BackendError(Exception):
    """The optimizer endpoint could not give a completion; the message is one line."""

    def __init__(self, message: str, *, kind: str, status: int | None = None) -> None:
        if kind not in BACKEND_ERROR_KINDS:
            raise ValueError(f"BackendError kind must be one of {BACKEND_ERROR_KINDS}")
        super().__init__(_one_line(message))
        self.kind = kind
        """unreachable | timeout | http | garbage | cancelled (the caller's
        :meth:`OpenAICompatibleBackend.abort`): what went wrong, for callers that retry."""
        self.status = status
        """The HTTP status for kind ``http``, else None."""

    @property
    def retryable(self) -> bool:
        """Whether trying again later may help (network trouble, 429, 5xx)."""
        if self.kind in ("unreachable", "timeout"):
            return True
        return (
            self.kind == "http"
            and self.status is not None
            and (self.status == 429 or self.status >= 500)
        )


def _chat_completions_url(base_url: str) -> str:
    url = base_url.strip()
    if url.rstrip("/").endswith("/chat/completions"):
        return url.rstrip("/")
    return url.rstrip("/") + "/chat/completions"


def _display_url(url: str) -> str:
    """*url* without user:password@, which must never reach a message."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def _describe_reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host: {reason.strerror or reason}"
    if isinstance(reason, ConnectionResetError):
        return "connection reset"
    if isinstance(reason, ConnectionError):
        return "connection closed"
    if isinstance(reason, OSError) and reason.strerror:
        return str(reason.strerror)
    return _one_line(str(reason), 80) or type(reason).__name__


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """3xx is not followed: the answer reaches the caller as an ``HTTPError``."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        return None  # urllib then raises HTTPError(code) through the default error handler


class _InFlight:
    """The sockets of a backend's requests in flight, so that another thread can close
    them (:meth:`OpenAICompatibleBackend.abort`): a read blocked on a slow endpoint
    returns at once instead of when the endpoint answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self.aborted = False

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self.aborted:
                sock.close()
                raise ConnectionAbortedError("request abandoned")
            self._socks.add(sock)

    def forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.discard(sock)

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            socks = list(self._socks)
        for sock in socks:
            try:  # the blocked recv (or send) in the request's thread returns at once
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # closed meanwhile
                pass


class _DeadlineReader(io.RawIOBase):
    """A socket's reading side where every read waits at most until the deadline."""

    def __init__(self, owner: _DeadlineSocket) -> None:
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - any writable buffer
        sock = self._owner.raw
        sock.settimeout(self._owner.remaining())
        return sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._owner.release()


class _DeadlineSocket:
    """The connected socket (plain or TLS) as ``http.client`` uses it, under a deadline.

    ``http.client`` reads the status line, headers and body through ``makefile("rb")``;
    that file is a :class:`_DeadlineReader`, so the whole answer shares one deadline.
    Like a real socket, ``close()`` waits for the files made from it to close (urllib
    closes the connection's socket before the caller reads the body).
    """

    def __init__(
        self, sock: socket.socket, deadline: float, in_flight: _InFlight | None = None
    ) -> None:
        self.raw = sock
        """The real socket."""
        self._deadline = deadline
        self._in_flight = in_flight
        if in_flight is not None:
            in_flight.watch(sock)
        self._files = 0
        self._closing = False

    def remaining(self) -> float:
        """Seconds left before the deadline; TimeoutError once it has passed."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request deadline passed")
        return remaining

    def sendall(self, data, *args) -> None:  # noqa: ANN001
        self.raw.settimeout(self.remaining())
        self.raw.sendall(data, *args)

    def makefile(self, mode: str = "r", *args, **kwargs) -> io.BufferedReader:  # noqa: ANN002, ANN003
        if "r" not in mode or "w" in mode:
            raise ValueError("only reading is supported")
        self._files += 1
        return io.BufferedReader(_DeadlineReader(self))

    def release(self) -> None:
        self._files -= 1
        if self._closing and self._files <= 0:
            self._close_raw()

    def close(self) -> None:
        self._closing = True
        if self._files <= 0:
            self._close_raw()

    def _close_raw(self) -> None:
        if self._in_flight is not None:
            self._in_flight.forget(self.raw)
        self.raw.close()

    def __getattr__(self, name: str) -> Any:  # shutdown, settimeout, fileno, ...
        return getattr(self.raw, name)


class _DeadlineConnection(http.client.HTTPConnection):
    """An HTTP connection whose connect and every later send and read end by *deadline*."""

    def __init__(
        self, *args: Any, deadline: float, in_flight: _InFlight | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        """``time.monotonic()`` by which the whole exchange ends."""
        self.in_flight = in_flight

    def connect(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request deadline passed")
        self.timeout = remaining  # the connect (and TLS handshake) gets what is left
        super().connect()
        # http.client only sends, reads through makefile() and closes: the wrapper stands
        # in for the socket (a socket.socket as far as the attribute's type goes).
        self.sock = cast(socket.socket, _DeadlineSocket(self.sock, self.deadline, self.in_flight))


class _DeadlineHTTPSConnection(_DeadlineConnection, http.client.HTTPSConnection):
    """The same over TLS (``super().connect()`` above is the TLS connect)."""


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: float, in_flight: _InFlight | None = None) -> None:
        super().__init__()
        self._deadline = deadline
        self._in_flight = in_flight

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            functools.partial(
                _DeadlineConnection, deadline=self._deadline, in_flight=self._in_flight
            ),
            req,
        )


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: float, in_flight: _InFlight | None = None) -> None:
        super().__init__()
        self._deadline = deadline
        self._in_flight = in_flight

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            functools.partial(
                _DeadlineHTTPSConnection, deadline=self._deadline, in_flight=self._in_flight
            ),
            req,
            # The TLS context HTTPSHandler.__init__ made (private, not in its type stubs).
            context=getattr(self, "_context", None),
        )


def _redirect_target(url: str, location: str | None) -> str:
    """The host (and port) a redirect points at, for the message; never the path."""
    if not location:
        return "an unnamed location"
    parts = urllib.parse.urlsplit(urllib.parse.urljoin(url, location.strip()))
    host = parts.hostname or "an unnamed host"
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    return _one_line(f"{host}:{port}" if port else host, 80)


@dataclass(frozen=True, slots=True)
class ChatReply:
    """One chat completion: its text and the tokens the server says it used."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _count(value: object) -> int:
    """A token count from a reply (anything but a non-negative whole number is 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if not math.isfinite(value) or value < 0:
        return 0
    return int(value)


class OpenAICompatibleBackend:
    """Chat completions over HTTP(S) with ``urllib``; safe to share between threads.

    ``base_url`` may be the API root (``http://localhost:11434/v1``) or the full
    ``.../chat/completions`` URL. Network trouble, 429 and 5xx are retried ``retries``
    times, ``retry_wait`` seconds apart; other answers fail at once.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 1,
        retry_wait: float = 1.0,
        role: str = "optimizer",
    ) -> None:
        self.role = role
        """What the endpoint is for ("optimizer", "eval", "judge"), named in every error."""
        parts = urllib.parse.urlsplit(str(base_url).strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{role} URL {_one_line(_display_url(str(base_url)), 120)!r} "
                "must start with http:// or https:// and name a host"
            )
        if isinstance(timeout, bool) or not (isinstance(timeout, int | float) and timeout > 0):
            raise ValueError(
                f"optimizer timeout must be a positive number of seconds, not {timeout!r}"
            )
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"optimizer retries must be a non-negative integer, not {retries!r}")
        if not (isinstance(retry_wait, int | float) and retry_wait >= 0):
            raise ValueError(f"optimizer retry_wait must be >= 0 seconds, not {retry_wait!r}")
        self.url = _chat_completions_url(str(base_url))
        """The chat-completions URL every request is POSTed to."""
        self.timeout = float(timeout)
        """Seconds one attempt may take in all (connect, send, headers and body)."""
        self.retries = retries
        """Extra attempts after a retryable failure."""
        self.retry_wait = float(retry_wait)
        """Seconds between attempts."""
        self._api_key = api_key or None
        self._bypass_proxy = (parts.hostname or "").lower() in _LOOPBACK_HOSTS
        self._in_flight = _InFlight()

    def abort(self) -> None:
        """Abandon every request in flight at once (their connections are closed, so
        a slow endpoint is not waited for) and refuse new ones: each fails with a
        BackendError of kind ``cancelled``. Safe from any thread; for a stop button."""
        self._in_flight.abort()

    @property
    def aborted(self) -> bool:
        """Whether :meth:`abort` was called."""
        return self._in_flight.aborted

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return (
            f"OpenAICompatibleBackend(url={_display_url(self.url)!r}, api_key={key}, "
            f"timeout={self.timeout:g}, retries={self.retries})"
        )

    @property
    def has_api_key(self) -> bool:
        """Whether requests carry an Authorization header."""
        return self._api_key is not None

    def generate(
        self,
        prompt: str,
        *,
        model: str,
        system: str = "",
        temperature: float = 0.7,
        max_tokens: int = 2048,
    ) -> str:
        """The completion's text; BackendError (one line) when there is none."""
        return self.chat(
            prompt, model=model, system=system, temperature=temperature, max_tokens=max_tokens
        ).text

    def chat(
        self,
        prompt: str,
        *,
        model: str,
        system: str = "",
        temperature: float = 0.7,
        max_tokens: int = 2048,
    ) -> ChatReply:
        """The completion's text with the token usage the server reports (0 when it
        reports none); BackendError (one line) when there is no text."""
        messages: list[dict[str, str]] = []
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": prompt})
        body = json.dumps(
            {
                "model": model,
                "messages": messages,
                "temperature": temperature,
                "max_tokens": max_tokens,
                "stream": False,
            }
        ).encode("utf-8")
        attempts = 1 + self.retries
        for attempt in range(1, attempts + 1):
            try:
                if self.aborted:
                    raise self._fail("request abandoned: stopped", kind="cancelled")
                return self._post_once(body)
            except BackendError as exc:
                if self.aborted and exc.kind != "cancelled":  # what closing it caused
                    raise self._fail("request abandoned: stopped", kind="cancelled") from None
                if not exc.retryable or attempt == attempts or self.aborted:
                    if attempt > 1:
                        raise BackendError(
                            f"{exc} (after {attempt} attempts)", kind=exc.kind, status=exc.status
                        ) from exc
                    raise
            if self.retry_wait > 0:
                time.sleep(self.retry_wait)
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises

    def _opener(self, deadline: float) -> urllib.request.OpenerDirector:
        # A local server is never behind the user's proxy; remote ones honour *_proxy.
        # Built per request so proxy variables changed at run time take effect, and so
        # the connections it makes carry this request's deadline.
        handlers: list[urllib.request.BaseHandler] = [
            _RefuseRedirects(),
            _DeadlineHTTPHandler(deadline, self._in_flight),
            _DeadlineHTTPSHandler(deadline, self._in_flight),
        ]
        if self._bypass_proxy:
            handlers.append(urllib.request.ProxyHandler({}))
        return urllib.request.build_opener(*handlers)

    def _fail(self, what: str, *, kind: str, status: int | None = None) -> BackendError:
        return BackendError(
            f"{self.role} endpoint {_display_url(self.url)} {what}", kind=kind, status=status
        )

    def _redact(self, text: str) -> str:
        if self._api_key and self._api_key in text:
            text = text.replace(self._api_key, "***")
        return text

    def _post_once(self, body: bytes) -> ChatReply:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        deadline = time.monotonic() + self.timeout
        try:
            with self._opener(deadline).open(request, timeout=self.timeout) as response:
                raw = response.read(_MAX_BODY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                target = _redirect_target(self.url, exc.headers.get("Location"))
                exc.close()
                raise self._fail(
                    f"answered HTTP {exc.code}, a redirect to {target}: not followed (a POST "
                    "is never redirected and the key stays with its endpoint); use the "
                    "final URL as the endpoint",
                    kind="http",
                    status=exc.code,
                ) from None
            try:
                detail = exc.read(4096).decode("utf-8", "replace")
            except Exception:  # the status alone is still worth reporting
                detail = ""
            finally:
                exc.close()
            detail = _one_line(self._redact(detail), _SNIPPET_CHARS) or _one_line(exc.reason or "")
            what = f"answered HTTP {exc.code}: {detail}" if detail else f"answered HTTP {exc.code}"
            raise self._fail(what, kind="http", status=exc.code) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise self._timed_out() from None
            raise self._fail(
                f"is unreachable ({_describe_reason(exc.reason)})", kind="unreachable"
            ) from None
        except TimeoutError:
            raise self._timed_out() from None
        except ConnectionError as exc:
            raise self._fail(
                f"is unreachable ({_describe_reason(exc)})", kind="unreachable"
            ) from None
        except http.client.HTTPException as exc:
            raise self._fail(
                f"answered something that is not HTTP ({type(exc).__name__})", kind="garbage"
            ) from None
        except OSError as exc:
            raise self._fail(
                f"is unreachable ({_describe_reason(exc)})", kind="unreachable"
            ) from None
        if len(raw) > _MAX_BODY_BYTES:
            raise self._garbage(f"a body over {_MAX_BODY_BYTES // (1024 * 1024)} MiB")
        return self._content_of(raw)

    def _timed_out(self) -> BackendError:
        return self._fail(f"timed out after {self.timeout:g} s", kind="timeout")

    def _garbage(self, what: str) -> BackendError:
        return self._fail(
            f"answered something that is not an OpenAI chat completion ({what})", kind="garbage"
        )

    def _content_of(self, raw: bytes) -> ChatReply:
        text = raw.decode("utf-8", "replace")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise self._garbage(f"not JSON: {_one_line(self._redact(text), 40)!r}") from None
        if not isinstance(data, dict):
            raise self._garbage(f"a JSON {type(data).__name__}, not an object")
        if "error" in data and "choices" not in data:
            err = data["error"]
            msg = err.get("message") if isinstance(err, dict) else err
            raise self._garbage(f"an error: {_one_line(self._redact(str(msg)), _SNIPPET_CHARS)}")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise self._garbage("no choices")
        first = choices[0]
        message = first.get("message") if isinstance(first, dict) else None
        if not isinstance(message, dict):
            raise self._garbage("choices[0] has no message")
        usage = data.get("usage")
        if not isinstance(usage, dict):
            usage = {}
        prompt_tokens = _count(usage.get("prompt_tokens"))
        completion_tokens = _count(usage.get("completion_tokens"))
        text = self._text_of(message)
        return ChatReply(text, prompt_tokens, completion_tokens)

    def _text_of(self, message: dict) -> str:
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            # Newer servers may answer with content parts: [{"type": "text", "text": ...}]
            texts: list[str] = [
                part["text"]
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            ]
            texts += [part for part in content if isinstance(part, str)]
            if texts:
                return "".join(texts)
            raise self._garbage("message content has no text parts")
        raise self._garbage("message has no text content")


def backend_from_env(
    url: str | None = None, model: str | None = None
) -> tuple[OpenAICompatibleBackend, str] | None:
    """The optimizer backend and model the user configured, or None when no URL is set.

    The URL and model come from the arguments, else ``JARVIS_TUI_OPTIMIZER_URL`` and
    ``JARVIS_TUI_OPTIMIZER_MODEL``; the key from ``JARVIS_TUI_OPTIMIZER_KEY``, else
    ``OPENAI_API_KEY``; the timeout from ``JARVIS_TUI_OPTIMIZER_TIMEOUT`` (default 120 s).
    """
    url = (url or os.environ.get(ENV_URL, "")).strip() or None
    if url is None:
        return None
    model = (model or os.environ.get(ENV_MODEL, "")).strip() or None
    if model is None:
        raise ValueError(
            f"optimizer URL {_display_url(url)} is set but no model: "
            f"set {ENV_MODEL} or pass a model name"
        )
    key = (os.environ.get(ENV_KEY) or os.environ.get("OPENAI_API_KEY") or "").strip() or None
    raw_timeout = os.environ.get(ENV_TIMEOUT, "").strip()
    timeout = 120.0
    if raw_timeout:
        try:
            timeout = float(raw_timeout)
        except ValueError:
            timeout = math.nan
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(
                f"{ENV_TIMEOUT}={_one_line(raw_timeout, 40)!r} is not a positive number of seconds"
            )
    return OpenAICompatibleBackend(url, api_key=key, timeout=timeout), model


ScriptedReply = str | BaseException
ScriptedFunction = Callable[[str, str], str]


class ScriptedBackend:
    """A backend that answers from a script, for tests and offline demos; thread-safe.

    ``replies`` is a list of strings returned in order (an exception instance in the
    list is raised instead), or a function ``(prompt, system) -> str`` called every time.
    """

    def __init__(self, replies: Iterable[ScriptedReply] | ScriptedFunction) -> None:
        self._lock = threading.Lock()
        self._function: ScriptedFunction | None = replies if callable(replies) else None
        self._replies: list[ScriptedReply] = [] if callable(replies) else list(replies)
        self._next = 0
        self.calls: list[dict[str, Any]] = []
        """Every generate() call: prompt, model, system, temperature, max_tokens."""

    def __repr__(self) -> str:
        if self._function is not None:
            return "ScriptedBackend(function)"
        return f"ScriptedBackend({self.remaining} of {len(self._replies)} replies left)"

    @property
    def remaining(self) -> int:
        """Replies not yet given (0 for a function-driven script)."""
        with self._lock:
            return len(self._replies) - self._next

    def generate(
        self,
        prompt: str,
        *,
        model: str,
        system: str = "",
        temperature: float = 0.7,
        max_tokens: int = 2048,
    ) -> str:
        """The next scripted reply (or raise the scripted exception)."""
        with self._lock:
            self.calls.append(
                {
                    "prompt": prompt,
                    "model": model,
                    "system": system,
                    "temperature": temperature,
                    "max_tokens": max_tokens,
                }
            )
            if self._function is None:
                if self._next >= len(self._replies):
                    raise BackendError(
                        f"scripted backend has no reply left (it had {len(self._replies)})",
                        kind="garbage",
                    )
                reply = self._replies[self._next]
                self._next += 1
        if self._function is not None:
            # Called outside the lock so a slow or re-entrant function cannot block others.
            reply = self._function(prompt, system)
        if isinstance(reply, BaseException):
            raise reply
        return reply


__all__ = [
    "BACKEND_ERROR_KINDS",
    "BackendError",
    "InferenceBackend",
    "OpenAICompatibleBackend",
    "ScriptedBackend",
    "backend_from_env",
]
