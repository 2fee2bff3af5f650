"""Fixtures of the fan-out tests: the example's fake model server on 127.0.0.1 (a free port,
in a thread of the test process) and runtimes whose workers import the example's client."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
EXAMPLE = HERE.parents[1] / "examples" / "fanout"


def _server_class():
    from .fanout_support import FakeModelServer

    return FakeModelServer


@pytest.fixture
def model_server():
    servers: list = []

    def start(**options):
        server = _server_class()(**options)
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
