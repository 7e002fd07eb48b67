"""A real OpenAI-compatible HTTP server for tests, with a script of replies.

It implements ``POST /v1/chat/completions`` on 127.0.0.1 (a free port) in a background thread,
answers each request with the next scripted `Reply` (or the default one), and records every raw
request body so tests can assert on exactly what left the process. Nothing in the `openai`
client is patched: requests go over a real socket.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer: text, or an HTTP error status, after an optional delay."""

    content: str = ""
    status: int = 200
    delay_s: float = 0.0
    finish_reason: str = "stop"


class OpenAICompatibleServer:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.default = Reply("")
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(b) for b in self.bodies]

    def reset(self, default: Reply = Reply("")) -> None:
        with self._lock:
            self.bodies.clear()
            self._script.clear()
            self.default = default

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, then with the default."""
        with self._lock:
            self._script.extend(replies)

    def _next(self, body: bytes) -> Reply:
        with self._lock:
            self.bodies.append(body)
            return self._script.popleft() if self._script else self.default

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "not found"}})
                reply = server._next(body)
                time.sleep(reply.delay_s)
                if reply.status != 200:
                    error = {"message": "scripted failure", "type": "server_error"}
                    return self._send(reply.status, {"error": error})
                request = json.loads(body)
                completion_tokens = max(1, len(reply.content) // 4)
                self._send(
                    200,
                    {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": request["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply.content},
                                "finish_reason": reply.finish_reason,
                            }
                        ],
                        "usage": {
                            "prompt_tokens": 100,
                            "completion_tokens": completion_tokens,
                            "total_tokens": 100 + completion_tokens,
                        },
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
