"""Fixtures of the fan-out tests: the example's fake model server on 127.0.0.1 (a free port,
in a thread of the test process) and runtimes whose workers import the example's client."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

HERE = Path(__file__).parent
EXAMPLE = HERE.parents[1] / "examples" / "fanout"
for path in (str(EXAMPLE), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

from fake_model_server import FakeModelServer  # noqa: E402


@pytest.fixture
def model_server():
    servers: list[FakeModelServer] = []

    def start(**options) -> FakeModelServer:
        server = FakeModelServer(**options)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def runtime():
    from zixir.runtime import Runtime

    made = []

    def make(**options):
        options.setdefault("workers", 2)
        options.setdefault("call_timeout", 20.0)
        options.setdefault("paths", (str(EXAMPLE), str(HERE)))
        options.setdefault("log_level", "off")
        rt = Runtime(**options)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close()


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
