"""Polling briefly before blocking, without taking a CPU another process needs.

An idle virtual CPU takes tens of microseconds to wake up, more than a short call takes, so a
thread that expects a reply soon polls for `RuntimeConfig.spin` seconds before it blocks. On
a machine with fewer free cores than busy processes that polling would delay the very process
it waits for, so the loop yields the CPU between polls, and stops polling (the caller then
blocks) as soon as a yield let another thread run: the CPU is wanted elsewhere.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

#: a yield that took longer than this ran another thread
YIELDED_TO_ANOTHER = 5e-6

_yield = os.sched_yield
_clock = time.perf_counter


def poll_briefly(poll: Callable[[int], list], seconds: float) -> None:
    """Return once `poll(0)` reports an event, `seconds` have passed, or another thread
    needed this CPU; the caller then reads (blocking when nothing came)."""
    now = _clock()
    end = now + seconds
    while not poll(0):
        _yield()
        then, now = now, _clock()
        if now >= end or now - then > YIELDED_TO_ANOTHER:
            return
