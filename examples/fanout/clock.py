"""Waiting from Zixir, outside the model client's module (whose breaker may be open)."""

from __future__ import annotations

import asyncio


async def pause(seconds: float) -> None:
    """Sleep on the worker's event loop: gives an open breaker time to let a probe through."""
    await asyncio.sleep(seconds)
