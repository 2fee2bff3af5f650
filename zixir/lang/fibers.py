"""Waiting without a thread per wait: the one primitive every blocking point of the interpreter
uses (a Python call's reply, a rate-limit token, a retry's backoff, a task's result).

    producer (any thread: a channel's reader, a timer)      consumer (a thread or a fiber)
    --------------------------------------------------      ------------------------------
    waiter.set(value) / waiter.fail(error)  ------------->  waiter.wait(timeout) -> value
      first one wins, later ones are ignored                  raises the error, or
                                                              WaitTimeout when time is up
    spawn(fn) -> Fiber: fn runs concurrently; fiber.waiter holds its value or error
    sleep(seconds): lets other fibers run while this one waits

Fibers are greenlets. Each OS thread that spawns one gets a Scheduler: a hub greenlet that runs
whichever fibers are ready, fires timers (sleep, wait timeouts) and, when nothing is ready,
sleeps until another thread delivers a value to one of its fibers:

    thread T
      root code --spawn(fn)--> ready queue ----+           other threads
      root code --waiter.wait()--> hub.switch  |           waiter.set(v) --> T's inbox + signal
                        hub loop: inbox -> ready, timers -> ready,          |
                                  ready -> glet.switch() <------------------+
                        a fiber parks in waiter.wait(): back to the hub

A fiber runs on the thread that spawned it, whenever that thread waits (`Waiter.wait`, `sleep`,
`blocking`): scheduling is cooperative, so code that spawns fibers then waits through this
module. `Waiter.wait` in a thread with no fibers blocks that thread, as a plain event would.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import greenlet

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

_UNSET = object()
#: longest uninterrupted wait of a thread for a Waiter, in seconds
_INTERRUPTIBLE_SLICE = 0.2
_lock = threading.Lock()  # guards every Waiter's result and parks, and every park's `woken`
_local = threading.local()


class WaitTimeout(Exception):
    """`Waiter.wait` ran out of time before a value or an error arrived."""


class FiberCancelled(BaseException):
    """Raised inside a cancelled fiber where it waits (never caught by `except Exception`)."""


class _Park:
    """One wait of one fiber (or thread): woken exactly once, by a value, a timer or a cancel."""

    __slots__ = ("sched", "glet", "event", "woken", "timed_out", "stale")

    def __init__(self, sched: Scheduler | None, glet: Any, event: threading.Event | None) -> None:
        self.sched = sched
        self.glet = glet
        self.event = event
        self.woken = False
        self.timed_out = False
        self.stale = False  # its waiter gave up (an exception while parked): never resume

    def resume(self) -> None:
        """Make the waiting fiber or thread run again (`woken` already claimed under _lock)."""
        if self.event is not None:
            self.event.set()
        else:
            self.sched.make_ready(self)


class Waiter:
    """A one-shot value or error, delivered by any thread, awaited by threads or fibers."""

    __slots__ = ("_value", "_error", "_done", "_parks")

    def __init__(self) -> None:
        self._value: Any = _UNSET
        self._error: BaseException | None = None
        self._done = False
        self._parks: list[_Park] | None = None

    @property
    def done(self) -> bool:
        return self._done

    @property
    def error(self) -> BaseException | None:
        """The error delivered, if one was (None while waiting or after a value)."""
        return self._error

    def set(self, value: Any = None) -> bool:
        """Deliver the value; False if the waiter already had one (the first wins)."""
        return self._deliver(value, None)

    def fail(self, error: BaseException) -> bool:
        return self._deliver(None, error)

    def _deliver(self, value: Any, error: BaseException | None) -> bool:
        with _lock:
            if self._done:
                return False
            if error is not None:
                self._error = error
            else:
                self._value = value
            self._done = True
            parks, self._parks = self._parks, None
            woken = []
            if parks:
                for park in parks:
                    if not park.woken:  # a cancel or a timer may have claimed it already
                        park.woken = True
                        woken.append(park)
        for park in woken:
            park.resume()
        return True

    def _result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value

    def wait(self, timeout: float | None = None) -> Any:
        """The value (or raise the error); WaitTimeout after `timeout` seconds."""
        if self._done:
            return self._result()
        sched = _scheduler_here()
        if sched is None or not sched.has_fibers_or_is_fiber():
            return self._wait_thread(timeout)
        park = _Park(sched, greenlet.getcurrent(), None)
        with _lock:
            if self._done:
                return self._result()
            self._add(park)
        timer = None
        if timeout is not None:
            timer = sched.call_later(timeout, lambda: _expire(self, park))
        try:
            sched.park(park)
        finally:
            if timer is not None:
                timer[3] = True  # cancelled: the heap drops it when it comes up
        if park.timed_out:
            raise WaitTimeout(f"nothing arrived within {timeout} s")
        return self._result()

    def _add(self, park: _Park) -> None:
        if self._parks is None:
            self._parks = [park]
        else:
            self._parks.append(park)

    def _remove(self, park: _Park) -> None:
        if self._parks is not None and park in self._parks:
            self._parks.remove(park)

    def _wait_thread(self, timeout: float | None) -> Any:
        park = _Park(None, None, threading.Event())
        with _lock:
            if self._done:
                return self._result()
            self._add(park)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            # in slices: an exception raised into this thread (Ctrl-C in the REPL, through
            # `deep.interrupt`) is only delivered between two waits
            while True:
                left = _INTERRUPTIBLE_SLICE if deadline is None else min(
                    _INTERRUPTIBLE_SLICE, deadline - time.monotonic())
                arrived = park.event.wait(max(left, 0.0))
                if arrived or (deadline is not None and time.monotonic() >= deadline):
                    break
        except BaseException:  # interrupted: nobody will wait on this park any more
            with _lock:
                if not park.woken:
                    park.woken = True
                    self._remove(park)
            raise
        if not arrived:
            with _lock:
                if not park.woken:
                    park.woken = True
                    self._remove(park)
                    raise WaitTimeout(f"nothing arrived within {timeout} s")
        return self._result()


def _expire(waiter: Waiter | None, park: _Park) -> None:
    """A wait's timer fired (on the scheduler's thread): wake the park unless already woken."""
    with _lock:
        if park.woken:
            return
        park.woken = True
        park.timed_out = True
        if waiter is not None:
            waiter._remove(park)
    park.resume()


class Fiber:
    """A function running concurrently with its creator; `waiter` gets its outcome."""

    __slots__ = ("waiter", "name", "sched", "glet", "cancelled", "park")

    def __init__(self, name: str | None, sched: Scheduler | None = None) -> None:
        self.waiter = Waiter()
        self.name = name
        self.sched = sched
        self.glet: Any = None
        self.cancelled = False
        self.park: _Park | None = None  # where it waits right now

    @property
    def done(self) -> bool:
        return self.waiter.done

    def cancel(self) -> None:
        """Stop the fiber where it waits next (FiberCancelled); its waiter fails with that.
        Called from the fiber's own thread."""
        if self.waiter.done or self.cancelled:
            return
        self.cancelled = True
        park = self.park
        if park is not None:
            with _lock:
                if park.woken:
                    return
                park.woken = True
            park.resume()

    def __repr__(self) -> str:
        state = "done" if self.waiter.done else "running"
        return f"<Fiber {self.name or hex(id(self))} {state}>"


