"""The router process: runs the interpreter and routes every intent.

    host (Runtime) --fd 3--> RpcServer (8 threads) --> eval / run_file --> Session (one lock)
                   <--fd 4--                          call_python -------\\     |
                                                      stats               \\    | RouterServices
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
import traceback
from typing import Any

from zixir.lang.deep import interrupt
from zixir.lang.errors import ZixirError, ZixirRuntimeError
from zixir.lang.output import LineTrackingStream

from . import protocol as p
from .channel import RpcServer, serve_channel_requests
from .config import RuntimeConfig
from .events import make_logger
from .memory import MemoryClient
from .pool import WorkerPool
from .process import bind_to_parent
from .shm import ShmArrays
from .stats import Stats

EXIT_ESCALATED = 3


class RouterServices:
    """The `zixir.lang.services.Services` implementation: what the interpreter calls."""

    def __init__(self, pool: WorkerPool, memory: MemoryClient) -> None:
        self.pool = pool
        self.memory = memory
        self.parallelism = pool.parallelism

    def call_python(self, module: str, function: str, args: list, kwargs: dict) -> Any:
        return self.pool.call(module, function, args, kwargs)

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
    def __init__(self, config: RuntimeConfig, memory_socket: str) -> None:
        self.config = config
        self.log = make_logger("router", config.log_level, config.log_file)
        self.stats = Stats()
        self.pool = WorkerPool(config, self.log, self.stats, on_escalate=self._escalated)
        self.memory = MemoryClient(memory_socket)
        self.services = RouterServices(self.pool, self.memory)
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

    def _export_function(self, value: Any) -> tuple[int, str]:
        fn = getattr(value, "fn", value)  # a PythonCallable wraps the Zixir function
        name = getattr(value, "__name__", None) or "function"
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
            return self.pool.call(module, function, args, kwargs,
                                  timeout=options.get("timeout"), retries=options.get("retries"))
        if method == "eval":
            source, filename, *options = params
            if options and options[0]:  # fresh: a session of its own, no shared bindings
                return self.new_session().eval(source, filename=filename)
            session = self.session()
            with self._session_lock:
                return session.eval(source, filename=filename)
        if method == "run_file":
            path, call_main, *options = params
            self.pool.add_path(os.path.dirname(os.path.abspath(path)))
            script_args = {"args": options[1]} if len(options) > 1 else {}
            if len(options) > 2:
                script_args["source"] = options[2]
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
        if method == "at_line_start":
            at_start = bool(getattr(sys.stdout, "at_line_start", True))
            if params and params[0] and hasattr(sys.stdout, "at_line_start"):
                sys.stdout.at_line_start = True  # the caller ends the line itself
            return at_start
        if method == "stats":
            snap = self.stats.snapshot()
            snap["workers"] = self.pool.snapshot()
            snap["breakers"] = self.pool.breakers.states()
            snap["pid"] = os.getpid()
            return snap
        if method == "ping":
            return os.getpid()
        raise ZixirRuntimeError(f"unknown router method {method!r}")


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
    for path in reversed(list(config.sys_path)):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        sys.stdout.reconfigure(line_buffering=True)
    except Exception:
        pass
    sys.stdout = LineTrackingStream(sys.stdout)
    router = Router(config, os.environ["ZIXIR_MEMORY_SOCKET"])
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
    router.memory.close()
    unfinished = server.join(1.0)  # replies being written get out before the exit
    if unfinished:
        router.log.info("router.requests_left", count=unfinished)
    _flush_stdio()
    os._exit(EXIT_ESCALATED if server.reason == "escalated" else 0)


if __name__ == "__main__":
    main()
