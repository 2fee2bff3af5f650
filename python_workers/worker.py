"""One worker: reads call requests, runs the library function, writes the reply.

    request fd --bytes--> Connection.receive_data --Request("call")--> policy + resolve + call
    response fd <--bytes-- Connection.send_response <--Response(id, error, result)--+

    the reading (main) thread
      sync function, no threads option: runs it here, one call at a time, then replies
      options.threads = n: submits it to the module's pool of n threads, reads on
      the result is awaitable (an `async def`, or a function returning one): notifies
        "async" [module, function] (the router then sends this function's calls many at a
        time), runs it as a task on the worker's event loop (a thread of its own), reads on
      notification "cancel" [id]: cancels that call's task (its reply: CancelledError)
      options.chain (a call made from an agent, through zixir.worker.call): the function runs
        with zixir.worker's chain set to it plus "python module.function", so the agents it
        calls see a cycle back to the agent that waits for it

The channel is the same sans-IO `Connection` every link uses (`zixir/runtime/channel.py`).
The usual read is exactly one request frame, decoded without a FrameDecoder
(`Connection.receive_one`); a call without options (the usual one) runs without tracing or
thread set-up. Replies of calls that run concurrently (tasks, threads) are written under a
lock (taken once a module's threads or the event loop exist) and carry their large arrays in
fresh shared-memory files; only the one-at-a-time path uses the reusable arena. The worker
exits when its request pipe reaches EOF (the router is gone) or the router's frame is bad
(exit code 65). Results that cannot be encoded, or are larger than the frame limit, become
error replies naming the type or size; the worker stays healthy.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import select
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextvars import Context, copy_context
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

from zixir import worker as api
from zixir.lang.errors import PolicyDenied
from zixir.observe import tracing
from zixir.runtime import protocol as p
from zixir.runtime.channel import Closed, Connection, write_all
from zixir.runtime.confine import CpuLimit, confine_worker, cpu_budget
from zixir.runtime.policy import CallPolicy
from zixir.runtime.shm import ShmArena, ShmArrays
from zixir.runtime.spin import Spin

if TYPE_CHECKING:
    import asyncio  # imported by the first async call: most workers never run one, and it
    # costs every process that imports it about 6 MiB

EXIT_BAD_FRAME = 65
CONFIG_ENV = "ZIXIR_WORKER_CONFIG"
#: bytes per read of the request pipe (a larger read costs a large allocation every call)
READ_SIZE = 1 << 16

#: result types that are never awaitable (inspect.isawaitable costs an ABC check)
_PLAIN = frozenset({int, float, str, bool, bytes, list, dict, tuple, type(None)})

#: the Worker serving in this process (fault-injection tests reach its pipes through it)
CURRENT: Worker | None = None


def set_paths(paths: list[str]) -> None:
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)


class Worker:
    def __init__(self, in_fd: int, out_fd: int, config: dict) -> None:
        self.in_fd, self.out_fd = in_fd, out_fd
        # replies carry large arrays in this worker's arena, which the router copies out
        # before it sends the next request (the channel strictly alternates)
        self.arena = ShmArena(config.get("tag", "0"),
                              int(config.get("shm_threshold", p.SHM_THRESHOLD)))
        self.codec = p.Codec(int(config.get("max_frame", p.MAX_FRAME)), self.arena)
        # replies of concurrent calls: arrays in fresh files (several may be in flight)
        self.shared_codec = p.Codec(int(config.get("max_frame", p.MAX_FRAME)),
                                    ShmArrays(config.get("tag", "0"),
                                              int(config.get("shm_threshold", p.SHM_THRESHOLD))))
        self.conn = Connection(self.codec)
        self._write_lock = threading.Lock()
        self._concurrent = False  # calls run on other threads too: replies take the lock
        self._loop: asyncio.AbstractEventLoop | None = None  # started by the first async call
        self._tasks: dict[int, asyncio.Task] = {}  # request id -> task (the loop's thread)
        self._pools: dict[str, ThreadPoolExecutor] = {}  # module -> its `threads` pool
        self._async_known: set[tuple[str, str]] = set()  # functions the router was told of
        self.policy = CallPolicy.from_wire(config.get("policy", {}))
        self.spin = float(config.get("spin", 0.0))
        self.config = config
        self.cpu = cpu_budget(config, float(config.get("call_timeout") or 30.0))
        self.cpu_limit = CpuLimit()
        self._budgets: dict[float, float] = {}  # call timeout -> CPU budget
        self._resolved: dict[tuple[str, str], Any] = {}  # (module, function) -> callable
        self.paths: list[str] = list(config.get("paths", []))  # the script's directories

    def send(self, message: p.Message) -> None:
        self.write(self.codec.encode(message))

    def write(self, data: bytes) -> None:
        if self._concurrent:
            with self._write_lock:
                write_all(self.out_fd, data)
            return
        written = os.write(self.out_fd, data)  # one call at a time: nobody else writes
        if written < len(data):
            write_all(self.out_fd, data[written:])

    def arm_cpu(self, timeout: Any) -> None:
        """Arm the CPU limit of a call with this timeout (None: the configured one)."""
        if timeout:
            budget = self._budgets.get(timeout)
            if budget is None:
                budget = self._budgets[timeout] = cpu_budget(self.config, float(timeout))
        else:
            budget = self.cpu
        if budget:
            self.cpu_limit.arm(budget)

    def answer(self, request_id: int, what: str, run: Any, *args: Any) -> None:
        """Reply with the value of `run(*args)`, or with its exception for the caller (the
        reply path of a request served whole on the reading thread)."""
        try:
            result, error = run(*args), None
        except BaseException as e:  # whatever it is, it goes to the caller
            result, error = None, p.error_to_wire(e)
        finally:
            _flush_stdio()
        self.reply(request_id, error, result, what)

    def reply(self, request_id: int, error: dict | None, result: Any, what: str,
              shared: bool = False) -> None:
        """Write the reply; `shared`: the call ran concurrently with others (its arrays go
        in fresh files, not in the arena the one-at-a-time path reuses)."""
        codec = self.shared_codec if shared else self.codec
        if not shared:
            self.arena.begin()
        try:
            frame = codec.encode_response(request_id, error, result)
        except p.UnencodableValue as e:
            frame = codec.encode_response(request_id, p.fault(
                "ZixirRuntimeError", f"the result of {what} cannot be returned to zixir: {e}"),
                None)
        except p.FrameTooLarge as e:
            frame = codec.encode_response(request_id, p.fault(
                "ProtocolError", f"the result of {what} is too large to send: {e}"), None)
        self.write(frame)

    def serve(self) -> None:
        self.write(self.conn.send_notification("ready", [os.getpid()]))
        read, in_fd, receive, handle = os.read, self.in_fd, self.conn.receive_one, self.handle
        poll = select.poll()
        poll.register(in_fd, select.POLLIN | select.POLLHUP)
        # poll briefly before blocking: the next request often comes soon
        spin = Spin(self.spin).wait if self.spin else None
        while True:
            if spin is not None:
                spin(poll.poll)  # yields the CPU to whoever needs it
            try:
                data = read(in_fd, READ_SIZE)
            except InterruptedError:  # pragma: no cover
                continue
            except OSError:
                data = b""
            events = receive(data)
            if type(events) is p.Request:  # the usual read: exactly one request
                handle(events)
                events = None  # the request's arguments die now, not at the next call
                continue
            while events:
                event = events.pop(0)
                if type(event) is p.Request:
                    handle(event)
                elif type(event) is Closed:
                    if event.error.kind == "eof":  # the router is gone
                        tracing.shutdown()
                        self.router_gone()
                    os.write(2, f"zixir worker {os.getpid()}: {event.error.reason}\n".encode())
                    os._exit(EXIT_BAD_FRAME)
                elif isinstance(event, p.Notification):
                    if event.method == "exit":
                        os._exit(0)
                    if event.method == "cancel" and event.params:
                        self.cancel(event.params[0])
            event = None  # the request's arguments die now, not at the next call

    def router_gone(self) -> None:
        """The request stream ended: the process ends (a Ray actor ends its actor instead)."""
        os._exit(0)

    def handle(self, request: p.Request) -> None:
        params = request.params
        if request.method != "call" or len(params) != 5:
            if request.method == "ping":
                self.reply(request.id, None, "pong", "ping")
                return
            self.reply(request.id, p.fault("ProtocolError", f"unknown method {request.method!r}"),
                       None, request.method)
            return
        module, function, args, kwargs, options = params
        if not options:  # the usual call: one at a time, nothing to set up
            try:
                if self.cpu:
                    self.cpu_limit.arm(self.cpu)
                target = self._resolved.get((module, function))
                if target is None:
                    target = self._resolved[(module, function)] = self.resolve(module, function)
                result = target(*args, **kwargs) if kwargs else target(*args)
                if type(result) not in _PLAIN and inspect.isawaitable(result):
                    self._start_async(request.id, module, function, result)
                    return
                error = None
            except BaseException as e:  # the library's exception goes to the caller
                error = p.error_to_wire(e)
                result = None
            finally:
                _flush_stdio()
            self.arena.begin()
            try:
                frame = self.codec.encode_shape([p.RESPONSE, request.id, error, result])
            except (p.UnencodableValue, p.FrameTooLarge):  # reply() says what is wrong
                self.reply(request.id, error, result, f"{module}.{function}")
                return
            self.write(frame)
            return
        threads = 0
        chained = None
        try:
            if options:
                if options.get("paths"):
                    self.paths = list(options["paths"])
                    set_paths(self.paths)
                self.arm_cpu(options.get("timeout"))
                threads = int(options.get("threads") or 0)
                if options.get("chain"):  # called from an agent: its calls back carry it on
                    chained = api._chain.set((*options["chain"], f"python {module}.{function}"))
            elif self.cpu:
                self.cpu_limit.arm(self.cpu)
            target = self._resolved.get((module, function))
            if target is None:
                target = self._resolved[(module, function)] = self.resolve(module, function)
            if threads > 0:
                job = (self._run_threaded,) if chained is None else \
                    (copy_context().run, self._run_threaded)  # the thread sees the chain
                self._pool(module, threads).submit(
                    *job, request.id, module, function, target, args, kwargs)
                return
            if tracing.ENABLED and options and options.get("trace"):
                with tracing.attached(options["trace"]):  # library spans: children of the call
                    result = target(*args, **kwargs)
            else:
                result = target(*args, **kwargs) if kwargs else target(*args)
            if inspect.isawaitable(result):
                self._start_async(request.id, module, function, result,
                                  None if chained is None else copy_context())
                return
            error: dict | None = None
        except BaseException as e:  # the library's exception, whatever it is, goes to the caller
            error = p.error_to_wire(e)
            result = None
        finally:
            _flush_stdio()
            if chained is not None:
                api._chain.reset(chained)
        self.reply(request.id, error, result, f"{module}.{function}")

    # ---- concurrent calls: a module's threads, the event loop ------------------------------

    def _pool(self, module: str, threads: int) -> ThreadPoolExecutor:
        pool = self._pools.get(module)
        if pool is None or pool._max_workers < threads:
            self._concurrent = True
            pool = self._pools[module] = ThreadPoolExecutor(
                threads, thread_name_prefix=f"zixir-{module}")
        return pool

    def _run_threaded(self, request_id: int, module: str, function: str, target: Any,
                      args: list, kwargs: dict) -> None:
        try:
            result = target(*args, **kwargs) if kwargs else target(*args)
            if inspect.isawaitable(result):
                self._start_async(request_id, module, function, result, copy_context())
                return
            error: dict | None = None
        except BaseException as e:
            error, result = p.error_to_wire(e), None
        finally:
            _flush_stdio()
        self.reply(request_id, error, result, f"{module}.{function}", shared=True)

    def _start_async(self, request_id: int, module: str, function: str, awaitable: Any,
                     context: Context | None = None) -> None:
        """Run `awaitable` as a task on the event loop; its reply is written when it ends
        (`context`: the context variables the task runs with, e.g. the call's chain)."""
        if (module, function) not in self._async_known:
            self._async_known.add((module, function))
            self.write(self.conn.send_notification("async", [module, function]))
        loop = self._loop
        if loop is None:
            import asyncio

            self._concurrent = True
            loop = self._loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="zixir-loop", daemon=True).start()
        loop.call_soon_threadsafe(self._create_task, request_id, f"{module}.{function}",
                                  awaitable, context=context)

    def _create_task(self, request_id: int, what: str, awaitable: Any) -> None:
        """In the loop's thread."""
        import asyncio

        task = asyncio.ensure_future(awaitable)
        self._tasks[request_id] = task
        task.add_done_callback(lambda t: self._task_done(request_id, what, t))

    def _task_done(self, request_id: int, what: str, task: asyncio.Task) -> None:
        import asyncio

        self._tasks.pop(request_id, None)
        if task.cancelled():
            error: dict | None = p.error_to_wire(asyncio.CancelledError(f"{what} was cancelled"))
            result = None
        else:
            exc = task.exception()
            error, result = (p.error_to_wire(exc), None) if exc else (None, task.result())
        _flush_stdio()
        self.reply(request_id, error, result, what, shared=True)

    def cancel(self, request_id: Any) -> None:
        """Cancel the task of call `request_id`, if it still runs (the router timed it out)."""
        loop = self._loop
        if loop is not None and isinstance(request_id, int):
            def cancel() -> None:
                task = self._tasks.get(request_id)
                if task is not None:
                    task.cancel()
            loop.call_soon_threadsafe(cancel)

    def call(self, module: str, function: str, args: list, kwargs: dict) -> Any:
        target = self._resolved.get((module, function))
        if target is None:
            target = self.resolve(module, function)
            self._resolved[(module, function)] = target
        return target(*args, **kwargs)

    def resolve(self, module: str, function: str) -> Any:
        """The callable `module.function`, checked against the policy on the way: the name,
        then every module and object met, by its defining name (a re-export is checked where
        it is defined, a method reached through a class as that class's method)."""
        what = f"{module}.{function}"
        policy = self.policy
        policy.check(module, function, self.paths)
        trusted = policy.explicitly_allowed(what)  # e.g. allow=["os"] covers posix too
        obj: Any = importlib.import_module(module)
        if not trusted:
            self._check_met(obj, what)
        for part in function.split("."):
            obj = getattr(obj, part)
            if not trusted:
                self._check_met(obj, what)
        if not callable(obj):
            raise PolicyDenied(f"{what} is not callable")
        return obj

    def _check_met(self, obj: Any, what: str) -> None:
        if isinstance(obj, ModuleType):
            self.policy.check_met(obj.__name__, "", what, self._is_local(obj))
            return
        module, qualname = defining_name(obj)
        if module is None:
            return  # plain data (a constant): calling it fails as "not callable"
        self.policy.check_met(module, qualname, what, self._is_local(sys.modules.get(module)))

    def _is_local(self, module: ModuleType | None) -> bool:
        """`module` was loaded from the script's directory or a configured path."""
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str):
            return False
        filename = os.path.realpath(filename)
        return any(filename.startswith(os.path.realpath(path) + os.sep)
                   for path in self.paths if path)


