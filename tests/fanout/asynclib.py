"""Functions the fan-out tests call in the workers."""

from __future__ import annotations

import asyncio
import os
import time


async def nap(seconds: float, marker: str = "") -> int:
    """Sleep on the event loop; a cancellation is written to `marker`. Returns the pid."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        if marker:
            with open(marker, "w") as f:
                f.write("cancelled")
        raise
    return os.getpid()


def later(seconds: float) -> object:
    """Not an `async def`, but returns an awaitable: run on the loop as well."""
    return asyncio.sleep(seconds, result="later")


async def fails(message: str) -> None:
    raise LookupError(message)


def block(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def pid() -> int:
    return os.getpid()


def held(path: str, limit: float) -> int:
    """Hold the worker (a plain function: one call at a time) until the file `path` exists,
    at most `limit` seconds. Returns the pid."""
    deadline = time.monotonic() + limit
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return os.getpid()


async def hog(seconds: float) -> int:
    """An async function that blocks its event loop (a bug): it cannot be cancelled."""
    time.sleep(seconds)
    return os.getpid()


_gates: dict[str, asyncio.Future] = {}


async def _watch(path: str, deadline: float, opened: asyncio.Future) -> None:
    while not os.path.exists(path) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    opened.set_result(os.path.exists(path))


async def gate(path: str, limit: float) -> int:
    """Wait until the file `path` exists (at most `limit` seconds; one watcher per worker).
    Returns the pid, or -1 if the file never came."""
    opened = _gates.get(path)
    if opened is None:
        opened = _gates[path] = asyncio.get_running_loop().create_future()
        asyncio.ensure_future(_watch(path, time.monotonic() + limit, opened))
    return os.getpid() if await asyncio.shield(opened) else -1
