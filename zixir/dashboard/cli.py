"""`zixir dashboard --memory PATH|URL`: the stored workflow runs of a memory store, in the browser,
without a running program (approve and reject from the page); until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import sys
import threading

EXIT_OK, EXIT_RUNTIME = 0, 1


def add_dashboard_command(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dashboard", help="the web dashboard of stored workflow runs")
    parser.add_argument("--memory", metavar="PATH", default=None,
                        help="the memory store's file or postgresql:// URL (default: "
                             "$ZIXIR_MEMORY or "
                             "~/.local/share/zixir/memory.sqlite3)")
    parser.add_argument("--port", type=int, default=0,
                        help="the port to listen on (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default: 127.0.0.1, this machine only)")
    parser.set_defaults(handler=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    from zixir.lang.errors import ZixirError
    from zixir.runtime.memory import is_url
    from zixir.runtime_bridge import default_memory_path

    from .server import serve_store

    path = args.memory or default_memory_path()
    if not is_url(path) and not os.path.isfile(path):
        print(f"zixir: error: no memory store at {path}", file=sys.stderr)
        return EXIT_RUNTIME
    try:
        server = serve_store(path, args.port, args.host)
    except ZixirError as error:
        print(f"zixir: error: {error.message}", file=sys.stderr)
        return EXIT_RUNTIME
    try:
        print("zixir: press Ctrl-C to stop", file=sys.stderr, flush=True)
        stop = stop or threading.Event()
        # short waits: Ctrl-C is acted on within a quarter second even when the signal did
        # not interrupt this wait (POSIX may deliver it to any thread, e.g. the server's)
        while not stop.wait(0.25):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return EXIT_OK
