"""A scripted OpenAI-compatible chat server on 127.0.0.1, for testing LLM proposers offline.

A real HTTP server (stdlib ``http.server`` in a thread, ephemeral port) serving
``POST /v1/chat/completions`` and ``GET /v1/models``. Each test scripts what
it answers: a list of :class:`Step` consumed one per request, then ``default``
(a Step, or a function of the request body returning one). Every request is
recorded (body and headers) so tests can assert what was sent. Faults a real
network has are scriptable too: delays, error statuses, malformed bodies
(``raw``) and a response that trickles in one byte at a time (``trickle``).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Union


@dataclass
class Step:
    text: str = ""  # the assistant's reply
    status: int = 200
    delay: float = 0.0  # seconds before answering (to exceed client timeouts)
    headers: dict[str, str] = field(default_factory=dict)
    finish_reason: str = "stop"
    raw: bytes | None = None  # send these bytes as the body instead of a JSON reply (e.g. malformed JSON)
    trickle: float = 0.0  # seconds between single bytes of the whole response, status line included


Behaviour = Union[Step, Callable[[dict], Step]]


class FakeLLMServer:
    def __init__(self, script: list[Behaviour] | None = None, default: Behaviour | None = None):
        self.script = list(script or [])
        self.default = default or Step("E + A/x^alpha")
        self.requests: list[dict] = []  # {"body": ..., "headers": ...}
        self.lock = threading.Lock()
        self.stopping = threading.Event()  # set on exit: trickling handlers stop
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _trickle(self, status: int, data: bytes, seconds_per_byte: float) -> None:
                """A server that answers, but one byte at a time: no single read ever waits long."""
                head = (f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(data)}\r\n\r\n").encode()
                try:
                    for i in range(len(head) + len(data)):
                        if server.stopping.wait(seconds_per_byte):
                            return
                        self.wfile.write((head + data)[i:i + 1])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status: int, payload: dict | bytes, headers: dict[str, str] | None = None,
                      trickle: float = 0.0) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                if trickle:
                    self._trickle(status, data, trickle)
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "test"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                with server.lock:
                    server.requests.append({"body": body, "headers": dict(self.headers)})
                    behaviour = server.script.pop(0) if server.script else server.default
                step = behaviour(body) if callable(behaviour) else behaviour
                if step.delay:
                    time.sleep(step.delay)
                if step.raw is not None:
                    self._send(step.status, step.raw, step.headers, step.trickle)
                    return
                if step.status != 200:
                    self._send(step.status, {"error": {"message": f"scripted error {step.status}", "type": "server_error",
                                                       "code": step.status}}, step.headers)
                    return
                prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
                completion_tokens = len(step.text.split())
                self._send(200, {
                    "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": step.text},
                                 "finish_reason": step.finish_reason}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens},
                }, step.headers, step.trickle)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def n_requests(self) -> int:
        with self.lock:
            return len(self.requests)

    def __enter__(self) -> "FakeLLMServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
