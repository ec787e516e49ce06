"""Start real servers on free loopback ports for tests (Chroma, moto's S3, anything)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HangUpServer:
    """A loopback port that accepts every connection and closes it unanswered: a dropped
    connection, which a client may retry (unlike a refused one). ``connections`` counts them.

    >>> with HangUpServer() as server:
    ...     embedder = OpenAIEmbedder(base_url=server.url + "/v1")
    """

    def __init__(self) -> None:
        self.connections = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hang-up-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def __enter__(self) -> HangUpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@dataclass
class ServerProcess:
    """A server process started by :func:`run_server`."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _bin(name: str) -> str:
    """A console script from this interpreter's environment, else from PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name!r} is not installed in this environment")
    return found


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers: that is all we wait for
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer {url} within {timeout}s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def run_server(
    argv: Sequence[str],
    port: int,
    ready_path: str = "/",
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
) -> Iterator[ServerProcess]:
    """Run ``argv`` (which must listen on 127.0.0.1:``port``) until the block ends."""
    log = Path(tempfile.mkstemp(prefix="llm-memory-server-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    server = ServerProcess(process, "127.0.0.1", port, log)
    try:
        _wait_http(server.url + ready_path, process, log, timeout)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def moto_server() -> Iterator[ServerProcess]:
    """moto's S3-compatible server (``moto_server``) on a free loopback port."""
    port = free_port()
    with run_server(
        [_bin("moto_server"), "-H", "127.0.0.1", "-p", str(port)], port, "/moto-api/"
    ) as s:
        yield s


@contextlib.contextmanager
def chroma_server(path: str | os.PathLike[str]) -> Iterator[ServerProcess]:
    """A real Chroma server (``chroma run``) persisting to ``path``."""
    port = free_port()
    argv = [_bin("chroma"), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    env = {"ANONYMIZED_TELEMETRY": "False"}
    with run_server(argv, port, "/api/v2/heartbeat", timeout=90, env=env) as s:
        yield s


@contextlib.contextmanager
def serve_app(app: Any, timeout: float = 20.0) -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn on a free loopback port, in a thread of this
    process (so a test can reach the app's objects); yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port} within {timeout}s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
