"""`zixir.eval` and `zixir.run_file`: programs run on the process-wide default runtime (started
on first use, stopped at exit), each in a session of its own, so separate calls share no
variables. Use `zixir.Runtime` for a session whose bindings persist."""

from __future__ import annotations

from typing import Any


def eval_source(source: str, filename: str | None = None) -> Any:
    from .runtime import default_runtime

    return default_runtime().eval(source, filename, fresh=True)


def run_file(path: str) -> Any:
    from .runtime import default_runtime

    return default_runtime().run_file(path, fresh=True)
