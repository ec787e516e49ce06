"""The base of the fake vendor servers: a threaded HTTP server on a free loopback port."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from llm_memory.embedding.hash import HashEmbedder

from llm_memory_testing.servers import free_port

Reply = tuple[int, dict[str, str], Any]


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    #: ``time.monotonic()`` when the request arrived (to measure waits between retries).
    at: float = 0.0

    @property
    def json(self) -> Any:
        return self.body


@dataclass
class _Failure:
    status: int
    message: str | None
    headers: dict[str, str] = field(default_factory=dict)


def count_tokens(text: str) -> int:
    """The fakes' token count: words and punctuation marks (at least one per text)."""
    return max(1, len(re.findall(r"\w+|[^\w\s]", text)))


def vectors(texts: list[str], dimension: int) -> list[list[float]]:
    """Deterministic unit vectors; texts sharing words are close (feature hashing)."""
    full = np.asarray(
        HashEmbedder(dimension=max(16, dimension)).embed_documents(texts), dtype=float
    )
    cut = full[:, :dimension].reshape(len(texts), dimension)
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    cut = np.divide(cut, norms, out=np.zeros_like(cut), where=norms > 0)
    cut[norms[:, 0] == 0, 0] = 1.0
    return cut.tolist()


class FakeServer:
    """Serve ``handle`` on 127.0.0.1 in a daemon thread; record every request.

    Subclasses implement :meth:`handle` and :meth:`error_body`. Use as a context manager,
    or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self._failures: dict[int, _Failure] = {}  # request number -> failure to answer with
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                server._serve(self)

            do_GET = do_POST
            do_DELETE = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = free_port()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection -------------------------------------------------------
    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        after: int = 0,
        retry_after: str | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``times`` requests with ``status`` and the vendor's error body, starting
        after the next ``after`` requests (which are served normally)."""
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = retry_after
        with self._lock:
            start = len(self.requests) + after
            for n in range(start, start + times):
                self._failures[n] = _Failure(status, message, extra)

    def received(self, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()

    # -- subclass API -------------------------------------------------------------------
    def handle(self, request: Recorded) -> Reply:
        raise NotImplementedError

    def error_body(self, status: int, message: str | None) -> Any:
        raise NotImplementedError

    def error(
        self, status: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        return status, dict(headers or {}), self.error_body(status, message)

    def authorized(self, request: Recorded) -> bool:
        return (
            self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}"
        )

    # -- plumbing -----------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        request = Recorded(
            handler.command,
            handler.path.split("?", 1)[0],
            {k.lower(): v for k, v in handler.headers.items()},
            body,
            time.monotonic(),
        )
        with self._lock:
            failure = self._failures.pop(len(self.requests), None)
            self.requests.append(request)
        if failure is not None:
            status, headers, payload = self.error(failure.status, failure.message, failure.headers)
        elif not self.authorized(request):
            status, headers, payload = self.error(401)
        elif not isinstance(body, dict) and handler.command == "POST":
            status, headers, payload = self.error(400, "request body must be a JSON object")
        else:
            status, headers, payload = self.handle(request)
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
