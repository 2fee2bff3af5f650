"""The worker pool, router side: dispatch and hand-off of calls to worker processes.

    interpreter threads and fibers (pmap, tasks: many at once)
      | call(module, function, args, kwargs)      settings: the module's zixir.toml table
      v
    FailurePolicy.run (failure.py): policy check, breaker admission, classify, retries
      | attempt (its waits share one budget: wait_timeout, then Overloaded; never running time)
      v
    rate token (limits.TokenBucket, shared by every caller) -> concurrency slot (limits.Slots,
      shared across workers)
      |
      v
    take a worker for the call's kind (under `_lock`; else wait on a Waiter, at most
      max_queue waiting -------------------------------------------------------> Overloaded)
        sync:    a worker with nothing in flight; it runs this call alone
        async:   any worker without a sync call (the fewest in flight): many per worker
        threads: as async, at most `threads` calls of the module per worker
      (a function is async once a worker said so: its first call goes as sync, the worker's
       "async" notification turns that call, and every later one, into async calls)
      |
      v
    with a rate: the send waits one interval after the previous send (TokenBucket.pace)
      |
      v
    the module's circuit opened while the call waited: not sent ----------> CircuitOpen
      |
      v
    Watchdog.watch(deadline); WorkerLink.send (link.py): the reply arrives in a Waiter,
      delivered by the worker's reader thread (no thread per waiting call), or read by
      the caller itself for a thread's sync call (WorkerLink.read_inline: no thread to wake)
      reply ------------------------------------------------------> result / PythonError
      link EOF (the worker died, or closed its pipe: then it is killed)
        -> reap -> the supervisor decided -----------> WorkerCrashed, for each call in
                   flight on it, once (not counted: the call's breaker counts it;
                   escalated: RestartLimitExceeded)
      watchdog, deadline passed:
        sync or threaded call: kill the worker, interrupt its link -------> CallTimeout
        async call: "cancel" [id] to the worker (only that task is cancelled), the caller's
          Waiter fails -----------------------------------------------------> CallTimeout;
          no answer to the cancel within CANCEL_GRACE: the worker is hung, killed
      bad or oversized frame -> kill, replace ------------------------> ProtocolError
    hand the worker back: Recycling (recycling.py) may replace it once idle

    WorkerSupervision (workers.py): the template and the workers, under one supervisor

One owner per piece of state: the live map, each worker's load and the waiting lists belong
to `_lock`; a watched call belongs to whichever of the caller and the watchdog unwatches it
first; child processes belong to the supervisor thread.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NoReturn

from zixir.lang import fibers
from zixir.lang.deep import interruptible, uninterrupted
from zixir.lang.errors import (
    CallTimeout,
    CircuitOpen,
    Overloaded,
    ProtocolError,
    PythonError,
    RestartLimitExceeded,
    WorkerCrashed,
    ZixirError,
    ZixirRuntimeError,
)
from zixir.observe import metrics, tracing

from . import protocol as p
from .channel import ChannelClosed
from .cluster import INLINE
from .config import RuntimeConfig
from .confine import confine_settings, kill_group
from .events import NullLog
from .failure import FailurePolicy, NotSent
from .limits import QUEUE_HINT, WAIT_HINT, Limits
from .modules import ModuleSettings
from .process import ProcessHandle
from .recycling import Recycling
from .shm import ShmArrays, sweep
from .stats import Stats
from .watchdog import Watchdog
from .workers import Worker, WorkerSupervision

_ids = itertools.count(1)
#: seconds an async call's worker has to answer its cancellation before it counts as hung
CANCEL_GRACE = 5.0
SYNC, ASYNC, THREADS = "sync", "async", "threads"


class Call:
    """One attempt on a worker, as the pool and the watchdog see it."""

    __slots__ = ("key", "worker", "what", "module", "function", "kind", "request_id",
                 "waiter", "timeout")

    def __init__(self, worker: Worker, what: str, module: str, function: str, kind: str,
                 timeout: float) -> None:
        self.key = next(_ids)  # the watchdog's key
        self.worker, self.what, self.module, self.function = worker, what, module, function
        self.kind = kind
        self.timeout = timeout
        self.request_id = 0
        self.waiter: fibers.Waiter | None = None


class _Cancelled(Exception):
    """An async call's deadline passed: it was cancelled in its worker."""


