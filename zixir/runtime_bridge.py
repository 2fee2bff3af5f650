"""How the CLI and the REPL run programs: in the router of a supervised runtime, so that a
crash of native code or of the interpreter never takes the command down with it."""

from __future__ import annotations

import sys
from typing import Any


def _runtime(workers: int | None = None, timeout: float | None = None,
             allow: list[str] | None = None, allow_all: bool = False) -> Any:
    from .runtime import Runtime

    options: dict[str, Any] = {}
    if allow:
        options["allow"] = tuple(allow)
    if allow_all:
        options["allow_all"] = True
    return Runtime(workers=workers, call_timeout=timeout, **options)


def run_file_for_cli(path: str, *, workers: int | None = None, timeout: float | None = None,
                     allow: list[str] | None = None, allow_all: bool = False,
                     stats: bool = False) -> tuple[Any, bool]:
    """Run `path` (calling `fn main`); its value (plain Python) and whether the program's
    output ended a line."""
    from .runtime import format_stats

    with _runtime(workers, timeout, allow, allow_all) as rt:
        try:
            value = rt.run_file(path)
            return value, rt.output_at_line_start()
        finally:
            if stats:
                print(format_stats(rt.stats()), file=sys.stderr)


class RuntimeSession:
    """The REPL's session: bindings live in the router of a private runtime."""

    def __init__(self, workers: int | None = None) -> None:
        self.runtime = _runtime(workers)

    def eval_value(self, source: str, filename: str | None = None) -> Any:
        return self.runtime.eval(source, filename)

    def reset(self) -> None:
        self.runtime.reset()

    def interrupt(self) -> None:
        self.runtime.interrupt()

    def close(self) -> None:
        self.runtime.close()


def repl_session(workers: int | None = None) -> RuntimeSession:
    return RuntimeSession(workers)
