"""The memory store: a process that owns the durable key/value store (a SQLite file in WAL
mode, or a PostgreSQL database: `memory_postgres.py`; `open_store` picks by the location).

    host (MemoryClient) ----\\                        store process (this module)
    router (MemoryClient) ---+-- unix socket -->  one thread, selectors over the listening
      one Channel each        msgpack-RPC          socket and every client (a Connection
                                                   each); each request runs
                                                   to completion; a put is committed before
                                                   its reply, so an acknowledged write
                                                   survives a SIGKILL of the store
The host creates the listening socket and hands the same one to every incarnation of the
store, so clients that connect while the store restarts simply wait in the backlog. Clients
reconnect and retry (every operation is idempotent) until a deadline.

Backends: `StoreBase` holds the protocol (`handle`: checks and dispatch) and the operation ids
(`once`); `Store` (SQLite, below) and `memory_postgres.PostgresStore` hold the rows.
`open_store(location)` is the one way to open either.

Values are Zixir values converted to plain Python; clients store them as msgpack bytes, so the
store never decodes a value (except the number under `incr`). Keys are strings.

Atomic updates: every row carries a version and an optional expiry. `incr` and `cas` run in one
transaction in the store; `update(k, f)` reads (value, version), runs `f` in the client and
writes only if the version is unchanged, else reads again. The operations that are not
idempotent carry an operation id, and the store commits each one's result with its write, so
a client retrying after a lost reply (the store was killed) gets the first result back instead
of applying the operation twice.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the store imports it; its clients (the router, the host) do not
    import sqlite3

import msgpack

from zixir.lang.errors import ZixirRuntimeError

from . import protocol as p
from .channel import Channel, ChannelClosed, Closed, Connection

SCHEMA = ("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
          "version INTEGER NOT NULL DEFAULT 1, expires REAL)")
#: columns added after the first release: a store file made by an older zixir gains them
COLUMNS = (("version", "INTEGER NOT NULL DEFAULT 1"), ("expires", "REAL"))
#: results of the operations that are not idempotent (incr, cas, put_if_version), by the
#: client's operation id, so that a retry after a lost reply returns the first result
APPLIED = "CREATE TABLE IF NOT EXISTS applied (id TEXT PRIMARY KEY, result BLOB, at REAL)"
APPLIED_KEEP = 3600.0  # seconds: far beyond any client's retry deadline


class StoreBase:
    """What every backend shares: the protocol (`handle`: arity and type checks, dispatch)
    and the at-most-once bookkeeping of operation ids (`once`). A backend implements the
    operations (put, `_row`, put_if_version, cas, incr, delete, scan, close, release),
    `_transaction()` (nestable) and the `applied` table (`_applied_result`,
    `_record_applied`, `_prune_applied`); the semantics are the SQLite store's."""

    location = ""
    clock: Any
    _since_prune = 0

    def keys(self, prefix: str) -> list[str]:
        return [k for k, _ in self.scan(prefix)]

    def _expires(self, ttl: Any) -> float | None:
        if ttl is None:
            return None
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
            raise ValueError(f"memory.put: ttl must be a positive number of seconds, not {ttl!r}")
        return self.clock() + float(ttl)

    def get(self, key: str) -> bytes | None:
        row = self._row(key)
        return None if row is None else row[0]

    def get_versioned(self, key: str) -> tuple[bytes | None, int]:
        """The value and its version; (None, 0) when the key is absent."""
        row = self._row(key)
        return (None, 0) if row is None else row

    def handle(self, request: p.Request) -> Any:
        method, params = request.method, list(request.params)
        if method == "ping":
            return os.getpid()
        if method == "keys" or method == "scan":
            prefix = params[0] if params else ""
            if not isinstance(prefix, str):
                raise ValueError(f"memory.{method}: the prefix must be a string")
            return self.keys(prefix) if method == "keys" else [list(r) for r in self.scan(prefix)]
        if method not in _ARITY:
            raise ValueError(f"unknown memory method {method!r}")
        low, high = _ARITY[method]
        if not low <= len(params) <= high:
            raise ValueError(f"memory.{method}: expected {low} to {high} parameters")
        _check_key(params[0])
        for i in _BLOBS[method]:
            if i < len(params) and not (isinstance(params[i], bytes) or
                                        (params[i] is None and (method, i) == ("cas", 1))):
                raise ValueError(f"memory.{method}: value must be encoded")
        if method == "put":
            self.put(*params)
            return True
        if method == "get":
            return self.get(params[0])
        if method == "get_versioned":
            return list(self.get_versioned(params[0]))
        if method in _ONCE:
            op_id = request.params[_ONCE[method]] if len(params) > _ONCE[method] else None
            return self.once(op_id, lambda: self._apply(method, params[:_ONCE[method]]))
        return self.delete(params[0])

    def _apply(self, method: str, params: list) -> Any:
        if method == "put_if_version":
            return self.put_if_version(*params)
        if method == "cas":
            return self.cas(*params)
        return self.incr(params[0], params[1] if len(params) > 1 else 1)

    def once(self, op_id: Any, apply: Any) -> Any:
        """Run `apply` at most once per operation id: its result is committed with its write,
        and a repeat of the id (a client retrying after a lost reply) gets it back."""
        if op_id is None:
            return apply()
        if not isinstance(op_id, str):
            raise ValueError("memory: the operation id must be a string")
        with self._transaction():
            found = self._applied_result(op_id)
            if found is not None:
                return msgpack.unpackb(found)
            result = apply()
            self._record_applied(op_id, msgpack.packb(result), self.clock())
        self._since_prune += 1
        if self._since_prune >= 1000:
            self._since_prune = 0
            self._prune_applied(self.clock() - APPLIED_KEEP)
        return result

    # ---- what a backend implements -------------------------------------------------------

    def put(self, key: str, blob: bytes, ttl: float | None = None) -> None:
        raise NotImplementedError

    def _row(self, key: str) -> tuple[bytes, int] | None:
        """The live value and version of `key` (an expired one is removed), or None."""
        raise NotImplementedError

    def put_if_version(self, key: str, blob: bytes, version: int,
                       ttl: float | None = None) -> bool:
        raise NotImplementedError

    def cas(self, key: str, expected: bytes | None, blob: bytes) -> bool:
        raise NotImplementedError

    def incr(self, key: str, n: int | float) -> int | float:
        raise NotImplementedError

    def delete(self, key: str) -> bool:
        raise NotImplementedError

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        raise NotImplementedError

    def close(self) -> None:
        """The store process's end."""
        raise NotImplementedError

    def release(self) -> None:
        """Let go of the store without the end-of-process work (opened by a command)."""
        raise NotImplementedError

    def _transaction(self) -> Any:
        raise NotImplementedError

    def _applied_result(self, op_id: str) -> bytes | None:
        raise NotImplementedError

    def _record_applied(self, op_id: str, result: bytes, at: float) -> None:
        raise NotImplementedError

    def _prune_applied(self, before: float) -> None:
        raise NotImplementedError


