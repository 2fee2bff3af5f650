"""Request/response over a pipe pair, for many threads at once (host <-> router).

    client threads (RpcClient)                           server (RpcServer, in the router)
    --------------------------                           ---------------------------------
    request(): encode, write under the write lock  --->  N threads take turns reading: the
    then wait for the reply by id; whichever waiting     reader decodes one request, hands
    thread finds no reader becomes the reader, reads     the read role on, runs the request
    and files every reply it decodes under its id  <---  itself and writes the reply under
    (no thread in between: a lone caller reads its       the write lock
    own reply)

Replies are matched by id, never by order. EOF on the client side closes the channel: every
waiter gets ChannelClosed (the router died). The server returns when its input reaches EOF.

The host's hot path does not use this shared channel: each host thread gets a dedicated
channel (below) on its first request; the shared one carries the rest (a nested request,
threads beyond the limit of dedicated channels).
"""

from __future__ import annotations

import itertools
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from . import protocol as p
from .process import close_quietly
from .spin import poll_briefly

_ids = itertools.count(1)
#: bytes per read (a larger read costs a large allocation every time)
READ_SIZE = 1 << 16


class ChannelClosed(Exception):
    pass


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class RpcClient:
    def __init__(self, rfd: int, wfd: int, codec: p.Codec,
                 decoder: p.FrameDecoder | None = None) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.codec = codec
        self.decoder = decoder or p.FrameDecoder(codec)
        self._write_lock = threading.Lock()
        self._cond = threading.Condition()
        self._replies: dict[int, p.Response | None] = {}
        self._reading = False
        self.closed: str | None = None

    def close(self, reason: str = "closed") -> None:
        """Fail every waiter; the fds are closed once no thread is reading them."""
        with self._cond:
            if self.closed is None:
                self.closed = reason
            if not self._reading:
                self._close_fds()
            self._cond.notify_all()

    def _close_fds(self) -> None:
        with self._write_lock:
            close_quietly(self.rfd, self.wfd)
            self.rfd = self.wfd = -1

    def request(self, method: str, params: list, timeout: float | None = None) -> p.Response:
        request_id = next(_ids)
        frame = self.codec.encode_request(request_id, method, params)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self.closed is not None:
                raise ChannelClosed(self.closed)
            self._replies[request_id] = None
        try:
            with self._write_lock:
                if self.wfd < 0:
                    raise OSError("channel closed")
                write_all(self.wfd, frame)
        except OSError as e:
            self._fail(f"write failed: {e}")
        try:
            return self._await(request_id, deadline)
        finally:
            with self._cond:
                self._replies.pop(request_id, None)

    def _fail(self, reason: str) -> None:
        with self._cond:
            if self.closed is None:
                self.closed = reason
            self._cond.notify_all()
        raise ChannelClosed(reason)

    def _await(self, request_id: int, deadline: float | None) -> p.Response:
        while True:
            with self._cond:
                while True:
                    reply = self._replies.get(request_id)
                    if reply is not None:
                        return reply
                    if self.closed is not None:
                        raise ChannelClosed(self.closed)
                    if not self._reading:
                        self._reading = True
                        break
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError("no reply in time")
                    self._cond.wait(remaining)
            # this thread is the reader until it has filed what it read
            messages: list = []
            failure: str | None = None
            try:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no reply in time")
                # without a deadline, block in read: EOF still ends it when the peer dies
                r = (self.rfd,) if remaining is None else \
                    select.select([self.rfd], [], [], remaining)[0]
                if r:
                    data = os.read(self.rfd, READ_SIZE)
                    if not data:
                        failure = "the peer closed the channel"
                    else:
                        messages = self.decoder.feed(data)
            except p.FrameError as e:
                failure = f"bad frame: {e}"
            except (OSError, ValueError) as e:
                failure = f"read failed: {e}"
            finally:
                with self._cond:
                    self._reading = False
                    for m in messages:
                        if isinstance(m, p.Response) and m.id in self._replies:
                            self._replies[m.id] = m
                    if failure is not None and self.closed is None:
                        self.closed = failure
                    if self.closed is not None:
                        self._close_fds()
                    self._cond.notify_all()


