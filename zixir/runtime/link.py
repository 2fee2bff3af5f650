"""The router's end of one worker's pipes: many requests in flight, replies into Waiters.

    calling thread or fiber                  WorkerLink                       reader thread
    -----------------------                  ----------                       -------------
    send(method, params) -> (id, Waiter) --> Connection numbers and encodes;  os.read (blocks)
      frame written under the write lock     the id's Waiter is filed          |
    waiter.wait() <--------------------------------------------------------- Response: the
      (a thread blocks on an Event; a                                         id's Waiter is set
       fiber scheduler parks the fiber)                                     Notification ->
    notify(method, params): a one-way frame                                   on_notification
    interrupt(reason): fail every pending Waiter, wake the reader           Closed (EOF, bad
                                                                              frame): every
                                                                              pending Waiter
                                                                              fails, fds closed
A waiting call costs a Waiter, never a thread: one reader per worker serves every call in
flight on it, so thousands of calls can wait on a handful of threads. Replies are matched by
id; a caller that gives up abandons its id and the late reply is dropped.

Shared state: the Connection and the waiter table belong to `_lock`; the write fd is written
under `_write_lock`; the read fd belongs to the reader thread, which closes both fds when it
ends.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from zixir.lang.fibers import Waiter

from . import protocol as p
from .channel import ChannelClosed, Closed, Connection, wake_pipe_reader, write_all
from .process import close_quietly

READ_SIZE = 1 << 16
#: notifications kept until someone waits for them
QUEUED = frozenset({"ready"})


class WorkerLink:
    def __init__(self, rfd: int, wfd: int, codec: p.Codec, *,
                 on_notification: Callable[[p.Notification], None] | None = None,
                 name: str = "zixir-link") -> None:
        self.rfd, self.wfd = rfd, wfd
        self.conn = Connection(codec)
        self.on_notification = on_notification
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._waiters: dict[int, Waiter] = {}
        self._notes: dict[str, Waiter] = {}  # notifications someone waits for ("ready")
        self._reading = True
        self._fds_closed = False
        self._thread = threading.Thread(target=self._read_loop, name=name, daemon=True)
        self._thread.start()

    @property
    def closed(self) -> ChannelClosed | None:
        return self.conn.error

    # -- the client side
    def send(self, method: str, params: list, codec: p.Codec | None = None
             ) -> tuple[int, Waiter]:
        """Send a request; its reply (a Response) or the link's failure (ChannelClosed) will
        arrive in the Waiter. `codec` encodes the frame instead of the link's own (a codec
        whose arrays may be in flight together). UnencodableValue, FrameTooLarge: nothing
        was sent. ChannelClosed: the link is down."""
        waiter = Waiter()
        with self._lock:
            if self.conn.error is not None:
                raise self.conn.error
            if codec is None:
                request_id, frame = self.conn.send_request(method, params)
            else:  # the same bookkeeping, another encoder
                request_id, frame = self._register(codec, method, params)
            self._waiters[request_id] = waiter
        self._write(frame)
        return request_id, waiter

    def _register(self, codec: p.Codec, method: str, params: list) -> tuple[int, bytes]:
        """Under the lock: file a request in the Connection, encoded by `codec`."""
        own = self.conn.codec
        self.conn.codec = codec
        try:
            return self.conn.send_request(method, params)
        finally:
            self.conn.codec = own

    def notify(self, method: str, params: list) -> None:
        """A one-way message (a cancellation); a failed write fails the link."""
        if self.conn.error is not None:
            return
        self._write(self.conn.send_notification(method, params))

    def abandon(self, request_id: int) -> None:
        """Stop waiting for `request_id`: a late reply is dropped."""
        with self._lock:
            self._waiters.pop(request_id, None)
            self.conn.abandon(request_id)

    def is_pending(self, request_id: int) -> bool:
        """Is a reply to `request_id` still awaited?"""
        with self._lock:
            return request_id in self._waiters

    def wait_notification(self, method: str, timeout: float) -> list:
        """The params of the next notification `method` (the worker's "ready")."""
        with self._lock:
            if self.conn.error is not None:
                raise self.conn.error
            waiter = self._notes.setdefault(method, Waiter())
        params = waiter.wait(timeout)
        with self._lock:
            if self._notes.get(method) is waiter:
                del self._notes[method]
        return params

    def interrupt(self, reason: str, kind: str = "closed") -> None:
        """Fail every pending request with ChannelClosed(kind); the reader ends (woken even
        while a grandchild of the worker keeps the pipe open) and closes the fds."""
        with self._lock:
            closed = self.conn.close(reason, kind)
            reading = self._reading
        self._fail(closed)
        if reading:
            wake_pipe_reader(self.rfd)
        else:
            self._close_fds()

    close = interrupt

    # -- internals
    def _write(self, frame: bytes) -> None:
        try:
            with self._write_lock:
                if self._fds_closed:
                    raise OSError("the link's descriptors are closed")
                write_all(self.wfd, frame)
        except OSError as e:
            self.interrupt(f"write failed: {e}", "write_failed")

    def _fail(self, closed: Closed) -> None:
        with self._lock:
            waiters = list(self._waiters.values())
            self._waiters.clear()
            notes = list(self._notes.values())
            self._notes.clear()
        for waiter in waiters + notes:
            waiter.fail(closed.error)

    def _read_loop(self) -> None:
        conn = self.conn
        try:
            while True:
                try:
                    data = os.read(self.rfd, READ_SIZE)
                except OSError as e:
                    with self._lock:
                        closed = conn.close(f"read failed: {e}", "read_failed")
                    self._fail(closed)
                    return
                with self._lock:
                    if conn.error is not None:  # interrupted meanwhile
                        closed = conn.close("", "closed")
                        events = [closed]
                    else:
                        events = conn.receive_data(data)
                    deliveries = []
                    for event in events:
                        if type(event) is p.Response:
                            waiter = self._waiters.pop(event.id, None)
                            if waiter is not None:
                                deliveries.append((waiter, event))
                        elif type(event) is p.Notification:
                            if event.method in QUEUED:  # kept for wait_notification
                                self._notes.setdefault(event.method, Waiter()).set(
                                    event.params)
                            else:
                                deliveries.append((None, event))
                for waiter, event in deliveries:
                    if waiter is not None:
                        waiter.set(event)
                    elif self.on_notification is not None:
                        self.on_notification(event)
                for event in events:
                    if type(event) is Closed:
                        self._fail(event)
                        return
        finally:
            with self._lock:
                self._reading = False
            self._close_fds()

    def _close_fds(self) -> None:
        with self._write_lock:
            if self._fds_closed:
                return
            self._fds_closed = True
            close_quietly(self.rfd, self.wfd)
