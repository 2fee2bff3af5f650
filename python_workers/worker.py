"""One worker: reads call requests, runs the library function, writes the reply.

    request fd --bytes--> Connection.receive_data --Request("call")--> policy + resolve + call
    response fd <--bytes-- Connection.send_response <--Response(id, error, result)--+

The channel is the same sans-IO `Connection` every link uses (`zixir/runtime/channel.py`).
A sync worker serves one call at a time. It exits when its request pipe reaches EOF (the
router is gone) or the router's frame is bad (exit code 65). Results that cannot be encoded, or are larger than the frame limit, become
error replies naming the type or size; the worker stays healthy.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import sys
from types import ModuleType
from typing import Any

from zixir.lang.errors import PolicyDenied
from zixir.runtime import protocol as p
from zixir.runtime.channel import Closed, Connection
from zixir.runtime.policy import CallPolicy
from zixir.runtime.shm import ShmArena
from zixir.runtime.spin import poll_briefly

EXIT_BAD_FRAME = 65
CONFIG_ENV = "ZIXIR_WORKER_CONFIG"
#: bytes per read of the request pipe (a larger read costs a large allocation every call)
READ_SIZE = 1 << 16

#: the Worker serving in this process (fault-injection tests reach its pipes through it)
CURRENT: Worker | None = None


def apply_rlimits(config: dict) -> None:
    import resource

    for key, res in (("rlimit_as", resource.RLIMIT_AS), ("rlimit_nofile", resource.RLIMIT_NOFILE)):
        value = int(config.get(key) or 0)
        if value > 0:
            resource.setrlimit(res, (value, value))
    cpu = int(config.get("rlimit_cpu") or 0)
    if cpu > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


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
        self.conn = Connection(self.codec)
        self.policy = CallPolicy.from_wire(config.get("policy", {}))
        self.spin = float(config.get("spin", 0.0))
        self._resolved: dict[tuple[str, str], Any] = {}  # (module, function) -> callable

    def send(self, message: p.Message) -> None:
        self.write(self.codec.encode(message))

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.out_fd, view):]

    def reply(self, request_id: int, error: dict | None, result: Any, what: str) -> None:
        self.arena.begin()
        try:
            frame = self.conn.send_response(request_id, error, result)
        except p.UnencodableValue as e:
            frame = self.conn.send_response(request_id, {
                "kind": "python", "type": "TypeError", "traceback": "",
                "message": f"the result of {what} cannot be returned to zixir: {e}",
            }, None)
        except p.FrameTooLarge as e:
            frame = self.conn.send_response(request_id, p.fault(
                "ProtocolError", f"the result of {what} is too large to send: {e}"), None)
        self.write(frame)

    def serve(self) -> None:
        self.write(self.conn.send_notification("ready", [os.getpid()]))
        read, in_fd, receive, handle = os.read, self.in_fd, self.conn.receive_data, self.handle
        poll = select.poll()
        poll.register(in_fd, select.POLLIN | select.POLLHUP)
        spin = self.spin  # poll briefly before blocking: the next request often comes soon
        while True:
            if spin:
                poll_briefly(poll.poll, spin)  # yields the CPU to whoever needs it
            try:
                data = read(in_fd, READ_SIZE)
            except InterruptedError:  # pragma: no cover
                continue
            except OSError:
                data = b""
            events = receive(data)
            while events:
                event = events.pop(0)
                if type(event) is p.Request:
                    handle(event)
                elif type(event) is Closed:
                    if event.error.kind == "eof":  # the router is gone
                        os._exit(0)
                    os.write(2, f"zixir worker {os.getpid()}: {event.error.reason}\n".encode())
                    os._exit(EXIT_BAD_FRAME)
                elif isinstance(event, p.Notification) and event.method == "exit":
                    os._exit(0)
            event = None  # the request's arguments die now, not at the next call

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
        try:
            if options and options.get("paths"):
                set_paths(list(options["paths"]))
            target = self._resolved.get((module, function))
            if target is None:
                target = self._resolved[(module, function)] = self.resolve(module, function)
            result = target(*args, **kwargs) if kwargs else target(*args)
            error: dict | None = None
        except BaseException as e:  # the library's exception, whatever it is, goes to the caller
            error = p.error_to_wire(e)
            result = None
        finally:
            _flush_stdio()
        self.reply(request.id, error, result, f"{module}.{function}")

    def call(self, module: str, function: str, args: list, kwargs: dict) -> Any:
        target = self._resolved.get((module, function))
        if target is None:
            target = self.resolve(module, function)
            self._resolved[(module, function)] = target
        return target(*args, **kwargs)

    def resolve(self, module: str, function: str) -> Any:
        """The callable `module.function`, checked against the policy on the way."""
        what = f"{module}.{function}"
        self.policy.check(module, function)
        trusted = self.policy.explicitly_allowed(what)  # e.g. allow=["os"] covers posix too
        obj: Any = importlib.import_module(module)
        for part in function.split("."):
            obj = getattr(obj, part)
            if isinstance(obj, ModuleType) and not trusted:
                self.policy.check_name(obj.__name__, what)
        owner = getattr(obj, "__module__", None)
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if (isinstance(owner, str) and isinstance(name, str) and not name.startswith("<")
                and not trusted):
            self.policy.check_name(f"{owner}.{name}", what)
        if not callable(obj):
            raise PolicyDenied(f"{what} is not callable")
        return obj


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def start_worker(in_fd: int, out_fd: int, config: dict) -> None:
    """Common start of a worker, forked or spawned; never returns."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the host's to handle
    global CURRENT
    try:
        apply_rlimits(config)
        worker = CURRENT = Worker(in_fd, out_fd, config)
    except BaseException as e:
        os.write(2, f"zixir worker {os.getpid()} cannot start: {e!r}\n".encode())
        os._exit(71)
    try:
        worker.serve()
    except BaseException as e:
        os.write(2, f"zixir worker {os.getpid()} failed: {e!r}\n".encode())
        os._exit(72)
    os._exit(0)


def main() -> None:
    """Entry point of a directly spawned worker (fds 3 and 4)."""
    from zixir.runtime.process import bind_to_parent

    config = json.loads(os.environ[CONFIG_ENV])
    bind_to_parent(int(config["parent_pid"]))
    set_paths(list(config.get("sys_path", [])) + list(config.get("paths", [])))
    start_worker(3, 4, config)