class Scheduler:
    """The fibers of one OS thread: a ready queue, timers and an inbox for other threads."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        root = greenlet.getcurrent()
        while root.parent is not None:  # the thread's main greenlet
            root = root.parent
        self.root = root
        self.hub = greenlet.greenlet(self._loop, parent=self.root)
        self.ready: deque[_Park] = deque()
        self.timers: list[list] = []  # heap of [deadline, seq, callback, cancelled]
        self._seq = itertools.count()
        self._inbox: deque[_Park] = deque()  # parks resumed by other threads
        self._signal = threading.Event()
        self.live = 0  # fibers started and not finished
        self.interrupted: BaseException | None = None

    def has_fibers_or_is_fiber(self) -> bool:
        return self.live > 0 or greenlet.getcurrent() is not self.root

    def make_ready(self, park: _Park) -> None:
        if threading.get_ident() == self.thread:
            self.ready.append(park)
        else:
            self._inbox.append(park)
            self._signal.set()

    def call_later(self, seconds: float, callback: Callable[[], None]) -> list:
        entry = [time.monotonic() + max(0.0, seconds), next(self._seq), callback, False]
        heapq.heappush(self.timers, entry)
        return entry

    def park(self, park: _Park) -> None:
        """Switch to the hub until `park` is resumed; cleans up if an exception arrives."""
        me = greenlet.getcurrent()
        fiber = _fiber_of(me)
        if fiber is not None:
            if fiber.cancelled:
                park.stale = True
                raise FiberCancelled(fiber.name)
            fiber.park = park
        try:
            self.hub.switch()
        except BaseException:
            park.stale = True  # e.g. an interrupt thrown in by the hub: never resume this park
            with _lock:
                park.woken = True
            raise
        finally:
            if fiber is not None:
                fiber.park = None
        if fiber is not None and fiber.cancelled:
            raise FiberCancelled(fiber.name)

    def spawn(self, fn: Callable[[], Any], name: str | None) -> Fiber:
        fiber = Fiber(name, self)

        def run() -> None:
            try:
                if fiber.cancelled:
                    raise FiberCancelled(fiber.name)
                value = fn()
            except BaseException as e:  # noqa: BLE001 - delivered to whoever waits
                if isinstance(e, KeyboardInterrupt):  # an interrupt of the thread: its root's
                    self.interrupted = e
                fiber.waiter.fail(e)
            else:
                fiber.waiter.set(value)
            finally:
                self.live -= 1

        fiber.glet = greenlet.greenlet(run, parent=self.hub)
        fiber.glet.zixir_fiber = fiber
        self.live += 1
        start = _Park(self, fiber.glet, None)
        start.woken = True
        self.ready.append(start)
        return fiber

    def _loop(self) -> None:
        while True:
            try:
                self._step()
            except BaseException as e:  # noqa: BLE001 - e.g. KeyboardInterrupt: the root's
                self.root.throw(e)

    def _step(self) -> None:
        inbox = self._inbox
        while inbox:
            self.ready.append(inbox.popleft())
        timers = self.timers
        if timers:
            now = time.monotonic()
            while timers and timers[0][0] <= now:
                entry = heapq.heappop(timers)
                if not entry[3]:
                    entry[2]()
        ready = self.ready
        if ready:
            for _ in range(len(ready)):
                park = ready.popleft()
                if not park.stale and not park.glet.dead:
                    park.glet.switch()
                    if self.interrupted is not None:
                        e, self.interrupted = self.interrupted, None
                        raise e
            return
        while timers and timers[0][3]:
            heapq.heappop(timers)
        delay = max(0.0, timers[0][0] - time.monotonic()) if timers else _INTERRUPTIBLE_SLICE
        self._signal.wait(min(delay, _INTERRUPTIBLE_SLICE))  # sliced: see `_wait_thread`
        self._signal.clear()  # before draining the inbox: a later delivery sets it again


def _fiber_of(glet: Any) -> Fiber | None:
    return getattr(glet, "zixir_fiber", None)


def _scheduler_here() -> Scheduler | None:
    return getattr(_local, "sched", None)


def may_block() -> bool:
    """May this thread block in a system call? Not while it runs fibers (or is one): they
    would all stop."""
    sched = getattr(_local, "sched", None)
    return sched is None or not sched.has_fibers_or_is_fiber()


def scheduler() -> Scheduler:
    """This thread's scheduler (made on first use)."""
    sched = getattr(_local, "sched", None)
    if sched is None:
        sched = _local.sched = Scheduler()
    return sched


