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
(after interrupting the Zixir code still running, then stopping its workers), or after its
worker supervisor escalated (exit code 3, once no request is running): the root supervisor
then starts a fresh router.
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

from . import events
from . import protocol as p
from .agents import Agents
from .channel import RpcServer, current_notifier, serve_channel_requests
from .config import RuntimeConfig
from .direct import PAGE_FILE, Lender
from .events import make_logger
from .memory import MemoryClient
from .pool import WorkerPool
from .process import bind_to_parent, rss_bytes
from .shm import ShmArrays
from .stats import Stats
from .worker_link import WorkerLink

EXIT_ESCALATED = 3


class RouterServices:
    """The `zixir.lang.services.Services` implementation: what the interpreter calls."""

    # every wait of the pool (reply, rate token, slot, free worker, backoff) is a fibers
    # Waiter or sleep, so a Python call parks only the task that made it
    waits_in_fibers = True

    def __init__(self, pool: WorkerPool, memory: MemoryClient,
                 modules: ModuleCounters | None = None, agents: Agents | None = None) -> None:
        self.pool = pool
        self.memory = memory
        self.agents = agents
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

    def agent(self, op: str, args: list) -> Any:
        """`agent.start/call/stop/list/status` (zixir.lang.agents checked the arguments)."""
        return agent_op(self.agents, op, args)


def agent_op(agents: Agents | None, op: str, args: list) -> Any:
    if agents is None:
        raise ZixirRuntimeError("agents need the zixir runtime's router")
    if op == "start":
        name, module, cls, start_args, options = args
        return agents.start(name, module, cls, start_args, options.get("kwargs"),
                            options.get("restart", "permanent"),
                            options.get("checkpoint", "call"))
    if op == "call":
        name, method, call_args, *rest = args
        return agents.call(name, method, call_args, rest[0] if rest else None,
                           timeout=rest[1] if len(rest) > 1 else None)
    if op == "stop":
        return agents.stop(args[0])
    if op == "status":
        return agents.status(args[0])
    if op == "list":
        return agents.list()
    raise ZixirRuntimeError(f"unknown agent operation {op!r}")


