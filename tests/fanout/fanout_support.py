"""Helpers of the fan-out tests (a module of its own: every test directory has a conftest)."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).parent
EXAMPLE = HERE.parents[1] / "examples" / "fanout"
if str(EXAMPLE) not in sys.path:
    sys.path.append(str(EXAMPLE))  # the example's server and client (after everything else)

from fake_model_server import FakeModelServer, expected_score  # noqa: E402

__all__ = ["EXAMPLE", "FakeModelServer", "expected_score", "fan_out"]


def fan_out(fn, items, threads: int = 48) -> list:
    """`fn(item)` for every item from `threads` host threads; each outcome is the value or
    the exception raised."""
    def outcome(item):
        try:
            return fn(item)
        except Exception as e:  # noqa: BLE001 - returned for the test to look at
            return e

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(outcome, items))
