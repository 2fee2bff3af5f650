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

Reading in the calling thread (a sync call of a thread, the common case of a Zixir program's
`python` calls): waking the reader and then the caller costs two thread switches a call, more
than the call itself on an idle machine. So `hold` parks the reader (as `pause` does, and it
stays parked between calls) and the caller reads its own reply in `read_inline`, polling the
pipe and the eventfd in slices (an interrupt raised into the thread is delivered between
two). A notification read there hands the pipe back to the reader (`resume`) before it is
delivered: it may make the worker shared ("async"), and other callers then rely on the reader.
Anyone else who needs the reader (a fiber, a shared call) calls `resume` first.

Shared state: the Connection, the waiter table, the pause flags and `_inline` belong to
`_lock`; the write fd and the eventfd are written under `_write_lock`; the read fd belongs to
the reader thread, or to the caller in `read_inline` while the reader is parked. Whoever ends
last of the reader and an inline read closes every fd.
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
#: longest poll of an inline read, in ms (an exception raised into the thread waits for it)
INLINE_SLICE_MS = 200
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
        self._inline = False  # a caller reads the pipe (read_inline)
        self._close_deferred = False  # the fds are closed when that read ends
        self._poller = select.poll()  # the inline reads'
        self._poller.register(rfd, select.POLLIN)
        self._poller.register(self._wake_fd, select.POLLIN)
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

    @property
    def held(self) -> bool:
        """Is the reader parked or asked to park (`hold`, `pause`)? Then nothing reads the
        pipe unless a caller does (`read_inline`), or until `resume`."""
        return self._paused

    def hold(self) -> bool:
        """Park the reader for `read_inline` (it stays parked until `resume`); False when the
        link is down or the reader did not stop in time."""
        if self._paused and self._parked:
            return True
        return self.pause(5.0)

    def read_inline(self, request_id: int, waiter: Waiter) -> None:
        """In the calling thread, the reader parked (`hold`): read the pipe until `waiter`,
        the one of request `request_id`, has its reply, or the link fails (the waiter fails
        with it). A notification hands the pipe back to the reader, which delivers the rest."""
        with self._lock:
            if self.conn.error is not None or not self._parked:
                return  # failed already, or the reader reads (it delivers the reply)
            self._inline = True
        conn, rfd, wake_fd, poll = self.conn, self.rfd, self._wake_fd, self._poller.poll
        try:
            while not waiter.done:
                ready = poll(INLINE_SLICE_MS)
                if not ready:
                    continue
                if len(ready) > 1 or ready[0][0] == wake_fd:
                    try:
                        os.eventfd_read(wake_fd)
                    except BlockingIOError:
                        pass
                    if conn.error is not None:  # interrupted: its waiters failed
                        self._signal()  # the signal was the parked reader's too
                        return
                    if len(ready) == 1:
                        continue
                try:
                    data = os.read(rfd, READ_SIZE)
                except OSError as e:
                    self._inline_closed(f"read failed: {e}", "read_failed")
                    return
                with self._lock:
                    got = conn.receive_one(data, request_id)
                    if type(got) is p.Response:
                        self._waiters.pop(request_id, None)
                    else:
                        deliveries = self._sort(got)
                if type(got) is p.Response:
                    waiter.set(got)
                    return
                closed = [event for event in got if type(event) is Closed]
                if closed:
                    self._deliver(deliveries)
                    self._fail(closed[0])
                    self._wake_parked()
                    return
                if any(w is None for w, _ in deliveries):
                    self.resume()  # a notification may share the worker: the reader reads
                    self._deliver(deliveries)
                    return
                self._deliver(deliveries)
        finally:
            with self._lock:
                self._inline = False
                close = self._close_deferred
            if close:
                self._close_fds()

    def _inline_closed(self, reason: str, kind: str) -> None:
        with self._lock:
            closed = self.conn.close(reason, kind)
        self._fail(closed)
        self._wake_parked()

    def _wake_parked(self) -> None:
        """The link failed while the reader was parked: it ends (and closes the fds)."""
        with self._cond:
            self._cond.notify_all()
        self._signal()

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

    def _sort(self, events: list) -> list:
        """Under the lock: (waiter, Response) for the replies awaited, (None, Notification)
        for the notifications nobody waits for; queued notifications are filed."""
        deliveries = []
        for event in events:
            if type(event) is p.Response:
                waiter = self._waiters.pop(event.id, None)
                if waiter is not None:
                    deliveries.append((waiter, event))
            elif type(event) is p.Notification:
                if event.method in QUEUED:  # kept for wait_notification
                    self._notes.setdefault(event.method, Waiter()).set(event.params)
                else:
                    deliveries.append((None, event))
        return deliveries

    def _deliver(self, deliveries: list) -> None:
        for waiter, event in deliveries:
            if waiter is not None:
                waiter.set(event)
            elif self.on_notification is not None:
                self.on_notification(event)

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
                    deliveries = self._sort(events)
                self._deliver(deliveries)
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
        with self._lock:
            if self._inline:  # a caller polls them: it closes them when its read ends
                self._close_deferred = True
                return
        with self._write_lock:
            if self._fds_closed:
                return
            self._fds_closed = True
            close_quietly(self.rfd, self.wfd, self._wake_fd)
