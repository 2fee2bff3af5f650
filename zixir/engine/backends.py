"""Engine backends and which one runs: pure Python, C kernels, or the Zig build of the same ABI.

    run(name, *args) -> registry: bind + look up -> active backend.execute(op, values)
                         backend: validate (values.py) -> reference code or native kernels

`ZIXIR_ENGINE=c|zig|python` picks the backend at first use (default `c`). A missing C extension
falls back to Python with a warning; an explicit `zig` that cannot be built is an error, since
asking for it means the caller wants to test it.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any, Protocol

from .registry import EngineOp

BACKEND_NAMES = ("c", "zig", "python")


class Backend(Protocol):
    name: str

    def execute(self, op: EngineOp, values: tuple[Any, ...]) -> Any: ...


class PythonBackend:
    """The reference semantics, no native code at all."""

    name = "python"

    def execute(self, op: EngineOp, values: tuple[Any, ...]) -> Any:
        return op.reference(*op.validate(values))


class BackendUnavailable(RuntimeError):
    """A native backend could not be loaded (not built, or its toolchain is missing)."""


_lock = threading.Lock()
_loaded: dict[str, Backend] = {}
_active: Backend | None = None


def load_backend(name: str) -> Backend:
    """The backend called `name`, loading (and for Zig, building) it on first use."""
    with _lock:
        backend = _loaded.get(name)
        if backend is None:
            backend = _load(name)
            _loaded[name] = backend
        return backend


def _load(name: str) -> Backend:
    if name == "python":
        return PythonBackend()
    if name in ("c", "zig"):
        try:
            from . import native
        except ImportError as exc:
            raise BackendUnavailable(f"native engine support missing: {exc}") from exc
        return native.load_c_backend() if name == "c" else native.load_zig_backend()
    raise ValueError(f"unknown engine backend {name!r} (choose from {', '.join(BACKEND_NAMES)})")


def active_backend() -> Backend:
    """The backend `run` uses: chosen by ZIXIR_ENGINE on first call unless set explicitly."""
    global _active
    backend = _active
    if backend is None:
        backend = _active = _from_environment()
    return backend


def _from_environment() -> Backend:
    name = os.environ.get("ZIXIR_ENGINE", "c").strip().lower() or "c"
    if name == "c":
        try:
            return load_backend("c")
        except BackendUnavailable as exc:
            warnings.warn(
                f"zixir engine: C kernels unavailable ({exc}); using the pure-Python engine",
                RuntimeWarning,
                stacklevel=3,
            )
            return load_backend("python")
    return load_backend(name)


def use_backend(name: str) -> Backend:
    """Select the backend for this process (the in-process equivalent of ZIXIR_ENGINE)."""
    global _active
    backend = load_backend(name)
    _active = backend
    return backend
