"""The memory store's PostgreSQL backend: the same operations and semantics as the SQLite
store (`memory.Store`), in a database that several runtimes on several hosts share.

    host A: store process --\\                      zixir_kv      key, value, version, expires
                             +-- psycopg 3 -->     zixir_applied id, result, at
    host B: store process --/   (one connection     (created on first use, in the first schema
                                 per store)          of the connection's search_path)

Durability: the connection is in autocommit mode and every operation is one statement or one
transaction, committed before the store replies, so an acknowledged write is committed (with
the server's `synchronous_commit`, on by default: flushed to its WAL).

Atomicity across hosts, under the default READ COMMITTED isolation: a conditional write
(`put_if_version`, `cas`, `incr`) locks the key's row (`SELECT ... FOR UPDATE`) before it
reads it, so a concurrent writer of the same key waits until it commits. A key that is absent
has no row to lock: the write is then an `INSERT ... ON CONFLICT DO NOTHING`, and if another
store inserted the key meanwhile the operation starts again and sees (and locks) that row.
A store that holds a lock and stops answering (its host frozen or cut off) loses its
transaction after IDLE_IN_TRANSACTION, so the other hosts are not blocked for longer.

A lost connection is retried once on a fresh one, waiting a few seconds for a restarting
server (every request is idempotent or carries an operation id, so a repeat is safe); if that
fails too the store raises `StoreLost` and its process exits, so the supervisor starts another
one while the clients retry.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import msgpack

from .memory import MemoryUnavailable, StoreBase, StoreLost, describe

KV = "zixir_kv"
APPLIED = "zixir_applied"
# COLLATE "C": keys order by their bytes, as in SQLite, whatever the database's locale
SCHEMA = (f'CREATE TABLE IF NOT EXISTS {KV} (key TEXT COLLATE "C" PRIMARY KEY, '
          f'value BYTEA NOT NULL, version BIGINT NOT NULL DEFAULT 1, expires DOUBLE PRECISION)',
          f"CREATE TABLE IF NOT EXISTS {APPLIED} (id TEXT PRIMARY KEY, result BYTEA, "
          f"at DOUBLE PRECISION)")
SCHEMA_LOCK = 0x7A697869  # advisory lock: two stores creating the tables at once
CONNECT_TIMEOUT = 10  # seconds
#: how long a store process waits for a server that went away to come back (a restart)
#: before it gives up; its clients retry for longer (MemoryClient's deadline)
RECONNECT_PATIENCE = 8.0
IDLE_IN_TRANSACTION = "30s"


class _Conflict(Exception):
    """Another store inserted the key between our read and our insert: start again."""


def connect(url: str, patience: float = 0.0) -> Any:
    """An autocommit connection to `url` with the tables in place; `MemoryUnavailable` (naming
    the URL without its password) when psycopg is missing or the database cannot be used.
    With `patience`, a server that refuses connections is tried again for that many seconds
    (it is restarting)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return _connect(url)
        except MemoryUnavailable:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _connect(url: str) -> Any:
    try:
        import psycopg
    except ImportError:
        raise MemoryUnavailable(
            f"the memory store {describe(url)} needs psycopg 3: pip install "
            f"'zixir[postgresql]'") from None
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                               application_name="zixir memory store", keepalives=1,
                               keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
    except (psycopg.Error, ValueError) as e:  # ValueError: psycopg's own URL checks
        raise MemoryUnavailable(f"cannot reach the memory store at {describe(url)}: "
                                f"{_first_line(e)}") from None
    try:
        # a store never waits inside a transaction: one that does is frozen or cut off, and
        # the server ends it so that the rows it locked are free for the other hosts
        conn.execute(f"SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION}'")
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for statement in SCHEMA:
                conn.execute(statement)
    except psycopg.Error as e:
        conn.close()
        raise MemoryUnavailable(f"cannot use the memory store at {describe(url)}: "
                                f"{_first_line(e)}") from None
    return conn


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


