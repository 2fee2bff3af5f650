"""Per-module admission in the router: a rate limit and a concurrency limit, shared by every
caller and task of the runtime.

    call of module m (its wait budget: the module's wait_timeout, ends in Overloaded)
      |
      v
    TokenBucket.take(deadline)   a reservation, not a queue: the call reserves the next free
      |                          instant of the bucket (GCRA) and sleeps until then (fibers.
      |                          sleep); a reservation past its deadline is refused at once
      v                          and reserves nothing
    Slots.acquire(deadline)      `concurrency` calls in flight; the others wait in arrival
      |                          order on a Waiter each; a released slot is handed to the
      v                          first waiter still waiting (no thundering herd)
    (a worker: pool.py)
      |
      v
    TokenBucket.pace(deadline)   the send itself is spaced by the same interval: calls that
      |                          took their tokens in turn but then waited together (for a
      |                          slot, or for the first call of an async function to import
      v                          its module) would otherwise leave as one burst
    ... the call runs ...
    Slots.release()

Nothing here needs a thread: a waiting call is a Waiter or a sleep, so a fiber scheduler can
park thousands of them on one thread. Each limiter's state belongs to its own lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from zixir.lang import fibers
from zixir.lang.errors import Overloaded

from .modules import ModulePolicies, Rate

#: how to avoid an Overloaded refusal of a full queue (its message ends with it)
QUEUE_HINT = ("raise [runtime] max_queue, or keep fewer calls in flight, e.g. with a smaller "
              "pmap n")
#: how to avoid an Overloaded refusal of a call that waited too long (its message ends with it)
WAIT_HINT = ("raise wait_timeout in the module's [modules] table of zixir.toml (default: its "
             "timeout), or keep fewer calls in flight, e.g. with a smaller pmap n")


class TokenBucket:
    """`rate.count` calls per `rate.per` seconds, spaced evenly (a bucket of one token): no
    burst, so any window of a server's own limit sees at most the rate ("3000/min" never
    sends 3000 calls in the first second)."""

    def __init__(self, rate: Rate) -> None:
        self.interval = rate.per / rate.count
        self.tolerance = 0.0
        self._tat = 0.0  # theoretical arrival time of the next call
        self._sent = 0.0  # the earliest time the next call may be sent
        self._lock = threading.Lock()
        self.waited = 0  # calls that had to wait for a token (or to be sent)

    def take(self, deadline: float, what: str) -> float:
        """Wait for a token; the seconds waited. Overloaded when the token comes after
        `deadline`."""
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat, now)
            allowed_at = tat - self.tolerance
            if allowed_at > deadline:
                raise Overloaded(f"{what}: no rate-limit token within its wait_timeout "
                                 f"(the next is {allowed_at - now:.2f} s away); {WAIT_HINT}")
            self._tat = tat + self.interval
        wait = allowed_at - now
        if wait > 0:
            self.waited += 1
            fibers.sleep(wait)
            return wait
        return 0.0

    def pace(self, deadline: float, what: str) -> float:
        """Wait until the call, holding its token, slot and worker, may be sent: at least one
        interval after the previous send. Returns the seconds waited. In the steady state
        the token's wait has spaced the calls already and this waits for nothing."""
        with self._lock:
            now = time.monotonic()
            at = max(self._sent, now)
            if at > deadline:
                raise Overloaded(f"{what}: could not be sent within its wait_timeout at the "
                                 f"module's rate (the next send is {at - now:.2f} s away); "
                                 f"{WAIT_HINT}")
            self._sent = at + self.interval
        wait = at - now
        if wait > self.interval / 10:  # less: the jitter of calls already spaced by take
            fibers.sleep(wait)
            return wait
        return 0.0


class Slots:
    """At most `limit` holders; waiters are served in arrival order."""

    def __init__(self, limit: int, max_waiting: int = 1 << 62) -> None:
        self.limit = limit
        self.max_waiting = max_waiting
        self.held = 0
        self._waiters: deque[fibers.Waiter] = deque()
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def acquire(self, deadline: float, what: str) -> None:
        with self._lock:
            if self.held < self.limit and not self._waiters:
                self.held += 1
                return
            if len(self._waiters) >= self.max_waiting:
                raise Overloaded(f"{what}: {len(self._waiters)} calls are already waiting for "
                                 f"a concurrency slot (max_queue {self.max_waiting}; "
                                 f"{QUEUE_HINT})")
            waiter = fibers.Waiter()
            self._waiters.append(waiter)
        try:
            waiter.wait(max(0.0, deadline - time.monotonic()))
            return  # the releasing call handed its slot over
        except fibers.WaitTimeout:
            with self._lock:
                if waiter.done:  # handed over just as the time ran out: keep it
                    return
                self._waiters.remove(waiter)
            raise Overloaded(f"{what}: no concurrency slot (limit {self.limit}) became free "
                             f"within its wait_timeout; {WAIT_HINT}") from None
        except BaseException:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                    raise
            self.release()  # it was handed over: pass it on
            raise

    def release(self) -> None:
        with self._lock:
            while self._waiters:
                if self._waiters.popleft().set(True):
                    return  # handed over: `held` stays
            self.held -= 1


class Limits:
    """The limiters of every module, created on first use. A limit belongs to the table that
    sets it: `[modules.llm]` concurrency is shared by every llm function, a
    `[modules."llm.complete"]` one by that function's calls only."""

    def __init__(self, policies: ModulePolicies, max_queue: int = 1 << 62) -> None:
        self.policies = policies
        self.max_queue = max_queue
        self._buckets: dict[str, TokenBucket] = {}
        self._slots: dict[str, Slots] = {}
        self._lock = threading.Lock()

    def owner(self, module: str, function: str, key: str) -> str | None:
        """The name of the most specific table that sets `key` for module.function."""
        tables = self.policies.tables
        name = f"{module}.{function}"
        if key in tables.get(name, ()):
            return name
        parts = module.split(".")
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            if key in tables.get(prefix, ()):
                return prefix
        return None

    def bucket(self, module: str, function: str, rate: Rate) -> TokenBucket:
        owner = self.owner(module, function, "rate") or module
        found = self._buckets.get(owner)
        if found is None:
            with self._lock:
                found = self._buckets.setdefault(owner, TokenBucket(rate))
        return found

    def slots(self, module: str, function: str, limit: int) -> Slots:
        owner = self.owner(module, function, "concurrency") or module
        found = self._slots.get(owner)
        if found is None:
            with self._lock:
                found = self._slots.setdefault(owner, Slots(limit, self.max_queue))
        return found

    def snapshot(self) -> dict:
        return {
            "rate_waits": {k: b.waited for k, b in self._buckets.items()},
            "slots": {k: {"held": s.held, "waiting": s.waiting, "limit": s.limit}
                      for k, s in self._slots.items()},
        }