class ModuleCounters:
    """Calls, failed calls and wall seconds per Python module since the router started (what
    the dashboard charts as rate, errors and mean latency); one lock, one update per call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._modules: dict[str, list] = {}  # module -> [calls, errors, seconds]

    def add(self, module: str, seconds: float, failed: bool) -> None:
        self.add_many(module, 1, seconds, failed)

    def add_many(self, module: str, calls: int, seconds: float, failed: bool) -> None:
        """`calls` calls of `module` that took `seconds` in all (all failed, or none)."""
        with self._lock:
            entry = self._modules.get(module)
            if entry is None:
                entry = self._modules[module] = [0, 0, 0.0]
            entry[0] += calls
            entry[1] += calls if failed else 0
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


def stop_evaluations(grace: float = 1.0) -> int:
    """The router is stopping while Zixir code runs (Ctrl-C in `zixir run`, the host closed
    or gone): interrupt that code before the workers and agents stop under it, so it ends as
    interrupted (a workflow step stays unfinished and the next run resumes it) rather than
    failing with the WorkerCrashed of its stopped workers. Waits up to `grace` seconds for
    it to unwind; how many threads were running."""
    from zixir.lang.deep import running_threads

    count = interrupt_evaluations()
    deadline = time.monotonic() + grace
    while running_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return count


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
        self.link = WorkerLink(config)  # before the pool: workers inherit its socket's path
        self.pool = WorkerPool(config, self.log, self.stats, on_escalate=self._escalated)
        self.memory = MemoryClient(memory_socket)
        self.agents = Agents(config, self.pool, self.memory, self.log, self.stats)
        self.link.pool, self.link.agents = self.pool, self.agents
        self.services = RouterServices(self.pool, self.memory, ModuleCounters(), self.agents)
        self._session: Any = None
        self._session_error: str | None = None
        self._session_lock = threading.RLock()
        self.escalated: str | None = None
        self.server: RpcServer | None = None
        self.codec = p.Codec(config.max_frame, ShmArrays(config.tag, config.shm_threshold),
                             opaque=True, export_function=self._export_function)
        #: Zixir functions handed to the host (`zixir.eval("x => x * 2")`), by id, until the
        #: host's callable for them is garbage collected (`release_functions`)
        self._functions: dict[int, Any] = {}
        self._function_ids: dict[int, int] = {}  # id(function) -> its id here
        self._next_function = 0
        self._functions_lock = threading.Lock()
        # workers lent to host threads (direct.py); the host made the page when it wants them
        runtime_dir = os.environ.get("ZIXIR_RUNTIME_DIR")
        self.lender = Lender(self.pool, os.path.join(runtime_dir, PAGE_FILE)
                             if runtime_dir and config.direct else None, control_fd)
        metrics.RECORDER.add_source("workers", self.pool.snapshot)
        metrics.RECORDER.add_source("breakers", self.pool.breakers.states)

    def _export_function(self, value: Any) -> tuple[int, str]:
        from zixir.lang.values import function_name

        fn = getattr(value, "fn", value)  # a PythonCallable wraps the Zixir function
        name = function_name(fn) or "function"  # its Zixir name (`my_fn`, `flat_map`)
        with self._functions_lock:
            fn_id = self._function_ids.get(id(fn))
            if fn_id is None or self._functions.get(fn_id) is not fn:
                self._next_function += 1
                fn_id = self._next_function
                self._functions[fn_id] = fn
                self._function_ids[id(fn)] = fn_id
        return fn_id, name

    def _call_function(self, fn_id: int, args: list) -> Any:
        from zixir.lang.builtins import arity
        from zixir.lang.session import _arity_message, to_python_checked
        from zixir.lang.values import from_python, function_name

        with self._functions_lock:
            fn = self._functions.get(fn_id)
        if fn is None:
            raise ZixirRuntimeError("this Zixir function is no longer available (it was "
                                    "released, or the runtime restarted since it was returned)")
        low, high = arity(fn)
        if len(args) < low or (high is not None and len(args) > high):
            raise ZixirRuntimeError(_arity_message(function_name(fn), low, high, len(args)))
        for i, arg in enumerate(args, 1):
            opaque = _first_opaque(arg)
            if opaque is not None:  # the host sent what has no wire form by its repr
                raise ZixirRuntimeError(
                    f"cannot pass argument {i} of {function_name(fn)} to Zixir: {opaque!r} is "
                    f"not a value Zixir has (None, bool, int, float, str, list, tuple, dict, "
                    f"set, numpy arrays and Zixir functions are)")
        session = self.session()
        with self._session_lock:
            value = session.call(fn, [from_python(a) for a in args])
        return to_python_checked(value)

    def _release_functions(self, ids: list) -> None:
        with self._functions_lock:
            for fn_id in ids:
                fn = self._functions.pop(fn_id, None)
                if fn is not None and self._function_ids.get(id(fn)) == fn_id:
                    del self._function_ids[id(fn)]

    def session(self) -> Any:
        with self._session_lock:
            if self._session is None:
                self._session = self.new_session()
            return self._session

    def new_session(self) -> Any:
        try:
            factory = load_factory(self.config.session_factory)
            session = factory(services=self.services)
            if self.config.file_paths and hasattr(session, "allow_files"):
                session.allow_files(self.config.file_paths)
            return session
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
        if method == "run_file":  # [path, call_main, fresh?, args?, source?, trace carrier?]
            path, call_main, *options = params
            before = list(self.pool.paths)
            self.pool.add_path(os.path.dirname(os.path.abspath(path)))
            if self.pool.paths != before:  # lent workers get the new paths with a new lease
                self.lender.changed("paths")
            # options: fresh?, then the program's args() and its source (`zixir run -`), and
            # the trace carrier (a map) when the host traces
            extra = [o for o in options[1:] if not isinstance(o, dict)]
            script_args = {"args": extra[0]} if extra else {}
            if len(extra) > 1:
                script_args["source"] = extra[1]
            with observed_run("zixir.run", path, options):
                if options and options[0]:
                    return self.new_session().run_file(path, call_main=call_main, **script_args)
                session = self.session()
                with self._session_lock:
                    return session.run_file(path, call_main=call_main, **script_args)
        if method == "call_function":
            fn_id, args = params
            return self._call_function(fn_id, args)
        if method == "release_functions":
            self._release_functions(params[0])
            return None
        if method == "reset":
            with self._session_lock:
                self._session = None
            return None
        if method == "interrupt":
            return interrupt_evaluations()
        if method == "names":  # of the persistent session, for completion
            names = getattr(self._session, "names", None)
            return names() if names is not None else []
        if method == "at_line_start":
            at_start = bool(getattr(sys.stdout, "at_line_start", True))
            if params and params[0] and hasattr(sys.stdout, "at_line_start"):
                sys.stdout.at_line_start = True  # the caller ends the line itself
            return at_start
        if method == "agent":
            op, args = params
            return agent_op(self.agents, op, args)
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
            snap["agents"] = self.agents.snapshot()
            snap["agent_pids"] = self.agents.pids()
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
        remote = self.pool.config.cluster is not None  # pids on other hosts (cluster.py)
        for child in sup.children_info() if sup is not None else []:
            pid = child["pid"]
            children.append({**child, "state": "running" if pid else "restarting",
                             "rss": rss_bytes(pid) if pid and not remote else None})
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
        carrier = next((o for o in options[1:] if isinstance(o, dict)), None)
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


def _first_opaque(value: Any) -> p.Opaque | None:
    """The first value without a Zixir form inside an argument from the host, if any."""
    if isinstance(value, p.Opaque):
        return value
    if isinstance(value, (list, tuple)):
        items: Any = value
    elif isinstance(value, dict):
        items = value.values()
    else:
        return None
    for item in items:
        found = _first_opaque(item)
        if found is not None:
            return found
    return None


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
    sys.stdout = LineTrackingStream(progress.divert_output(sys.stdout))
    if progress.DIVERT:  # the router's log lines go above the bars too
        events._DIVERT = progress.divert
    router = Router(config, os.environ["ZIXIR_MEMORY_SOCKET"], control_fd=5)
    server = RpcServer(3, 4, router.codec, router.handle, threads=max(8, config.workers + 4))
    router.server = server
    signal.signal(signal.SIGTERM, lambda signum, frame: server.stop("terminated"))
    if config.prewarm:
        router.pool.start()
    server.notify("ready", [os.getpid()])
    server.start()
    router.link.start()
    server.spawn(serve_channel_requests, (server, 5, config.spin), "zixir-channels")
    while not server.finished.wait(1.0):
        pass
    stop_evaluations()
    router.agents.close()
    router.link.close()
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
