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
    """A short human-readable report (what `zixir run --stats` prints to stderr)."""
    lines = ["zixir runtime stats"]
    for section in ("host", "router"):
        part = stats.get(section) or {}
        counts = part.get("counts") or {}
        if counts:
            lines.append(f"  {section} counts:")
            for k in sorted(counts):
                lines.append(f"    {k:<28} {counts[k]}")
        lat = part.get("latency_ms") or {}
        for k in sorted(lat):
            s = lat[k]
            lines.append(f"  {section} latency {k}: n={s['n']} p50={s['p50']}ms "
                         f"p99={s['p99']}ms max={s['max']}ms")
    workers = (stats.get("router") or {}).get("workers") or {}
    if workers:
        lines.append(f"  workers: {workers.get('count')} live, restarts {workers.get('restarts')}, "
                     f"replacements {workers.get('replacements')}, "
                     f"queued {workers.get('queued')}")
    breakers = (stats.get("router") or {}).get("breakers") or {}
    for key, b in sorted(breakers.items()):
        lines.append(f"  breaker {key}: {b['state']} (failures {b['failures']})")
    sup = stats.get("supervisor") or {}
    if sup:
        lines.append(f"  root supervisor: restarts {sup.get('restarts')}, "
                     f"escalated {sup.get('escalated')}")
    return "\n".join(lines)
