"""The engine: numeric and string kernels behind `engine.OP(...)` in Zixir.

    from zixir.engine import OPS, run
    OPS["list_sum"].signature        # 'list_sum(xs: [Float]) -> Float'
    run("dot_product", [1.0, 2.0], [3.0, 4.0])   # 11.0

`OPS` is the single op table (see registry.py). `run` validates arguments in Python and hands
them to the active backend: C kernels (default), the Zig build of the same ABI, or pure Python
(`ZIXIR_ENGINE=c|zig|python`, or `use_backend(name)` in-process). Results are plain Python
values: float, int, bool or a list of floats. Errors are `ZixirRuntimeError`s without a position.
"""

from __future__ import annotations

from typing import Any

from . import backends as _backends
from .backends import (
    BACKEND_NAMES,
    Backend,
    BackendUnavailable,
    active_backend,
    load_backend,
    use_backend,
)
from .registry import OPS, EngineOp, Param, lookup


def _run_with(backend: Backend, name: str, *args: Any) -> Any:
    """Run engine op `name` on `args` with a given backend (tests compare backends this way)."""
    op = lookup(name)
    return backend.execute(op, op.bind(args))


def _run(name: str, *args: Any) -> Any:
    """Run engine op `name` on `args` with the active backend."""
    return run_with(_backends._active or active_backend(), name, *args)


try:  # the native front end serves the hottest ops of native backends without a Python frame
    from ._listread import active_front_end as _active_front_end
    from ._listread import front_end as _front_end
except ImportError:
    run_with = _run_with
    run = _run
else:
    run_with = _front_end(_run_with)
    run = _active_front_end(_run, vars(_backends), "_active")


#: the embedded API's name for `run` (re-exported as `zixir.run_engine`): the same callable,
#: so the public API costs what the front end costs
run_engine = run


__all__ = [
    "BACKEND_NAMES",
    "OPS",
    "Backend",
    "BackendUnavailable",
    "EngineOp",
    "Param",
    "active_backend",
    "load_backend",
    "lookup",
    "run",
    "run_engine",
    "run_with",
    "use_backend",
]
