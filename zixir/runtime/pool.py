"""The worker pool, router side: dispatch and hand-off of calls to worker processes.

    interpreter threads (pmap: several at once)
      | call(module, function, args, kwargs)
      v
    FailurePolicy.run (failure.py): policy check, breaker admission, retries
      | attempt:
      v
    take an idle worker (the idle list, under `_cond`); beyond max_queue waiters, or no
      worker free within the call's timeout of waiting -------------------> Overloaded
      (waiting is never running time: the call's deadline starts once it has a worker)
      |
      v
    the calling thread owns the worker until the reply: Watchdog.watch(deadline), then the
    worker's Channel (channel.py) sends the request and waits for the reply with its id
      reply ------------------------------------------------------> result / PythonError
      channel EOF (the worker died, or closed its channel: then it is killed)
        -> reap -> the supervisor decided -----------------------> WorkerCrashed
                   (not counted: the call's breaker counts it; escalated: RestartLimitExceeded)
      watchdog: deadline passed -> claims the call, kills the worker, interrupts its channel
        (a grandchild holding the pipe cannot keep the read blocked) -> CallTimeout
      bad or oversized frame -> kill, replace ------------------------> ProtocolError
    hand the worker back: Recycling (recycling.py) may replace it; else the idle list

    WorkerSupervision (workers.py): the template and the workers, under one supervisor

One owner per piece of state: the idle list, the live map and the queue count belong to
`_cond`; a busy worker (its channel, `busy_with`) belongs to the thread that took it; a
watched call belongs to whichever of the caller and the watchdog unwatches it first; child
processes belong to the supervisor thread.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from typing import Any, NoReturn

from zixir.lang.errors import (
    CallTimeout,
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
from .config import RuntimeConfig
from .confine import confine_settings, kill_group
from .events import NullLog
from .failure import FailurePolicy, NotSent
from .process import ProcessHandle
from .recycling import Recycling
from .shm import sweep
from .stats import Stats
from .watchdog import Watchdog
from .workers import Worker, WorkerSupervision

_ids = itertools.count(1)


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
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # a worker became idle, or the pool failed
        self._idle: list[Worker] = []
        self._live: dict[int, Worker] = {}  # slot -> worker
        self._waiting = 0
        self._failed: str | None = None
        self._closed = False
        self._start_lock = threading.Lock()
        self._workers = WorkerSupervision(
            config, self._make_env(), paths=self._current_paths, on_started=self._started,
            on_exited=self._exited, blame=self._blame, on_escalate=self._escalated,
            log=self.log)
        self._started_pool = False
        # the direct path (direct.py): called under the lock while a caller waits for a
        # worker, so workers lent to host threads come back
        self.on_starved: Any = None
        self.lent_idle: Any = None  # (worker) -> lent but not running a call (direct.py)

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
            self._workers.start()
            self._started_pool = True

    def close(self) -> None:
        self._closed = True
        self._watchdog.close()
        self._workers.stop()
        with self._cond:
            self._failed = self._failed or "the worker pool is closed"
            live = list(self._live.values())
            self._cond.notify_all()
        for w in live:
            w.close()

    def _escalated(self, reason: str) -> None:
        with self._cond:
            self._failed = reason
            self._cond.notify_all()
        self.stats.count("escalations")
        if self.on_escalate is not None:
            self.on_escalate(reason)

    # ---- worker records (called from the supervisor thread) -------------------------------

    def _current_paths(self) -> tuple[list[str], int]:
        with self._cond:
            return list(self.paths), self._paths_version

    def _started(self, worker: Worker) -> None:
        with self._cond:
            self._live[worker.slot] = worker
            self._idle.append(worker)
            self._cond.notify()
        self.stats.count("worker_starts")

    def _blame(self, slot: int, handle: ProcessHandle) -> str | None:
        """The call a dead worker was running, if any: its crash is that call's fault."""
        with self._cond:
            worker = self._live.get(slot)
            if worker is None or worker.handle is not handle:
                return None
            if self.lent_idle is not None and self.lent_idle(worker):
                return None  # lent to a host thread that was not calling it: as if idle
            return worker.busy_with

    def _exited(self, slot: int, handle: ProcessHandle) -> None:
        kill_group(handle.pid)  # what the worker's libraries forked dies with it
        with self._cond:
            worker = self._live.get(slot)
            if worker is None or worker.handle is not handle:
                return
            del self._live[slot]
            worker.dead = True
            if worker in self._idle:
                self._idle.remove(worker)
                worker.close()  # nobody else uses an idle worker's channel
            elif worker.busy_with is not None:
                # the owning thread closes it; its read may never see EOF if a process the
                # library forked keeps the pipe open, so interrupt it
                worker.channel.interrupt("the worker exited", "eof")
        if handle.decision != "shutdown":
            self.stats.count("worker_exits")
        sweep(self.config.tag, dead_only=True)  # the shared memory the dead worker left

    # ---- calls (any thread) -----------------------------------------------------------------

    def add_path(self, path: str) -> None:
        """Make a directory importable for every worker (the script's directory)."""
        with self._cond:
            if path and path not in self.paths:
                self.paths.append(path)
                self._paths_version += 1  # each worker gets the new list with its next call

    def is_idempotent(self, module: str, function: str) -> bool:
        return self.failures.is_idempotent(module, function)

    def call(self, module: str, function: str, args: list | tuple = (),
             kwargs: dict | None = None, *, timeout: float | None = None,
             retries: int | None = None) -> Any:
        """Run `module.function(*args, **kwargs)` in a worker; raises the typed faults."""
        if tracing.ENABLED:
            with tracing.CallSpan(module, function):
                return self._call(module, function, args, kwargs, timeout, retries)
        return self._call(module, function, args, kwargs, timeout, retries)

    def _call(self, module: str, function: str, args: Any, kwargs: dict | None,
              timeout: float | None, retries: int | None) -> Any:
        started = time.perf_counter()
        self._workers.used(module)  # the template preloads it once used
        try:
            result = self.failures.run(
                module, function,
                lambda: self._call_once(module, function, args, kwargs, timeout), retries)
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
                   timeout: float | None) -> Any:
        if timeout is None:
            timeout = self.config.call_timeout
        what = f"{module}.{function}"
        # waiting for a worker is bounded by the call timeout but is not running time
        worker, options = self._acquire(time.monotonic() + timeout, what)
        if tracing.ENABLED:  # the worker's spans nest under this call's
            options = tracing.attempt(options, worker.handle.pid)
        if timeout != self.config.call_timeout:  # the worker's CPU limit follows it
            options = {**options, "timeout": timeout}
        reply = self._roundtrip(worker, [module, function, args, kwargs or {}, options],
                                timeout, what)
        if reply.error is not None:
            error = p.error_from_wire(reply.error, context=what)
            if isinstance(error, PythonError) and error.exc_type == "MemoryError":
                self._recycle(worker, "MemoryError")
            else:
                self._release(worker)
            raise error
        self._release(worker)
        return reply.result

    def _acquire(self, wait_until: float, what: str) -> tuple[Worker, dict]:
        """Take an idle worker for call `what`, waiting until `wait_until` at most (then
        Overloaded); with the call options it needs (the pool's paths, once changed)."""
        if not self._started_pool:
            self.start()
        with self._lock:
            worker = self._take_idle(wait_until, what)
            worker.busy_with = what
            if worker.paths_version == self._paths_version:
                return worker, {}
            worker.paths_version = self._paths_version
            return worker, {"paths": list(self.paths)}

    def _take_idle(self, wait_until: float, what: str) -> Worker:
        """Under the lock."""
        if self._failed:
            raise RestartLimitExceeded(f"the Python workers are down: {self._failed}")
        if self._idle:
            return self._idle.pop()
        if self._waiting >= self.config.max_queue:
            self.stats.count("refused.overloaded")
            self.log.info("call.refused", call=what, reason="overloaded",
                          queued=self._waiting)
            raise Overloaded(f"{what}: {self._waiting} calls are already waiting for a "
                             f"worker (max_queue {self.config.max_queue})")
        self._waiting += 1
        try:
            while not self._idle:
                if self._failed:
                    raise RestartLimitExceeded(
                        f"the Python workers are down: {self._failed}")
                remaining = wait_until - time.monotonic()
                if remaining <= 0:
                    self.stats.count("refused.wait_timeout")
                    raise Overloaded(f"{what}: no worker became free within the call's "
                                     "timeout of waiting")
                if self.on_starved is not None:
                    self.on_starved()
                self._cond.wait(remaining)
            return self._idle.pop()
        finally:
            self._waiting -= 1

    def used(self, module: str) -> None:
        """A call to `module` is coming (the direct path's): the template preloads it."""
        self._workers.used(module)

    def lend(self, what: str) -> tuple[Worker, dict] | None:
        """An idle worker for the direct path (direct.py), taken as a call takes it, without
        waiting: None when none is idle or calls wait for one. Give it back with
        `take_back`."""
        if not self._started_pool:
            self.start()
        with self._lock:
            if self._failed or self._waiting or not self._idle:
                return None
            worker = self._idle.pop()
            worker.busy_with = what
            if worker.paths_version == self._paths_version:
                return worker, {}
            worker.paths_version = self._paths_version
            return worker, {"paths": list(self.paths)}

    def take_back(self, worker: Worker) -> None:
        """A lent worker is given back (the direct path)."""
        self._release(worker)

    def _release(self, worker: Worker) -> None:
        worker.calls += 1
        worker.busy_with = None
        if self._recycling.enabled:
            reason = self._recycling.reason(worker)
            if reason is not None:
                self._recycle(worker, reason)
                return
        with self._lock:  # `_exited` marks a worker dead under the same lock
            if worker.dead:
                worker.close()
                return
            self._idle.append(worker)
            if self._waiting:
                self._cond.notify()

    def _recycle(self, worker: Worker, reason: str) -> None:
        self.stats.count("recycled")
        self.log.info("worker.recycle", slot=worker.slot, pid=worker.handle.pid, reason=reason)
        self._workers.kill(worker)
        worker.close()

    def _expired(self, watched: tuple[Worker, str, float]) -> None:
        """The watchdog claimed a call past its deadline: kill its worker (replaced without
        counting); the caller's wait ends and it raises CallTimeout."""
        worker, what, timeout = watched
        self.stats.count("timeouts")
        self.log.warning("call.timeout", call=what, timeout=timeout, pid=worker.handle.pid)
        self._workers.kill(worker)
        worker.channel.interrupt(f"{what} timed out", "closed")

    def _roundtrip(self, worker: Worker, params: list, timeout: float,
                   what: str) -> p.Response:
        call_id = next(_ids)
        channel = worker.channel
        worker.arena.begin()
        self._watchdog.watch(call_id, time.monotonic() + timeout, (worker, what, timeout))
        try:
            reply = channel.request("call", params)  # the watchdog enforces the timeout
        except (p.UnencodableValue, p.FrameTooLarge) as e:
            self._watchdog.unwatch(call_id)
            worker.paths_version = -1  # the paths never reached it
            self._release(worker)
            if isinstance(e, p.FrameTooLarge):
                raise NotSent(ProtocolError(f"the arguments of {what} are too large: {e}")) \
                    from None
            raise NotSent(ZixirRuntimeError(
                f"cannot pass the arguments of {what} to Python: {e}")) from None
        except ChannelClosed as e:
            if not self._watchdog.unwatch(call_id):
                self._timed_out(worker, what, timeout)
            if e.kind in ("bad_frame", "oversized"):
                self.stats.count("protocol_errors")
                self._workers.kill(worker)
                worker.handle.reap(5.0)
                worker.close()
                raise ProtocolError(f"the worker running {what} sent a bad frame "
                                    f"({e.reason}); it was replaced") from None
            raise self._crashed(worker, what) from None
        except BaseException:  # KeyboardInterrupt: the worker's state is unknown, replace it
            self._watchdog.unwatch(call_id)
            self._workers.kill(worker)
            worker.close()
            raise
        if not self._watchdog.unwatch(call_id):  # the deadline won the race with the reply
            self._timed_out(worker, what, timeout)
        return reply

    @staticmethod
    def _timed_out(worker: Worker, what: str, timeout: float) -> NoReturn:
        worker.handle.reap(5.0)  # the watchdog has killed it (or is about to)
        worker.close()
        raise CallTimeout(f"{what} did not return within {timeout:g} s; its worker was "
                          "killed and replaced")

    def _crashed(self, worker: Worker, what: str) -> ZixirRuntimeError:
        """The worker's channel ended mid-call. A worker that closed its channel but still
        runs (half dead) would hold its slot forever: it is killed, the crash charged to
        this call like any other."""
        handle = worker.handle
        status = handle.reap(0.5)  # the pipe closes a moment before the exit is visible
        if status is None:
            self.log.warning("worker.half_dead", pid=handle.pid, call=what)
            handle.kill()
            kill_group(handle.pid)
            status = handle.reap(5.0)
        handle.handled.wait(5.0)  # the supervisor has decided: restart, or escalate
        worker.close()
        self.stats.count("crashes")
        describe = status.describe() if status else "exited"
        sup = self._workers.supervisor
        if handle.decision == "escalate" or self._failed or (sup is not None and sup.escalated):
            return RestartLimitExceeded(
                f"the worker running {what} {describe}, and the worker supervisor exceeded "
                f"its restart intensity ({self.config.worker_restart_intensity} restarts in "
                f"{self.config.restart_period:g} s)")
        return WorkerCrashed(
            f"the worker running {what} (pid {handle.pid}) {describe}",
            exitcode=status.exitcode if status else None,
            signal=status.signal if status else None,
        )

    # ---- introspection ------------------------------------------------------------------

    def worker_pids(self) -> list[int]:
        with self._cond:
            return [w.handle.pid for w in self._live.values()]

    def snapshot(self) -> dict:
        sup = self._workers.supervisor
        with self._cond:
            live, idle, queued = len(self._live), len(self._idle), self._waiting
        return {
            "count": live, "idle": idle, "queued": queued,
            "restarts": sup.restarts if sup else 0,
            "charged": sup.charged if sup else 0,
            "replacements": sup.replacements if sup else 0,
            "escalated": self._failed if sup else None,
            "pids": self.worker_pids(),
            "template_pid": (sup.handle("template").pid
                             if sup and sup.handle("template") else None),
            "watchdog_failures": self._watchdog.failures,
        }
