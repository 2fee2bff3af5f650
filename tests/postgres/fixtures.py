"""The PostgreSQL fixtures, shared by every test directory (tests/conftest.py imports them):
`postgres_server` starts one server for the session, `postgres_url` gives each test a URL of
its own schema. Both skip, with the reason, only where PostgreSQL or psycopg is not installed."""

from __future__ import annotations

import importlib.util

import pytest

from .server import Server, find_binaries


@pytest.fixture(scope="session")
def postgres_server():
    binaries = find_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (no initdb; tools/system-deps.sh installs it)")
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("psycopg is not installed (pip install 'zixir[postgresql]')")
    server = Server(binaries)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    return postgres_server.url()
