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
            for fd in (self.rfd, self.wfd):
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
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
            error, result = self.handler(request)
            try:
                frame = self.codec.encode_response(request.id, error, result)
            except (p.UnencodableValue, p.FrameTooLarge) as e:
                frame = self.codec.encode(p.Response(
                    request.id, p.fault("ZixirRuntimeError", f"cannot return the value: {e}"),
                    None))
            try:
                with self._write_lock:
                    write_all(self.wfd, frame)
            except OSError:
                self.stop("write failed")
            with self._inflight_lock:
                self._inflight -= 1
                idle_stop = self._stop_when_idle if self._inflight == 0 else None
            if idle_stop:
                self.stop(idle_stop)
