"""The worker pool, router side: dispatch, failure policy and the worker supervisor.

    interpreter threads (pmap: several at once)
      | call(module, function, args, kwargs)
      v
    route cache (module, function) -> attempts;  first call: policy.check --> PolicyDenied
    breakers.admit (a dict lookup while the circuit is clean) ------------> CircuitOpen
    tenacity retries (idempotent calls only)
      | take an idle worker; beyond max_queue waiters, or no worker free ---> Overloaded
      |   within the wait time (waiting never counts as running time)
      | encode the request with the worker's codec (large arrays: its shared-memory arena)
      v
    the calling thread owns the worker until the reply: it registers the call with the
    watchdog (a dict entry), writes the frame, polls the worker's own response pipe for
    `config.spin` (30 us: an idle virtual CPU takes longer than that to wake up; see `spin.py`),
    then blocks
    in os.read on it (no timeout bookkeeping), so
      reply with the request's id ---------------------------> result / PythonError
      pipe EOF (worker died) -> reap -> supervisor decided --> WorkerCrashed
                                                  (escalated: RestartLimitExceeded)
      watchdog: deadline passed -> claims the call, kills ---> CallTimeout
        the worker (the blocked read returns EOF; it also
        writes a byte into the pipe in case a grandchild
        keeps the write end open), replaced uncounted
      bad frame -> kill, replace ----------------------------> ProtocolError

    worker supervisor (one_for_one): template (fork server), worker-0 .. worker-N-1
      a worker's start asks the template to fork (falls back to spawning `python -m
      python_workers`), waits for its "ready" frame and puts it in the idle list.

One owner per piece of state: the idle list, the live map and the queue count belong to
`_cond`; a busy
worker belongs to the thread that took it; a watched call belongs to whichever of the caller
and the watchdog removes its entry first; child processes belong to the supervisor.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import socket
import threading
import time
from typing import Any, NoReturn

from zixir.lang.errors import (
    CallTimeout,
    CircuitOpen,
    Overloaded,
    PolicyDenied,
    ProtocolError,
    PythonError,
    RestartLimitExceeded,
    WorkerCrashed,
    ZixirError,
    ZixirRuntimeError,
)

from . import protocol as p
from .breaker import Breakers
from .config import RuntimeConfig
from .events import NullLog
from .process import (
    ProcessHandle,
    become_subreaper,
    close_quietly,
    pipe,
    python_argv,
    rss_bytes,
    spawn,
)
from .shm import ShmArena, sweep
from .spin import poll_briefly
from .stats import Stats
from .supervisor import ChildSpec, Restart, Strategy, Supervisor

_ids = itertools.count(1)
_NOT_RETRIED = (CircuitOpen, PolicyDenied, RestartLimitExceeded)
#: bytes per read of a response pipe (a larger read costs a large allocation every call)
READ_SIZE = 1 << 16


class _Worker:
    """One live worker as the pool sees it."""

    __slots__ = ("slot", "handle", "rfd", "wfd", "codec", "arena", "decoder", "calls", "dead",
                 "paths_version", "fd_lock", "poll", "busy_with")

    def __init__(self, slot: int, handle: ProcessHandle, rfd: int, wfd: int, codec: p.Codec,
                 arena: ShmArena, decoder: p.FrameDecoder, paths_version: int) -> None:
        self.slot, self.handle, self.rfd, self.wfd = slot, handle, rfd, wfd
        self.codec, self.arena, self.decoder = codec, arena, decoder
        self.calls = 0
        self.dead = False
        # "module.function" of the call this worker runs (None: idle). Set by the thread that
        # took the worker; kept after a crash, so the supervisor charges it to that call.
        self.busy_with: str | None = None
        self.paths_version = paths_version  # the pool's paths this worker already has
        self.fd_lock = threading.Lock()  # closing the fds vs. the watchdog's wake-up write
        poller = select.poll()
        poller.register(rfd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self.poll = poller.poll

    def close_fds(self) -> None:
        with self.fd_lock:
            close_quietly(self.rfd, self.wfd)
            self.rfd = self.wfd = -1
        self.arena.close()

    def wake_reader(self) -> None:
        """Make a read blocked on the response pipe return even if some other process still
        holds the pipe's write end (a grandchild the library forked)."""
        with self.fd_lock:
            if self.rfd < 0:
                return
            try:
                fd = os.open(f"/proc/self/fd/{self.rfd}", os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                return
            try:
                os.write(fd, b"\0")
            except OSError:
                pass
            finally:
                os.close(fd)


class _Watchdog:
    """Kills the worker of a call that runs past its deadline.

    `calls` maps a request id to (deadline, worker, what, timeout). The caller adds its entry
    before writing the request and pops it after the reply; the watchdog pops expired entries.
    Whoever pops first owns the outcome, so a reply racing the deadline is never both a result
    and a kill. The thread sleeps until the nearest deadline; a new call only wakes it when
    its deadline is nearer than that (not the case for calls with the default timeout)."""

    def __init__(self, idle_wake: float, on_expired: Any, log: Any = None) -> None:
        self.log = log or NullLog()
        self.calls: dict[int, tuple] = {}
        self.wake_at = 0.0  # the thread looks again by then (0: not started)
        self._idle_wake = idle_wake
        self._on_expired = on_expired
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._closed = False

    def poke(self) -> None:
        with self._cond:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="zixir-watchdog",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(10.0)

    def _run(self) -> None:
        while True:
            expired = []
            with self._cond:
                if self._closed:
                    return
                self.wake_at = 0.0  # callers that register during the scan wake us again
                now = time.monotonic()
                nearest = now + self._idle_wake
                for request_id, entry in self.calls.copy().items():
                    if entry[0] <= now:
                        if self.calls.pop(request_id, None) is not None:
                            expired.append(entry)
                    elif entry[0] < nearest:
                        nearest = entry[0]
                self.wake_at = nearest
                if not expired:
                    self._cond.wait(nearest - now)
                    continue
            for entry in expired:
                try:
                    self._on_expired(*entry)
                except Exception as e:  # keep enforcing every other deadline
                    self.log.error("watchdog.failed", error=repr(e))


class WorkerPool:
    def __init__(self, config: RuntimeConfig, log: Any = None, stats: Stats | None = None,
                 on_escalate: Any = None) -> None:
        self.config = config
        self.log = log or NullLog()
        self.stats = stats or Stats()
        self.on_escalate = on_escalate
        self.policy = config.policy()
        self.breakers = Breakers(config.breaker_fail_max, config.breaker_reset_timeout,
                                 config.breaker_per_function, config.breaker_counts_python_errors,
                                 self.log)
        self.parallelism = config.workers
        self.paths: list[str] = list(config.paths)
        self._paths_version = 0
        self._routes: dict[tuple[str, str], int] = {}  # (module, function) -> attempts
        self._recycling = bool(config.recycle_calls or config.recycle_rss)
        self._spin = config.spin
        self._watchdog = _Watchdog(config.call_timeout, self._expired, self.log)
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._live: dict[int, _Worker] = {}  # slot -> worker
        self._waiting = 0
        self._failed: str | None = None
        self._closed = False
        self._start_lock = threading.Lock()
        self._supervisor: Supervisor | None = None
        self._template: socket.socket | None = None
        self._worker_env = self._make_env()

    # ---- lifecycle ----------------------------------------------------------------------

    def _make_env(self) -> dict[str, str]:
        cfg = self.config
        worker_config = {
            "parent_pid": os.getpid(), "tag": cfg.tag, "max_frame": cfg.max_frame,
            "shm_threshold": cfg.shm_threshold, "policy": self.policy.to_wire(),
            "rlimit_as": cfg.rlimit_as, "rlimit_cpu": cfg.rlimit_cpu,
            "rlimit_nofile": cfg.rlimit_nofile, "sys_path": list(cfg.sys_path),
            "paths": list(cfg.paths), "preload": list(cfg.preload), "spin": cfg.spin,
        }
        env = dict(os.environ)
        env["ZIXIR_WORKER_CONFIG"] = json.dumps(worker_config)
        return env

    def start(self) -> None:
        """Start the template and the workers (idempotent; calls start the pool lazily)."""
        if self._supervisor is not None:
            return
        with self._start_lock:
            if self._supervisor is not None:
                return
            if self._closed:
                raise ZixirRuntimeError("the worker pool is closed")
            cfg = self.config
            become_subreaper()  # workers forked by the template become our children
            sup = Supervisor("workers", Strategy.ONE_FOR_ONE, cfg.worker_restart_intensity,
                             cfg.restart_period, on_escalate=self._escalated, log=self.log)
            specs = [ChildSpec("template", self._start_template, Restart.PERMANENT,
                               cfg.shutdown_grace, self._template_exited)]
            specs += [
                ChildSpec(f"worker-{i}", (lambda i=i: self._start_worker(i)), Restart.PERMANENT,
                          cfg.shutdown_grace, (lambda h, s, i=i: self._worker_exited(i, h, s)),
                          blame=(lambda h, i=i: self._blame(i, h)))
                for i in range(cfg.workers)
            ]
            sup.start(specs)
            self._supervisor = sup

    def close(self) -> None:
        self._closed = True
        self._watchdog.close()
        sup = self._supervisor
        if sup is not None:
            sup.stop()
        with self._cond:
            self._failed = self._failed or "the worker pool is closed"
            self._cond.notify_all()
        for w in list(self._live.values()):
            w.close_fds()
        if self._template is not None:
            self._template.close()
            self._template = None

    def _escalated(self, reason: str) -> None:
        with self._cond:
            self._failed = reason
            self._cond.notify_all()
        self.stats.count("escalations")
        if self.on_escalate is not None:
            self.on_escalate(reason)

    # ---- children (run in the supervisor thread) -----------------------------------------

    def _start_template(self) -> ProcessHandle:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            handle = spawn(python_argv("python_workers.forkserver"), {3: theirs.fileno()},
                           self._worker_env, "template")
        finally:
            theirs.close()
        ours.settimeout(60.0)
        try:
            if ours.recv(1) != b"R":
                raise RuntimeError("the worker template did not start")
        except BaseException:
            ours.close()
            handle.kill()
            handle.reap(5.0)
            raise
        self._template = ours
        return handle

    def _template_exited(self, handle: ProcessHandle, status: Any) -> None:
        if self._template is not None:
            self._template.close()
            self._template = None

    def _fork_from_template(self, req_r: int, resp_w: int) -> bool:
        sock = self._template
        if sock is None:
            return False
        try:
            socket.send_fds(sock, [json.dumps({"paths": self.paths}).encode()], [req_r, resp_w])
            return sock.recv(1) == b"F"
        except OSError:
            return False

    def _start_worker(self, slot: int) -> ProcessHandle:
        paths_version = self._paths_version
        req_r, req_w = pipe()
        resp_r, resp_w = pipe()
        handle: ProcessHandle | None = None
        try:
            if not self._fork_from_template(req_r, resp_w):
                env = dict(self._worker_env)
                cfg = json.loads(env["ZIXIR_WORKER_CONFIG"])
                cfg["paths"] = self.paths
                env["ZIXIR_WORKER_CONFIG"] = json.dumps(cfg)
                handle = spawn(python_argv("python_workers"), {3: req_r, 4: resp_w}, env,
                               f"worker-{slot}")
        except BaseException:
            for fd in (req_w, resp_r):
                os.close(fd)
            raise
        finally:
            os.close(req_r)
            os.close(resp_w)
        cfg = self.config
        arena = ShmArena(cfg.tag, cfg.shm_threshold)
        codec = p.Codec(cfg.max_frame, arena)
        decoder = p.FrameDecoder(codec)
        try:
            ready = self._read_ready(resp_r, decoder, deadline=time.monotonic() + 60.0)
            if handle is None:
                handle = ProcessHandle(ready, f"worker-{slot}")
            elif handle.pid != ready:
                raise RuntimeError(f"worker announced pid {ready}, expected {handle.pid}")
        except BaseException:
            os.close(req_w)
            os.close(resp_r)
            arena.close()
            if handle is not None:
                handle.kill()
                handle.reap(5.0)
            raise
        os.set_blocking(req_w, False)
        worker = _Worker(slot, handle, resp_r, req_w, codec, arena, decoder, paths_version)
        with self._cond:
            self._live[slot] = worker
            self._idle.append(worker)
            self._cond.notify()
        self.stats.count("worker_starts")
        return handle

    @staticmethod
    def _read_ready(fd: int, decoder: p.FrameDecoder, deadline: float) -> int:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError("the worker did not report ready in time")
            r, _, _ = select.select([fd], [], [], remaining)
            if not r:
                continue
            data = os.read(fd, READ_SIZE)
            if not data:
                raise RuntimeError("the worker exited before it was ready")
            for m in decoder.feed(data):
                if isinstance(m, p.Notification) and m.method == "ready" and m.params:
                    return int(m.params[0])

    def _blame(self, slot: int, handle: ProcessHandle) -> str | None:
        """The call a dead worker was running, if any: its crash is that call's fault."""
        with self._cond:
            worker = self._live.get(slot)
            if worker is None or worker.handle is not handle:
                return None
            return worker.busy_with

    def _worker_exited(self, slot: int, handle: ProcessHandle, status: Any) -> None:
        with self._cond:
            worker = self._live.get(slot)
            if worker is None or worker.handle is not handle:
                return
            del self._live[slot]
            worker.dead = True
            if worker in self._idle:
                self._idle.remove(worker)
                worker.close_fds()  # nobody else uses an idle worker's pipes
            elif worker.busy_with is not None:
                # the thread that owns it closes its pipes; its read may never see EOF if a
                # process the library forked keeps the write end open, so wake it up
                worker.wake_reader()
        if handle.decision != "shutdown":
            self.stats.count("worker_exits")
        sweep(self.config.tag, dead_only=True)  # the shared memory the dead worker left

    # ---- calls (any thread) -----------------------------------------------------------------

    def add_path(self, path: str) -> None:
        """Make a directory importable for every worker (the script's directory)."""
        if path and path not in self.paths:
            self.paths.append(path)
            self._paths_version += 1  # each worker gets the new list with its next call

    def is_idempotent(self, module: str, function: str) -> bool:
        name = f"{module}.{function}"
        return any(name == r or name.startswith(r + ".") for r in self.config.idempotent)

    def call(self, module: str, function: str, args: list | tuple = (),
             kwargs: dict | None = None, *, timeout: float | None = None,
             retries: int | None = None) -> Any:
        """Run `module.function(*args, **kwargs)` in a worker; raises the typed faults."""
        attempts = self._routes.get((module, function))
        if attempts is None:
            attempts = self._route(module, function)
        if retries is not None:
            attempts = retries
        started = time.perf_counter()
        try:
            if attempts <= 1:
                result = self._call_once(module, function, args, kwargs, timeout)
            else:
                result = self._call_retrying(module, function, args, kwargs, timeout, attempts)
        except ZixirError as e:
            self.stats.count("calls.error")
            self.stats.count(f"errors.{type(e).__name__}")
            self.stats.observe("call", time.perf_counter() - started)
            raise
        self.stats.observe_ok("call", time.perf_counter() - started)
        return result

    def _route(self, module: str, function: str) -> int:
        """Check a function against the policy once; returns its default attempt count."""
        try:
            self.policy.check(module, function)
        except PolicyDenied as e:
            self.stats.count("refused.policy")
            self.log.info("call.refused", module=module, function=function, reason="policy",
                          message=e.message)
            raise
        attempts = self.config.retry_attempts if self.is_idempotent(module, function) else 1
        if len(self._routes) < 100_000:
            self._routes[(module, function)] = attempts
        return attempts

    def _call_retrying(self, module, function, args, kwargs, timeout, attempts) -> Any:
        import tenacity  # only idempotent calls retry: most processes never import it

        def before_sleep(state: tenacity.RetryCallState) -> None:
            self.stats.count("retries")
            self.log.info("call.retry", module=module, function=function,
                          attempt=state.attempt_number,
                          error=repr(state.outcome.exception()) if state.outcome else None)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_exponential_jitter(initial=self.config.retry_backoff,
                                                  max=self.config.retry_backoff_max),
            retry=tenacity.retry_if_exception(
                lambda e: isinstance(e, ZixirRuntimeError) and not isinstance(e, _NOT_RETRIED)),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(self._call_once, module, function, args, kwargs, timeout)

    def _call_once(self, module: str, function: str, args: Any, kwargs: dict | None,
                   timeout: float | None) -> Any:
        try:
            ticket = self.breakers.admit(module, function)
        except CircuitOpen as e:
            self.stats.count("refused.circuit_open")
            self.log.info("call.refused", module=module, function=function, reason="circuit",
                          retry_after=e.retry_after)
            raise
        if timeout is None:
            timeout = self.config.call_timeout
        try:  # waiting for a worker is bounded by the call timeout but is not running time
            worker = self._acquire(time.monotonic() + timeout, module, function)
        except BaseException:
            self.breakers.release(ticket)
            raise
        deadline = time.monotonic() + timeout
        worker.busy_with = f"{module}.{function}"
        request_id = next(_ids)
        try:
            if worker.paths_version == self._paths_version:
                options = {}
            else:
                options = {"paths": self.paths}
                worker.paths_version = self._paths_version
            worker.arena.begin()
            frame = worker.codec.encode_request(
                request_id, "call", [module, function, args, kwargs or {}, options])
        except (p.UnencodableValue, p.FrameTooLarge) as e:
            worker.paths_version = -1  # the paths never reached it
            self.breakers.release(ticket)
            self._release(worker)
            what = f"{module}.{function}"
            if isinstance(e, p.FrameTooLarge):
                raise ProtocolError(f"the arguments of {what} are too large: {e}") from None
            raise ZixirRuntimeError(
                f"cannot pass the arguments of {what} to Python: {e}") from None
        except BaseException:
            self.breakers.release(ticket)
            self._release(worker)
            raise
        try:
            reply = self._roundtrip(worker, frame, request_id, deadline, timeout, module,
                                    function)
        except BaseException as e:
            self.breakers.record(ticket, e)
            raise
        if reply.error is not None:
            error = p.error_from_wire(reply.error, context=f"{module}.{function}")
            self.breakers.record(ticket, error)
            if isinstance(error, PythonError) and error.exc_type == "MemoryError":
                self._recycle(worker, "MemoryError")
            else:
                self._release(worker)
            raise error
        self.breakers.record(ticket, None)
        self._release(worker)
        return reply.result

    def _acquire(self, wait_until: float, module: str, function: str) -> _Worker:
        """Take an idle worker, waiting until `wait_until` at most (then Overloaded)."""
        if self._supervisor is None:
            self.start()
        what = f"{module}.{function}"
        with self._cond:
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
                        raise Overloaded(f"{what}: no worker became free within "
                                         f"{self.config.call_timeout:g} s of waiting")
                    self._cond.wait(remaining)
                return self._idle.pop()
            finally:
                self._waiting -= 1

    def _release(self, worker: _Worker) -> None:
        worker.calls += 1
        worker.busy_with = None
        if self._recycling:
            cfg = self.config
            if cfg.recycle_calls and worker.calls >= cfg.recycle_calls:
                self._recycle(worker, f"served {worker.calls} calls")
                return
            if cfg.recycle_rss and rss_bytes(worker.handle.pid) >= cfg.recycle_rss:
                self._recycle(worker, "RSS limit")
                return
        with self._cond:  # `_worker_exited` marks a worker dead under the same lock
            if worker.dead:
                worker.close_fds()
                return
            self._idle.append(worker)
            if self._waiting:
                self._cond.notify()

    def _kill(self, worker: _Worker) -> None:
        """Kill a worker we own on purpose; its supervisor replaces it without counting."""
        sup = self._supervisor
        if sup is not None:
            sup.expect_exit(worker.handle)
        worker.handle.kill()

    def _recycle(self, worker: _Worker, reason: str) -> None:
        self.stats.count("recycled")
        self.log.info("worker.recycle", slot=worker.slot, pid=worker.handle.pid, reason=reason)
        self._kill(worker)
        worker.close_fds()

    def _expired(self, deadline: float, worker: _Worker, module: str, function: str,
                 timeout: float) -> None:
        """The watchdog claimed a call past its deadline: kill its worker (replaced without
        counting); the caller, blocked on the pipe, wakes up and raises CallTimeout."""
        self.stats.count("timeouts")
        self.log.warning("call.timeout", call=f"{module}.{function}", timeout=timeout,
                         pid=worker.handle.pid)
        self._kill(worker)
        worker.wake_reader()

    def _roundtrip(self, worker: _Worker, frame: bytes, request_id: int, deadline: float,
                   timeout: float, module: str, function: str) -> p.Response:
        watched = self._watchdog.calls
        watched[request_id] = (deadline, worker, module, function, timeout)
        if deadline < self._watchdog.wake_at or not self._watchdog.wake_at:
            self._watchdog.poke()
        try:
            try:
                sent = os.write(worker.wfd, frame)
            except BlockingIOError:
                sent = 0
            if sent < len(frame):
                self._write_rest(worker, memoryview(frame)[sent:], request_id, deadline)
            if self._spin:  # a short call's reply often comes before a sleeping CPU wakes
                poll_briefly(worker.poll, self._spin)
            while True:
                data = os.read(worker.rfd, READ_SIZE)
                if request_id not in watched:
                    raise _Timeout()
                if not data or worker.dead:
                    raise _Died()
                for message in worker.decoder.feed(data):
                    if type(message) is p.Response:
                        if message.id != request_id:
                            raise p.FrameError(f"reply to request {message.id}, expected "
                                               f"{request_id}")
                        if watched.pop(request_id, None) is None:
                            raise _Timeout()
                        return message
        except _Timeout:
            return self._timed_out(worker, module, function, timeout)
        except (_Died, BrokenPipeError):
            if watched.pop(request_id, None) is None:  # the watchdog's kill closed the pipe
                return self._timed_out(worker, module, function, timeout)
            raise self._crashed(worker, f"{module}.{function}") from None
        except p.FrameError as e:
            if watched.pop(request_id, None) is None:
                return self._timed_out(worker, module, function, timeout)
            self.stats.count("protocol_errors")
            self._kill(worker)
            worker.handle.reap(5.0)
            worker.close_fds()
            raise ProtocolError(f"the worker running {module}.{function} sent a bad frame "
                                f"({e}); it was replaced") from None
        except BaseException:
            watched.pop(request_id, None)
            raise

    @staticmethod
    def _timed_out(worker: _Worker, module: str, function: str, timeout: float) -> NoReturn:
        worker.handle.reap(5.0)  # the watchdog has killed it (or is about to)
        worker.close_fds()
        raise CallTimeout(f"{module}.{function} did not return within {timeout:g} s; its "
                          "worker was killed and replaced")

    def _write_rest(self, worker: _Worker, view: memoryview, request_id: int,
                    deadline: float) -> None:
        """The rest of a frame larger than the pipe's buffer, as the worker reads it."""
        while view:
            try:
                view = view[os.write(worker.wfd, view):]
                continue
            except BlockingIOError:
                pass
            if request_id not in self._watchdog.calls:
                raise _Timeout()
            # the watchdog's kill makes the pipe writable (EPIPE) at the deadline
            select.select([], [worker.wfd], [], max(0.0, deadline - time.monotonic()) + 0.1)

    def _crashed(self, worker: _Worker, what: str) -> ZixirRuntimeError:
        """The worker's channel ended mid-call. A worker that closed its channel but still
        runs (half dead) would hold its slot forever: it is killed, the crash charged to
        this call like any other."""
        handle = worker.handle
        status = handle.reap(0.5)  # the pipe closes a moment before the exit is visible
        if status is None:
            self.log.warning("worker.half_dead", pid=handle.pid, call=what)
            handle.kill()
            status = handle.reap(5.0)
        handle.handled.wait(5.0)  # the supervisor has decided: restart, or escalate
        worker.close_fds()
        self.stats.count("crashes")
        describe = status.describe() if status else "exited"
        sup = self._supervisor
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
        sup = self._supervisor
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
        }


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass

