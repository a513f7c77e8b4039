"""The judge stops at an endpoint it cannot reach; one bad item never stops the rest."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from jarvis_tui.core.types import Trace
from jarvis_tui.evals.judge import JudgeStore, QueryJudge, judge_traces
from jarvis_tui.learning.optimize.backends import OpenAICompatibleBackend
from jarvis_tui.traces.store import TraceStore

N = 500


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TraceStore]:
    s = TraceStore(tmp_path_factory.mktemp("judge") / "traces.db")
    s.save_many(
        Trace(
            trace_id=f"t{i}",
            query=f"question {i}",
            result=f"answer {i}",
            agent="a",
            model="m",
            started_at=1_700_000_000.0 + i,
        )  # fmt: skip
        for i in range(N)
    )
    yield s
    s.close()


def _refusing_port() -> int:
    """A port nothing listens on: bound (so it was free), then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refused_endpoint_stops_after_the_first_request(store: TraceStore) -> None:
    port = _refusing_port()
    backend = OpenAICompatibleBackend(f"http://127.0.0.1:{port}/v1", role="judge", retries=0)
    run = judge_traces(store, QueryJudge(backend, "judge"), labelled=False)
    assert run.total == N
    assert run.scored + run.errors == 1  # one try, not 500
    assert run.stopped == (
        f"judge: cannot reach http://127.0.0.1:{port}/v1 (connection refused): "
        f"stopped after 1 of {N}"
    )
    assert not run.cancelled
    with JudgeStore(store.path) as js:
        assert js.scores() == {}  # nothing written, never a 0


def test_unresolvable_host_stops_too(store: TraceStore) -> None:
    # ".invalid" never resolves (RFC 2606); the resolver answers locally, no network
    backend = OpenAICompatibleBackend("http://judge.invalid/v1", role="judge", retries=0)
    run = judge_traces(store, QueryJudge(backend, "judge"), limit=50)
    assert run.scored + run.errors == 1
    assert run.stopped is not None and run.stopped.startswith(
        "judge: cannot reach http://judge.invalid/v1 (cannot resolve host"
    )
    assert run.stopped.endswith("stopped after 1 of 50")


