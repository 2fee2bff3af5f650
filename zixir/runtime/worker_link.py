"""The router's link for calls made by Python code it runs (`zixir.worker`).

    agents and workers                     router (this module)
    ------------------                     --------------------
    connect($ZIXIR_ROUTER_SOCKET) -------> accept thread: one serving thread per connection
    "call_agent" [name, method, args,      RpcServer.serve_channel -> WorkerLink.handle
                  kwargs, options]           -> Agents.call(..., chain=options["chain"])
    "call" [module, function, args,          -> WorkerPool.call (policy, breaker, timeout,
            kwargs, options]                    chain=options["chain"]: the worker passes it on)
    "list_agents" []                         -> Agents.list()

The socket lives in the runtime's directory (its path reaches every worker and agent through
the environment); it is a link of its own, beside the worker request protocol, so that a
worker answering a call never has to read requests from its router. Only these three requests
are served: Python code cannot run Zixir code, reset or interrupt the router through it.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

from zixir.lang.errors import ZixirError, ZixirRuntimeError

from . import protocol as p
from .channel import RpcServer
from .confine import RUNTIME_DIR_ENV

SOCKET_ENV = "ZIXIR_ROUTER_SOCKET"


class WorkerLink:
    def __init__(self, config: Any) -> None:
        self.pool: Any = None
        self.agents: Any = None
        directory = os.environ.get(RUNTIME_DIR_ENV)
        self._own_dir = None
        if not directory or not os.path.isdir(directory):
            import tempfile

            directory = self._own_dir = tempfile.mkdtemp(prefix="zixir-link-")
        self.path = os.path.join(directory, f"router-{os.getpid()}.sock")
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(256)
        os.environ[SOCKET_ENV] = self.path  # inherited by the workers and agents started later
        self.server = RpcServer(-1, -1, p.Codec(config.max_frame), self.handle)
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._accept, name="zixir-worker-link",
                                        daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        count = 0
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            count += 1
            rfd = conn.detach()
            wfd = os.dup(rfd)  # serve_channel closes both ends
            self.server.spawn(self.server.serve_channel, (rfd, wfd), f"zixir-link-{count}")

    def handle(self, request: p.Request) -> tuple[dict | None, Any]:
        try:
            return None, self._dispatch(request.method, request.params)
        except ZixirError as e:
            return p.error_to_wire(e), None
        except Exception as e:  # a bug here is still a typed error for the caller
            return p.error_to_wire(ZixirRuntimeError(
                f"internal error in the zixir router's worker link: {type(e).__name__}: {e}")), \
                None

    def _dispatch(self, method: str, params: list) -> Any:
        if method == "call_agent":
            name, agent_method, args, kwargs, options = params
            return self.agents.call(name, agent_method, args, kwargs,
                                    timeout=options.get("timeout"),
                                    chain=tuple(options.get("chain") or ()))
        if method == "call":
            module, function, args, kwargs, options = params
            return self.pool.call(module, function, args, kwargs, timeout=options.get("timeout"),
                                  chain=tuple(options.get("chain") or ()))
        if method == "list_agents":
            return self.agents.list()
        raise ZixirRuntimeError(f"zixir.worker: unknown request {method!r}")

    def close(self) -> None:
        self._closed = True
        self.server.stop("closed")
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        if self._own_dir:
            import shutil

            shutil.rmtree(self._own_dir, ignore_errors=True)
