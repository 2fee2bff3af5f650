"""One agent process: a Python object built once, then serving its calls one at a time.

    router (zixir.runtime.agents)                      agent process (this module)
    -----------------------------                      ---------------------------
    fork request to the agent template  ------------>  forked, confined like a worker
                                        <-- "ready" [pid]
    "init" [module, Class, args, kwargs, state] ---->  policy + resolve Class, build it,
                                        <-- reply      restore(state) if there is one
    "call" [method, args, kwargs, options] --------->  getattr(obj, method)(*args, **kwargs)
                                                       (an `async def` method runs on the
                                                       agent's event loop), then snapshot()
                                        <-- reply      when the options ask for it:
                                                       {"value": v, "snapshot": s}

The agent runs exactly one request at a time, in the order the router sends them; the router
keeps the mailbox. While a call runs, `zixir.worker.call_agent` / `zixir.worker.call` reach
the router over its own link, carrying `options["chain"]` (the calls this call is nested in,
then "agent NAME") so that a cycle is refused instead of deadlocking. The loop, the reply
path, the CPU limit and the process start are the worker's (python_workers.worker). Only public methods can be called (no
leading underscore): the object's internals stay out of reach.
"""

from __future__ import annotations

import inspect
import signal
from typing import TYPE_CHECKING, Any

from zixir import worker as api
from zixir.lang.errors import PolicyDenied
from zixir.runtime import protocol as p
from zixir.runtime.channel import Connection

from .worker import _PLAIN, Worker, run_server

if TYPE_CHECKING:
    import asyncio  # imported by the first async method (worker.py says why)


class AgentServer(Worker):
    """The worker loop with two requests of its own: `init` and `call` (on the object)."""

    def __init__(self, in_fd: int, out_fd: int, config: dict) -> None:
        super().__init__(in_fd, out_fd, config)
        # arrays travel inside the frames (up to the frame limit): an agent's channel has no
        # shared-memory arena on the router's side
        self.codec = p.Codec(int(config.get("max_frame", p.MAX_FRAME)))
        self.conn = Connection(self.codec)
        self.name = str(config.get("agent", {}).get("name", "?"))
        self.instance: Any = None
        self.label = self.name
        self.cls_name = "?"
        self._loop: asyncio.AbstractEventLoop | None = None

    def handle(self, request: p.Request) -> None:
        method, params = request.method, request.params
        if method == "init" and len(params) == 5:
            self.answer(request.id, self.label, self.init, *params)
        elif method == "call" and len(params) == 4:
            # the router learns the call began: had the process died before this (even
            # after reading the request), the call is sent again to the restarted agent
            self.write(self.conn.send_notification("began", [request.id]))
            self.answer(request.id, f"agent {self.name} ({self.cls_name}.{params[0]})", self.call_method, *params)
        elif method == "ping":
            self.reply(request.id, None, "pong", self.label)
        else:
            self.answer(request.id, self.label, _unknown, method)

    def init(self, module: str, cls: str, args: list, kwargs: dict, state: Any) -> dict:
        target = self.resolve(module, cls)
        if not isinstance(target, type):
            raise PolicyDenied(f"{module}.{cls} is not a class")
        self.label = f"agent {self.name} ({module}.{cls})"
        self.cls_name = cls
        self.arm_cpu(None)
        self.instance = self._run(target(*args, **(kwargs or {})))
        restored = False
        if state is not None and callable(getattr(self.instance, "restore", None)):
            self._run(self.instance.restore(state))
            restored = True
        return {"snapshots": callable(getattr(self.instance, "snapshot", None)),
                "restored": restored}

    def call_method(self, method: str, args: list, kwargs: dict, options: dict) -> dict:
        if not isinstance(method, str) or not method.isidentifier() or method.startswith("_"):
            raise PolicyDenied(f"{self.label}: {method!r} is not a public method name")
        target = getattr(self.instance, method, None)
        if target is None or not callable(target):
            raise AttributeError(f"{type(self.instance).__name__} has no method {method!r}")
        chain = tuple(options.get("chain") or ())
        chained = api._chain.set(chain)
        api._serving = chain
        try:
            self.arm_cpu(options.get("timeout"))
            value = self._run(target(*args, **(kwargs or {})))
            out: dict = {"value": value}
            if options.get("snapshot") and callable(getattr(self.instance, "snapshot", None)):
                out["snapshot"] = self._run(self.instance.snapshot())
        finally:
            api._chain.reset(chained)
            api._serving = ()
        return out

    def reply(self, request_id: int, error: dict | None, result: Any, what: str,
              shared: bool = False) -> None:
        """A reply that carries a snapshot: a snapshot that cannot be stored is named as such
        (the method's own value could be sent)."""
        if error is None and type(result) is dict and "snapshot" in result:
            try:
                frame = self.codec.encode_response(request_id, None, result)
            except (p.UnencodableValue, p.FrameTooLarge) as e:
                try:
                    self.codec.encode_response(request_id, None, result["value"])
                except (p.UnencodableValue, p.FrameTooLarge):
                    pass  # the value itself: the worker's reply names it
                else:
                    error, result = p.fault(
                        "AgentError", f"snapshot() of {what} returned a value that cannot be "
                        f"stored: {e}; the method ran, the last snapshot stays"), None
            else:
                self.write(frame)
                return
        super().reply(request_id, error, result, what, shared)

    def _run(self, value: Any) -> Any:
        """The value itself, or the awaited value of a coroutine (an `async def` method)."""
        if type(value) in _PLAIN or not inspect.isawaitable(value):
            return value
        if self._loop is None:
            import asyncio

            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(_awaited(value))


def _unknown(method: str) -> None:
    raise ValueError(f"unknown agent request {method!r}")


async def _awaited(value: Any) -> Any:
    return await value


def start_agent(in_fd: int, out_fd: int, config: dict) -> None:
    """An agent's start, in a process forked from the agent template; never returns."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    run_server(AgentServer, "agent", in_fd, out_fd, config)
