"""One channel abstraction for every link: host <-> router, router <-> worker, client <-> store.

    caller threads                 Channel (transport)                   Connection (sans-IO)
    --------------                 -------------------                   --------------------
    request(method, params) -----> send: under the lock, Connection ---> send_request:
      | (many threads, many          numbers and encodes the request       id, frame; the id
      |  requests in flight)         and files it as pending; the          is pending
      |                              frame is written under the write
      |                              lock
      |                            wait: whichever waiting thread finds
      |                              no reader becomes the reader (polls
      |                              `spin` s, then blocks in read) and
      |                              feeds the bytes to the Connection --> receive_data(bytes):
      |                                                                     replies by id,
      v                                                                     requests, notes
    Response (its own id) <------- replies are filed by id, every           EOF, bad frame,
    ChannelClosed <--------------- waiter is woken; a Closed event          oversized frame,
                                   fails exactly the requests pending       reply to an unknown
                                   on this channel, each with the same      id -> Closed(error,
                                   typed reason                             pending ids)

The Connection is a state machine (open -> closed) that consumes bytes and produces events,
tested with plain byte strings (h11's habit): it owns the frame decoder, the request ids and
the set of requests awaiting a reply. It never touches a file descriptor. `Channel` is the thin
threaded transport over a pair of fds (two pipes, or one socket twice); `serve_requests` and
`DedicatedChannel` are the server side and the one-request-at-a-time variant built on the same
Connection. Replies are matched by id, never by order; a caller that gives up abandons its id
and the late reply is dropped, so a channel carries any number of requests at once.

Shared state: a Channel's Connection and its reply table belong to its lock; the fds are
written under the write lock and read by the one thread that holds the read role.
"""

from __future__ import annotations

import itertools
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import msgpack

from . import protocol as p
from .process import close_quietly
from .spin import poll_briefly

_HEADER = p.HEADER
_unpackb = msgpack.unpackb

#: bytes per read (a larger read costs a large allocation every time)
READ_SIZE = 1 << 16

_ids = itertools.count(1)  # process-wide, so ids never repeat across channels
_NOTHING = "\0nothing"  # a notification no peer sends: `drain` waits for the end of file


