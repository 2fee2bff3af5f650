"""The supervised runtime: root supervisor, router, memory store, Python workers.

    host: Runtime ── root supervisor (thread) ─┬─ memory store process (SQLite, WAL)
                                               └─ router process: Session + WorkerPool
                                                     └─ worker supervisor ─┬─ template (fork server)
                                                                           ├─ python worker 1
                                                                           └─ python worker N
Modules: `runtime` (host side, `Runtime`), `router`, `pool` (dispatch and hand-off of calls),
`workers` (spawning and supervising workers), `failure` (policy check, breakers, retries),
`watchdog` (call deadlines), `recycling`, `supervisor` (OTP supervisor), `process` (spawn,
pidfd, reaping), `protocol` (sans-IO msgpack-RPC codec), `channel` (the sans-IO Connection
and the one Channel transport every link uses), `memory` (store and client), `breaker`,
`policy` (the call allow list), `confine` (rlimits, Landlock, process groups of workers),
`janitor` (cleanup after the host dies) with `reaping` (what it kills and removes), `direct`
(host threads calling lent workers without the router hop), `config`, `events` (structlog:
JSON lines, or lines for people on a terminal), `stats`, `shm` (large arrays). Progress,
metrics, traces and the `--stats` table are in `zixir.observe`.

Integration (for `zixir/__init__.py` and `zixir/cli.py`)
---------------------------------------------------------
    from zixir.runtime import Runtime, RuntimeConfig, default_runtime, format_stats

    zixir.eval(source)       -> default_runtime().eval(source)   (runs in the router), or
                                Session(services=default_services()).eval(source): the
                                interpreter in the host, Python calls and memory through
                                the default runtime (what zixir/api.py does today)
    zixir.run_file(path)     -> default_runtime().run_file(path)
    zixir.Runtime            -> Runtime   (re-export; also the error classes of zixir.lang.errors)

    `zixir run FILE [--workers N] [--timeout S] [--json] [--allow MODULE]... [--allow-all]
                    [--stats]`:
        with Runtime(workers=N, call_timeout=S, allow=tuple(ALLOW), allow_all=ALL) as rt:
            value = rt.run_file(FILE)          # prints of the program and workers go to
                                               # fds 1 and 2 as they happen
            ... print value (literal syntax or JSON) ...
            if STATS: print(format_stats(rt.stats()), file=sys.stderr)
    Errors arrive as the same ZixirError subclasses the router raised, with line, column,
    filename and call_chain; runtime faults (WorkerCrashed, CallTimeout, CircuitOpen,
    RestartLimitExceeded, PolicyDenied, Overloaded, RouterCrashed, ProtocolError) keep their
    fields. A Zixir function returned to the host arrives as `protocol.Opaque` (its repr).

Other options (every field of `RuntimeConfig`): restart_intensity/restart_period (workers),
root_intensity/root_period, breaker_fail_max, breaker_reset_timeout, idempotent=("mod",
"mod.fn"), retry_attempts, max_queue, recycle_calls, recycle_rss, rlimit_as/cpu/nofile, deny,
preload=("numpy",), preload_on_use (the template imports them once used), prewarm (also
starts the memory store at once), direct (host calls on lent workers), paths, memory_path
(default: a temporary file removed at close), log_level ("warning"), log_file (JSON lines;
default stderr), log_format ("auto", "console", "json"), progress (None: bars when stderr is
a terminal), metrics_port / metrics_host (Prometheus over HTTP; `Runtime.metrics()` gives the
text either way).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Runtime", "RuntimeConfig", "HostServices", "default_runtime", "default_services",
           "shutdown_default_runtime", "format_stats"]


def __getattr__(name: str) -> Any:  # lazy: workers import runtime.protocol without the rest
    if name in ("Runtime", "HostServices", "default_runtime", "default_services",
                "shutdown_default_runtime"):
        from . import runtime

        return getattr(runtime, name)
    if name == "RuntimeConfig":
        from .config import RuntimeConfig

        return RuntimeConfig
    if name == "format_stats":
        from .stats import format_stats

        return format_stats
    raise AttributeError(name)
