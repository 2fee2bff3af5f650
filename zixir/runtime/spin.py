"""Polling briefly before blocking, without taking a CPU another process needs.

An idle virtual CPU takes tens of microseconds to wake up, more than a short call takes, so a
thread that expects a reply soon polls for `RuntimeConfig.spin` seconds before it blocks. On
a machine with fewer free cores than busy processes that polling would delay the very process
it waits for, so the loop yields the CPU between polls, and stops polling (the caller then
blocks) as soon as a yield let another thread run: the CPU is wanted elsewhere.

A yield that ran another process costs more than the poll can win: the yielding thread is
runnable, not sleeping, so it gets the CPU back only when the scheduler chooses, without the
priority a woken sleeper gets. `Spin` therefore stops polling while it keeps coming back
empty-handed (a loaded machine, or a peer slower than the spin), and tries again later:

    wait(poll) --skip > 0?--> block at once (skip - 1)
               --else-------> poll_briefly: an event? misses = 0, backoff reset
                                            nothing?   misses + 1; after MISSES in a row,
                                                       skip the next `backoff` waits and
                                                       double it (up to MAX_BACKOFF)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

#: a yield that took longer than this ran another thread (a virtual CPU's own yield takes
#: up to a few tens of microseconds now and then with nothing else to run: a lower bound
#: stopped polling on an idle machine)
YIELDED_TO_ANOTHER = 50e-6
#: empty-handed polls in a row after which `Spin` blocks at once for a while
MISSES = 3
#: waits `Spin` blocks at once after MISSES (doubled each time polling fails again)
BACKOFF = 32
MAX_BACKOFF = 4096

_yield = os.sched_yield
_clock = time.perf_counter


def poll_briefly(poll: Callable[[int], list], seconds: float) -> bool:
    """Return once `poll(0)` reports an event (True), or `seconds` have passed or another
    thread needed this CPU (False); the caller then reads (blocking when nothing came)."""
    now = _clock()
    end = now + seconds
    while not poll(0):
        _yield()
        then, now = now, _clock()
        if now >= end or now - then > YIELDED_TO_ANOTHER:
            return False
    return True


class Spin:
    """`poll_briefly` for one waiting thread, that stops polling while polling does not pay
    (see the module's docstring). Owned by the one thread that waits with it."""

    __slots__ = ("seconds", "_skip", "_misses", "_backoff")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._skip = 0
        self._misses = 0
        self._backoff = BACKOFF

    def wait(self, poll: Callable[[int], list]) -> None:
        if self._skip:
            self._skip -= 1
            return
        if poll_briefly(poll, self.seconds):
            self._misses = 0
            self._backoff = BACKOFF
            return
        self._misses += 1
        if self._misses >= MISSES:
            self._misses = MISSES - 1  # one more miss after the pause pauses again, longer
            self._skip = self._backoff
            self._backoff = min(MAX_BACKOFF, self._backoff * 2)
