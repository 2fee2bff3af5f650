"""The router process: runs the interpreter and routes every intent.

    host (Runtime) --fd 3--> RpcServer (8 threads) --> eval / run_file --> Session (one lock)
                   <--fd 4--                          call_python -------\\     |
                                                      stats, tree         \\    | RouterServices
                                                                           v    v
                                          WorkerPool (worker supervisor) <-- call_python
                                          MemoryClient --unix socket--> memory store

Each host thread that makes requests gets a dedicated channel: its pipe pair arrives over
fd 5 (a unix socket) and a thread of its own serves it with the same `Router.handle`.

The router exits when the host's pipe reaches EOF (the host is gone or closing), on SIGTERM
(after stopping its workers), or after its worker supervisor escalated (exit code 3, once no
request is running): the root supervisor then starts a fresh router.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from zixir.lang.deep import interrupt
from zixir.lang.errors import ZixirError, ZixirRuntimeError
from zixir.lang.output import LineTrackingStream
from zixir.observe import metrics, progress, tracing

from . import protocol as p
from .channel import RpcServer, current_notifier, serve_channel_requests
from .config import RuntimeConfig
from .direct import PAGE_FILE, Lender
from .events import make_logger
from .memory import MemoryClient
from .pool import WorkerPool
from .process import bind_to_parent, rss_bytes
from .shm import ShmArrays
from .stats import Stats

EXIT_ESCALATED = 3


class RouterServices:
    """The `zixir.lang.services.Services` implementation: what the interpreter calls."""

    # every wait of the pool (reply, rate token, slot, free worker, backoff) is a fibers
    # Waiter or sleep, so a Python call parks only the task that made it
    waits_in_fibers = True

    def __init__(self, pool: WorkerPool, memory: MemoryClient,
                 modules: ModuleCounters | None = None) -> None:
        self.pool = pool
        self.memory = memory
        self.parallelism = pool.parallelism
        self.modules = modules or ModuleCounters()

    def call_python(self, module: str, function: str, args: list, kwargs: dict) -> Any:
        return counted_call(self.modules, module,
                            lambda: self.pool.call(module, function, args, kwargs))

    def memory_put(self, key: str, value: Any, ttl: float | None = None) -> None:
        self.memory.put(key, value, ttl)

    def memory_get(self, key: str, default: Any = None, *, has_default: bool = False) -> Any:
        return self.memory.get(key, default)

    def memory_delete(self, key: str) -> bool:
        return self.memory.delete(key)

    def memory_keys(self, prefix: str = "") -> list[str]:
        return self.memory.keys(prefix)

    def memory_scan(self, prefix: str = "") -> list[tuple[str, Any]]:
        return self.memory.scan(prefix)

    def memory_incr(self, key: str, n: int | float = 1) -> int | float:
        return self.memory.incr(key, n)

    def memory_cas(self, key: str, expected: Any, new: Any) -> bool:
        return self.memory.cas(key, expected, new)

    def memory_update(self, key: str, f: Any, default: Any = None) -> Any:
        return self.memory.update(key, f, default)


class ModuleCounters:
    """Calls, failed calls and wall seconds per Python module since the router started (what
    the dashboard charts as rate, errors and mean latency); one lock, one update per call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._modules: dict[str, list] = {}  # module -> [calls, errors, seconds]

    def add(self, module: str, seconds: float, failed: bool) -> None:
        with self._lock:
            entry = self._modules.get(module)
            if entry is None:
                entry = self._modules[module] = [0, 0, 0.0]
            entry[0] += 1
            entry[1] += failed
            entry[2] += seconds

    def snapshot(self) -> dict[str, dict]:
        with self._lock:
            return {m: {"calls": e[0], "errors": e[1], "seconds": e[2]}
                    for m, e in self._modules.items()}


def counted_call(counters: ModuleCounters, module: str, call: Callable[[], Any]) -> Any:
    """Run `call` (a Python call of `module`) and count it, failed unless it returned."""
    started = time.perf_counter()
    failed = True
    try:
        result = call()
        failed = False
        return result
    finally:
        counters.add(module, time.perf_counter() - started, failed)


def interrupt_evaluations() -> int:
    """Raise KeyboardInterrupt in every thread running Zixir code; how many there were."""
    from zixir.lang.deep import running_threads

    threads = running_threads()
    for ident in threads:
        interrupt(ident)
    return len(threads)