def current() -> Fiber | None:
    """The fiber running this code, or None in a thread's own code."""
    return _fiber_of(greenlet.getcurrent())


def spawn(fn: Callable[[], Any], name: str | None = None) -> Fiber:
    """Run `fn` as a fiber of this thread; it starts when this thread next waits."""
    return scheduler().spawn(fn, name)


def sleep(seconds: float) -> None:
    """Wait `seconds`, letting this thread's other fibers run (0: just let them run)."""
    sched = _scheduler_here()
    if sched is None or not sched.has_fibers_or_is_fiber():
        if seconds > 0:
            time.sleep(seconds)
        return
    park = _Park(sched, greenlet.getcurrent(), None)
    if seconds <= 0:
        park.woken = True
        sched.ready.append(park)
    else:
        sched.call_later(seconds, lambda: _expire(None, park))
    sched.park(park)


def wait_all(fibers: list[Fiber], timeout: float | None = None) -> None:
    """Wait until every fiber finished (their errors stay in their waiters)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for fiber in fibers:
        if fiber.waiter.done:
            continue
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            fiber.waiter.wait(left)
        except WaitTimeout:
            raise
        except BaseException:  # noqa: BLE001 - the fiber's own error: it is finished
            pass


# ---- blocking calls ---------------------------------------------------------------------------

_blocking_pool: ThreadPoolExecutor | None = None
_blocking_lock = threading.Lock()
BLOCKING_THREADS = 512


def blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` for a function that blocks its thread (a socket read, a lock): in a fiber
    it runs on a helper thread while the fiber waits, so the thread's other fibers go on."""
    sched = _scheduler_here()
    if sched is None or not sched.has_fibers_or_is_fiber():
        return fn(*args)
    global _blocking_pool
    if _blocking_pool is None:
        with _blocking_lock:
            if _blocking_pool is None:
                from concurrent.futures import ThreadPoolExecutor  # (it imports logging)

                _blocking_pool = ThreadPoolExecutor(BLOCKING_THREADS,
                                                    thread_name_prefix="zixir-blocking")
    waiter = Waiter()

    def run() -> None:
        try:
            waiter.set(fn(*args))
        except BaseException as e:  # noqa: BLE001 - raised in the waiting fiber
            waiter.fail(e)

    _blocking_pool.submit(run)
    return waiter.wait()
