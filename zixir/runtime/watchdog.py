"""Call deadlines: kills the worker of a call that runs past its timeout.

    caller thread                        Watchdog (one thread, owned and joined by the pool)
    -------------                        ---------------------------------------------------
    watch(id, deadline, what) --------->  deadlines (dict, under the lock); the thread sleeps
      ... the call runs ...                 until the nearest one; a new call wakes it only
    unwatch(id) -> True: ours    <------    when its deadline is nearer
                  False: the watchdog     deadline passed: it pops the entry (claims the call)
                  claimed it (timeout)      and runs on_expired(what) -> the pool kills the
                                            worker; the caller's read ends, it sees the claim
                                            and raises CallTimeout
Whoever pops an entry first owns the outcome, so a reply racing the deadline is never both a
result and a kill. A failing `on_expired` is logged and the thread keeps enforcing every other
deadline; a thread that dies anyway is restarted by the next `watch`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .events import NullLog


class Watchdog:
    def __init__(self, on_expired: Callable[[Any], None], idle_wake: float = 30.0,
                 log: Any = None) -> None:
        self._on_expired = on_expired
        self._idle_wake = idle_wake
        self.log = log or NullLog()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._calls: dict[int, tuple[float, Any]] = {}  # id -> (deadline, what)
        self._wake_at = 0.0  # the thread looks again by then (0: it is not sleeping)
        self._thread: threading.Thread | None = None
        self._running = False  # the thread runs (set by `watch`, cleared as it ends)
        self._closed = False
        self.failures = 0

    def watch(self, call_id: int, deadline: float, what: Any) -> None:
        with self._lock:
            self._calls[call_id] = (deadline, what)
            if not self._running:
                if self._closed:
                    return
                self._running = True
                self._thread = threading.Thread(target=self._run, name="zixir-watchdog",
                                                daemon=True)
                self._thread.start()
            elif deadline < self._wake_at or not self._wake_at:
                self._cond.notify()

    def unwatch(self, call_id: int) -> bool:
        """Stop watching; False when the watchdog already claimed the call (it timed out)."""
        with self._lock:
            return self._calls.pop(call_id, None) is not None

    def watching(self, call_id: int) -> bool:
        with self._lock:
            return call_id in self._calls

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(10.0)

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            with self._lock:
                self._running = False

    def _loop(self) -> None:
        while True:
            expired = []
            with self._lock:
                if self._closed:
                    return
                now = time.monotonic()
                nearest = now + self._idle_wake
                for call_id, (deadline, what) in list(self._calls.items()):
                    if deadline <= now:
                        del self._calls[call_id]
                        expired.append(what)
                    elif deadline < nearest:
                        nearest = deadline
                if not expired:
                    self._wake_at = nearest
                    self._cond.wait(nearest - now)
                    self._wake_at = 0.0
                    continue
            for what in expired:
                try:
                    self._on_expired(what)
                except Exception as e:  # keep enforcing every other deadline
                    self.failures += 1
                    self.log.error("watchdog.failed", error=repr(e))
