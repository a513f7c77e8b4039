"""Stopping the judge abandons the request in flight at once (walkthrough 31: `x` waited
40 s for a slow endpoint, then said "failed: … HTTP 500 … (stopped)").

The endpoint below answers the first requests and then holds every later one until
the test lets it go, which it does only after the run has returned: a run that waited
for the request in flight would never return (the join's limit is a hang guard).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from jarvis_tui.core.types import Trace
from jarvis_tui.evals.judge import JudgeRun, JudgeStore, QueryJudge, judge_traces
from jarvis_tui.learning.optimize.backends import BackendError, OpenAICompatibleBackend
from jarvis_tui.traces.store import TraceStore

N = 40
GOOD = '```json\n{"score": 0.8, "reason": "fine"}\n```'
HANG_GUARD = 30.0  # seconds; never reached when the stop works


class SlowEndpoint:
    """Answers *fast* requests, then holds each later one until :attr:`release`."""

    def __init__(self, fast: int) -> None:
        self.fast = fast
        self.seen = 0
        self.lock = threading.Lock()
        self.held = threading.Event()  # a request is being held
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.seen += 1
                    hold = outer.seen > outer.fast
                if hold:
                    outer.held.set()
                    outer.release.wait()
                    status, body = 500, b'{"error": "too late"}'
                else:
                    reply = {"choices": [{"message": {"role": "assistant", "content": GOOD}}]}
                    status, body = 200, json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client hung up: what the stop does
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlowEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TraceStore]:
    s = TraceStore(tmp_path / "traces.db")
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


class _CountingJudge(QueryJudge):
    """Sets :attr:`answered` once *n* scores have come back to the run: requests run four
    at a time, so a fast answer can still be on its way when a later request is held."""

    def __init__(self, backend: Any, model: str, n: int) -> None:
        super().__init__(backend, model)
        self.n, self.count, self.answered = n, 0, threading.Event()
        self._lock = threading.Lock()

    def score(self, *args: Any, **kwargs: Any) -> Any:
        out = super().score(*args, **kwargs)
        if out.value is not None:
            with self._lock:
                self.count += 1
                if self.count >= self.n:
                    self.answered.set()
        return out


def _run_and_stop(store: TraceStore, endpoint: SlowEndpoint) -> tuple[JudgeRun, bool]:
    """Start a run, stop it once the endpoint holds a request and the fast answers are
    back; (the run, whether the endpoint was still holding when the run returned)."""
    backend = OpenAICompatibleBackend(endpoint.url, role="judge", retries=0, timeout=120)
    cancel = threading.Event()
    result: list[JudgeRun] = []
    judge = _CountingJudge(backend, "j1", endpoint.fast)
    worker = threading.Thread(
        target=lambda: result.append(judge_traces(store, judge, labelled=False, cancel=cancel)),
        daemon=True,
    )
    worker.start()
    assert endpoint.held.wait(HANG_GUARD)
    if endpoint.fast:
        assert judge.answered.wait(HANG_GUARD)
    cancel.set()
    worker.join(HANG_GUARD)
    still_holding = not endpoint.release.is_set()
    assert not worker.is_alive(), "the run waited for the request in flight"
    return result[0], still_holding


def test_stop_abandons_the_first_request_in_flight(store: TraceStore) -> None:
    with SlowEndpoint(fast=0) as endpoint:
        run, still_holding = _run_and_stop(store, endpoint)
    assert still_holding  # returned before the endpoint answered
    assert run.cancelled and run.stopped is None
    # the abandoned request is neither a score nor an error (it never "failed")
    assert (run.total, run.scored, run.errors, run.first_error) == (N, 0, 0, None)
    with JudgeStore(store.path) as js:
        assert js.scores() == {}


def test_stop_keeps_what_was_scored_and_sends_nothing_more(store: TraceStore) -> None:
    with SlowEndpoint(fast=3) as endpoint:
        run, still_holding = _run_and_stop(store, endpoint)
        seen = endpoint.seen
    assert still_holding
    assert run.cancelled and run.scored == 3 and run.errors == 0
    assert seen < N  # no request after the stop beyond those already in flight
    with JudgeStore(store.path) as js:
        assert len(js.scores()) == 3


def test_an_aborted_backend_refuses_new_requests_without_connecting() -> None:
    with SlowEndpoint(fast=0) as endpoint:
        backend = OpenAICompatibleBackend(endpoint.url, role="judge", retries=0)
        backend.abort()
        with pytest.raises(BackendError) as caught:
            backend.generate("hi", model="j1")
        assert endpoint.seen == 0
    assert caught.value.kind == "cancelled" and not caught.value.retryable
    assert "abandoned" in str(caught.value)