class ChannelClosed(Exception):
    """The channel ended: `kind` is "eof", "bad_frame", "oversized", "write_failed",
    "read_failed" or "closed"; every request pending on it gets this error."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class Closed:
    """Event: the connection is closed; `pending` are the ids that will never get a reply."""

    __slots__ = ("error", "pending")

    def __init__(self, error: ChannelClosed, pending: tuple[int, ...]) -> None:
        self.error, self.pending = error, pending

    def __repr__(self) -> str:
        return f"Closed({self.error.kind}: {self.error.reason}, pending={self.pending})"


OPEN, CLOSED = "open", "closed"


class Connection:
    """One end of a msgpack-RPC link, sans IO. Not thread-safe: its owner serializes it."""

    def __init__(self, codec: p.Codec | None = None) -> None:
        self.codec = codec or p.Codec()
        self._decoder = p.FrameDecoder(self.codec)
        self._pending: set[int] = set()
        self._abandoned: set[int] = set()
        self.error: ChannelClosed | None = None

    @property
    def state(self) -> str:
        return OPEN if self.error is None else CLOSED

    @property
    def pending(self) -> frozenset[int]:
        return frozenset(self._pending)

    # -- sending
    def send_request(self, method: str, params: list) -> tuple[int, bytes]:
        """(id, frame). Raises the channel's error once closed; UnencodableValue or
        FrameTooLarge leave the connection open (nothing was sent)."""
        if self.error is not None:
            raise self.error
        request_id = next(_ids)
        frame = self.codec.encode_shape([p.REQUEST, request_id, method, params])
        self._pending.add(request_id)
        return request_id, frame

    def send_response(self, request_id: int, error: dict | None, result: Any) -> bytes:
        return self.codec.encode_response(request_id, error, result)

    def send_notification(self, method: str, params: list) -> bytes:
        return self.codec.encode(p.Notification(method, params))

    def abandon(self, request_id: int) -> None:
        """The caller stopped waiting: its reply, if it ever comes, is dropped."""
        if request_id in self._pending:
            self._pending.discard(request_id)
            self._abandoned.add(request_id)

    # -- receiving
    def receive_data(self, data: bytes) -> list:
        """Events for `data` (b"": end of file): Responses to pending requests, Requests,
        Notifications, and at most one final Closed."""
        if self.error is not None:
            return []
        if not data:
            return [self._close(ChannelClosed("eof", "the peer closed the channel"))]
        try:
            messages = self._decoder.feed(data)
        except p.FrameError as e:
            kind = "oversized" if "exceeds the frame limit" in str(e) else "bad_frame"
            return [self._close(ChannelClosed(kind, f"bad frame: {e}"))]
        return self._events(messages)

    def receive_one(self, data: bytes, request_id: int | None = None) -> Any:
        """`receive_data` for a one-at-a-time peer, which nearly always reads exactly one
        whole frame: with `request_id`, that request's Response when `data` is its reply;
        without, the Request when `data` is a request. Anything else: the list of events
        `receive_data(data)` makes of it. (Written out in one function: it runs twice a
        call, on cold caches.)"""
        size = len(data) - 4
        if (self.error is not None or self._decoder._buf or not 0 < size < 65536
                or _HEADER.unpack_from(data)[0] != size or size > self.codec.max_frame):
            return self.receive_data(data)
        codec = self.codec
        try:
            obj = _unpackb(data[4:], ext_hook=codec._ext_hook, raw=False,
                           strict_map_key=False)
        except Exception:  # receive_data decodes it again and says what is wrong
            return self.receive_data(data)
        if type(obj) is list and len(obj) == 4:
            kind, mid, a, b = obj
            if request_id is None:
                if (kind == p.REQUEST and type(mid) is int and type(a) is str
                        and type(b) is list):
                    return p.Request(mid, a, b)
            elif (kind == p.RESPONSE and mid == request_id and type(mid) is int
                  and (a is None or type(a) is dict) and mid in self._pending):
                self._pending.discard(mid)
                return p.Response(mid, a, b)
        try:
            message = p.to_message(obj)
        except p.FrameError as e:
            return [self._close(ChannelClosed("bad_frame", f"bad frame: {e}"))]
        return self._events([message])

    def _events(self, messages: list) -> list:
        events: list = []
        for m in messages:
            if type(m) is p.Response:
                if m.id in self._pending:
                    self._pending.discard(m.id)
                    events.append(m)
                elif m.id in self._abandoned:
                    self._abandoned.discard(m.id)
                else:
                    events.append(self._close(ChannelClosed(
                        "bad_frame", f"bad frame: a reply to request {m.id}, which is not "
                        "awaiting one")))
                    break
            else:
                events.append(m)
        return events

    def close(self, reason: str, kind: str = "closed") -> Closed:
        return self._close(ChannelClosed(kind, reason))

    def _close(self, error: ChannelClosed) -> Closed:
        if self.error is None:
            self.error = error
        pending = tuple(self._pending)
        self._pending.clear()
        self._abandoned.clear()
        return Closed(self.error, pending)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def wake_pipe_reader(rfd: int) -> None:
    """Make a read blocked on pipe `rfd` return, even while another process (a grandchild
    that inherited the write end) keeps the pipe open: write a byte through a new write end."""
    try:
        fd = os.open(f"/proc/self/fd/{rfd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.write(fd, b"\0")
    except OSError:
        pass
    finally:
        os.close(fd)


class Channel:
    """Requests from any number of threads over one fd pair, many in flight, matched by id.

    `wake` makes a blocked read return (for a socket: shut it down); pipes get a byte through
    /proc. `on_notification` receives the peer's notifications (in the reading thread)."""

    def __init__(self, rfd: int, wfd: int, codec: p.Codec | None = None, *, spin: float = 0.0,
                 on_notification: Callable[[p.Notification], None] | None = None,
                 wake: Callable[[], None] | None = None) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.conn = Connection(codec)
        self.spin = spin
        self.on_notification = on_notification
        self._wake = wake or (lambda: wake_pipe_reader(self.rfd))
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # waiting for the reader
        self._write_lock = threading.Lock()
        self._replies: dict[int, p.Response] = {}
        self._notes: list[p.Notification] = []
        self._reading = False
        self._waiters = 0  # threads waiting for the reader to file their reply
        self._fds_closed = False
        poller = select.poll()
        poller.register(rfd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self._poll = poller.poll

    @property
    def closed(self) -> ChannelClosed | None:
        return self.conn.error

    # -- the client API
    def request(self, method: str, params: list, timeout: float | None = None) -> p.Response:
        """Send a request and wait for its reply. Raises ChannelClosed (the channel ended:
        every request pending on it fails alike), TimeoutError (this request only; the
        channel stays usable), UnencodableValue or FrameTooLarge (nothing was sent)."""
        request_id = self.send(method, params)
        return self.wait(request_id, timeout)

    def send(self, method: str, params: list) -> int:
        with self._lock:
            request_id, frame = self.conn.send_request(method, params)
        try:
            with self._write_lock:
                if self._fds_closed:
                    raise OSError("the channel's descriptors are closed")
                write_all(self.wfd, frame)
        except OSError as e:
            self._fail(f"write failed: {e}", "write_failed")
        return request_id

    def wait(self, request_id: int, timeout: float | None = None) -> p.Response:
        deadline = None if timeout is None else time.monotonic() + timeout
        reply = self._await(request_id, deadline)
        if reply is None:
            with self._cond:
                self.conn.abandon(request_id)
                reply = self._replies.pop(request_id, None)  # it came meanwhile after all
            if reply is None:
                raise TimeoutError("no reply in time")
        return reply

    def wait_notification(self, method: str, timeout: float) -> list:
        """The params of the next notification `method` (the peer's "ready")."""
        params = self._await(method, time.monotonic() + timeout)
        if params is None:
            raise TimeoutError(f"no {method} notification in time")
        return params

    def close(self, reason: str = "closed") -> None:
        """Fail every pending request; the fds are closed once no thread is reading them."""
        self._fail(reason, "closed", raise_=False)

    def interrupt(self, reason: str, kind: str = "closed") -> None:
        """Like close, and wake a reader blocked on the fd (the peer may be alive)."""
        self._fail(reason, kind, raise_=False)

    def drain(self, timeout: float) -> bool:
        """Read what a peer that has gone wrote before its end of file (an agent's "began"
        notice, still in the pipe when its exit is noticed), so that it is filed before the
        channel is closed. Whether the end came within `timeout` seconds."""
        try:
            self._await(_NOTHING, time.monotonic() + timeout)
        except ChannelClosed:
            return True
        return False

    # -- the reader role
    def _take(self, key: int | str) -> Any:
        """Under the lock: the reply with id `key`, or the params of a notification `key`."""
        if type(key) is int:
            return self._replies.pop(key, None)
        for i, note in enumerate(self._notes):
            if note.method == key:
                del self._notes[i]
                return note.params
        return None

    def _await(self, key: int | str, deadline: float | None) -> Any:
        """Wait until `key` arrives; None at the deadline. Raises the channel's error when it
        closes first. A waiting thread that finds no reader becomes the reader and files
        whatever it reads for everyone."""
        spun = False
        cond = self._cond
        replies = self._replies
        with self._lock:
            while True:
                got = replies.pop(key, None) if type(key) is int else self._take(key)
                if got is not None:
                    return got
                if self.conn.error is not None:
                    raise self.conn.error
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                if self._reading:
                    self._waiters += 1
                    try:
                        cond.wait(remaining)
                    finally:
                        self._waiters -= 1
                    continue
                self._reading = True
                cond.release()
                data: bytes | None = None
                failure = ""
                try:
                    if self.spin and not spun and deadline is None:
                        spun = True  # a quick reply comes before a sleeping CPU wakes up
                        poll_briefly(self._poll, self.spin)
                    if remaining is None or self._poll(max(0.0, remaining) * 1000):
                        try:
                            data = os.read(self.rfd, READ_SIZE)
                        except OSError as e:
                            failure = f"read failed: {e}"
                finally:
                    cond.acquire()
                    self._reading = False
                    if data is not None:
                        self._file(self.conn.receive_data(data))
                    elif failure:
                        self.conn.close(failure, "read_failed")
                    if self.conn.error is not None:
                        self._close_fds()
                    if self._waiters:
                        cond.notify_all()

    def _file(self, events: list) -> None:
        for event in events:
            if type(event) is p.Response:
                self._replies[event.id] = event
            elif type(event) is p.Notification:
                if self.on_notification is not None:
                    self.on_notification(event)
                else:
                    self._notes.append(event)

    def _fail(self, reason: str, kind: str, raise_: bool = True) -> None:
        with self._cond:
            self.conn.close(reason, kind)
            if self._reading:  # under the lock: the reader cannot close the fds meanwhile
                self._wake()
            else:
                self._close_fds()
            self._cond.notify_all()
            error = self.conn.error
        if raise_:
            assert error is not None
            raise error

    def _close_fds(self) -> None:
        """Under the lock, with no reader: nobody uses the fds any more."""
        if self._fds_closed:
            return
        with self._write_lock:
            self._fds_closed = True
            if self.rfd == self.wfd:
                close_quietly(self.rfd)
            else:
                close_quietly(self.rfd, self.wfd)


# ---- the server side --------------------------------------------------------------------


class RpcServer:
    """Leader/follower request server over one fd pair; `handler(request) -> (error,
    result)`. Threads take turns reading; the reader hands the read role on and runs the
    request it decoded, then writes the reply under the write lock."""

    def __init__(self, rfd: int, wfd: int, codec: p.Codec,
                 handler: Callable[[p.Request], tuple[dict | None, Any]],
                 threads: int = 8) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.conn = Connection(codec)
        self.codec = codec
        self.handler = handler
        self.threads = threads
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._queue: list[p.Request] = []
        self.finished = threading.Event()
        self.reason = ""
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._drained = threading.Condition(self._inflight_lock)  # _inflight reached 0
        self._stop_when_idle: str | None = None

    def notify(self, method: str, params: list) -> None:
        with self._write_lock:
            write_all(self.wfd, self.conn.send_notification(method, params))

    def start(self) -> None:
        for i in range(self.threads):
            self.spawn(self._serve, (), f"zixir-rpc-{i}")

    def spawn(self, target: Callable[..., Any], args: tuple, name: str) -> None:
        """Start a serving thread; it ends with the process (`join` waits for its replies)."""
        threading.Thread(target=target, args=args, name=name, daemon=True).start()

    def join(self, timeout: float) -> int:
        """Wait up to `timeout` s for the requests being handled to send their replies; the
        number still running. Threads idle on a read of the host's pipes are not waited for:
        they hold nothing and end with the process."""
        with self._drained:
            self._drained.wait_for(lambda: self._inflight == 0, timeout)
            return self._inflight

    def stop(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.finished.set()

    def stop_when_idle(self, reason: str) -> None:
        """Stop once every request being handled has had its reply written."""
        with self._inflight_lock:
            self._stop_when_idle = reason
            idle = self._inflight == 0
        if idle:
            self.stop(reason)

    def _next(self) -> p.Request | None:
        with self._read_lock:
            while not self._queue:
                if self.finished.is_set():
                    return None
                try:
                    data = os.read(self.rfd, READ_SIZE)
                except OSError:
                    data = b""
                for event in self.conn.receive_data(data):
                    if type(event) is p.Request:
                        self._queue.append(event)
                    elif type(event) is Closed:
                        self.stop(event.error.kind if event.error.kind == "eof"
                                  else event.error.reason)
                        return None
            request = self._queue.pop(0)
            with self._inflight_lock:
                self._inflight += 1
            return request

    def _serve(self) -> None:
        while not self.finished.is_set():
            request = self._next()
            if request is not None:
                self._reply(request, self._shared_write)

    def _shared_write(self, frame: bytes) -> None:
        with self._write_lock:
            write_all(self.wfd, frame)

    def serve_channel(self, rfd: int, wfd: int, spin: float = 0.0) -> None:
        """Serve one dedicated channel (one host thread's pipes) until its EOF: read a request
        (polling `spin` seconds first: the owner's next request often follows at once), run
        it, write the reply. Nothing else reads or writes these pipes."""
        conn = Connection(self.codec)
        poller = select.poll()
        poller.register(rfd, select.POLLIN | select.POLLHUP | select.POLLERR)
        poll = poller.poll

        def write(frame: bytes) -> None:
            write_all(wfd, frame)

        notifier = Notifier(conn, write)
        try:
            while not self.finished.is_set():
                if spin:
                    poll_briefly(poll, spin)
                try:
                    data = os.read(rfd, READ_SIZE)
                except OSError:
                    data = b""
                for event in conn.receive_data(data):
                    if type(event) is Closed:
                        return
                    if type(event) is not p.Request:
                        continue
                    with self._inflight_lock:
                        if self.finished.is_set():
                            return  # the router is stopping: the host sees EOF
                        self._inflight += 1
                    _current.notifier = notifier
                    try:
                        if not self._reply(event, write):
                            return
                    finally:
                        _current.notifier = None
        finally:
            notifier.close()
            close_quietly(rfd, wfd)

    def _reply(self, request: p.Request, write: Callable[[bytes], None]) -> bool:
        """Run a counted request and write its reply; False when the write failed."""
        ok = True
        try:
            error, result = self.handler(request)
            try:
                frame = self.conn.send_response(request.id, error, result)
            except (p.UnencodableValue, p.FrameTooLarge) as e:
                frame = self.conn.send_response(
                    request.id, p.fault("ZixirRuntimeError", f"cannot return the value: {e}"),
                    None)
            try:
                write(frame)
            except OSError:
                ok = False
                if write == self._shared_write:
                    self.stop("write failed")
        finally:
            with self._inflight_lock:
                self._inflight -= 1
                idle_stop = self._stop_when_idle if self._inflight == 0 else None
                if self._inflight == 0:
                    self._drained.notify_all()
            if idle_stop:
                self.stop(idle_stop)
        return ok


class Notifier:
    """Notifications to the peer of a dedicated channel while one of its requests runs (the
    router's progress reports), from any thread; the request's reply is written after the
    handler returns, so the two never interleave."""

    __slots__ = ("_conn", "_write", "_lock", "_open")

    def __init__(self, conn: Connection, write: Callable[[bytes], None]) -> None:
        self._conn, self._write = conn, write
        self._lock = threading.Lock()
        self._open = True

    def notify(self, method: str, params: list) -> bool:
        with self._lock:
            if not self._open:
                return False
            try:
                self._write(self._conn.send_notification(method, params))
            except (OSError, p.UnencodableValue, p.FrameTooLarge):
                return False
            return True

    def close(self) -> None:
        with self._lock:
            self._open = False


_current = threading.local()  # .notifier: the Notifier of the request this thread handles


def current_notifier() -> Notifier | None:
    """In a thread handling a request that came over a dedicated channel: its Notifier."""
    return getattr(_current, "notifier", None)


# ---- dedicated channels: one pipe pair per host thread ------------------------------------
#
#   host thread (DedicatedChannel)                 router (serve_channel_requests)
#   ------------------------------                 ---------------------------------
#   first request of the thread: two pipes;  --->  one thread receives the fds over the
#   the router's ends go over the control          control socket and starts a thread per
#   socket (SCM_RIGHTS), ours are kept             channel, which reads a request (polling
#   request(): write, poll `spin`, block in        `spin` first), runs it and writes the
#   read; nothing between the caller and   <---    reply: no hand-off on either side
#   the pipe
#
# A channel carries one request at a time, for the thread that owns it (its lock marks it
# busy: a nested request, from a signal handler say, takes the shared Channel). The router
# serves it in order, so a request that does not end with its reply (timeout,
# KeyboardInterrupt, a broken pipe) discards the channel: a new request never queues behind
# an old one. The router's death closes its ends: the blocked read returns EOF.


class DedicatedChannel:
    __slots__ = ("rfd", "wfd", "conn", "lock", "owner", "spin", "poll", "on_note",
                 "__weakref__")

    def __init__(self, rfd: int, wfd: int, codec: p.Codec, owner: Any, spin: float) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.conn = Connection(codec)
        self.lock = threading.Lock()  # held for a request, and to close from another thread
        self.owner = owner  # what the channel belongs to (the router's process handle)
        self.spin = spin
        poller = select.poll()
        poller.register(rfd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self.poll = poller.poll
        #: receives the router's notifications that arrive before the reply (progress)
        self.on_note: Callable[[p.Notification], None] | None = None

    @classmethod
    def open(cls, control: Any, codec: p.Codec, owner: Any, spin: float) -> DedicatedChannel:
        """Two pipes; the router's ends are sent over the `control` socket (the caller holds
        the control socket's send lock). Raises OSError when the router is gone."""
        from .process import pipe

        req_r, req_w = pipe(1 << 16)
        resp_r, resp_w = pipe(1 << 16)
        try:
            import socket

            socket.send_fds(control, [b"C"], [req_r, resp_w])
        except BaseException:
            for fd in (req_w, resp_r):
                os.close(fd)
            raise
        finally:  # the router holds them now (or nobody does): EOF when it dies
            os.close(req_r)
            os.close(resp_w)
        return cls(resp_r, req_w, codec, owner, spin)

    def close(self) -> None:
        close_quietly(self.rfd, self.wfd)
        self.rfd = self.wfd = -1

    def __del__(self) -> None:  # the owning thread ended, or the runtime was collected
        self.close()

    def request(self, method: str, params: list, timeout: float | None = None) -> p.Response:
        """One request and its reply; the caller holds `lock`. Any failure after the request
        was sent closes the channel (ChannelClosed: the router died; anything else is
        re-raised). Encoding errors leave it open."""
        request_id, frame = self.conn.send_request(method, params)
        done = False
        try:
            try:
                write_all(self.wfd, frame)
            except OSError as e:
                raise ChannelClosed("write_failed", f"write failed: {e}") from None
            if timeout is None and self.spin:  # a quick reply comes before a CPU wakes up
                poll_briefly(self.poll, self.spin)
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self.poll(remaining * 1000):
                        raise TimeoutError("no reply in time")
                try:
                    data = os.read(self.rfd, READ_SIZE)
                except OSError as e:
                    raise ChannelClosed("read_failed", f"read failed: {e}") from None
                for event in self.conn.receive_data(data):
                    if type(event) is p.Response and event.id == request_id:
                        done = True
                        return event
                    if type(event) is Closed:
                        raise event.error
                    if type(event) is p.Notification and self.on_note is not None:
                        self.on_note(event)
        finally:
            if not done:
                self.close()


def serve_channel_requests(server: RpcServer, control_fd: int, spin: float = 0.0) -> None:
    """In the router: receive the fds of each new dedicated channel on the control socket
    and serve the channel on a thread of its own. Returns at the socket's EOF."""
    import socket

    control = socket.socket(fileno=control_fd)
    count = 0
    while not server.finished.is_set():
        try:
            msg, fds = recv_fds_cloexec(control, 16, 2)
        except OSError:
            break
        if not msg:
            break
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        count += 1
        server.spawn(server.serve_channel, (fds[0], fds[1], spin), f"zixir-channel-{count}")


def recv_fds_cloexec(sock: Any, bufsize: int, maxfds: int) -> tuple[bytes, list[int]]:
    """`socket.recv_fds`, with the received fds close-on-exec from the start (CPython 3.11's
    recv_fds drops its flags argument, and a process spawned meanwhile would inherit them)."""
    import array
    import socket

    fds = array.array("i")
    msg, ancdata, _flags, _addr = sock.recvmsg(bufsize, socket.CMSG_LEN(maxfds * fds.itemsize),
                                               socket.MSG_CMSG_CLOEXEC)
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    return msg, list(fds)