class RpcServer:
    """Leader/follower request server; `handler(request) -> (error, result)`."""

    def __init__(self, rfd: int, wfd: int, codec: p.Codec,
                 handler: Callable[[p.Request], tuple[dict | None, Any]],
                 threads: int = 8) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.codec = codec
        self.decoder = p.FrameDecoder(codec)
        self.handler = handler
        self.threads = threads
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._queue: deque[p.Message] = deque()
        self.finished = threading.Event()
        self.reason = ""
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._stop_when_idle: str | None = None

    def notify(self, method: str, params: list) -> None:
        with self._write_lock:
            write_all(self.wfd, self.codec.encode(p.Notification(method, params)))

    def start(self) -> None:
        for i in range(self.threads):
            threading.Thread(target=self._serve, name=f"zixir-rpc-{i}", daemon=True).start()

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
                if not data:
                    self.stop("eof")
                    return None
                try:
                    self._queue.extend(self.decoder.feed(data))
                except p.FrameError as e:
                    self.stop(f"bad frame: {e}")
                    return None
            message = self._queue.popleft()
            if not isinstance(message, p.Request):
                return None
            with self._inflight_lock:
                self._inflight += 1
            return message

    def _serve(self) -> None:
        while not self.finished.is_set():
            request = self._next()
            if request is None:
                continue
            self._reply(request, self._wfd_lock_write)

    def _wfd_lock_write(self, frame: bytes) -> None:
        with self._write_lock:
            write_all(self.wfd, frame)

    def serve_channel(self, rfd: int, wfd: int, spin: float = 0.0) -> None:
        """Serve one dedicated channel (one host thread's pipes) until its EOF: read a request
        (polling `spin` seconds first: the owner's next request often follows at once), run
        it, write the reply. Nothing else reads or writes these pipes."""
        decoder = p.FrameDecoder(self.codec)
        poller = select.poll()
        poller.register(rfd, select.POLLIN | select.POLLHUP | select.POLLERR)
        poll = poller.poll

        def write(frame: bytes) -> None:
            write_all(wfd, frame)

        try:
            while not self.finished.is_set():
                if spin:
                    poll_briefly(poll, spin)
                data = os.read(rfd, READ_SIZE)
                if not data:
                    return
                for message in decoder.feed(data):
                    if not isinstance(message, p.Request):
                        continue
                    with self._inflight_lock:
                        if self.finished.is_set():
                            return  # the router is stopping: the host sees EOF
                        self._inflight += 1
                    if not self._reply(message, write):
                        return
        except (OSError, p.FrameError):
            pass
        finally:
            close_quietly(rfd, wfd)

    def _reply(self, request: p.Request, write: Callable[[bytes], None]) -> bool:
        """Run a counted request and write its reply; False when the write failed."""
        ok = True
        try:
            error, result = self.handler(request)
            try:
                frame = self.codec.encode_response(request.id, error, result)
            except (p.UnencodableValue, p.FrameTooLarge) as e:
                frame = self.codec.encode(p.Response(
                    request.id, p.fault("ZixirRuntimeError", f"cannot return the value: {e}"),
                    None))
            try:
                write(frame)
            except OSError:
                ok = False
                if write == self._wfd_lock_write:
                    self.stop("write failed")
        finally:
            with self._inflight_lock:
                self._inflight -= 1
                idle_stop = self._stop_when_idle if self._inflight == 0 else None
            if idle_stop:
                self.stop(idle_stop)
        return ok


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
# busy: a nested request, from a signal handler say, takes the shared RpcClient). A request
# that does not end with its reply (timeout, KeyboardInterrupt, a broken pipe) discards the
# channel, so a reply is never read by the wrong request and a new request never queues
# behind an old one. The router's death closes its ends: the blocked read returns EOF.


class DedicatedChannel:
    __slots__ = ("rfd", "wfd", "codec", "decoder", "lock", "owner", "spin", "poll",
                 "__weakref__")

    def __init__(self, rfd: int, wfd: int, codec: p.Codec, owner: Any, spin: float) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.codec = codec
        self.decoder = p.FrameDecoder(codec)
        self.lock = threading.Lock()  # held for a request, and to close from another thread
        self.owner = owner  # what the channel belongs to (the router's process handle)
        self.spin = spin
        poller = select.poll()
        poller.register(rfd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self.poll = poller.poll

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
        """One request and its reply; the caller holds `lock`. Any failure closes the channel
        (ChannelClosed: the router died; anything else is re-raised)."""
        request_id = next(_ids)
        frame = self.codec.encode_request(request_id, method, params)
        done = False
        try:
            try:
                write_all(self.wfd, frame)
            except OSError as e:
                raise ChannelClosed(f"write failed: {e}") from None
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
                    raise ChannelClosed(f"read failed: {e}") from None
                if not data:
                    raise ChannelClosed("the peer closed the channel")
                try:
                    messages = self.decoder.feed(data)
                except p.FrameError as e:
                    raise ChannelClosed(f"bad frame: {e}") from None
                for m in messages:
                    if type(m) is p.Response and m.id == request_id:
                        done = True
                        return m
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
        threading.Thread(target=server.serve_channel, args=(fds[0], fds[1], spin),
                         name=f"zixir-channel-{count}", daemon=True).start()


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