class _Server:
    """Answers each request from its trace number: 'answer 3' gets a body that is not
    JSON, 'answer 5' a 400, the others a score."""

    def __init__(self) -> None:
        owner = self
        self.seen: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                user = body["messages"][-1]["content"]
                n = int(user.rsplit("answer ", 1)[1].split()[0])
                owner.seen.append(f"t{n}")
                if n == 3:
                    status, data = 200, b"{not json"
                elif n == 5:
                    status, data = 400, b'{"error": {"message": "too long"}}'
                else:
                    reply = {"score": 0.5, "reason": "ok"}
                    msg = {"role": "assistant", "content": json.dumps(reply)}
                    status, data = 200, json.dumps({"choices": [{"message": msg}]}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._srv.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._srv.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._srv.shutdown()
        self._srv.server_close()


def test_a_bad_item_from_a_reachable_endpoint_skips_only_that_item(tmp_path: Path) -> None:
    s = TraceStore(tmp_path / "traces.db")
    s.save_many(
        Trace(
            trace_id=f"t{i}",
            query=f"q {i}",
            result=f"answer {i}",
            agent="a",
            model="m",
            started_at=1_700_000_000.0 + i,
        )  # fmt: skip
        for i in range(10)
    )
    try:
        with _Server() as srv:
            backend = OpenAICompatibleBackend(srv.url, role="judge", retries=0)
            run = judge_traces(s, QueryJudge(backend, "judge"))
        assert sorted(srv.seen) == sorted(f"t{i}" for i in range(10))  # every item tried
        assert (run.total, run.scored, run.errors, run.stopped) == (10, 8, 2, None)
        with JudgeStore(s.path) as js:
            assert set(js.scores()) == {f"t{i}" for i in range(10)} - {"t3", "t5"}
    finally:
        s.close()


class _GoneAfter:
    """A backend that answers *n* requests, then cannot be reached (the server died)."""

    url = "http://127.0.0.1:9/v1/chat/completions"

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0
        self._lock = threading.Lock()

    def generate(self, prompt: str, **kw: Any) -> str:
        from jarvis_tui.learning.optimize.backends import BackendError

        with self._lock:
            self.calls += 1
            calls = self.calls
        if calls > self.n:
            raise BackendError(
                f"judge endpoint {self.url} is unreachable (connection refused)", kind="unreachable"
            )
        return '{"score": 0.5, "reason": "ok"}'


def test_an_endpoint_that_goes_away_stops_the_run_after_three_failures(tmp_path: Path) -> None:
    backend = _GoneAfter(5)
    with TraceStore(tmp_path / "traces.db") as s:
        s.save_many(
            Trace(
                trace_id=f"t{i}",
                query=f"q {i}",
                result=f"a {i}",
                agent="a",
                model="m",
                started_at=1_700_000_000.0 + i,
            )  # fmt: skip
            for i in range(100)
        )
        run = judge_traces(s, QueryJudge(backend, "gone"), concurrency=1)
    assert (run.scored, run.errors) == (5, 3)  # 3 refused in a row, then no more tries
    assert run.stopped == (
        "judge: cannot reach http://127.0.0.1:9/v1 (connection refused): stopped after 8 of 100"
    )
    assert backend.calls == 8


class _Hangs:
    """A backend whose requests time out (an endpoint that accepts and never answers),
    except those numbered in *answers* (1-based)."""

    url = "http://127.0.0.1:9/v1/chat/completions"

    def __init__(self, answers: frozenset[int] = frozenset()) -> None:
        self.answers, self.calls = answers, 0
        self._lock = threading.Lock()

    def generate(self, prompt: str, **kw: Any) -> str:
        from jarvis_tui.learning.optimize.backends import BackendError

        with self._lock:
            self.calls += 1
            calls = self.calls
        if calls not in self.answers:
            raise BackendError(f"judge endpoint {self.url} timed out after 60 s", kind="timeout")
        return '{"score": 0.5, "reason": "ok"}'


def _traces(s: TraceStore, n: int) -> None:
    s.save_many(
        Trace(
            trace_id=f"t{i}",
            query=f"q {i}",
            result=f"a {i}",
            agent="a",
            model="m",
            started_at=1_700_000_000.0 + i,
        )  # fmt: skip
        for i in range(n)
    )


def test_an_endpoint_that_hangs_from_the_start_stops_after_two_timeouts(tmp_path: Path) -> None:
    """A hanging endpoint cost its time-out per item (60 s × 100 here); now two in a row
    before any answer stop the run with one line, as an unreachable one does."""
    backend = _Hangs()
    with TraceStore(tmp_path / "traces.db") as s:
        _traces(s, 100)
        run = judge_traces(s, QueryJudge(backend, "slow"))
    assert backend.calls == 2 and (run.scored, run.errors) == (0, 2)
    assert run.stopped == (
        "judge: http://127.0.0.1:9/v1 does not answer (the first 2 requests timed out "
        "after 60 s each): stopped after 2 of 100"
    )
    assert not run.cancelled


def test_a_timeout_once_the_endpoint_answered_is_one_missing_item(tmp_path: Path) -> None:
    """One slow item after answers (and a slow first request before one) skip only
    themselves: every item is tried, none stops the run."""
    backend = _Hangs(answers=frozenset({2, 3, 5, 6, 7, 8}))  # 1 and 4 time out
    with TraceStore(tmp_path / "traces.db") as s:
        _traces(s, 8)
        run = judge_traces(s, QueryJudge(backend, "slow"), concurrency=1)
    assert backend.calls == 8 and run.stopped is None
    assert (run.scored, run.errors) == (6, 2)
    assert run.first_error == (
        "judge failed: judge endpoint http://127.0.0.1:9/v1/chat/completions timed out after 60 s"
    )
