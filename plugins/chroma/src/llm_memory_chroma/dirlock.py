"""One process at a time on an embedded Chroma directory.

chromadb's embedded mode keeps each collection's vector index in the memory of the process
that opened it and writes it back to the directory. Two processes on one directory do not
see each other's writes in vector search and leave an index that fails to load ("Error
finding id"). So an open embedded store holds an exclusive ``flock`` on
``<dir>/llm-memory.lock``; a second process is refused with an error that names the fix
(``--url`` to a running ``llm-memory serve``, or a Chroma server). Stores in one process share the lock; the OS drops it when the process
dies, so a crash never leaves a stale lock.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from llm_memory.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock; one process is on you
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "ChromaDirectoryLocked", "acquire", "release"]

LOCK_NAME = "llm-memory.lock"


class ChromaDirectoryLocked(ConfigError):
    """Another process has this embedded Chroma directory open."""


@dataclass
class _Held:
    handle: IO[str] | None
    pid: int
    users: int


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


def acquire(directory: Path, shown: str) -> None:
    """Take (or share, within this process) the lock on ``directory``; ``shown`` is the path
    as the user configured it, for the error message."""
    directory = directory.resolve()
    with _guard:
        held = _held.get(directory)
        if held is not None and held.pid == os.getpid():
            held.users += 1
            return
        # An entry from another pid was inherited through fork: the parent holds the lock.
        _held[directory] = _Held(_lock(directory, shown), os.getpid(), 1)


def release(directory: Path) -> None:
    directory = directory.resolve()
    with _guard:
        held = _held.get(directory)
        if held is None or held.pid != os.getpid():
            return
        held.users -= 1
        if held.users <= 0:
            del _held[directory]
            if held.handle is not None:
                held.handle.close()  # closing the file drops the flock


def _lock(directory: Path, shown: str) -> IO[str] | None:
    if fcntl is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / LOCK_NAME, "a+")  # noqa: SIM115 - held until release()
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip()
        handle.close()
        who = f"pid {owner}" if owner.isdigit() else "pid unknown"
        command = _command_line(owner) if owner.isdigit() else None
        if command:
            who += f": `{command}`"
        raise ChromaDirectoryLocked(
            f"Chroma at {shown} is open in another process ({who}): stop that process, or, "
            "if it is `llm-memory serve`, run this command through it with --url "
            "http://HOST:PORT (or LLM_MEMORY_URL); for several processes on one store, run "
            f"`chroma run --path {shown}` and set CHROMA_HOST."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _command_line(pid: str, most: int = 80) -> str | None:
    """The holder's command line (Linux ``/proc``), shortened, so the error says which
    process to stop or to talk to; None where it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    parts = [
        Path(part).name if n == 0 else part
        for n, part in enumerate(raw.decode(errors="replace").split("\0"))
        if part
    ]
    line = " ".join(" ".join(parts).split())  # one line, whatever the arguments hold
    return line if len(line) <= most else line[: most - 1] + "…"
