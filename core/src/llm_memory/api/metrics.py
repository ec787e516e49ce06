"""Latency percentiles of the operations the server performs (recent samples)."""

from __future__ import annotations

import threading
from collections import deque


class Latencies:
    """Keeps the last ``window`` durations of each named operation."""

    def __init__(self, window: int = 2048) -> None:
        self.window = window
        self._samples: dict[str, deque[float]] = {}
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            self._samples.setdefault(name, deque(maxlen=self.window)).append(seconds)
            self._counts[name] = self._counts.get(name, 0) + 1

    def summary(self) -> dict[str, dict[str, float | int]]:
        """Per operation: count, and p50/p90/p99/max over the recent window, in milliseconds."""
        with self._lock:
            snapshot = {name: sorted(samples) for name, samples in self._samples.items()}
            counts = dict(self._counts)
        out: dict[str, dict[str, float | int]] = {}
        for name, values in snapshot.items():
            out[name] = {
                "count": counts[name],
                "p50_ms": _ms(_percentile(values, 50)),
                "p90_ms": _ms(_percentile(values, 90)),
                "p99_ms": _ms(_percentile(values, 99)),
                "max_ms": _ms(values[-1]),
            }
        return out


def _percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    rank = max(1, -(-len(values) * p // 100))
    return values[int(rank) - 1]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
