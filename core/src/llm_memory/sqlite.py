"""The SQLite files the core keeps beside a store (keyword index, history log)."""

from __future__ import annotations

import sqlite3


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (callers open their own transactions) that several
    threads and processes may share: WAL, a 30 s busy timeout, and no fsync per commit."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA busy_timeout = 30000")
    if path != ":memory:":
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
    return db
