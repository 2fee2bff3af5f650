"""CPU time of other processes, for the benchmarks that put it beside wall time: the runtime's
router, workers and agents do their work outside the benchmark's own process."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (/proc/PID/stat); a process
    that is gone counts 0."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / TICKS


def measured(fn: Callable[[], object], pids: list[int]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of `pids`) that `fn()` took."""
    wall0, cpu0 = time.perf_counter(), cpu_seconds(pids)
    fn()
    return time.perf_counter() - wall0, cpu_seconds(pids) - cpu0
