"""The memory store: a process that owns the durable key/value store (SQLite, WAL).

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

Values are Zixir values converted to plain Python; clients store them as msgpack bytes, so the
store never decodes a value. Keys are strings.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sqlite3
import sys
import threading
from typing import Any

import msgpack

from zixir.lang.errors import ZixirRuntimeError

from . import protocol as p
from .channel import Channel, ChannelClosed, Closed, Connection

SCHEMA = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)"


class Store:
    """The SQLite side, sans sockets (tested directly)."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(SCHEMA)

    def put(self, key: str, blob: bytes) -> None:
        self.db.execute("INSERT INTO kv (key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, blob))

    def get(self, key: str) -> bytes | None:
        row = self.db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def delete(self, key: str) -> bool:
        return self.db.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount > 0

    def keys(self, prefix: str) -> list[str]:
        rows = self.db.execute(
            "SELECT key FROM kv WHERE substr(key, 1, ?) = ? ORDER BY key", (len(prefix), prefix))
        return [r[0] for r in rows]

    def close(self) -> None:
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self.db.close()

    def handle(self, request: p.Request) -> Any:
        params = request.params
        if request.method == "put":
            key, blob = params
            _check_key(key)
            if not isinstance(blob, bytes):
                raise ValueError("memory.put: value must be encoded")
            self.put(key, blob)
            return True
        if request.method == "get":
            _check_key(params[0])
            return self.get(params[0])
        if request.method == "delete":
            _check_key(params[0])
            return self.delete(params[0])
        if request.method == "keys":
            prefix = params[0] if params else ""
            if not isinstance(prefix, str):
                raise ValueError("memory.keys: the prefix must be a string")
            return self.keys(prefix)
        if request.method == "ping":
            return os.getpid()
        raise ValueError(f"unknown memory method {request.method!r}")


def _check_key(key: Any) -> None:
    if not isinstance(key, str):
        raise ValueError(f"memory keys are strings, not {type(key).__name__}")


def serve(listener: socket.socket, store: Store, stop: threading.Event | None = None) -> None:
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
                except Exception as e:
                    frame = connection.send_response(
                        event.id, p.fault("ZixirRuntimeError", str(e)), None)
                try:
                    conn.sendall(frame)
                except OSError:
                    break


def main() -> None:
    """`python -m zixir.runtime.memory`: fd 3 is the listening socket, fd 4 the ready pipe."""
    from .process import bind_to_parent

    bind_to_parent(int(os.environ["ZIXIR_PARENT_PID"]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    store = Store(os.environ["ZIXIR_MEMORY_PATH"])
    listener = socket.socket(fileno=3)

    def terminate(signum, frame):
        store.close()
        os._exit(0)

    signal.signal(signal.SIGTERM, terminate)
    os.write(4, b"R")
    os.close(4)
    serve(listener, store)


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

    # the memory API (rt.memory.put/get/delete/keys)
    def put(self, key: str, value: Any) -> None:
        _check_client_key(key)
        try:
            blob = pack_value(value)
        except p.UnencodableValue as e:
            raise ZixirRuntimeError(f"memory.put: {e}") from None
        self.request("put", [key, blob])

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


if __name__ == "__main__":
    sys.exit(main())
