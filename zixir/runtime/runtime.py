"""The host side: `Runtime`, the root supervisor and the clients of its two children.

    host program
      Runtime(workers=N, call_timeout=S, ...)
        |  eval / run_file / call_python / stats --Channel, pipes--> router process
        |  memory.put/get/delete/keys ------------MemoryClient, unix--> memory store process
        |
        root supervisor (one_for_one, 3 restarts / 5 s) -- thread in the host
          1. memory store  (zixir.runtime.memory; listening socket owned by the host; started
                            when a client first connects, or at once with prewarm)
          2. router        (zixir.runtime.router; new pipes at every start)
        escalation -> the Runtime is failed: every request raises RestartLimitExceeded

Each host thread sends its requests over a channel of its own (a pipe pair to a router thread
of its own, opened on the thread's first request), so a request and its reply pass no other
thread on either side; see `channel.DedicatedChannel`.

A request in flight when the router dies gets RouterCrashed; the supervisor starts a new
router and later requests go to it (a new session: variables are lost, memory is not). The
host never runs user code, so it survives whatever happens below it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import weakref
from typing import Any

from zixir.lang.errors import (
    CallTimeout,
    ProtocolError,
    RestartLimitExceeded,
    RouterCrashed,
    ZixirError,
    ZixirRuntimeError,
)
from zixir.observe import tracing
from zixir.observe.progress import ProgressView

from . import protocol as p
from .channel import Channel, ChannelClosed, DedicatedChannel
from .config import RuntimeConfig
from .confine import RUNTIME_DIR_ENV, kill_recorded
from .direct import NOT_DIRECT, DirectCalls, create_page
from .events import make_logger
from .janitor import Janitor
from .memory import MemoryClient, is_url
from .process import ProcessHandle, pipe, python_argv, rss_bytes, spawn
from .shm import ShmArrays, sweep
from .stats import Stats
from .supervisor import ChildSpec, Restart, Strategy, Supervisor, SupervisorFailed

ROUTER_START_TIMEOUT = 60.0
#: seconds the router has to answer a control request (interrupt, stats), then CallTimeout
CONTROL_TIMEOUT = 10.0
#: host threads beyond this many share the router's common channel
MAX_DEDICATED_CHANNELS = 64


class Runtime:
    """A supervised zixir runtime: router, memory store and Python workers.

    `Runtime(workers=4, call_timeout=10)`; every field of `RuntimeConfig` is accepted as a
    keyword (`allow=["os"]`, `restart_intensity=5`, `memory_path="state.db"`,
    `modules={"llm": {"rate": "50/s"}}`, ...), or pass `config=RuntimeConfig(...)` or
    `config="path/to/zixir.toml"` (keywords win over the file; `allow`, `deny` and `modules`
    tables add up). `dashboard=True` (a free port) or `dashboard=PORT` serves the live web
    dashboard on 127.0.0.1 (`zixir.dashboard`; its URL: `rt.dashboard.url`).
    `memory_path` may be a `postgresql://` URL: a database that cannot be reached is
    `MemoryUnavailable` here, at the start.
    """

    def __init__(self, workers: int | None = None, call_timeout: float | None = None, *,
                 config: RuntimeConfig | str | os.PathLike | None = None,
                 dashboard: bool | int | None = None,
                 **options: Any) -> None:
        base = {"workers": workers, "call_timeout": call_timeout, **options}
        if config is None or isinstance(config, str | os.PathLike):
            from zixir import project_file

            found = project_file.load(os.fspath(config)) if config is not None else None
            config = RuntimeConfig.from_options(**project_file.combine(found, base))
        elif any(v is not None for v in base.values()):
            config = config.replace(**{k: v for k, v in base.items() if v is not None})
        if config.progress is None:  # bars when the host's stderr is a terminal
            config = config.replace(progress=_is_terminal(sys.stderr))
        if config.cluster is not None:  # an unusable cluster fails here, not at a call
            from .cluster import probe

            probe(config.cluster)
        self.config = config
        if config.memory_path and is_url(config.memory_path):
            # an unreachable database fails the start, not the program's first memory.* call
            from .memory_postgres import connect

            connect(config.memory_path).close()
        self._progress_view = ProgressView() if config.progress else None
        self._metrics_server: Any = None
        self.log = make_logger("host", config.log_level, config.log_file,
                               config.log_format)
        self._stats = Stats()
        self._dir = tempfile.mkdtemp(prefix=f"zixir-{config.tag}-")
        self._janitor = Janitor(self._dir, config.tag)  # cleans up even after a kill -9
        self.memory_path = config.memory_path or os.path.join(self._dir, "memory.db")
        self._socket_path = os.path.join(self._dir, "memory.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self._socket_path)
        self._listener.listen(128)
        self._codec = p.Codec(config.max_frame, ShmArrays(config.tag, config.shm_threshold),
                              opaque=True, import_function=self._import_function)
        self._released_functions: list[int] = []  # ids whose ZixirFunction was collected
        self._cond = threading.Condition()
        self._router: Channel | None = None
        self._router_handle: ProcessHandle | None = None
        self._control: socket.socket | None = None  # sends the router its channels' pipes
        self._control_lock = threading.Lock()
        self._local = threading.local()  # .channel: this thread's DedicatedChannel
        self._channels: weakref.WeakSet[DedicatedChannel] = weakref.WeakSet()
        self._failed: str | None = None
        self._closed = False
        self.dashboard: Any = None  # the dashboard server (zixir.dashboard), when asked for
        self.memory = MemoryClient(self._socket_path)
        # host threads' calls straight to lent workers (direct.py)
        self._direct = (DirectCalls(self, create_page(self._dir, config.workers))
                        if config.direct else None)
        # (store handle, ready pipe) between the store's first spawn and the router's start
        self._store_starting: tuple[ProcessHandle, int] | None | bool = None
        self._supervisor = Supervisor("root", Strategy.ONE_FOR_ONE, config.root_intensity,
                                      config.root_period, on_escalate=self._escalated,
                                      log=self.log)
        try:
            self._supervisor.start([
                # the store starts when a client first connects (most programs never use
                # memory.*): the connection waits in the listener's backlog meanwhile
                ChildSpec("memory", self._start_store, Restart.PERMANENT, config.shutdown_grace,
                          self._store_exited,
                          activate=None if config.prewarm else self._listener.fileno()),
                ChildSpec("router", self._start_router, Restart.PERMANENT,
                          config.shutdown_grace + 2.0, self._router_exited),
            ])
        except SupervisorFailed as e:
            if self._direct is not None:
                self._direct.close()
            self._cleanup()
            raise ZixirRuntimeError(f"the zixir runtime could not start: {e}") from None
        atexit.register(self.close)
        if dashboard is not None and dashboard is not False:
            from zixir.dashboard import serve_runtime

            try:
                self.dashboard = serve_runtime(self, port=0 if dashboard is True else dashboard)
            except BaseException:
                self.close()
                raise
        if config.metrics_port is not None:
            from zixir.observe.host_metrics import MetricsServer

            try:
                self._metrics_server = MetricsServer(self, config.metrics_host,
                                                     config.metrics_port)
            except OSError as e:
                self.close()
                raise ZixirRuntimeError(
                    f"cannot serve metrics on {config.metrics_host}:{config.metrics_port}: "
                    f"{e.strerror or e}") from None

    # ---- children ----------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ZIXIR_PARENT_PID"] = str(os.getpid())
        env["ZIXIR_RUNTIME_CONFIG"] = self.config.to_json()
        env["ZIXIR_MEMORY_SOCKET"] = self._socket_path
        env["ZIXIR_MEMORY_PATH"] = self.memory_path
        env[RUNTIME_DIR_ENV] = self._dir  # workers record their process groups there
        return env

    def _start_store(self) -> ProcessHandle:
        ready_r, ready_w = pipe(65536)
        try:
            handle = spawn(python_argv("zixir.runtime.memory"),
                           {3: self._listener.fileno(), 4: ready_w}, self._env(), "memory")
        finally:
            os.close(ready_w)
        if self._store_starting is None:  # the first start: the router starts meanwhile
            self._store_starting = (handle, ready_r)
            return handle
        self._await_store(handle, ready_r)
        return handle

    @staticmethod
    def _await_store(handle: ProcessHandle, ready_r: int) -> None:
        try:
            if not _read_byte(ready_r, 30.0):
                handle.kill()
                handle.reap(5.0)
                raise RuntimeError("the memory store did not start")
        finally:
            os.close(ready_r)

    def _store_exited(self, handle: ProcessHandle, status: Any) -> None:
        if handle.decision != "shutdown":
            self._stats.count("store_restarts")

    def _start_router(self) -> ProcessHandle:
        req_r, req_w = pipe()
        resp_r, resp_w = pipe()
        control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            handle = spawn(python_argv("zixir.runtime.router"),
                           {3: req_r, 4: resp_w, 5: theirs.fileno()}, self._env(), "router")
        except BaseException:
            os.close(req_w)
            os.close(resp_r)
            control.close()
            raise
        finally:
            os.close(req_r)
            os.close(resp_w)
            theirs.close()
        client = Channel(resp_r, req_w, self._codec)  # the shared channel
        try:
            starting, self._store_starting = self._store_starting, False
            if starting:  # both processes import at once; the store is ready first
                self._await_store(*starting)
            _await_ready(client, handle, ROUTER_START_TIMEOUT)
        except BaseException:
            client.close("router failed to start")
            control.close()
            handle.kill()
            handle.reap(5.0)
            raise
        with self._cond:
            self._router, self._router_handle = client, handle
            with self._control_lock:
                old, self._control = self._control, control
            self._cond.notify_all()
        if old is not None:
            old.close()
        if self._direct is not None:
            self._direct.wake()  # its keeper listens on the new control socket
        return handle

    def _router_exited(self, handle: ProcessHandle, status: Any) -> None:
        with self._cond:
            if self._router_handle is handle:
                assert self._router is not None
                self._router.close(f"router {status.describe()}")
                self._router = None
                self._router_handle = None
        if self._direct is not None:
            self._direct.router_gone()
        sweep(self.config.tag, dead_only=True)  # shared memory of the router and its workers
        kill_recorded(self._dir)  # what its workers' libraries forked
        if status is not None and status.exitcode == 3:  # its worker supervisor escalated
            self._stats.count("worker_escalations")
        if handle.decision != "shutdown":
            self._stats.count("router_restarts")
            self.log.warning("router.exit", pid=handle.pid, status=status.describe(),
                             decision=handle.decision)

    def _escalated(self, reason: str) -> None:
        with self._cond:
            self._failed = reason
            self._cond.notify_all()
        self.memory.give_up(RestartLimitExceeded(f"the zixir runtime gave up: {reason}"))

    # ---- requests to the router ----------------------------------------------------------

    def _current_router(self, timeout: float = ROUTER_START_TIMEOUT) -> tuple[Channel,
                                                                              ProcessHandle]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    raise ZixirRuntimeError("this zixir runtime is closed")
                if self._failed:
                    raise RestartLimitExceeded(f"the zixir runtime gave up: {self._failed}")
                if self._router is not None and self._router.closed is None:
                    assert self._router_handle is not None
                    return self._router, self._router_handle
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RouterCrashed("the router process is not available")
                self._cond.wait(remaining)

    def _channel(self, handle: ProcessHandle) -> DedicatedChannel | None:
        """This thread's channel to the router `handle`, locked for one request; None when
        the thread must use the shared channel (a nested request, too many threads, the
        router is gone)."""
        channel = getattr(self._local, "channel", None)
        if channel is not None:
            if not channel.lock.acquire(blocking=False):
                return None  # a request of this thread is in flight (a signal handler's)
            if channel.owner is handle and channel.rfd >= 0:
                return channel
            channel.close()  # a previous router's, or broken
            channel.lock.release()
            self._local.channel = None
        if len(self._channels) >= MAX_DEDICATED_CHANNELS:
            return None
        with self._control_lock:
            control = self._control
            if control is None or self._router_handle is not handle:
                return None
            try:
                channel = DedicatedChannel.open(control, self._codec, handle, self.config.spin)
            except OSError:
                return None  # the router is going away: the shared channel reports it
        channel.on_note = self._progress_view  # progress reports of the programs it runs
        channel.lock.acquire()
        self._local.channel = channel
        self._channels.add(channel)
        return channel

    def _request(self, method: str, params: list, timeout: float | None = None) -> Any:
        client, handle = self._current_router()
        started = time.perf_counter()
        channel = self._channel(handle)
        try:
            if channel is not None:
                try:
                    reply = channel.request(method, params, timeout)
                finally:
                    channel.lock.release()
            else:
                reply = client.request(method, params, timeout)
        except ChannelClosed:
            status = handle.reap(2.0)
            self._stats.count("router_crashes_seen")
            raise RouterCrashed(
                f"the router process {status.describe() if status else 'died'} during "
                f"{method}; the memory store is intact and a new router has been started"
            ) from None
        except TimeoutError:  # the channel that waited was discarded: no late reply lands
            self._stats.count("router_timeouts")
            raise CallTimeout(f"the router did not answer {method} within {timeout:g} s") \
                from None
        except p.UnencodableValue as e:
            raise ZixirRuntimeError(f"cannot send the arguments of {method} to the zixir "
                                    f"router: {e}") from None
        except p.FrameTooLarge as e:
            raise ProtocolError(f"the arguments of {method} are too large: {e}") from None
        finally:
            self._stats.observe(method, time.perf_counter() - started)
        if reply.error is not None:
            self._stats.count(f"errors.{reply.error.get('type')}")
            raise p.error_from_wire(reply.error)
        return reply.result

    # ---- Zixir functions returned to Python --------------------------------------------------

    def _import_function(self, fn_id: int, name: str) -> ZixirFunction:
        return ZixirFunction(self, fn_id, name)

    def _call_function(self, fn_id: int, args: tuple) -> Any:
        self._release_collected()
        return self._request("call_function", [fn_id, list(args)])

    def _release_collected(self) -> None:
        """Tell the router which of its functions Python no longer holds (batched: a
        ZixirFunction is collected at any moment, where no request may be sent)."""
        if not self._released_functions or self._closed:
            return
        ids, self._released_functions[:] = list(self._released_functions), []
        try:
            self._request("release_functions", [ids], timeout=CONTROL_TIMEOUT)
        except ZixirError:
            pass  # a restarted router has forgotten them anyway

    # ---- the embedded API ------------------------------------------------------------------

    def eval(self, source: str, filename: str | None = None, *, fresh: bool = False) -> Any:
        """Evaluate Zixir source in this runtime's session (variables persist), or with
        `fresh=True` in a session of its own. A function value comes back as a
        `ZixirFunction`, a Python callable that runs it in the router."""
        self._release_collected()
        return self._run("eval", [source, filename, fresh])

    def run_file(self, path: str | os.PathLike, call_main: bool = True, *,
                 fresh: bool = False, args: list[str] | tuple[str, ...] | None = None,
                 source: str | None = None) -> Any:
        """Run a Zixir file (its directory becomes importable by Python workers); `args` are
        what the program's `args()` returns. With `source`, that text is the program and
        `path` only names it (`zixir run -` passes `<stdin>`)."""
        path = os.fspath(path) if source is not None else os.path.abspath(os.fspath(path))
        params = [path, call_main, fresh]
        if args is not None or source is not None:
            params.append([str(a) for a in args or ()])
        if source is not None:
            params.append(source)
        return self._run("run_file", params)

    def _run(self, method: str, params: list) -> Any:
        carrier = tracing.host_carrier()  # the embedding program's span, if it traces
        if carrier is not None:
            params.append(carrier)
        try:
            return self._request(method, params)
        finally:
            if self._progress_view is not None:
                self._progress_view.stop()

    def reset(self) -> None:
        """Forget every binding of this runtime's session (the memory store is kept)."""
        self._request("reset", [])

    def names(self) -> list[str]:
        """The names bound at the top level of this runtime's session, sorted."""
        return self._request("names", [], timeout=CONTROL_TIMEOUT)

    def interrupt(self) -> int:
        """Stop the Zixir code running in the router (it fails with "interrupted")."""
        return self._request("interrupt", [], timeout=CONTROL_TIMEOUT)

    def output_at_line_start(self, ending: bool = False) -> bool:
        """Did the program's printed output end with a newline (or is there none)? With
        `ending`, the caller is about to end the line itself, so the next answer is yes
        until the program prints again."""
        return self._request("at_line_start", [ending] if ending else [],
                             timeout=CONTROL_TIMEOUT)

    def call_python(self, module: str, function: str, args: list | tuple = (),
                    kwargs: dict | None = None, *, timeout: float | None = None,
                    retries: int | None = None) -> Any:
        """Call `module.function(*args, **kwargs)` in a worker, with the failure policy."""
        if (self._direct is not None and timeout is None and retries is None
                and not tracing.ENABLED):  # a traced call gets its spans on the routed path
            result = self._direct.call(module, function, args, kwargs)
            if result is not NOT_DIRECT:
                return result
        return self._request("call_python", [module, function, list(args), kwargs or {},
                                             {"timeout": timeout, "retries": retries}])

    def stats(self) -> dict:
        """Counts and latencies of the host, the router and the workers; breaker states."""
        if self._direct is not None:
            self._direct.flush()  # the router records the direct calls' outcomes first
        out: dict[str, Any] = {"host": self._stats.snapshot()}
        try:
            out["router"] = self._request("stats", [], timeout=CONTROL_TIMEOUT)
        except Exception as e:
            out["router"] = {"unavailable": str(e)}
        out["supervisor"] = {
            "restarts": self._supervisor.restarts,
            "escalated": self._supervisor.escalated,
            "children": dict(self._supervisor.which_children()),
        }
        return out

    def metrics(self) -> str:
        """Prometheus text of this runtime: calls, failures, retries, rate-limit waits and
        latency histograms per module/function/outcome, workers, restarts, escalations,
        breaker states, agents, workflow steps (`zixir.observe.metrics`)."""
        from zixir.observe.host_metrics import host_text

        return host_text(self)

    @property
    def metrics_url(self) -> str | None:
        """Where `metrics_port` serves the metrics (None when not served)."""
        return self._metrics_server.url if self._metrics_server is not None else None

    def _router_metrics(self) -> str:
        if self._direct is not None:
            self._direct.flush()  # the router records the direct calls' outcomes first
        return self._request("metrics", [], timeout=CONTROL_TIMEOUT)

    def supervision_tree(self) -> dict:
        """The process tree as supervised: the host, the root supervisor and its children
        (memory store, router), the worker supervisor and its children; each node with its
        name, state, pid, restarts and resident memory (bytes)."""
        root = {c["name"]: c for c in self._supervisor.children_info()}
        try:
            below = self._request("tree", [], timeout=CONTROL_TIMEOUT)
        except Exception as e:
            below = {"unavailable": str(e)}

        def node(name: str, state: str, pid: int | None, restarts: int = 0,
                 children: list | None = None, **extra: Any) -> dict:
            return {"name": name, "state": state, "pid": pid, "restarts": restarts,
                    "rss": rss_bytes(pid) if pid else None, "children": children or [],
                    **extra}

        def child(name: str, children: list | None = None) -> dict:
            info = root.get(name) or {"pid": None, "restarts": 0}
            state = "running" if info["pid"] else "restarting"
            if self._failed:
                state = "failed"
            return node(name, state, info["pid"], info["restarts"], children)

        workers = below.get("workers") or {}
        worker_nodes = [node(c["name"], c["state"], c["pid"], c["restarts"])
                        for c in workers.get("children", [])]
        worker_sup = {"name": "worker supervisor", "kind": "supervisor", "thread_of": "router",
                      "state": ("failed" if workers.get("escalated") else "running"
                                if workers.get("started") else "not started"),
                      "pid": None, "rss": None, "restarts": workers.get("restarts", 0),
                      "children": worker_nodes}
        router = child("router", [worker_sup])
        if "unavailable" in below:
            router["error"] = below["unavailable"]
        root_sup = {"name": "root supervisor", "kind": "supervisor", "thread_of": "host",
                    "state": "failed" if self._failed else "running", "pid": None,
                    "rss": None, "restarts": self._supervisor.restarts,
                    "escalated": self._supervisor.escalated,
                    "children": [child("memory"), router]}
        return node("host", "closed" if self._closed else "running", os.getpid(),
                    children=[root_sup])

    @property
    def agents(self) -> Any:
        """The agents of this runtime (`zixir.runtime.agent_api.RuntimeAgents`): `start`,
        `call`, `stop`, `status`, `list`."""
        from .agent_api import RuntimeAgents

        return RuntimeAgents(self)

    @property
    def workflows(self) -> Any:
        """The stored workflow runs of this runtime's memory store (`zixir.workflow.admin`):
        `list()`, `show(name, key)`, `approve/reject(name, step, note)`, `reset(name)`."""
        from zixir.workflow.admin import Workflows

        return Workflows(self.memory)

    def pids(self) -> dict[str, Any]:
        """Process ids of the children (for monitoring and fault-injection tests)."""
        children = dict(self._supervisor.which_children())
        try:
            router = self._request("stats", [], timeout=CONTROL_TIMEOUT)
        except Exception:
            router = {}
        workers = router.get("workers", {})
        return {"router": children.get("router"), "memory": children.get("memory"),
                "workers": workers.get("pids", []), "template": workers.get("template_pid"),
                "agents": router.get("agent_pids", []),
                "agent_template": router.get("agents", {}).get("template_pid")}

    def close(self) -> None:
        """Stop the router (and its workers) and the memory store; idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        try:
            atexit.unregister(self.close)
        except Exception:
            pass
        if self.dashboard is not None:
            self.dashboard.close()
        if self._metrics_server is not None:
            self._metrics_server.close()
            self._metrics_server = None
        self.memory.give_up(ZixirRuntimeError("this zixir runtime is closed"))
        self._supervisor.stop()
        if self._direct is not None:
            self._direct.close()
        for channel in list(self._channels):  # the router is gone: no request waits long
            if channel.lock.acquire(timeout=5.0):
                channel.close()
                channel.lock.release()
        self._cleanup()

    def _cleanup(self) -> None:
        with self._control_lock:
            if self._control is not None:
                self._control.close()
                self._control = None
        self.memory.close()
        self._listener.close()
        sweep(self.config.tag)
        shutil.rmtree(self._dir, ignore_errors=True)
        self._janitor.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
class ZixirFunction:
    """A Zixir function returned to Python (`zixir.eval("x => x * 2")(21)` is 42): calling it
    runs the function in the router, with plain Python arguments and result. It works while
    its runtime is open and the router that made it is running."""

    def __init__(self, runtime: Runtime, fn_id: int, name: str) -> None:
        self._runtime = weakref.ref(runtime)
        self._id = fn_id
        self.__name__ = name
        self.zixir_name = name  # already the Zixir name: printing it must not demangle it

    def __call__(self, *args: Any) -> Any:
        runtime = self._runtime()
        if runtime is None or runtime._closed:
            raise ZixirRuntimeError(f"cannot call {self.__name__}: its runtime is closed")
        return runtime._call_function(self._id, args)

    def __repr__(self) -> str:
        return f"<zixir fn {self.__name__}>"

    def __del__(self) -> None:
        runtime = self._runtime()
        if runtime is not None and not runtime._closed:
            runtime._released_functions.append(self._id)


def _read_byte(fd: int, timeout: float) -> bool:
    import select

    r, _, _ = select.select([fd], [], [], timeout)
    return bool(r) and os.read(fd, 1) == b"R"


def _await_ready(client: Channel, handle: ProcessHandle, timeout: float) -> None:
    try:
        client.wait_notification("ready", timeout)
    except ChannelClosed:
        raise RuntimeError(f"the router exited during start ({handle.reap(1.0)})") from None
    except TimeoutError:
        raise RuntimeError("the router did not start in time") from None


class HostServices:
    """`Services` for an interpreter running in the host: Python calls go through the
    runtime's router to its workers, memory operations straight to the store."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.parallelism = runtime.config.workers

    def call_python(self, module: str, function: str, args: list, kwargs: dict) -> Any:
        return self.runtime.call_python(module, function, args, kwargs)

    def memory_put(self, key: str, value: Any, ttl: float | None = None) -> None:
        self.runtime.memory.put(key, value, ttl)

    def memory_get(self, key: str, default: Any = None, *, has_default: bool = False) -> Any:
        return self.runtime.memory.get(key, default)

    def memory_delete(self, key: str) -> bool:
        return self.runtime.memory.delete(key)

    def memory_keys(self, prefix: str = "") -> list[str]:
        return self.runtime.memory.keys(prefix)

    def memory_scan(self, prefix: str = "") -> list[tuple[str, Any]]:
        return self.runtime.memory.scan(prefix)

    def memory_incr(self, key: str, n: int | float = 1) -> int | float:
        return self.runtime.memory.incr(key, n)

    def memory_cas(self, key: str, expected: Any, new: Any) -> bool:
        return self.runtime.memory.cas(key, expected, new)

    def memory_update(self, key: str, f: Any, default: Any = None) -> Any:
        return self.runtime.memory.update(key, f, default)

    def agent(self, op: str, args: list) -> Any:
        return self.runtime._request("agent", [op, args])


# ---- the process-wide default runtime (zixir.eval / zixir.run_file) ---------------------------

_default: Runtime | None = None
_default_lock = threading.Lock()


def default_runtime() -> Runtime:
    """The lazily started process-wide runtime, shut down at interpreter exit."""
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            _default = Runtime()
        return _default


def shutdown_default_runtime() -> None:
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
            _default = None


def default_services() -> HostServices:
    """Services of the default runtime, for an interpreter session running in the host."""
    return HostServices(default_runtime())
