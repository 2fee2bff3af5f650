"""What a running program needs from outside the interpreter: Python calls and the memory store.

The interpreter never talks to processes itself. It converts Zixir values to plain Python values
(`None`, `bool`, `int`, `float`, `str`, `list`, `dict`), hands them to a `Services` object and
converts the results back. `zixir.runtime` provides the real implementation (workers and the
memory store); `Unavailable` is used where no runtime is attached and gives a clear error.
Implementations must be thread-safe: tasks and `pmap` call them from several threads at once.
"""

from __future__ import annotations

from typing import Any, Protocol

from .errors import ZixirRuntimeError


class Services(Protocol):
    #: how many Python calls can usefully run at once (pmap's default width)
    parallelism: int
    #: optional, default False: True when `call_python` waits through `zixir.lang.fibers`
    #: (a Waiter) so that a task calling it parks only itself; otherwise the interpreter runs
    #: the call on a helper thread while the task waits (`fibers.blocking`)
    waits_in_fibers: bool

    def call_python(self, module: str, function: str, args: list, kwargs: dict) -> Any: ...

    def memory_put(self, key: str, value: Any, ttl: float | None = None) -> None: ...

    def memory_get(self, key: str, default: Any = None, *, has_default: bool = False) -> Any: ...

    def memory_delete(self, key: str) -> bool: ...

    def memory_keys(self, prefix: str = "") -> list[str]: ...

    def memory_scan(self, prefix: str = "") -> list[tuple[str, Any]]: ...

    def memory_incr(self, key: str, n: int | float = 1) -> int | float: ...

    def memory_cas(self, key: str, expected: Any, new: Any) -> bool: ...

    def memory_update(self, key: str, f: Any, default: Any = None) -> Any: ...

    def agent(self, op: str, args: list) -> Any:
        """`agent.OP(*args)` (start, call, stop, list, status) with plain arguments."""


class Unavailable:
    """Services of an interpreter without a runtime: every request is a clear error."""

    parallelism = 1
    waits_in_fibers = True  # nothing blocks: every request fails at once

    def __init__(self, reason: str = "this evaluation has no zixir runtime attached") -> None:
        self.reason = reason

    def _refuse(self, what: str) -> ZixirRuntimeError:
        return ZixirRuntimeError(f"{what} needs the zixir runtime ({self.reason})")

    def call_python(self, module: str, function: str, args: list, kwargs: dict) -> Any:
        raise self._refuse(f"python call {module}.{function}")

    def memory_put(self, key: str, value: Any, ttl: float | None = None) -> None:
        raise self._refuse("memory.put")

    def memory_get(self, key: str, default: Any = None, *, has_default: bool = False) -> Any:
        raise self._refuse("memory.get")

    def memory_delete(self, key: str) -> bool:
        raise self._refuse("memory.delete")

    def memory_keys(self, prefix: str = "") -> list[str]:
        raise self._refuse("memory.keys")

    def memory_scan(self, prefix: str = "") -> list[tuple[str, Any]]:
        raise self._refuse("memory.scan")

    def memory_incr(self, key: str, n: int | float = 1) -> int | float:
        raise self._refuse("memory.incr")

    def memory_cas(self, key: str, expected: Any, new: Any) -> bool:
        raise self._refuse("memory.cas")

    def memory_update(self, key: str, f: Any, default: Any = None) -> Any:
        raise self._refuse("memory.update")

    def agent(self, op: str, args: list) -> Any:
        raise self._refuse(f"agent.{op}")
