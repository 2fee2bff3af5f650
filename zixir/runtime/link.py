"""The router's end of one worker's pipes: many requests in flight, replies into Waiters.

    calling thread or fiber                  WorkerLink                       reader thread
    -----------------------                  ----------                       -------------
    send(method, params) -> (id, Waiter) --> Connection numbers and encodes;  poll pipe+eventfd,
                                                                              os.read
      frame written under the write lock     the id's Waiter is filed          |
    waiter.wait() <--------------------------------------------------------- Response: the
      (a thread blocks on an Event; a                                         id's Waiter is set
       fiber scheduler parks the fiber)                                     Notification ->
    notify(method, params): a one-way frame                                   on_notification
    interrupt(reason): fail every pending Waiter, wake the reader (eventfd)  Closed (EOF, bad
                                                                              frame): every
                                                                              pending Waiter
                                                                              fails, fds closed
A waiting call costs a Waiter, never a thread: one reader per worker serves every call in
flight on it, so thousands of calls can wait on a handful of threads. Replies are matched by
id; a caller that gives up abandons its id and the late reply is dropped.

Pausing (the direct path, direct.py, lends the worker to a host thread that reads and writes
its pipes itself): `pause` asks the reader to stop, wakes it through an eventfd (the reader
polls the pipe and that eventfd, never blocks in a read it cannot leave), and returns once
the reader is parked on `_cond`; from then on nothing in the router reads the pipe. `resume`
lets it read again; `interrupt` ends a parked reader too (the worker died or was killed).

Shared state: the Connection, the waiter table and the pause flags belong to `_lock`; the
write fd and the eventfd are written under `_write_lock`; the read fd belongs to the reader
thread, which closes every fd when it ends.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable

from zixir.lang.fibers import Waiter

from . import protocol as p
from .channel import ChannelClosed, Closed, Connection, write_all
from .process import close_quietly

READ_SIZE = 1 << 16
#: notifications kept until someone waits for them
QUEUED = frozenset({"ready"})


class WorkerLink:
    def __init__(self, rfd: int, wfd: int, codec: p.Codec, *,
                 on_notification: Callable[[p.Notification], None] | None = None,
                 on_closed: Callable[[], None] | None = None,
                 name: str = "zixir-link") -> None:
        self.rfd, self.wfd = rfd, wfd
        self.conn = Connection(codec)
        self.on_notification = on_notification
        # called by the reader when it ends (EOF, an error, closed): a worker with no pidfd
        # (a Ray actor, cluster.py) is known dead by its link
        self.on_closed = on_closed
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # the reader parks on it while paused
        self._paused = False  # asked to stop reading (the worker is lent)
        self._parked = False  # the reader stopped: the pipe is the borrower's
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
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

    def pause(self, timeout: float) -> bool:
        """Stop the reader; True once it is parked (False: the link is down, or the reader
        did not stop within `timeout`, and it reads on)."""
        with self._lock:
            if self.conn.error is not None or not self._reading:
                return False
            self._paused = True
        self._signal()
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._parked and self.conn.error is None and self._reading:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._parked and self.conn.error is None:
                return True
            self._paused = False
            self._cond.notify_all()
            return False

    def resume(self) -> None:
        """The reader reads the pipe again."""
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def interrupt(self, reason: str, kind: str = "closed") -> None:
        """Fail every pending request with ChannelClosed(kind); the reader ends (woken even
        while a grandchild of the worker keeps the pipe open) and closes the fds."""
        with self._lock:
            closed = self.conn.close(reason, kind)
            reading = self._reading
        self._fail(closed)
        if reading:
            with self._cond:
                self._cond.notify_all()  # a parked reader
            self._signal()  # a reader in poll
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

    def _signal(self) -> None:
        """Wake the reader from its poll."""
        with self._write_lock:
            if not self._fds_closed:
                try:
                    os.eventfd_write(self._wake_fd, 1)
                except OSError:
                    pass

    def _park(self) -> None:
        """In the reader: wait while paused (the pipe is lent)."""
        with self._cond:
            while self._paused and self.conn.error is None:
                self._parked = True
                self._cond.notify_all()
                self._cond.wait()
            self._parked = False

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
        poller = select.poll()
        poller.register(self.rfd, select.POLLIN)
        poller.register(self._wake_fd, select.POLLIN)
        wake_fd = self._wake_fd
        try:
            while True:
                if self._paused:
                    self._park()
                try:
                    ready = poller.poll()
                    if len(ready) > 1 or ready[0][0] == wake_fd:
                        try:
                            os.eventfd_read(wake_fd)
                        except BlockingIOError:
                            pass
                        if conn.error is None and len(ready) == 1:
                            continue  # a pause
                    # interrupted: no read (a grandchild of the worker may hold the pipe)
                    data = b"" if conn.error is not None else os.read(self.rfd, READ_SIZE)
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
            if self.on_closed is not None:
                self.on_closed()

    def _close_fds(self) -> None:
        with self._write_lock:
            if self._fds_closed:
                return
            self._fds_closed = True
            close_quietly(self.rfd, self.wfd, self._wake_fd)
