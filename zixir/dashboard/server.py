"""Serving the dashboard: uvicorn on a thread of its own, bound before anything is printed.

    serve_runtime(rt, port)  --RuntimeSource--+
    serve_store(path, port)  --StoreSource----+--> DashboardServer: socket bound on HOST:PORT
                                                   (0: a free port), random token,
                                                   uvicorn.Server.run on a daemon thread
                                                   .url  http://127.0.0.1:PORT/?token=T
                                                   .close()  streams end, server exits

The server lives in the process that owns the source (the host of a `Runtime`, or
`zixir dashboard`), never in the router: a crash of the program cannot take it down, and it
cannot run the program's code.
"""

from __future__ import annotations

import secrets
import socket
import sys
import threading
import time
from typing import Any

from zixir.lang.errors import DashboardError

DEFAULT_HOST = "127.0.0.1"
START_TIMEOUT = 30.0
INSTALL_HINT = "pip install 'zixir[dashboard]'"


def _require_packages() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise DashboardError(f"the dashboard needs starlette and uvicorn ({e.name} is not "
                             f"installed): {INSTALL_HINT}") from None


class DashboardServer:
    def __init__(self, source: Any, port: int = 0, host: str = DEFAULT_HOST,
                 interval: float = 1.0) -> None:
        _require_packages()
        import uvicorn

        from .app import build_app

        self.source = source
        self.token = secrets.token_urlsafe(24)
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as e:
            self._socket.close()
            raise DashboardError(f"the dashboard cannot listen on {host}:{port}: "
                                 f"{e.strerror or e}") from None
        self.host, self.port = host, self._socket.getsockname()[1]
        self.app = build_app(source, self.token, interval)
        # log_config=None: the embedding program's logging configuration is left alone
        config = uvicorn.Config(self.app, log_config=None, log_level="warning",
                                access_log=False, lifespan="off", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]},
                                        name="zixir-dashboard", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise DashboardError(f"the dashboard did not start on {host}:{self.port}")
            time.sleep(0.01)

    @property
    def url(self) -> str:
        """The page's address, token included (whoever has it can approve and reject)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.token}"

    def close(self) -> None:
        """End the live streams and stop the server (idempotent)."""
        self.app.broadcast.stopping.set()
        self._server.should_exit = True
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(10.0)
        self.app.broadcast.reader.shutdown(wait=True, cancel_futures=True)
        self._socket.close()
        self.source.close()


def announce(server: DashboardServer, what: str) -> None:
    print(f"zixir: dashboard of {what} at {server.url}", file=sys.stderr, flush=True)


def serve_runtime(runtime: Any, port: int = 0, host: str = DEFAULT_HOST) -> DashboardServer:
    """Serve the live dashboard of a running `zixir.Runtime` and print its URL to stderr."""
    from .source import RuntimeSource

    server = DashboardServer(RuntimeSource(runtime), port, host)
    announce(server, "this program")
    return server


def serve_store(path: str, port: int = 0, host: str = DEFAULT_HOST) -> DashboardServer:
    """Serve the stored workflow history of a memory store (a file or a postgresql:// URL;
    no program runs)."""
    from zixir.runtime.memory import describe

    from .source import StoreSource

    _require_packages()
    source = StoreSource(path)
    try:
        server = DashboardServer(source, port, host)
    except BaseException:
        source.close()
        raise
    announce(server, describe(path))  # a URL's password is not printed
    return server
