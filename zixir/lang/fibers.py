"""Waiting without a thread per wait: the one primitive every blocking point of the interpreter
uses (a Python call's reply, a rate-limit token, a retry's backoff, a task's result).

    producer (any thread: a channel's reader, a timer)      consumer (a thread or a fiber)
    --------------------------------------------------      ------------------------------
    waiter.set(value) / waiter.fail(error)  ------------->  waiter.wait(timeout) -> value
      first one wins, later ones are ignored                  raises the error, or
                                                              WaitTimeout when time is up
    spawn(fn) -> Fiber: fn runs concurrently; fiber.waiter holds its value or error
    sleep(seconds): lets other fibers run while this one waits

This version runs each fiber on a thread; the API is what callers depend on, so the scheduler
behind it can change (many fibers on one thread) without touching them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

_UNSET = object()


class WaitTimeout(Exception):
    """`Waiter.wait` ran out of time before a value or an error arrived."""


class Waiter:
    """A one-shot value or error, delivered by any thread, awaited by one thread or fiber."""

    __slots__ = ("_value", "_error", "_event")

    def __init__(self) -> None:
        self._value: Any = _UNSET
        self._error: BaseException | None = None
        self._event = threading.Event()

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def set(self, value: Any = None) -> bool:
        """Deliver the value; False if the waiter already had one (the first wins)."""
        return self._deliver(value, None)

    def fail(self, error: BaseException) -> bool:
        return self._deliver(None, error)

    def _deliver(self, value: Any, error: BaseException | None) -> bool:
        with _deliver_lock:
            if self._value is not _UNSET or self._error is not None:
                return False
            if error is not None:
                self._error = error
            else:
                self._value = value
        self._event.set()
        return True

    def wait(self, timeout: float | None = None) -> Any:
        """The value (or raise the error); WaitTimeout after `timeout` seconds."""
        if not self._event.wait(timeout):
            raise WaitTimeout(f"nothing arrived within {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value


_deliver_lock = threading.Lock()


class Fiber:
    """A function running concurrently with its creator; `waiter` gets its outcome."""

    __slots__ = ("waiter", "name")

    def __init__(self, name: str | None) -> None:
        self.waiter = Waiter()
        self.name = name


def spawn(fn: Callable[[], Any], name: str | None = None) -> Fiber:
    fiber = Fiber(name)

    def run() -> None:
        try:
            value = fn()
        except BaseException as e:  # noqa: BLE001 - delivered to whoever waits
            fiber.waiter.fail(e)
        else:
            fiber.waiter.set(value)

    threading.Thread(target=run, name=name or "zixir-fiber", daemon=True).start()
    return fiber


def sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
