"""Which backend a memory location opens, how a URL is shown (never with its password), and
the error when psycopg is missing. No server needed."""

from __future__ import annotations

import sys

import pytest

from zixir.runtime.memory import MemoryUnavailable, Store, describe, is_url, open_store


@pytest.mark.parametrize("location, shown", [
    ("postgresql://app:pw@db:5432/state", "postgresql://app:***@db:5432/state"),
    ("postgres://app@db/state", "postgres://app@db/state"),
    ("postgresql:///state?host=/run/pg&password=pw", "postgresql:///state?host=/run/pg&password=***"),
    ("postgresql://a:p%40ss@db/s?sslmode=require", "postgresql://a:***@db/s?sslmode=require"),
    ("/var/lib/zixir/memory.sqlite3", "/var/lib/zixir/memory.sqlite3"),
])
def test_a_location_is_shown_without_its_password(location, shown):
    assert describe(location) == shown


def test_a_url_opens_postgresql_and_anything_else_a_sqlite_file(tmp_path, monkeypatch):
    assert is_url("postgresql://h/d") and is_url("postgres://h/d")
    assert not is_url(str(tmp_path / "postgresql.sqlite3"))
    store = open_store(str(tmp_path / "m.sqlite3"))
    assert isinstance(store, Store)
    store.close()
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg were not installed
    with pytest.raises(MemoryUnavailable, match=r"the memory store postgresql://u:\*\*\*@h/d "
                                                r"needs psycopg 3: pip install 'zixir\[postgresql\]'"):
        open_store("postgresql://u:secret@h/d")


def test_the_dashboard_of_an_unreachable_database_is_an_error(capsys):
    import argparse
    import socket

    pytest.importorskip("psycopg", reason="psycopg is not installed")
    from zixir.dashboard.cli import cmd_dashboard

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://app:pw@127.0.0.1:{port}/state"
    assert cmd_dashboard(argparse.Namespace(memory=url, port=0, host="127.0.0.1")) == 1
    err = capsys.readouterr().err
    assert f"zixir: error: cannot reach the memory store at postgresql://app:***@127.0.0.1:{port}" \
           f"/state" in err and ":pw@" not in err
