"""Counters and latency summaries for `Runtime.stats()` and `zixir run --stats`.

    pool / router / host --count(name) / observe(name, seconds)--> Stats (one lock)
                                                   snapshot() --> plain dict (msgpack-able)
Latencies keep the most recent 10,000 samples per name; p50/p99 are computed on demand.
"""

from __future__ import annotations

import threading
from collections import Counter, deque


class Stats:
    def __init__(self, window: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._latency: dict[str, deque[float]] = {}
        self._window = window

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            samples = self._latency.get(name)
            if samples is None:
                samples = self._latency[name] = deque(maxlen=self._window)
            samples.append(seconds)

    def observe_many(self, name: str, seconds: list[float]) -> None:
        with self._lock:
            samples = self._latency.get(name)
            if samples is None:
                samples = self._latency[name] = deque(maxlen=self._window)
            samples.extend(seconds)

    def observe_ok(self, name: str, seconds: float) -> None:
        """`observe(name, seconds)` and `count("calls.ok")` under one lock (the call path)."""
        with self._lock:
            self._counts["calls.ok"] += 1
            samples = self._latency.get(name)
            if samples is None:
                samples = self._latency[name] = deque(maxlen=self._window)
            samples.append(seconds)

    def snapshot(self) -> dict:
        with self._lock:
            counts = dict(self._counts)
            lat = {k: sorted(v) for k, v in self._latency.items()}
        return {"counts": counts, "latency_ms": {k: summarize(v) for k, v in lat.items() if v}}


def summarize(sorted_samples: list[float]) -> dict:
    n = len(sorted_samples)

    def q(f: float) -> float:
        return round(sorted_samples[min(n - 1, int(f * n))] * 1000, 4)

    return {"n": n, "p50": q(0.50), "p90": q(0.90), "p99": q(0.99),
            "max": round(sorted_samples[-1] * 1000, 4)}


def format_stats(stats: dict) -> str:
    """The human-readable report `zixir run --stats` prints (`zixir.observe.table`)."""
    from zixir.observe.table import format_stats as table

    return table(stats)
