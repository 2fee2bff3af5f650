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
from .agents import Agents
from .channel import RpcServer, serve_channel_requests
from .config import RuntimeConfig
from .events import make_logger
from .memory import MemoryClient
from .pool import WorkerPool
from .process import bind_to_parent
from .shm import ShmArrays
from .stats import Stats
from .worker_link import WorkerLink

EXIT_ESCALATED = 3


class RouterServices:
    """The `zixir.lang.services.Services` implementation: what the interpreter calls."""

    def __init__(self, pool: WorkerPool, memory: MemoryClient, agents: Agents | None = None
                 ) -> None:
        self.pool = pool
        self.memory = memory
        self.agents = agents
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
        self.link = WorkerLink(config)  # before the pool: workers inherit its socket's path
        self.pool = WorkerPool(config, self.log, self.stats, on_escalate=self._escalated)
        self.memory = MemoryClient(memory_socket)
        self.agents = Agents(config, self.pool, self.memory, self.log, self.stats)
        self.link.pool, self.link.agents = self.pool, self.agents
        self.services = RouterServices(self.pool, self.memory, self.agents)
        self._session: Any = None
        self._session_error: str | None = None
        self._session_lock = threading.RLock()
        self.escalated: str | None = None
        self.server: RpcServer | None = None
        self.codec = p.Codec(config.max_frame, ShmArrays(config.tag, config.shm_threshold),
                             opaque=True)

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
        if method == "agent":
            op, args = params
            return agent_op(self.agents, op, args)
        if method == "stats":
            snap = self.stats.snapshot()
            snap["workers"] = self.pool.snapshot()
            snap["agents"] = self.agents.snapshot()
            snap["agent_pids"] = self.agents.pids()
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
    router.link.start()
    server.spawn(serve_channel_requests, (server, 5, config.spin), "zixir-channels")
    while not server.finished.wait(1.0):
        pass
    router.agents.close()
    router.link.close()
    router.pool.close()  # joins the worker supervisor and the watchdog
    router.memory.close()
    unfinished = server.join(1.0)  # replies being written get out before the exit
    if unfinished:
        router.log.info("router.requests_left", count=unfinished)
    _flush_stdio()
    os._exit(EXIT_ESCALATED if server.reason == "escalated" else 0)


if __name__ == "__main__":
    main()
