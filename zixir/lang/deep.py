"""Threads with deep stacks for running Zixir code.

Zixir promises recursion 50,000 calls deep. CPython 3.11 runs Python-to-Python calls without
growing the C stack, but a builtin calling back into Zixir (map, sort keys, pmap) does, so
evaluation happens on threads with a large stack and a raised recursion limit. Threads are
pooled: starting one per evaluation would dominate short evaluations.
"""

from __future__ import annotations

import contextvars
import ctypes
import queue
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import Future

STACK_BYTES = 768 * 1024 * 1024
RECURSION_LIMIT = 150_000

_stack_lock = threading.Lock()
_local = threading.local()
_busy: set[int] = set()  # idents of deep threads running a job right now


def in_deep_thread() -> bool:
    return getattr(_local, "deep", False)


class DeepExecutor:
    """A grow-on-demand pool of big-stack daemon threads."""

    def __init__(self, name: str = "zixir-eval") -> None:
        self.name = name
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()
        self._count = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if sys.getrecursionlimit() < RECURSION_LIMIT:
            sys.setrecursionlimit(RECURSION_LIMIT)
        from concurrent.futures import Future  # here: a router that runs no program
        # needs neither it nor the logging it imports

        future: Future = Future()
        with self._lock:
            if self._idle == 0:
                self._start_thread()
            else:
                self._idle -= 1
        # the job runs in a copy of the submitter's context (as asyncio.to_thread does): a
        # trace span open around a pmap is the parent of the spans its elements make
        self._jobs.put((future, contextvars.copy_context().run, (fn, *args)))
        return future

    def _start_thread(self) -> None:
        self._count += 1
        with _stack_lock:
            previous = threading.stack_size()
            try:
                threading.stack_size(STACK_BYTES)
            except (ValueError, RuntimeError):  # pragma: no cover - platform without support
                pass
            try:
                thread = threading.Thread(target=self._serve, name=f"{self.name}-{self._count}",
                                          daemon=True)
                thread.start()
            finally:
                threading.stack_size(previous)

    def _serve(self) -> None:
        _local.deep = True
        while True:
            future, fn, args = self._jobs.get()
            if future.set_running_or_notify_cancel():
                ident = threading.get_ident()
                _busy.add(ident)
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                    future.set_exception(exc)
                    del exc
                finally:
                    _busy.discard(ident)
            del future, fn, args
            with self._lock:
                self._idle += 1


EXECUTOR = DeepExecutor()


def running_threads() -> list[int]:
    """Deep threads currently evaluating (for interrupting a runaway program)."""
    return list(_busy)


def interrupt(thread_id: int) -> None:
    """Raise KeyboardInterrupt inside another thread (used on Ctrl-C while it evaluates)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(KeyboardInterrupt))


def run_deep(fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn(*args)` on a deep-stack thread and wait; Ctrl-C interrupts the evaluation."""
    if in_deep_thread():
        return fn(*args)
    holder: dict[str, int] = {}

    def job() -> Any:
        holder["thread"] = threading.get_ident()
        return fn(*args)

    future = EXECUTOR.submit(job)
    try:
        return future.result()
    except KeyboardInterrupt:
        if "thread" in holder and not future.done():
            interrupt(holder["thread"])
            try:
                future.result(timeout=5)
            except BaseException:  # noqa: BLE001 - the interrupt itself, most likely
                pass
        raise