def defining_name(obj: Any) -> tuple[str | None, str]:
    """(module, qualname) where `obj` is defined: a method reached through a class or bound to
    an object is named after its class, an instance after its type."""
    name = getattr(obj, "__name__", None)
    owner_class = getattr(obj, "__objclass__", None)  # method descriptors, slot wrappers
    bound_to = getattr(obj, "__self__", None)
    if owner_class is None and bound_to is not None and not isinstance(bound_to, ModuleType):
        owner_class = bound_to if isinstance(bound_to, type) else type(bound_to)
    if isinstance(owner_class, type) and isinstance(name, str):
        return owner_class.__module__, _clean(f"{owner_class.__qualname__}.{name}")
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return module, _clean(qualname)
    if isinstance(bound_to, ModuleType) and isinstance(name, str):
        return bound_to.__name__, _clean(name)
    if isinstance(obj, (int, float, complex, str, bytes, bool, type(None), tuple)):
        return None, ""
    kind = type(obj)
    return kind.__module__, _clean(kind.__qualname__)


def _clean(qualname: str) -> str:
    """`f.<locals>.g` and `<lambda>` are checked as far as they are names."""
    parts = []
    for part in qualname.split("."):
        if part.startswith("<"):
            break
        parts.append(part)
    return ".".join(parts)


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def start_worker(in_fd: int, out_fd: int, config: dict, warn: Any = None) -> None:
    """Common start of a worker, forked or spawned; never returns."""
    tracing.set_role("worker")
    run_server(Worker, "worker", in_fd, out_fd, config, warn)


