"""Calls back into the runtime from Python code that the runtime runs (an agent, a worker).

    agent / worker process                                 router
    ----------------------                                 ------
    zixir.worker.call_agent(name, method, args) --+
    zixir.worker.call(module, function, args) ----+--> unix socket ($ZIXIR_ROUTER_SOCKET)
                                                        WorkerLink (zixir.runtime.worker_link)
       raises the same typed errors as a Zixir <------- the agent registry / the worker pool,
       program sees (PolicyDenied, AgentDeadlock,        under the same policies, breakers
       WorkerCrashed, CallTimeout, ...)                  and timeouts as any other call

Each thread keeps one connection, opened at its first call. A call made while an agent serves
a call carries the chain of calls it is nested in ("agent A", "python m.f", ...): a pool worker
running a function called from an agent gets the chain with its call and passes it on, so
`agent A -> agent B -> agent A` and `agent A -> python m.f -> agent A` are refused with
`AgentDeadlock` instead of waiting for A's mailbox until the call timeout.
"""

from __future__ import annotations

import os
import socket
import threading
from contextvars import ContextVar
from typing import Any

SOCKET_ENV = "ZIXIR_ROUTER_SOCKET"

#: the calls the code running now is nested in, outermost first ("agent A", "python m.f");
#: set per call by the agent process and by a worker serving a call that carries a chain (a
#: context variable: a worker's threads and tasks each serve a call of their own)
_chain: ContextVar[tuple[str, ...]] = ContextVar("zixir_call_chain", default=())
#: in an agent process, the chain of the call it is serving (it serves one at a time): what a
#: thread the method started carries, since a new thread does not inherit context variables
_serving: tuple[str, ...] = ()
_local = threading.local()


def _current_chain() -> list[str]:
    return list(_chain.get() or _serving)


def call_agent(name: str, method: str, args: list | tuple = (), kwargs: dict | None = None,
               *, timeout: float | None = None) -> Any:
    """`method(*args, **kwargs)` of the agent `name`, through the router (its mailbox)."""
    return _request("call_agent", [name, method, list(args), kwargs or {},
                                   {"chain": _current_chain(), "timeout": timeout}])


def call(module: str, function: str, args: list | tuple = (), kwargs: dict | None = None,
         *, timeout: float | None = None) -> Any:
    """`module.function(*args, **kwargs)` in a worker of the runtime's pool."""
    return _request("call", [module, function, list(args), kwargs or {},
                             {"chain": _current_chain(), "timeout": timeout}])


def list_agents() -> list[dict]:
    """Every agent of the runtime, as `agent.list()` shows them."""
    return _request("list_agents", [])


def _request(method: str, params: list) -> Any:
    from zixir.lang.errors import RouterCrashed, ZixirRuntimeError
    from zixir.runtime import protocol as p
    from zixir.runtime.channel import ChannelClosed, Closed, Connection, write_all

    link = getattr(_local, "link", None)
    if link is None:
        path = os.environ.get(SOCKET_ENV)
        if not path:
            raise ZixirRuntimeError("zixir.worker: this process was not started by a zixir "
                                    "runtime (no router to call)")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError as e:
            sock.close()
            raise RouterCrashed(f"zixir.worker: cannot reach the router: {e}") from None
        link = _local.link = (sock, Connection(p.Codec()))
    sock, conn = link
    request_id, frame = conn.send_request(method, params)
    try:
        write_all(sock.fileno(), frame)
        while True:
            data = sock.recv(1 << 16)
            for event in conn.receive_data(data):
                if type(event) is p.Response and event.id == request_id:
                    if event.error is not None:
                        raise p.error_from_wire(event.error)
                    return event.result
                if type(event) is Closed:
                    raise event.error
    except (OSError, ChannelClosed) as e:
        _local.link = None
        sock.close()
        raise RouterCrashed(f"zixir.worker: the link to the router broke: {e}") from None
