"""How the CLI and the REPL run programs: in the router of a supervised runtime, so that a
crash of native code or of the interpreter never takes the command down with it."""

from __future__ import annotations

import os
import sys
from typing import Any


def default_memory_path() -> str:
    """Where `zixir run` and the REPL keep `memory.*` between runs: `$ZIXIR_MEMORY`, else
    `$XDG_DATA_HOME/zixir/memory.sqlite3` (`~/.local/share/...`)."""
    explicit = os.environ.get("ZIXIR_MEMORY")
    if explicit:
        return explicit
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return os.path.join(data, "zixir", "memory.sqlite3")


def _runtime(workers: int | None = None, timeout: float | None = None,
             allow: list[str] | None = None, allow_all: bool = False,
             memory: str | None = None, deny: tuple[str, ...] = (),
             files: tuple[str, ...] = ()) -> Any:
    from .runtime import Runtime

    path = memory or default_memory_path()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    options: dict[str, Any] = {"memory_path": path}
    if allow:
        options["allow"] = tuple(allow)
    if allow_all:
        options["allow_all"] = True
    if deny:
        options["deny"] = tuple(deny)
    if files:
        options["file_paths"] = tuple(files)
    return Runtime(workers=workers, call_timeout=timeout, **options)


def run_file_for_cli(path: str, *, workers: int | None = None, timeout: float | None = None,
                     allow: list[str] | None = None, allow_all: bool = False,
                     stats: bool = False, memory: str | None = None,
                     args: list[str] | None = None, source: str | None = None
                     ) -> tuple[Any, bool]:
    """Run `path` (calling `fn main`) with `args` as its `args()`; its value (plain Python)
    and whether the program's output ended a line. With `source` (`zixir run -`), that is
    the program and `path` only its name."""
    from . import project_file
    from .runtime import format_stats

    deny: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    here = os.getcwd() if source is not None else os.path.dirname(os.path.abspath(path))
    found = project_file.find(here)
    if found is not None:  # [policy] of zixir.toml, beside the command line's --allow
        file_allow, deny = project_file.policy_rules(found)
        files = project_file.policy_files(found)
        allow = list(file_allow) + list(allow or [])
    with _runtime(workers, timeout, allow, allow_all, memory, deny, files) as rt:
        try:
            value = rt.run_file(path, args=list(args or ()), source=source)
            return value, rt.output_at_line_start()
        finally:
            if stats:
                print(format_stats(rt.stats()), file=sys.stderr)


class RuntimeSession:
    """The REPL's session: bindings live in the router of a private runtime."""

    def __init__(self, workers: int | None = None, memory: str | None = None) -> None:
        self.runtime = _runtime(workers, memory=memory)

    def eval_value(self, source: str, filename: str | None = None) -> Any:
        return self.runtime.eval(source, filename)

    def reset(self) -> None:
        self.runtime.reset()

    def at_line_start(self) -> bool:
        """Did the program's output end a line (or is there none)? The REPL ends it if not."""
        return self.runtime.output_at_line_start(ending=True)

    def interrupt(self) -> None:
        self.runtime.interrupt()

    def close(self) -> None:
        self.runtime.close()


def repl_session(workers: int | None = None, memory: str | None = None) -> RuntimeSession:
    return RuntimeSession(workers, memory)