def run_server(kind: type[Worker], what: str, in_fd: int, out_fd: int, config: dict,
               warn: Any = None) -> NoReturn:
    """Serve the channel with a `kind` (a Worker, an agent) until it ends, then exit. The
    process is confined first (zixir.runtime.confine): own process group, rlimits, Landlock."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the host's to handle
    global CURRENT
    try:
        confine_worker(config, warn)
        server = CURRENT = kind(in_fd, out_fd, config)
    except BaseException as e:
        os.write(2, f"zixir {what} {os.getpid()} cannot start: {e!r}\n".encode())
        os._exit(71)
    try:
        server.serve()
    except BaseException as e:
        os.write(2, f"zixir {what} {os.getpid()} failed: {e!r}\n".encode())
        os._exit(72)
    os._exit(0)


def main() -> None:
    """Entry point of a directly spawned worker (fds 3 and 4)."""
    from zixir.runtime.process import bind_to_parent

    config = json.loads(os.environ[CONFIG_ENV])
    bind_to_parent(int(config["parent_pid"]))
    set_paths(list(config.get("sys_path", [])) + list(config.get("paths", [])))
    start_worker(3, 4, config, _warn)


def _warn(message: str) -> None:
    os.write(2, f"zixir worker {os.getpid()}: warning: {message}\n".encode())