class PostgresStore(StoreBase):
    """The PostgreSQL backend, sans sockets. `clock` is injectable (expiry tests) as in the
    SQLite store; expiry times are this host's clock, as the SQLite store's are."""

    def __init__(self, url: str, clock: Any = None, patience: float = 0.0) -> None:
        self.location = url
        self.clock = clock or time.time
        self.conn = connect(url, patience)
        import psycopg

        self._errors = psycopg.OperationalError, psycopg.InterfaceError

    # ---- connection -------------------------------------------------------------------

    def _reconnect(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - it is being replaced
            pass
        try:
            self.conn = connect(self.location, RECONNECT_PATIENCE)
        except MemoryUnavailable as e:
            raise StoreLost(str(e)) from None

    def handle(self, request: Any) -> Any:
        """As every backend, once more on a fresh connection if the server went away."""
        try:
            return super().handle(request)
        except self._errors as e:
            if not self.conn.broken and not self.conn.closed:
                raise  # a live connection: the statement itself failed
            first = e
        self._reconnect()
        try:
            return super().handle(request)
        except self._errors as e:
            raise StoreLost(f"the memory store lost {describe(self.location)}: "
                            f"{_first_line(e)} (before: {_first_line(first)})") from None

    def _transaction(self) -> Any:
        return self.conn.transaction()

    def _retrying(self, attempt: Any) -> Any:
        """Run `attempt()` in a transaction (the enclosing one, if any: no savepoint, since a
        conflict wrote nothing) until no other store inserted its key under it."""
        import psycopg

        nested = self.conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        with contextlib.nullcontext() if nested else self.conn.transaction():
            while True:
                try:
                    return attempt()
                except _Conflict:
                    continue

    # ---- rows -------------------------------------------------------------------------

    def _live(self, row: Any) -> tuple[bytes, int] | None:
        if row is None or (row[2] is not None and row[2] <= self.clock()):
            return None
        return bytes(row[0]), row[1]

    def _row(self, key: str) -> tuple[bytes, int] | None:
        row = self.conn.execute(f"SELECT value, version, expires FROM {KV} WHERE key = %s",
                                (key,)).fetchone()
        live = self._live(row)
        if row is not None and live is None:  # expired: removed when met
            self.conn.execute(f"DELETE FROM {KV} WHERE key = %s AND version = %s",
                              (key, row[1]))
        return live

    def _locked(self, key: str) -> tuple[bool, tuple[bytes, int] | None]:
        """(whether a row exists, the live (value, version) or None), the row locked."""
        row = self.conn.execute(f"SELECT value, version, expires FROM {KV} WHERE key = %s "
                                f"FOR UPDATE", (key,)).fetchone()
        return row is not None, self._live(row)

    def _write(self, key: str, exists: bool, blob: bytes, version: int,
               expires: Any = None, keep_expiry: bool = False) -> None:
        """Write the locked row (or insert the absent one; `_Conflict` if another store was
        first)."""
        if exists:
            expiry = "" if keep_expiry else ", expires = %s"
            self.conn.execute(f"UPDATE {KV} SET value = %s, version = %s{expiry} WHERE key = %s",
                              (blob, version, key) if keep_expiry
                              else (blob, version, expires, key))
            return
        cursor = self.conn.execute(f"INSERT INTO {KV} (key, value, version, expires) "
                                   f"VALUES (%s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                                   (key, blob, version, expires))
        if cursor.rowcount != 1:
            raise _Conflict

    # ---- the operations -----------------------------------------------------------------

    def put(self, key: str, blob: bytes, ttl: float | None = None) -> None:
        self.conn.execute(f"INSERT INTO {KV} (key, value, version, expires) "
                          f"VALUES (%s, %s, 1, %s) ON CONFLICT (key) DO UPDATE SET "
                          f"value = excluded.value, version = {KV}.version + 1, "
                          f"expires = excluded.expires", (key, blob, self._expires(ttl)))

    def put_if_version(self, key: str, blob: bytes, version: int,
                       ttl: float | None = None) -> bool:
        """Write only if the key is still at `version` (0: still absent); whether it wrote."""
        expires = self._expires(ttl)

        def attempt() -> bool:
            exists, current = self._locked(key)
            if (0 if current is None else current[1]) != version:
                return False
            self._write(key, exists, blob, version + 1, expires)
            return True

        return self._retrying(attempt)

    def cas(self, key: str, expected: bytes | None, blob: bytes) -> bool:
        """Replace the value if it is `expected` (the same encoded value; None: absent)."""
        def attempt() -> bool:
            exists, current = self._locked(key)
            if (None if current is None else current[0]) != expected:
                return False
            self._write(key, exists, blob, 1 if current is None else current[1] + 1)
            return True

        return self._retrying(attempt)

    def incr(self, key: str, n: int | float) -> int | float:
        """Add `n` to the number under `key` (absent: 0) with its row locked; the new value.
        The expiry of the key, if any, is kept."""
        if isinstance(n, bool) or not isinstance(n, (int, float)):
            raise ValueError(f"memory.incr: the increment must be a number, not {n!r}")

        def attempt() -> int | float:
            exists, current = self._locked(key)
            value: Any = 0
            if current is not None:
                value = msgpack.unpackb(current[0])
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"memory.incr: the value of {key!r} is not a number")
            value = value + n
            if isinstance(value, int) and not -(1 << 63) <= value < (1 << 64):
                raise ValueError(f"memory.incr: the value of {key!r} would overflow")
            self._write(key, exists, msgpack.packb(value),
                        1 if current is None else current[1] + 1,
                        keep_expiry=current is not None)
            return value

        return self._retrying(attempt)

    def delete(self, key: str) -> bool:
        existed = self._row(key) is not None
        self.conn.execute(f"DELETE FROM {KV} WHERE key = %s", (key,))
        return existed

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        """Every live (key, value) whose key starts with `prefix`, in key order."""
        rows = self.conn.execute(
            f"SELECT key, value FROM {KV} WHERE key >= %s AND starts_with(key, %s) "
            f"AND (expires IS NULL OR expires > %s) ORDER BY key",
            (prefix, prefix, self.clock())).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    # ---- the applied table --------------------------------------------------------------

    def _applied_result(self, op_id: str) -> bytes | None:
        row = self.conn.execute(f"SELECT result FROM {APPLIED} WHERE id = %s",
                                (op_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def _record_applied(self, op_id: str, result: bytes, at: float) -> None:
        self.conn.execute(f"INSERT INTO {APPLIED} (id, result, at) VALUES (%s, %s, %s) "
                          f"ON CONFLICT (id) DO NOTHING", (op_id, result, at))

    def _prune_applied(self, before: float) -> None:
        self.conn.execute(f"DELETE FROM {APPLIED} WHERE at < %s", (before,))

    def close(self) -> None:
        self.conn.close()

    def release(self) -> None:
        self.conn.close()
