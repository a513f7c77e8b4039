"""A local OpenAI-compatible chat server for tests and benchmarks: scripted answers and
delays per model. It listens on 127.0.0.1 only.

``ChatServer(models)`` listens on 127.0.0.1 (a free port) and answers
``POST /v1/chat/completions``. ``models`` maps a model name to a function
``(user_message, system_message) -> str`` and optionally a delay in seconds; usage tokens
are the word counts. A model named ``*`` answers for every other name; without one,
unknown models get HTTP 404. Use as a context manager.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[str, str], str]


class ChatServer:
    def __init__(self, models: dict[str, tuple[Answer, float] | Answer]) -> None:
        self.models = {
            name: spec if isinstance(spec, tuple) else (spec, 0.0) for name, spec in models.items()
        }
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with owner._lock:
                    owner.requests.append(body)
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                try:
                    spec = owner.models.get(body.get("model")) or owner.models.get("*")
                    if spec is None:
                        self._send(404, {"error": {"message": "model not found"}})
                        return
                    answer, delay = spec
                    msgs = body.get("messages", [])
                    user = next((m["content"] for m in msgs if m["role"] == "user"), "")
                    system = next((m["content"] for m in msgs if m["role"] == "system"), "")
                    if delay:
                        time.sleep(delay)  # the server's latency under test, not a sync
                    text = answer(user, system)
                    self._send(
                        200,
                        {
                            "choices": [{"message": {"role": "assistant", "content": text}}],
                            "usage": {
                                "prompt_tokens": len((system + " " + user).split()),
                                "completion_tokens": len(text.split()),
                            },
                        },
                    )
                finally:
                    with owner._lock:
                        owner.in_flight -= 1

            def _send(self, status: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
