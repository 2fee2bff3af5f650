"""Python functions the cluster tests call from Zixir programs: the same functions run in
local worker processes and in Ray worker actors."""

from __future__ import annotations

import asyncio
import os
import sys
import time


def node() -> str:
    """The Ray node this process runs on, or "local" outside Ray (never imports Ray)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return ray.get_runtime_context().get_node_id()
    return "local"


def where() -> dict:
    return {"pid": os.getpid(), "node": node()}


def add(a: float, b: float) -> float:
    return a + b


def square(x: int) -> int:
    return x * x


def fail(message: str) -> None:
    raise ValueError(message)


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


async def later(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"


async def held(seconds: float) -> dict:
    """An async call that stays in flight for `seconds`, then says where it ran."""
    await asyncio.sleep(seconds)
    return where()


def burn(n: int) -> int:
    """CPU-bound work (the benchmark's jobs)."""
    total = 0
    for i in range(n):
        total = (total + i * i) % 1000003
    return total


async def held_again(seconds: float) -> dict:
    """`held` under another name: zixir.toml gives it retries."""
    return await held(seconds)


class Counter:
    """An agent: its count survives a crash through snapshot() / restore()."""

    def __init__(self, start: int = 0) -> None:
        self.count = start

    def add(self, n: int) -> int:
        self.count += n
        return self.count

    def where(self) -> dict:
        return where()

    def crash(self) -> None:
        os._exit(3)

    def snapshot(self) -> int:
        return self.count

    def restore(self, state: int) -> None:
        self.count = state