def load_factory(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Router:
    def __init__(self, config: RuntimeConfig, memory_socket: str,
                 control_fd: int | None = None) -> None:
        self.config = config
        self.log = make_logger("router", config.log_level, config.log_file,
                               config.log_format)
        self.stats = Stats()
        self.pool = WorkerPool(config, self.log, self.stats, on_escalate=self._escalated)
        self.memory = MemoryClient(memory_socket)
        self.services = RouterServices(self.pool, self.memory, ModuleCounters())
        self._session: Any = None
        self._session_error: str | None = None
        self._session_lock = threading.RLock()
        self.escalated: str | None = None
        self.server: RpcServer | None = None
        self.codec = p.Codec(config.max_frame, ShmArrays(config.tag, config.shm_threshold),
                             opaque=True)
        # workers lent to host threads (direct.py); the host made the page when it wants them
        runtime_dir = os.environ.get("ZIXIR_RUNTIME_DIR")
        self.lender = Lender(self.pool, os.path.join(runtime_dir, PAGE_FILE)
                             if runtime_dir and config.direct else None, control_fd)
        metrics.RECORDER.add_source("workers", self.pool.snapshot)
        metrics.RECORDER.add_source("breakers", self.pool.breakers.states)

    def session(self) -> Any:
        with self._session_lock:
            if self._session is None:
                self._session = self.new_session()
            return self._session

    def new_session(self) -> Any:
        try:
            factory = load_factory(self.config.session_factory)
            return factory(services=self.services)
        except Exception as e:
            raise ZixirRuntimeError(
                f"the Zixir interpreter is not available in the router: {e!r}") from None

    def _escalated(self, reason: str) -> None:
        self.escalated = reason
        self.log.error("router.escalate", reason=reason)
        if self.server is not None:  # exit once the running requests have their replies
            self.server.stop_when_idle("escalated")

    def handle(self, request: p.Request) -> tuple[dict | None, Any]:
        try:
            return None, self._dispatch(request.method, request.params)
        except ZixirError as e:
            return p.error_to_wire(e), None
        except KeyboardInterrupt:  # an `interrupt` request stopped this evaluation
            return p.error_to_wire(ZixirRuntimeError("interrupted")), None
        except Exception as e:  # a bug in the router or the interpreter: still a typed error
            err = ZixirRuntimeError(f"internal error in the zixir router: {type(e).__name__}: {e}")
            wire = p.error_to_wire(err)
            wire["traceback"] = traceback.format_exc()
            return wire, None
        finally:
            _flush_stdio()

    def _dispatch(self, method: str, params: list) -> Any:
        if method == "call_python":
            module, function, args, kwargs, options = params
            return counted_call(self.services.modules, module, lambda: self.pool.call(
                module, function, args, kwargs, timeout=options.get("timeout"),
                retries=options.get("retries")))
        if method == "eval":  # [source, filename, fresh?, trace carrier?]
            source, filename, *options = params
            with observed_run("zixir.eval", filename, options):
                if options and options[0]:  # fresh: a session of its own, no shared bindings
                    return self.new_session().eval(source, filename=filename)
                session = self.session()
                with self._session_lock:
                    return session.eval(source, filename=filename)
        if method == "direct_route":
            return self.lender.route(*params)
        if method == "direct_lease":
            return self.lender.lease()
        if method == "direct_return":
            return self.lender.give_back(*params)
        if method == "direct_async":
            return self.lender.learned_async(*params)
        if method == "direct_failed":
            return self.lender.failed(*params)
        if method == "direct_record":
            return self.lender.record(params[0], self.services.modules)
        if method == "run_file":  # [path, call_main, fresh?, trace carrier?]
            path, call_main, *options = params
            before = list(self.pool.paths)
            self.pool.add_path(os.path.dirname(os.path.abspath(path)))
            if self.pool.paths != before:  # lent workers get the new paths with a new lease
                self.lender.changed("paths")
            with observed_run("zixir.run", path, options):
                if options and options[0]:
                    return self.new_session().run_file(path, call_main=call_main)
                session = self.session()
                with self._session_lock:
                    return session.run_file(path, call_main=call_main)
        if method == "reset":
            with self._session_lock:
                self._session = None
            return None
        if method == "interrupt":
            return interrupt_evaluations()
        if method == "at_line_start":
            return bool(getattr(sys.stdout, "at_line_start", True))
        if method == "stats":
            snap = self.stats.snapshot()
            ok, error = self.lender.counts()  # calls host threads made on lent workers
            for name, n in (("calls.ok", ok), ("calls.error", error)):
                if n:
                    snap["counts"][name] = snap["counts"].get(name, 0) + n
            snap["workers"] = workers = self.pool.snapshot()
            lent, busy = self.lender.lent()  # to host threads; idle while not in a call
            workers["lent"] = lent
            workers["idle"] += lent - busy
            workers["inflight"] -= lent - busy  # a lease is in flight only while in a call
            snap["breakers"] = self.pool.breakers.states()
            snap["metrics"] = metrics.snapshot()
            snap["pid"] = os.getpid()
            snap["modules"] = self.services.modules.snapshot()
            return snap
        if method == "metrics":
            return metrics.RECORDER.exposition()
        if method == "tree":
            return self.tree()
        if method == "ping":
            return os.getpid()
        raise ZixirRuntimeError(f"unknown router method {method!r}")

    def tree(self) -> dict:
        """The router's part of the supervision tree: itself and the worker supervisor with
        each child's pid, restarts and resident memory."""
        sup = self.pool._workers.supervisor
        children = []
        for child in sup.children_info() if sup is not None else []:
            pid = child["pid"]
            children.append({**child, "state": "running" if pid else "restarting",
                             "rss": rss_bytes(pid) if pid else None})
        return {"pid": os.getpid(), "rss": rss_bytes(os.getpid()),
                "workers": {"started": sup is not None,
                            "restarts": sup.restarts if sup else 0,
                            "escalated": sup.escalated if sup else None,
                            "children": children}}


class observed_run:
    """A run or an eval as the observers see it: its trace span (a child of the host's span
    when the request carried one) and the progress sink of the request's channel."""

    __slots__ = ("span", "sink")

    def __init__(self, name: str, filename: str | None, options: list) -> None:
        carrier = options[1] if len(options) > 1 and isinstance(options[1], dict) else None
        self.span = tracing.span(name, {"zixir.file": filename}, parent=carrier, run=True) \
            if tracing.ENABLED else None
        self.sink = current_notifier()

    def __enter__(self) -> None:
        if self.span is not None:
            self.span.__enter__()
        if self.sink is not None:
            progress.open_sink(self.sink)

    def __exit__(self, *exc: Any) -> None:
        if self.sink is not None:
            progress.close_sink(self.sink)
        if self.span is not None:
            self.span.__exit__(*exc)


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def main() -> None:
    """`python -m zixir.runtime.router`: fd 3 carries requests, fd 4 replies, fd 5 (a unix
    socket) the pipes of the host threads' dedicated channels."""
    bind_to_parent(int(os.environ["ZIXIR_PARENT_PID"]))
    for fd in (3, 4, 5):  # posix_spawn's dup2 left them inheritable: keep them from workers
        os.set_inheritable(fd, False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = RuntimeConfig.from_json(os.environ["ZIXIR_RUNTIME_CONFIG"])
    tracing.set_role("router")
    progress.ENABLED = bool(config.progress)
    for path in reversed(list(config.sys_path)):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        sys.stdout.reconfigure(line_buffering=True)
    except Exception:
        pass
    sys.stdout = LineTrackingStream(sys.stdout)
    router = Router(config, os.environ["ZIXIR_MEMORY_SOCKET"], control_fd=5)
    server = RpcServer(3, 4, router.codec, router.handle, threads=max(8, config.workers + 4))
    router.server = server
    signal.signal(signal.SIGTERM, lambda signum, frame: server.stop("terminated"))
    if config.prewarm:
        router.pool.start()
    server.notify("ready", [os.getpid()])
    server.start()
    server.spawn(serve_channel_requests, (server, 5, config.spin), "zixir-channels")
    while not server.finished.wait(1.0):
        pass
    router.pool.close()  # joins the worker supervisor and the watchdog
    router.lender.close()
    router.memory.close()
    unfinished = server.join(1.0)  # replies being written get out before the exit
    if unfinished:
        router.log.info("router.requests_left", count=unfinished)
    _flush_stdio()
    tracing.shutdown()
    os._exit(EXIT_ESCALATED if server.reason == "escalated" else 0)


if __name__ == "__main__":
    main()