class Store(StoreBase):
    """The SQLite backend, sans sockets (tested directly).

    Every row has a version (1 when written, +1 at every write) so that a client can do a
    read-modify-write that retries on conflict (`get_versioned` + `put_if_version`), and an
    optional expiry time: an expired key reads as absent everywhere and is removed when met.
    `clock` is injectable so that expiry is tested without waiting."""

    def __init__(self, path: str, clock: Any = None) -> None:
        import sqlite3
        import time

        self.location = path
        self.clock = clock or time.time
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                  timeout=30.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(SCHEMA)
        self.db.execute(APPLIED)
        self._since_prune = 0
        present = {row[1] for row in self.db.execute("PRAGMA table_info(kv)")}
        for name, decl in COLUMNS:
            if name not in present:
                try:
                    self.db.execute(f"ALTER TABLE kv ADD COLUMN {name} {decl}")
                except sqlite3.OperationalError as e:  # another store on the file was faster
                    if "duplicate column" not in str(e):
                        raise

    def _row(self, key: str) -> tuple[bytes, int] | None:
        row = self.db.execute("SELECT value, version, expires FROM kv WHERE key = ?",
                              (key,)).fetchone()
        if row is None:
            return None
        if row[2] is not None and row[2] <= self.clock():
            self.db.execute("DELETE FROM kv WHERE key = ? AND version = ?", (key, row[1]))
            return None
        return bytes(row[0]), row[1]

    def put(self, key: str, blob: bytes, ttl: float | None = None) -> None:
        self.db.execute("INSERT INTO kv (key, value, version, expires) VALUES (?, ?, 1, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                        "version = kv.version + 1, expires = excluded.expires",
                        (key, blob, self._expires(ttl)))

    def put_if_version(self, key: str, blob: bytes, version: int,
                       ttl: float | None = None) -> bool:
        """Write only if the key is still at `version` (0: still absent); whether it wrote."""
        expires = self._expires(ttl)
        with self._transaction():
            current = self._row(key)
            if (0 if current is None else current[1]) != version:
                return False
            self.db.execute("INSERT INTO kv (key, value, version, expires) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                            "version = excluded.version, expires = excluded.expires",
                            (key, blob, version + 1, expires))
            return True

    def cas(self, key: str, expected: bytes | None, blob: bytes) -> bool:
        """Replace the value if it is `expected` (the same encoded value; None: absent)."""
        with self._transaction():
            current = self._row(key)
            if (None if current is None else current[0]) != expected:
                return False
            self.put(key, blob)
            return True

    def incr(self, key: str, n: int | float) -> int | float:
        """Add `n` to the number under `key` (absent: 0) in one transaction; the new value.
        The expiry of the key, if any, is kept."""
        if isinstance(n, bool) or not isinstance(n, (int, float)):
            raise ValueError(f"memory.incr: the increment must be a number, not {n!r}")
        with self._transaction():
            current = self._row(key)
            value: Any = 0
            if current is not None:
                value = msgpack.unpackb(current[0])
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"memory.incr: the value of {key!r} is not a number")
            value = value + n
            if isinstance(value, int) and not -(1 << 63) <= value < (1 << 64):
                raise ValueError(f"memory.incr: the value of {key!r} would overflow")
            self.db.execute("INSERT INTO kv (key, value, version) VALUES (?, ?, 1) "
                            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                            "version = kv.version + 1",
                            (key, msgpack.packb(value)))
            return value

    def delete(self, key: str) -> bool:
        existed = self._row(key) is not None
        self.db.execute("DELETE FROM kv WHERE key = ?", (key,))
        return existed

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        """Every live (key, value) whose key starts with `prefix`, in key order."""
        rows = self.db.execute(
            "SELECT key, value FROM kv WHERE substr(key, 1, ?) = ? "
            "AND (expires IS NULL OR expires > ?) ORDER BY key",
            (len(prefix), prefix, self.clock()))
        return [(r[0], bytes(r[1])) for r in rows]

    def _transaction(self) -> Any:
        return _Transaction(self.db)

    def _applied_result(self, op_id: str) -> bytes | None:
        row = self.db.execute("SELECT result FROM applied WHERE id = ?", (op_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def _record_applied(self, op_id: str, result: bytes, at: float) -> None:
        self.db.execute("INSERT INTO applied (id, result, at) VALUES (?, ?, ?)",
                        (op_id, result, at))

    def _prune_applied(self, before: float) -> None:
        self.db.execute("DELETE FROM applied WHERE at < ?", (before,))

    def close(self) -> None:
        """The store process's end: checkpoint the WAL into the file, then close."""
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self.db.close()

    def release(self) -> None:
        """Close without a checkpoint (a running store may be using the file)."""
        self.db.close()


def is_url(location: str) -> bool:
    """Is this memory location a PostgreSQL URL (else it is a SQLite file)?"""
    return location.startswith(("postgresql://", "postgres://"))


def describe(location: str) -> str:
    """The location as it may be shown: a URL without its password."""
    if not is_url(location):
        return location
    from urllib.parse import parse_qsl, urlencode, urlsplit

    parts = original = urlsplit(location)
    if "@" in parts.netloc:
        user, _, host = parts.netloc.rpartition("@")
        if ":" in user:
            parts = parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "password" for name, _ in query):
        parts = parts._replace(query=urlencode(
            [(name, "***" if name == "password" else value) for name, value in query],
            safe="*/"))
    if parts == original:
        return location
    return (f"{parts.scheme}://{parts.netloc}{parts.path}"  # urlunsplit drops an empty host
            + (f"?{parts.query}" if parts.query else "")
            + (f"#{parts.fragment}" if parts.fragment else ""))


def open_store(location: str, clock: Any = None, patience: float = 0.0) -> StoreBase:
    """The store at `location`: a `postgresql://` (or `postgres://`) URL opens the PostgreSQL
    backend, anything else is a SQLite file. An unreachable database is `MemoryUnavailable`
    (after `patience` seconds of trying)."""
    if is_url(location):
        from .memory_postgres import PostgresStore

        return PostgresStore(location, clock, patience)
    return Store(location, clock)

#: method -> (least, most) parameters; which parameters are encoded values
_ARITY = {"put": (2, 3), "get": (1, 1), "get_versioned": (1, 1), "put_if_version": (3, 5),
          "cas": (3, 4), "incr": (1, 3), "delete": (1, 1)}
#: the operations that are not idempotent -> the index of their optional operation id
_ONCE = {"put_if_version": 4, "cas": 3, "incr": 2}
_BLOBS = {"put": (1,), "get": (), "get_versioned": (), "put_if_version": (1,), "cas": (1, 2),
          "incr": (), "delete": ()}


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT: the write lock is taken before the read, so two stores on
    the same file (or a `zixir workflow` command beside a running program) cannot interleave."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.outer = False

    def __enter__(self) -> None:
        self.outer = not self.db.in_transaction  # nested: part of the enclosing one
        if self.outer:
            self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if self.outer:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _check_key(key: Any) -> None:
    if not isinstance(key, str):
        raise ValueError(f"memory keys are strings, not {type(key).__name__}")
    if "\x00" in key:  # PostgreSQL text cannot hold it: refused on every backend alike
        raise ValueError("memory keys cannot contain the NUL character")


class StoreLost(Exception):
    """The backend lost its database (a PostgreSQL server restarted, a network cut) and could
    not reconnect: the store process exits so that its supervisor starts a fresh one, and
    the clients, which got no reply, retry."""


def serve(listener: socket.socket, store: StoreBase,
          stop: threading.Event | None = None) -> None:
    codec = p.Codec()
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    while stop is None or not stop.is_set():
        for key, _ in sel.select(timeout=0.5 if stop is not None else None):
            if key.data is None:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    continue
                conn.setblocking(True)
                sel.register(conn, selectors.EVENT_READ, Connection(codec))
                continue
            conn, connection = key.fileobj, key.data
            try:
                data = conn.recv(1 << 16)
            except OSError:
                data = b""
            for event in connection.receive_data(data):
                if type(event) is Closed:  # EOF or a bad frame: the client reconnects
                    sel.unregister(conn)
                    conn.close()
                    break
                if type(event) is not p.Request:
                    continue
                try:
                    frame = connection.send_response(event.id, None, store.handle(event))
                except StoreLost:
                    raise
                except Exception as e:
                    frame = connection.send_response(
                        event.id, p.fault("ZixirRuntimeError", str(e)), None)
                try:
                    conn.sendall(frame)
                except OSError:
                    break


def main() -> int:
    """`python -m zixir.runtime.memory`: fd 3 is the listening socket, fd 4 the ready pipe."""
    from .process import bind_to_parent

    bind_to_parent(int(os.environ["ZIXIR_PARENT_PID"]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        store = open_store(os.environ["ZIXIR_MEMORY_PATH"], patience=8.0)
    except MemoryUnavailable as e:  # the host checked at its start: the database went away
        print(f"zixir memory store: {e}", file=sys.stderr, flush=True)
        return 1
    listener = socket.socket(fileno=3)

    def terminate(signum, frame):
        store.close()
        os._exit(0)

    signal.signal(signal.SIGTERM, terminate)
    os.write(4, b"R")
    os.close(4)
    try:
        serve(listener, store)
    except StoreLost as e:
        print(f"zixir memory store: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


# ---- client --------------------------------------------------------------------------------


class MemoryUnavailable(ZixirRuntimeError):
    pass


def pack_value(value: Any) -> bytes:
    try:
        return msgpack.packb(value, default=_VALUE_CODEC._default, use_bin_type=True)
    except (ValueError, OverflowError, RecursionError) as e:  # nested past msgpack's limit
        raise p.UnencodableValue("nested value (too deep)" if "recursion" in str(e)
                                 else f"value ({e})") from None


def unpack_value(blob: bytes) -> Any:
    return msgpack.unpackb(blob, ext_hook=_VALUE_CODEC._ext_hook, raw=False,
                           strict_map_key=False)


_VALUE_CODEC = p.Codec()


class MemoryClient:
    """Thread-safe client of the memory store: one multiplexed `Channel` over the socket
    (requests of several threads in flight at once); reconnects and retries until
    `deadline` s, or fails at once after `give_up`."""

    def __init__(self, socket_path: str, deadline: float = 15.0) -> None:
        self.socket_path = socket_path
        self.deadline = deadline
        self._lock = threading.Lock()  # owns `_channel` (connecting, replacing, closing)
        self._channel: Channel | None = None
        self._codec = p.Codec()
        self._gave_up: ZixirRuntimeError | None = None

    def give_up(self, error: ZixirRuntimeError) -> None:
        """The store is gone for good (its supervisor gave up, or the runtime closed): every
        request, waiting ones included, fails with `error` at once instead of retrying."""
        self._gave_up = error
        with self._lock:
            if self._channel is not None:
                self._channel.interrupt("the memory store is gone")

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.interrupt("closed")
                self._channel = None

    def _connected(self) -> Channel:
        with self._lock:
            channel = self._channel
            if channel is not None and channel.closed is None:
                return channel
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.deadline)
            try:
                sock.connect(self.socket_path)
            except OSError:
                sock.close()
                raise
            sock.settimeout(None)  # the channel blocks in read; it is woken by a shutdown
            fd = sock.detach()
            channel = self._channel = Channel(fd, fd, self._codec,
                                              wake=lambda: _shutdown(fd))
            return channel

    def _attempt(self, method: str, params: list) -> Any:
        if self._gave_up is not None:
            raise self._gave_up
        try:
            reply = self._connected().request(method, params, timeout=self.deadline)
        except ChannelClosed as e:
            if self._gave_up is not None:
                raise self._gave_up from None
            raise ConnectionResetError(f"the memory store connection ended: {e}") from None
        if reply.error is not None:
            raise p.error_from_wire(reply.error)
        return reply.result

    def request(self, method: str, params: list) -> Any:
        try:
            return self._attempt(method, params)
        except OSError:
            pass  # the store is restarting: retry with backoff until the deadline
        import tenacity

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_delay(self.deadline),
            wait=tenacity.wait_exponential(multiplier=0.005, max=0.2),
            retry=tenacity.retry_if_exception_type(OSError),
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, params)
        except OSError as e:
            raise MemoryUnavailable(f"the memory store is unavailable: {e}") from None

    # the memory API (rt.memory.put/get/delete/keys/incr/cas/update/scan)
    def put(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store `value`; with `ttl` (seconds) the key reads as absent once it has expired."""
        _check_client_key(key)
        _check_ttl(ttl)
        blob = _pack("put", value)
        self.request("put", [key, blob] if ttl is None else [key, blob, ttl])

    def get(self, key: str, default: Any = None) -> Any:
        _check_client_key(key)
        blob = self.request("get", [key])
        return default if blob is None else unpack_value(blob)

    def delete(self, key: str) -> bool:
        _check_client_key(key)
        return bool(self.request("delete", [key]))

    def keys(self, prefix: str = "") -> list[str]:
        if not isinstance(prefix, str):
            raise ZixirRuntimeError("memory.keys: the prefix must be a string")
        return list(self.request("keys", [prefix]))

    def scan(self, prefix: str = "") -> list[tuple[str, Any]]:
        """Every (key, value) whose key starts with `prefix`, in key order, in one request."""
        if not isinstance(prefix, str):
            raise ZixirRuntimeError("memory.scan: the prefix must be a string")
        return [(k, unpack_value(b)) for k, b in self.request("scan", [prefix])]

    def incr(self, key: str, n: int | float = 1) -> int | float:
        """Add `n` to the number under `key` (absent: 0) atomically in the store; the new value."""
        _check_client_key(key)
        if isinstance(n, bool) or not isinstance(n, (int, float)):
            raise ZixirRuntimeError(f"memory.incr: the increment must be a number, not "
                                    f"{type(n).__name__}")
        return self.request("incr", [key, n, _operation_id()])

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        """Set `key` to `new` if its value is `expected` (`None`: absent); whether it did."""
        _check_client_key(key)
        old = None if expected is None else _pack("cas", expected)
        return bool(self.request("cas", [key, old, _pack("cas", new), _operation_id()]))

    def update(self, key: str, f: Any, default: Any = None) -> Any:
        """Set `key` to `f(current)` (`default` when absent) and return it; `f` runs here and
        runs again if another writer changed the key in the meantime."""
        _check_client_key(key)
        while True:
            blob, version = self.request("get_versioned", [key])
            new = f(default if blob is None else unpack_value(blob))
            if self.request("put_if_version",
                            [key, _pack("update", new), version, None, _operation_id()]):
                return new


def _operation_id() -> str:
    return os.urandom(12).hex()


def _pack(op: str, value: Any) -> bytes:
    try:
        return pack_value(value)
    except p.UnencodableValue as e:
        raise ZixirRuntimeError(f"memory.{op}: {e}") from None


def _check_ttl(ttl: Any) -> None:
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float))
                            or ttl <= 0):
        raise ZixirRuntimeError(f"memory.put: ttl must be a positive number of seconds, "
                                f"not {ttl!r}")


def _shutdown(fd: int) -> None:
    """Wake a read blocked on socket `fd` (the fd stays open; its Channel closes it)."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()


def _check_client_key(key: Any) -> None:
    if not isinstance(key, str):
        raise ZixirRuntimeError(f"memory keys must be strings, not {type(key).__name__}")
    if "\x00" in key:  # PostgreSQL text cannot hold it: refused on every backend alike
        raise ZixirRuntimeError("memory keys cannot contain the NUL character")


if __name__ == "__main__":
    sys.exit(main())
