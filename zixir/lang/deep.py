"""Threads with deep stacks for running Zixir code.

Zixir promises recursion 50,000 calls deep. CPython 3.11 runs Python-to-Python calls without
growing the C stack, but a builtin calling back into Zixir (map, sort keys, pmap) does, so
evaluation happens on threads with a large stack and a raised recursion limit. Threads are
pooled: starting one per evaluation would dominate short evaluations.

Ctrl-C (`interrupt`) raises KeyboardInterrupt inside the evaluating thread, wherever it is.
Code that must not be split by it (starting the worker pool, filing a call as in flight on a
worker, handing a worker back) runs `uninterrupted()`: an interrupt arriving meanwhile is
raised as the outermost such section ends, or as the code inside it enters an
`interruptible()` part (the wait for a reply, for a free worker, for a rate token):

    evaluating thread                         interrupt(thread) (Ctrl-C, another thread)
    -----------------                         ------------------------------------------
    with uninterrupted():    <-- shielded --  pending: raised when the section ends
        take a worker, file the call
        with interruptible():  <-- open -----  KeyboardInterrupt raised in the wait
            wait for the reply
        (cleanup, shielded again)
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
_interrupt_lock = threading.Lock()  # guards the three below
_shielded: dict[int, int] = {}  # ident -> depth of `uninterrupted` sections it is in
_pending: set[int] = set()  # shielded threads an interrupt waits for
_raised: set[int] = set()  # threads given a KeyboardInterrupt that may not have arrived yet


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
        ident = threading.get_ident()
        _job_boundary(ident, starting=False)  # idle: an interrupt for no job is dropped
        while True:
            future, fn, args = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    try:
                        _job_boundary(ident, starting=True)
                        result = fn(*args)
                    finally:
                        _job_boundary(ident, starting=False)  # one arriving late: dropped
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                    future.set_exception(exc)
                    del exc
                else:
                    future.set_result(result)
                    del result
            del future, fn, args
            with self._lock:
                self._idle += 1


EXECUTOR = DeepExecutor()


def running_threads() -> list[int]:
    """Deep threads currently evaluating (for interrupting a runaway program)."""
    return list(_busy)


def _set_async_exc(thread_id: int, exc: Any) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(exc) if exc else None)


def interrupt(thread_id: int) -> None:
    """Raise KeyboardInterrupt inside another thread (used on Ctrl-C while it evaluates); in
    an `uninterrupted()` section, when the section ends."""
    with _interrupt_lock:
        if _shielded.get(thread_id):
            _pending.add(thread_id)
            return
        _raised.add(thread_id)
        _set_async_exc(thread_id, KeyboardInterrupt)


def _take_back(ident: int) -> bool:
    """Under the lock: take back an interrupt raised into this thread that may not have
    arrived yet (if it has, this does nothing); whether there was one."""
    if ident not in _raised:
        return False
    _raised.discard(ident)
    _set_async_exc(ident, None)
    return True


def _interrupt_on_its_way() -> bool:
    """Is this thread handling (unwinding for) a KeyboardInterrupt already?"""
    return isinstance(sys.exc_info()[1], KeyboardInterrupt)


def _job_boundary(ident: int, starting: bool) -> None:
    """A deep thread starts a job (busy, open to interrupts) or ends one (shielded while
    idle); either way, an interrupt meant for the job before is dropped."""
    with _interrupt_lock:
        _take_back(ident)
        _pending.discard(ident)
        if starting:
            _shielded.pop(ident, None)
            _busy.add(ident)
        else:
            _shielded[ident] = 1
            _busy.discard(ident)


class uninterrupted:  # noqa: N801 - used like a function: `with uninterrupted():`
    """A section that an interrupt does not split: it is raised as the section ends."""

    __slots__ = ("_ident", "_previous")

    def __enter__(self) -> None:
        ident = self._ident = threading.get_ident()
        with _interrupt_lock:
            self._previous = _shielded.get(ident, 0)
            _shielded[ident] = self._previous + 1
            if _take_back(ident):  # sent a moment before the section began
                _pending.add(ident)

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        ident = self._ident
        with _interrupt_lock:
            if self._previous:
                _shielded[ident] = self._previous
                return
            _shielded.pop(ident, None)
            if ident not in _pending:
                return
            _pending.discard(ident)
        if not isinstance(error, KeyboardInterrupt) and not _interrupt_on_its_way():
            raise KeyboardInterrupt


class interruptible:  # noqa: N801
    """A part of an `uninterrupted()` section that an interrupt may stop (a wait): one that
    arrived before it is raised as it begins."""

    __slots__ = ("_ident", "_previous")

    def __enter__(self) -> None:
        ident = self._ident = threading.get_ident()
        with _interrupt_lock:
            self._previous = _shielded.pop(ident, 0)
            if ident not in _pending:
                return
            _pending.discard(ident)
        raise KeyboardInterrupt

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        if not self._previous:
            return
        ident = self._ident
        with _interrupt_lock:
            _shielded[ident] = self._previous
            if _take_back(ident) and not isinstance(error, KeyboardInterrupt):
                _pending.add(ident)  # sent as the wait ended: raised as the section ends


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
