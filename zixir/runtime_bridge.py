"""How the CLI and the REPL run programs: in the router of a supervised runtime, so that a
crash of native code or of the interpreter never takes the command down with it."""

from __future__ import annotations

import os
import sys
from typing import Any


def default_memory_path() -> str:
    """Where `zixir run` and the REPL keep `memory.*` between runs: `$ZIXIR_MEMORY` (a file
    or a postgresql:// URL), else
    `$XDG_DATA_HOME/zixir/memory.sqlite3` (`~/.local/share/...`)."""
    explicit = os.environ.get("ZIXIR_MEMORY")
    if explicit:
        return explicit
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return os.path.join(data, "zixir", "memory.sqlite3")


def runtime_options(script: str | None, config: str | None = None, *,
                    workers: int | None = None, timeout: float | None = None,
                    allow: list[str] | None = None, allow_all: bool = False,
                    memory: str | None = None, **more: Any) -> dict[str, Any]:
    """The runtime's options for a command: the command line's (`more`: any other
    RuntimeConfig option) over zixir.toml's (the one named by `config`, else the nearest to
    the script) over the defaults."""
    from . import project_file

    file = project_file.for_script(script, config)
    options = project_file.combine(file, {
        "workers": workers, "call_timeout": timeout, "allow": tuple(allow) if allow else None,
        "allow_all": True if allow_all else None, "memory_path": memory, **more})
    options.setdefault("memory_path", default_memory_path())
    return options


def _runtime(options: dict[str, Any], dashboard: int | None = None) -> Any:
    from .runtime import Runtime
    from .runtime.memory import is_url

    path = options["memory_path"]
    if not is_url(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return Runtime(dashboard=dashboard, **options)


def run_file_for_cli(path: str, *, workers: int | None = None, timeout: float | None = None,
                     allow: list[str] | None = None, allow_all: bool = False,
                     stats: bool = False, memory: str | None = None,
                     dashboard: int | None = None, quiet: bool = False,
                     log_json: bool = False, metrics_port: int | None = None,
                     config: str | None = None, args: list[str] | None = None,
                     source: str | None = None, cluster: str | None = None
                     ) -> tuple[Any, bool]:
    """Run `path` (calling `fn main`) with `args` as its `args()`; its value (plain Python)
    and whether the program's output ended a line. With `source` (`zixir run -`), that is
    the program and `path` only its name. `dashboard`: serve the live dashboard on that port
    (0: a free one); `quiet`: no progress bars; `log_json`: events as JSON lines even on a
    terminal; `metrics_port`: serve Prometheus metrics while it runs; `config`: the
    zixir.toml to use instead of the nearest one (the script's, or the working directory's
    for a program read from stdin); `cluster`: run the Python workers on that Ray cluster."""
    from .runtime import format_stats

    options = runtime_options(None if source is not None else path, config, workers=workers,
                              timeout=timeout, allow=allow, allow_all=allow_all, memory=memory,
                              metrics_port=metrics_port, progress=False if quiet else None,
                              log_format="json" if log_json else None, cluster=cluster)
    with _runtime(options, dashboard) as rt:
        if rt.metrics_url and not quiet:
            print(f"zixir: metrics at {rt.metrics_url}", file=sys.stderr, flush=True)
        try:
            value = rt.run_file(path, args=list(args or ()), source=source)
            return value, rt.output_at_line_start()
        finally:
            if stats:
                print(format_stats(rt.stats()), file=sys.stderr)


class RuntimeSession:
    """The REPL's session: bindings live in the router of a private runtime."""

    def __init__(self, workers: int | None = None, memory: str | None = None,
                 timeout: float | None = None, log_json: bool = False,
                 config: str | None = None, cluster: str | None = None) -> None:
        self.runtime = _runtime(runtime_options(None, config, workers=workers, memory=memory,
                                                timeout=timeout,
                                                log_format="json" if log_json else None,
                                                cluster=cluster))

    def eval_value(self, source: str, filename: str | None = None) -> Any:
        return self.runtime.eval(source, filename)

    def reset(self) -> None:
        self.runtime.reset()

    def at_line_start(self) -> bool:
        """Did the program's output end a line (or is there none)? The REPL ends it if not."""
        return self.runtime.output_at_line_start(ending=True)

    def interrupt(self) -> None:
        self.runtime.interrupt()

    def names(self) -> list[str]:
        return self.runtime.names()

    def close(self) -> None:
        self.runtime.close()


def repl_session(workers: int | None = None, memory: str | None = None,
                 timeout: float | None = None, log_json: bool = False,
                 config: str | None = None, cluster: str | None = None) -> RuntimeSession:
    return RuntimeSession(workers, memory, timeout, log_json, config, cluster)
