"""Run every engine test against every backend, selected in-process.

Backends: the pure-Python reference, the C kernels and the Zig kernels, each native one twice:
as shipped (short lists take the Python path) and with that shortcut off, so every kernel sees
every test input. Zig is skipped only when the `ziglang` package is not importable.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest

from zixir.engine import Backend, load_backend, run_with

BACKEND_IDS = ["python", "c", "c-kernels", "zig", "zig-kernels"]


def make_backend(backend_id: str) -> Backend:
    if backend_id == "python":
        return load_backend("python")
    language, _, variant = backend_id.partition("-")
    if language == "zig" and importlib.util.find_spec("ziglang") is None:
        pytest.skip("the ziglang package is not installed (pip install -e '.[zig]')")
    from zixir.engine import native

    backend = native.load_c_backend() if language == "c" else native.load_zig_backend()
    return backend.always_native() if variant == "kernels" else backend


@pytest.fixture(scope="session", params=BACKEND_IDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return make_backend(request.param)


@pytest.fixture(scope="session")
def engine(backend: Backend) -> Callable[..., Any]:
    """`engine(name, *args)`: run an op with the backend under test."""

    def run(name: str, *args: Any) -> Any:
        return run_with(backend, name, *args)

    return run


@pytest.fixture(scope="session")
def backend_named() -> Callable[[str], Backend]:
    """`backend_named(id)`: the backend for one of BACKEND_IDS (skips Zig without ziglang)."""
    return make_backend


@pytest.fixture(scope="session")
def native_pair() -> tuple[Backend, Backend]:
    """The C and Zig kernels, both without the short-list shortcut."""
    return make_backend("c-kernels"), make_backend("zig-kernels")