class WorkerPool:
    def __init__(self, config: RuntimeConfig, log: Any = None, stats: Stats | None = None,
                 on_escalate: Any = None) -> None:
        self.config = config
        self.log = log or NullLog()
        self.stats = stats or Stats()
        self.on_escalate = on_escalate
        self.failures = FailurePolicy(config, self.log, self.stats)
        self.policy = self.failures.policy
        self.breakers = self.failures.breakers
        self.parallelism = config.workers
        self.paths: list[str] = list(config.paths)
        self.failures.paths = self.paths  # the script's directories: their modules are allowed
        self._paths_version = 0
        self._recycling = Recycling(config)
        self._watchdog = Watchdog(self._expired, config.call_timeout, self.log)
        self.modules = config.module_policies()
        self.limits = Limits(self.modules, config.max_queue)
        self._async: set[tuple[str, str]] = set()  # functions a worker said are async
        # a Ray worker may be on another host: its arrays travel inline (cluster.py)
        self._shared_codec = p.Codec(config.max_frame, ShmArrays(
            config.tag, config.shm_threshold if config.cluster is None else INLINE))
        self._lock = threading.Lock()
        self._live: dict[int, Worker] = {}  # slot -> worker
        self._sync_waiters: deque[fibers.Waiter] = deque()  # for a worker with nothing on
        self._shared_waiters: deque[fibers.Waiter] = deque()  # for any worker without sync
        self._waiting = 0
        self._failed: str | None = None
        self._closed = False
        # the direct path's hooks (direct.py): a caller is about to wait for a worker, so
        # lent workers should come back; is a worker lent but not running a host call?
        self.on_starved: Any = None
        self.lent_idle: Any = None
        self._start_lock = threading.Lock()
        self._workers = WorkerSupervision(
            config, self._make_env(), paths=self._current_paths, on_started=self._started,
            on_exited=self._exited, on_note=self._noted, blame=self._blame,
            on_escalate=self._escalated, log=self.log)
        self._started_pool = False

    # ---- lifecycle ----------------------------------------------------------------------

    def _make_env(self) -> dict[str, str]:
        cfg = self.config
        worker_config = {
            "parent_pid": os.getpid(), "tag": cfg.tag, "max_frame": cfg.max_frame,
            "shm_threshold": cfg.shm_threshold, "policy": self.policy.to_wire(),
            **confine_settings(cfg), "sys_path": list(cfg.sys_path),
            "paths": list(cfg.paths), "spin": cfg.spin,
            "preload": [] if cfg.preload_on_use else list(cfg.preload),
        }
        env = dict(os.environ)
        env["ZIXIR_WORKER_CONFIG"] = json.dumps(worker_config)
        return env

    def start(self) -> None:
        """Start the template and the workers (idempotent; calls start the pool lazily)."""
        if self._started_pool:
            return
        with self._start_lock:
            if self._started_pool:
                return
            if self._closed:
                raise ZixirRuntimeError("the worker pool is closed")
            with uninterrupted():  # a half-started pool would be started again beside it
                self._workers.start()
                self._started_pool = True

    def close(self) -> None:
        self._closed = True
        self._watchdog.close()
        self._workers.stop()
        with self._lock:
            self._failed = self._failed or "the worker pool is closed"
            live = list(self._live.values())
            self._wake_all()
        for w in live:
            w.close()

    def _escalated(self, reason: str) -> None:
        with self._lock:
            self._failed = reason
            self._wake_all()
        self.stats.count("escalations")
        if self.on_escalate is not None:
            self.on_escalate(reason)

    # ---- worker records (called from the supervisor thread) -------------------------------

    def _current_paths(self) -> tuple[list[str], int]:
        with self._lock:
            return list(self.paths), self._paths_version

    def _started(self, worker: Worker) -> None:
        with self._lock:
            self._live[worker.slot] = worker
            self._wake(worker)
        self.stats.count("worker_starts")

    def _noted(self, worker: Worker, note: p.Notification) -> None:
        """A worker's notification (read by its reader thread, or by a caller's inline read):
        "async" [module, function] says the function returns awaitables; its call in flight
        becomes an async call."""
        if note.method != "async" or len(note.params) != 2:
            return
        module, function = note.params
        with self._lock:
            self._learn_async(module, function)
            what = f"{module}.{function}"
            if worker.exclusive == what:
                for call in worker.inflight.values():
                    if call.kind == SYNC:
                        call.kind = ASYNC
                        worker.exclusive = None
                        worker.shared += 1
                        self._wake(worker)
                        break

    def _blame(self, slot: int, handle: ProcessHandle) -> str | None:
        """The call a dead worker was running, if any: its crash is that call's fault."""
        with self._lock:
            worker = self._live.get(slot)
            if worker is None or worker.handle is not handle:
                return None
            if self.lent_idle is not None and self.lent_idle(worker):
                return None  # lent to a host thread that was not calling it: as if idle
            return worker.busy_with

    def _exited(self, slot: int, handle: ProcessHandle) -> None:
        if not handle.remote:
            kill_group(handle.pid)  # what the worker's libraries forked dies with it
        with self._lock:
            worker = self._live.get(slot)
            if worker is None or worker.handle is not handle:
                return
            del self._live[slot]
            worker.dead = True
            busy = bool(worker.inflight)
        if not busy:
            worker.close()  # nobody else uses an idle worker's link
        else:
            # each caller sees its call fail; the reader may never see EOF if a process the
            # library forked keeps the pipe open, so interrupt it
            worker.link.interrupt("the worker exited", "eof")
        if handle.decision != "shutdown":
            self.stats.count("worker_exits")
        sweep(self.config.tag, dead_only=True)  # the shared memory the dead worker left

    # ---- calls (any thread) -----------------------------------------------------------------

    def add_path(self, path: str) -> None:
        """Make a directory importable for every worker (the script's directory)."""
        with self._lock:
            if path and path not in self.paths:
                self.paths.append(path)
                self._paths_version += 1  # each worker gets the new list with its next call

    def is_idempotent(self, module: str, function: str) -> bool:
        return self.failures.is_idempotent(module, function)

    def settings_for(self, module: str, function: str) -> ModuleSettings:
        return self.modules.settings_for(module, function)

    def call(self, module: str, function: str, args: list | tuple = (),
             kwargs: dict | None = None, *, timeout: float | None = None,
             retries: int | None = None, chain: tuple[str, ...] = ()) -> Any:
        """Run `module.function(*args, **kwargs)` in a worker; raises the typed faults.
        `chain`: the agent calls this call is nested in (`zixir.worker.call` from an agent),
        handed to the worker so that a call back into one of them is seen as a cycle."""
        if tracing.ENABLED:
            with tracing.CallSpan(module, function):
                return self._call(module, function, args, kwargs, timeout, retries, chain)
        return self._call(module, function, args, kwargs, timeout, retries, chain)

    def _call(self, module: str, function: str, args: Any, kwargs: dict | None,
              timeout: float | None, retries: int | None, chain: tuple[str, ...] = ()) -> Any:
        started = time.perf_counter()
        settings = self.modules.settings_for(module, function)
        self._workers.used(module)  # the template preloads it once used
        try:
            result = self.failures.run(
                module, function,
                lambda readmit: self._call_once(module, function, args, kwargs, timeout,
                                                settings, readmit, chain),
                retries, settings)
        except ZixirError as e:
            elapsed = time.perf_counter() - started
            self.stats.count("calls.error")
            self.stats.count(f"errors.{type(e).__name__}")
            self.stats.observe("call", elapsed)
            metrics.call_finished(module, function, elapsed, e)
            raise
        elapsed = time.perf_counter() - started
        self.stats.observe_ok("call", elapsed)
        metrics.call_finished(module, function, elapsed)
        return result

    def _call_once(self, module: str, function: str, args: Any, kwargs: dict | None,
                   timeout: float | None, settings: ModuleSettings,
                   readmit: Callable[[], None], chain: tuple[str, ...] = ()) -> Any:
        if timeout is None:
            timeout = settings.timeout or self.config.call_timeout
        what = f"{module}.{function}"
        # waiting (a token, a slot, a worker) is bounded by wait_timeout, never running time
        wait_until = time.monotonic() + (settings.wait_timeout or timeout)
        bucket = None
        rate_waited = 0.0
        if settings.rate is not None:
            bucket = self.limits.bucket(module, function, settings.rate)
            rate_waited = bucket.take(wait_until, what)
            if rate_waited:
                readmit()
        # the worker taken, the call filed and sent, the worker handed back: not split by
        # an interrupt (Ctrl-C in the REPL); only the waits are interruptible
        with uninterrupted():
            slots = None
            if settings.concurrency is not None:
                slots = self.limits.slots(module, function, settings.concurrency)
                with interruptible():
                    slots.acquire(wait_until, what)
            try:
                kind = (ASYNC if (module, function) in self._async
                        else THREADS if settings.threads else SYNC)
                call, options = self._acquire(kind, module, function, what, wait_until,
                                              settings.threads, timeout)
                if bucket is not None:  # sends are spaced too, however long the waits were
                    try:
                        with interruptible():
                            rate_waited += bucket.pace(wait_until, what)
                    except BaseException:
                        self._release(call, sent=False)
                        raise
                    if rate_waited > 0:  # one observation per call: its token and its send
                        metrics.rate_wait(module, rate_waited)
                try:  # a circuit that opened while this call waited: not sent
                    readmit()
                except CircuitOpen:
                    self._release(call, sent=False)
                    raise
                if tracing.ENABLED:  # the worker's spans nest under this call's
                    options = tracing.attempt(options, call.worker.handle.pid)
                if timeout != self.config.call_timeout:  # the worker's CPU limit follows it
                    options = {**options, "timeout": timeout}
                if kind == THREADS:
                    options = {**options, "threads": settings.threads}
                if chain:
                    options = {**options, "chain": list(chain)}
                reply = self._roundtrip(call, [module, function, args, kwargs or {}, options])
                if reply.error is not None:
                    error = p.error_from_wire(reply.error, context=what)
                    if isinstance(error, PythonError) and error.exc_type == "MemoryError":
                        self._release(call, retire="MemoryError")
                    else:
                        self._release(call)
                    raise error
                self._release(call)
                return reply.result
            finally:
                if slots is not None:
                    slots.release()

    # ---- taking and handing back workers --------------------------------------------------

    def _pick(self, kind: str, module: str, threads: int) -> Worker | None:
        """Under the lock: the worker for a call of `kind`, or None."""
        best: Worker | None = None
        for w in self._live.values():
            if w.dead or w.draining or w.exclusive is not None or w.link.closed is not None:
                continue
            if kind == SYNC:
                if not w.shared:
                    return w
                continue
            if kind == THREADS and w.threaded.get(module, 0) >= threads:
                continue
            if best is None or w.shared < best.shared:
                best = w
        return best

    def _occupy(self, worker: Worker, call: Call) -> None:
        """Under the lock."""
        if call.kind == SYNC:
            worker.exclusive = call.what
        else:
            worker.shared += 1
            if call.kind == THREADS:
                worker.threaded[call.module] = worker.threaded.get(call.module, 0) + 1

    def _acquire(self, kind: str, module: str, function: str, what: str, wait_until: float,
                 threads: int, timeout: float) -> tuple[Call, dict]:
        """A worker for call `what`, waiting until `wait_until` at most (then Overloaded);
        with the call options it needs (the pool's paths, once changed)."""
        if not self._started_pool:
            self.start()
        lock = self._lock
        lock.acquire()
        try:
            while True:
                if self._failed:
                    raise RestartLimitExceeded(f"the Python workers are down: {self._failed}")
                if kind == SYNC and (module, function) in self._async:
                    kind = ASYNC  # a worker said so while this call waited
                worker = self._pick(kind, module, threads)
                if worker is not None:
                    call = Call(worker, what, module, function, kind, timeout)
                    self._occupy(worker, call)
                    if worker.paths_version == self._paths_version:
                        return call, {}
                    worker.paths_version = self._paths_version
                    return call, {"paths": list(self.paths)}
                if self._waiting >= self.config.max_queue + self._coming_back():
                    self.stats.count("refused.overloaded")
                    self.log.info("call.refused", call=what, reason="overloaded",
                                  queued=self._waiting)
                    raise Overloaded(f"{what}: {self._waiting} calls are already waiting for a "
                                     f"worker (max_queue {self.config.max_queue}; {QUEUE_HINT})")
                remaining = wait_until - time.monotonic()
                if remaining <= 0:
                    self.stats.count("refused.wait_timeout")
                    raise Overloaded(f"{what}: no worker became free within the call's "
                                     f"wait_timeout; {WAIT_HINT}")
                if self.on_starved is not None:
                    self.on_starved()
                waiter = fibers.Waiter()
                queue = self._sync_waiters if kind == SYNC else self._shared_waiters
                queue.append(waiter)
                self._waiting += 1
                lock.release()
                try:
                    with interruptible():
                        waiter.wait(remaining)
                except fibers.WaitTimeout:
                    pass
                finally:
                    lock.acquire()
                    self._waiting -= 1
                    if not waiter.done:
                        queue.remove(waiter)
                        waiter.set(None)
        finally:
            lock.release()

    def learned_async(self, params: list) -> None:
        """A worker lent to the direct path said (module, function) is async."""
        if len(params) != 2:
            return
        with self._lock:
            self._learn_async(params[0], params[1])

    def _learn_async(self, module: str, function: str) -> None:
        """Under the lock: calls of `module.function` share workers from now on (those
        waiting for a free worker can go now), and the template imports asyncio before its
        next fork (the worker that said so imported it for this call)."""
        self._workers.wanted("asyncio")
        if (module, function) not in self._async:
            self._async.add((module, function))
            self._wake_all()

    def is_async(self, module: str, function: str) -> bool:
        """Did a worker say `module.function` returns awaitables?"""
        return (module, function) in self._async

    def used(self, module: str) -> None:
        """A call to `module` is coming (the direct path's): the template preloads it."""
        self._workers.used(module)

    def lend(self, what: str) -> tuple[Call, dict] | None:
        """A worker with nothing in flight for the direct path (direct.py), taken as a sync
        call takes it, without waiting: None when none is free or callers wait for one.
        Its link's reader is paused (acknowledged) before it is returned, so the router
        reads nothing from the pipe while the host owns it. Give it back with `take_back`."""
        if not self._started_pool:
            self.start()
        with self._lock:
            if self._failed or self._closed or self._waiting:
                return None
            worker = self._pick(SYNC, "", 0)
            if worker is None or worker.inflight:
                return None
            call = Call(worker, what, "", "", SYNC, self.config.call_timeout)
            self._occupy(worker, call)
            worker.inflight[call.key] = call
            options: dict = {}
            if worker.paths_version != self._paths_version:
                options = {"paths": list(self.paths)}
        if not worker.link.pause(5.0):
            self.take_back(call)
            return None
        if options:
            worker.paths_version = self._paths_version
        return call, options

    def take_back(self, call: Call, retire: str | None = None) -> None:
        """A lent worker is given back (the direct path): its reader resumes."""
        call.worker.link.resume()
        self._release(call, retire)

    def end_lease(self, call: Call) -> None:
        """A lent worker that was killed or died: its lease ends without a hand-back."""
        self._forget(call)
        call.worker.close()

    def _coming_back(self) -> int:
        """Under the lock: workers lent to host threads that are not calling them (direct.py);
        a waiting caller gets each soon (its wait takes it back), so each holds a queue place
        the max_queue limit does not count."""
        lent_idle = self.lent_idle
        if lent_idle is None:
            return 0
        return sum(1 for w in self._live.values()
                   if w.exclusive is not None and not w.dead and lent_idle(w))

    def _wake(self, worker: Worker) -> None:
        """Under the lock: `worker` can take more calls; wake the waiters it may serve."""
        if worker.dead or worker.draining or worker.exclusive is not None:
            return
        while self._shared_waiters:  # they all fit (or look again)
            self._shared_waiters.popleft().set(None)
        if not worker.shared:
            while self._sync_waiters:
                if self._sync_waiters.popleft().set(None):
                    break

    def _wake_all(self) -> None:
        for queue in (self._sync_waiters, self._shared_waiters):
            while queue:
                queue.popleft().set(None)

    def _release(self, call: Call, retire: str | None = None, sent: bool = True) -> None:
        """Hand a call's worker back (it finished, or failed with the worker alive; or, not
        `sent`, it was refused after it took the worker and before it was filed)."""
        worker = call.worker
        with self._lock:
            if sent:
                if worker.inflight.pop(call.key, None) is None:
                    return  # released already
                worker.calls += 1
            self._unoccupy(worker, call)
            if worker.dead:
                close = not worker.inflight
                retire = None
            else:
                close = False
                if retire is not None:
                    worker.draining = True
                if not worker.draining:
                    self._wake(worker)
            idle = worker.idle and not worker.inflight
        if close:
            worker.close()
            return
        if idle and retire is None and self._recycling.enabled and not worker.dead:
            retire = self._recycling.reason(worker)
            if retire is not None:
                with self._lock:
                    worker.draining = True
        if retire is not None or (idle and worker.draining):
            if idle:
                self._recycle(worker, retire or "draining")

    def _unoccupy(self, worker: Worker, call: Call) -> None:
        """Under the lock."""
        if call.kind == SYNC:
            if worker.exclusive == call.what:
                worker.exclusive = None
        else:
            worker.shared -= 1
            if call.kind == THREADS:
                left = worker.threaded.get(call.module, 1) - 1
                if left > 0:
                    worker.threaded[call.module] = left
                else:
                    worker.threaded.pop(call.module, None)

    def _forget(self, call: Call) -> None:
        """A call whose worker is gone: its accounting ends without a hand-back."""
        worker = call.worker
        with self._lock:
            if worker.inflight.pop(call.key, None) is not None:
                self._unoccupy(worker, call)

    def _kill(self, worker: Worker) -> None:
        """Kill a worker on purpose; it takes no call from now on (it is replaced)."""
        with self._lock:
            worker.draining = True
        self._workers.kill(worker)

    def _recycle(self, worker: Worker, reason: str) -> None:
        self.stats.count("recycled")
        self.log.info("worker.recycle", slot=worker.slot, pid=worker.handle.pid, reason=reason)
        self._kill(worker)
        worker.close()

    # ---- deadlines --------------------------------------------------------------------------

    def _expired(self, watched: Any) -> None:
        """The watchdog claimed a call past its deadline. A sync or threaded call: its worker
        is killed (replaced without counting); the caller's wait ends, it raises
        CallTimeout. An async call: only its task is cancelled, unless the worker does not
        answer the cancellation within CANCEL_GRACE (then it is killed as hung)."""
        if type(watched) is tuple:  # ("grace", call): the cancellation was never answered
            call = watched[1]
            worker = call.worker
            if worker.link.is_pending(call.request_id) and not worker.dead:
                self.log.warning("worker.hung", pid=worker.handle.pid, call=call.what)
                self.stats.count("hung")
                self._kill(worker)
                worker.link.interrupt(f"the worker did not cancel {call.what}", "closed")
            else:
                worker.link.abandon(call.request_id)
            return
        call = watched
        worker = call.worker
        self.stats.count("timeouts")
        self.log.warning("call.timeout", call=call.what, timeout=call.timeout,
                         pid=worker.handle.pid, kind=call.kind)
        if call.kind == ASYNC:
            if call.waiter is not None:  # first: the reply to the cancel must not reach it
                call.waiter.fail(_Cancelled())
            worker.link.notify("cancel", [call.request_id])
            self._watchdog.watch(-call.key, time.monotonic() + CANCEL_GRACE, ("grace", call))
            return
        self._kill(worker)
        worker.link.interrupt(f"{call.what} timed out", "closed")

    def _roundtrip(self, call: Call, params: list) -> p.Response:
        worker = call.worker
        link = worker.link
        what = call.what
        codec = None
        if call.kind == SYNC:
            worker.arena.begin()
        else:
            codec = self._shared_codec
        # a thread's sync call reads its own reply (link.py): no reader thread to wake;
        # a worker on another host is known dead by its reader, which must go on reading
        inline = (call.kind == SYNC and not worker.handle.remote and fibers.may_block()
                  and link.hold())
        if not inline and link.held:
            link.resume()
        self._watchdog.watch(call.key, time.monotonic() + call.timeout, call)
        with self._lock:  # filed before it is sent, for blame and crashes
            worker.inflight[call.key] = call
        try:
            call.request_id, call.waiter = link.send("call", params, codec)
            waiter = call.waiter
        except (p.UnencodableValue, p.FrameTooLarge) as e:
            self._watchdog.unwatch(call.key)
            worker.paths_version = -1  # the paths never reached it
            self._release(call)
            if isinstance(e, p.FrameTooLarge):
                raise NotSent(ProtocolError(f"the arguments of {what} are too large: {e}")) \
                    from None
            raise NotSent(ZixirRuntimeError(
                f"cannot pass the arguments of {what} to Python: {e}")) from None
        except ChannelClosed:
            self._watchdog.unwatch(call.key)
            raise self._crashed(call) from None
        try:
            with interruptible():
                if inline:
                    link.read_inline(call.request_id, waiter)
                reply = waiter.wait()  # the watchdog enforces the timeout
        except _Cancelled:
            self._release(call)
            raise self._cancelled(call) from None
        except ChannelClosed as e:
            if not self._watchdog.unwatch(call.key):
                self._forget(call)
                self._timed_out(worker, what, call.timeout)
            if e.kind in ("bad_frame", "oversized"):
                self.stats.count("protocol_errors")
                self._forget(call)
                self._kill(worker)
                worker.handle.reap(5.0)
                worker.close()
                raise ProtocolError(f"the worker running {what} sent a bad frame "
                                    f"({e.reason}); it was replaced") from None
            raise self._crashed(call) from None
        except BaseException:  # KeyboardInterrupt: the worker's state is unknown, replace it
            self._watchdog.unwatch(call.key)
            self._forget(call)
            self._kill(worker)
            worker.close()
            raise
        if not self._watchdog.unwatch(call.key):  # the deadline won the race with the reply
            if call.kind != ASYNC:
                self._forget(call)  # the worker is dead
                self._timed_out(worker, what, call.timeout)
            if reply.error is not None:  # the task's CancelledError, sent before the waiter
                self._release(call)  # was failed (the call was sent as the deadline passed)
                raise self._cancelled(call)
        return reply

    @staticmethod
    def _cancelled(call: Call) -> CallTimeout:
        return CallTimeout(f"{call.what} did not return within {call.timeout:g} s; it was "
                           "cancelled (its worker stays up)")

    @staticmethod
    def _timed_out(worker: Worker, what: str, timeout: float) -> NoReturn:
        worker.handle.reap(5.0)  # the watchdog has killed it (or is about to)
        worker.close()
        raise CallTimeout(f"{what} did not return within {timeout:g} s; its worker was "
                          "killed and replaced")

    def _crashed(self, call: Call) -> ZixirRuntimeError:
        """The worker's link ended mid-call. A worker that closed its pipe but still runs
        (half dead) would hold its slot forever: it is killed, the crash charged to this call
        like any other. Every call in flight on it gets here once."""
        worker, what = call.worker, call.what
        handle = worker.handle
        status = handle.reap(0.5)  # the pipe closes a moment before the exit is visible
        if status is None:
            self.log.warning("worker.half_dead", pid=handle.pid, call=what)
            handle.kill()
            if not handle.remote:
                kill_group(handle.pid)
            status = handle.reap(5.0)
        handle.handled.wait(5.0)  # the supervisor has decided: restart, or escalate
        self._forget(call)  # only now: the supervisor blamed the crash on a call in flight
        with self._lock:
            last = not worker.inflight
            charged, worker.crash_charged = worker.crash_charged, True
        if last:
            worker.close()
        if not charged:
            self.stats.count("crashes")
        describe = status.describe() if status else "exited"
        sup = self._workers.supervisor
        if handle.decision == "escalate" or self._failed or (sup is not None and sup.escalated):
            return RestartLimitExceeded(
                f"the worker running {what} {describe}, and the worker supervisor exceeded "
                f"its restart intensity ({self.config.worker_restart_intensity} restarts in "
                f"{self.config.restart_period:g} s)")
        error = WorkerCrashed(
            f"the worker running {what} (pid {handle.pid}) {describe}",
            exitcode=status.exitcode if status else None,
            signal=status.signal if status else None,
        )
        if charged:  # one death is one failure for the breaker, however many calls it ended
            error.uncounted = True
        return error

    # ---- introspection ------------------------------------------------------------------

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.handle.pid for w in self._live.values()]

    def snapshot(self) -> dict:
        sup = self._workers.supervisor
        with self._lock:
            live, queued = len(self._live), self._waiting
            # a worker killed on purpose stays in the map until its exit is reaped: not idle
            idle = sum(1 for w in self._live.values()
                       if w.idle and not w.draining and not w.dead)
            inflight = sum(len(w.inflight) for w in self._live.values())
        return {
            "count": live, "idle": idle, "queued": queued, "inflight": inflight,
            "limits": self.limits.snapshot(),
            "restarts": sup.restarts if sup else 0,
            "charged": sup.charged if sup else 0,
            "replacements": sup.replacements if sup else 0,
            "escalated": self._failed if sup else None,
            "pids": self.worker_pids(),
            "template_pid": (sup.handle("template").pid
                             if sup and sup.handle("template") else None),
            "watchdog_failures": self._watchdog.failures,
        }
