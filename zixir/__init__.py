"""zixir: run Zixir programs from Python.

    import zixir
    zixir.eval("engine.list_sum([1.0, 2.0])")        # 3.0
    zixir.run_file("script.zx")
    zixir.run_engine("dot_product", [1.0, 2.0], [3.0, 4.0])
    with zixir.Runtime(workers=4) as rt:
        rt.eval("let x = 1"); rt.eval("x + 1")       # 2

Values come back as plain Python (None, bool, int, float, str, list, dict); errors are the
`ZixirError` classes below, with `line`, `column` and, for runtime errors, `call_chain`.
"""

from __future__ import annotations

from typing import Any

from .lang.errors import (
    AgentDeadlock,
    AgentError,
    CallTimeout,
    CircuitOpen,
    ClusterUnavailable,
    DashboardError,
    FileAccessDenied,
    Frame,
    Overloaded,
    PolicyDenied,
    ProtocolError,
    PythonError,
    RestartLimitExceeded,
    RouterCrashed,
    WorkerCrashed,
    ZixirError,
    ZixirRuntimeError,
    ZixirSyntaxError,
)

__version__ = "0.1.0"


def eval(source: str, filename: str | None = None) -> Any:  # noqa: A001 - the API's name
    """Evaluate a Zixir program on the default runtime and return its value."""
    from .api import eval_source

    return eval_source(source, filename)


def run_file(path: str) -> Any:
    """Run a Zixir file (calling its `fn main` if it has one) and return the program's value."""
    from .api import run_file as _run_file

    return _run_file(path)


def __getattr__(name: str) -> Any:
    if name == "Runtime":
        from .runtime import Runtime

        return Runtime
    if name == "run_engine":
        # `run_engine(op, *args)`: one engine op in-process, without a runtime. It is the
        # engine's own entry point (the native front end where built), not a wrapper around
        # it, so calls from Python cost what the engine costs; bound on first use.
        from .engine import run_engine

        globals()["run_engine"] = run_engine
        return run_engine
    raise AttributeError(f"module 'zixir' has no attribute {name!r}")


__all__ = [
    "AgentDeadlock",
    "AgentError",
    "CallTimeout",
    "CircuitOpen",
    "ClusterUnavailable",
    "DashboardError",
    "FileAccessDenied",
    "Frame",
    "Overloaded",
    "PolicyDenied",
    "ProtocolError",
    "PythonError",
    "RestartLimitExceeded",
    "Runtime",
    "RouterCrashed",
    "WorkerCrashed",
    "ZixirError",
    "ZixirRuntimeError",
    "ZixirSyntaxError",
    "eval",
    "run_engine",
    "run_file",
]
