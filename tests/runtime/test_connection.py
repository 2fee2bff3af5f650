"""The channel: the sans-IO Connection on plain bytes, then the threaded Channel on pipes.

Many requests in flight on one channel are matched by id whatever the order of the replies;
every way a channel ends (EOF, bad frame, oversized frame, a reply nobody asked for, closed)
becomes one typed error delivered to exactly the requests pending on that channel.
"""

from __future__ import annotations

import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from zixir.runtime import protocol as p
from zixir.runtime.channel import (
    CLOSED,
    OPEN,
    Channel,
    ChannelClosed,
    Closed,
    Connection,
)

CODEC = p.Codec(max_frame=1 << 12)


def server_reply(request: p.Request, result) -> bytes:
    return CODEC.encode(p.Response(request.id, None, result))


def decode_requests(data: bytes) -> list[p.Request]:
    return p.FrameDecoder(CODEC).feed(data)


def test_requests_in_flight_are_matched_by_id_in_any_order():
    conn = Connection(CODEC)
    sent = [conn.send_request("call", [i]) for i in range(100)]
    assert conn.pending == {rid for rid, _ in sent}
    requests = decode_requests(b"".join(frame for _, frame in sent))
    random.Random(1).shuffle(requests)
    data = b"".join(server_reply(r, r.params[0] * 2) for r in requests)
    events = []
    for i in range(0, len(data), 7):  # in pieces, as a pipe delivers them
        events += conn.receive_data(data[i:i + 7])
    assert {e.id: e.result for e in events} == {rid: i * 2 for i, (rid, _) in enumerate(sent)}
    assert conn.pending == frozenset() and conn.state == OPEN


def test_eof_closes_and_names_every_pending_request():
    conn = Connection(CODEC)
    a, _ = conn.send_request("call", [])
    b, _ = conn.send_request("call", [])
    (closed,) = conn.receive_data(b"")
    assert isinstance(closed, Closed) and closed.error.kind == "eof"
    assert set(closed.pending) == {a, b}
    assert conn.state == CLOSED
    with pytest.raises(ChannelClosed):
        conn.send_request("call", [])
    assert conn.receive_data(b"more") == []  # nothing after the end


@pytest.mark.parametrize("data, kind", [
    (b"\x00\x00\x00\x07garbage", "bad_frame"),
    (b"\xff\xff\xff\xff", "oversized"),
    (b"\x00\x00\x00\x00", "bad_frame"),
])
def test_bad_frames_close_the_connection_with_a_typed_reason(data, kind):
    conn = Connection(CODEC)
    rid, _ = conn.send_request("call", [])
    (closed,) = conn.receive_data(data)
    assert closed.error.kind == kind and closed.pending == (rid,)
    assert conn.state == CLOSED


def test_a_reply_to_a_request_never_sent_closes_the_connection():
    conn = Connection(CODEC)
    rid, _ = conn.send_request("call", [])
    events = conn.receive_data(CODEC.encode(p.Response(rid + 1000, None, 1)))
    assert len(events) == 1 and events[0].error.kind == "bad_frame"
    assert events[0].pending == (rid,)


def test_an_abandoned_request_drops_its_late_reply_and_the_channel_stays_open():
    conn = Connection(CODEC)
    late, _ = conn.send_request("call", [])
    kept, _ = conn.send_request("call", [])
    conn.abandon(late)
    events = conn.receive_data(CODEC.encode(p.Response(late, None, "late"))
                               + CODEC.encode(p.Response(kept, None, "kept")))
    assert [e.result for e in events] == ["kept"] and conn.state == OPEN


def test_an_unencodable_request_leaves_the_connection_open():
    conn = Connection(CODEC)
    with pytest.raises(p.UnencodableValue):
        conn.send_request("call", [1j])
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(p.UnencodableValue, match="too deep"):
        conn.send_request("call", [deep])
    with pytest.raises(p.FrameTooLarge):
        conn.send_request("call", ["x" * (1 << 13)])
    assert conn.pending == frozenset() and conn.state == OPEN
    rid, frame = conn.send_request("call", [1])
    assert decode_requests(frame)[0].id == rid


def test_receive_one_takes_the_one_frame_fast_case_and_hands_the_rest_to_receive_data():
    client, server = Connection(CODEC), Connection(CODEC)
    request_id, frame = client.send_request("call", ["m", "f", [1], {}, {}])
    request = server.receive_one(frame)  # exactly one request frame: the Request itself
    assert request == p.Request(request_id, "call", ["m", "f", [1], {}, {}])
    reply = server.send_response(request_id, None, [1, 2])
    assert client.receive_one(reply, request_id) == p.Response(request_id, None, [1, 2])
    assert client.pending == frozenset()

    # a split frame, then the rest: the events receive_data makes of them
    request_id, frame = client.send_request("call", [])
    reply = server.send_response(request_id, None, "ok")
    assert client.receive_one(reply[:3], request_id) == []
    assert client.receive_one(reply[3:], request_id) == [p.Response(request_id, None, "ok")]
    # a notification alone, then with the reply in the same read
    note = CODEC.encode(p.Notification("async", ["m", "f"]))
    request_id, frame = client.send_request("call", [])
    assert client.receive_one(note, request_id) == [p.Notification("async", ["m", "f"])]
    both = note + server.send_response(request_id, None, 5)
    assert client.receive_one(both, request_id) == [
        p.Notification("async", ["m", "f"]), p.Response(request_id, None, 5)]
    # a reply to another id, or bytes that are no frame: the connection closes, typed
    stray = server.send_response(999_999, None, 1)
    closed = client.receive_one(stray, 1)
    assert type(closed[0]) is Closed and closed[0].error.kind == "bad_frame"
    assert client.state == CLOSED
    other = Connection(CODEC)
    garbage = p.HEADER.pack(3) + b"\xc1\xc1\xc1"
    closed = other.receive_one(garbage)
    assert type(closed[0]) is Closed and closed[0].error.kind == "bad_frame"
    assert other.receive_one(b"") == []  # closed for good


def test_requests_and_notifications_pass_through_to_a_server():
    server = Connection(CODEC)
    data = CODEC.encode(p.Request(7, "ping", [])) + CODEC.encode(p.Notification("ready", [1]))
    events = server.receive_data(data)
    assert events == [p.Request(7, "ping", []), p.Notification("ready", [1])]


# ---- the threaded transport ----------------------------------------------------------------


class EchoPeer:
    """The other end of a Channel: answers requests in reverse batches, or on command."""

    def __init__(self) -> None:
        self.req_r, self.req_w = os.pipe()
        self.resp_r, self.resp_w = os.pipe()
        self.conn = Connection(CODEC)
        self.channel = Channel(self.resp_r, self.req_w, CODEC)
        self.held: list[p.Request] = []

    def read_available(self) -> list[p.Request]:
        """At least one request: whatever has arrived."""
        first = [] if self.held else self.read_requests(1)
        out, self.held = first + self.held, []
        return out

    def read_requests(self, count: int) -> list[p.Request]:
        while len(self.held) < count:
            for event in self.conn.receive_data(os.read(self.req_r, 65536)):
                if type(event) is p.Request:
                    self.held.append(event)
        out, self.held = self.held[:count], self.held[count:]
        return out

    def reply(self, requests: list[p.Request]) -> None:
        os.write(self.resp_w, b"".join(server_reply(r, r.params[0]) for r in requests))

    def close(self) -> None:
        for fd in (self.req_r, self.resp_w):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.mark.timeout(60)
def test_many_threads_many_requests_in_flight_on_one_channel():
    peer = EchoPeer()
    threads, per_thread = 16, 50
    try:
        def answer():
            total = threads * per_thread
            while total:
                batch = peer.read_available()
                peer.reply(list(reversed(batch)))  # replies out of order
                total -= len(batch)

        answering = threading.Thread(target=answer)
        answering.start()

        def caller(t: int) -> list:
            return [peer.channel.request("call", [[t, i]]).result for i in range(per_thread)]

        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(caller, range(threads)))
        answering.join(30)
        for t, got in enumerate(results):
            assert got == [[t, i] for i in range(per_thread)]
    finally:
        peer.channel.close()
        peer.close()


@pytest.mark.timeout(60)
def test_eof_fails_exactly_the_requests_pending_on_that_channel():
    peer, other = EchoPeer(), EchoPeer()
    try:
        with ThreadPoolExecutor(5) as pool:
            waiting = [pool.submit(peer.channel.request, "call", [i]) for i in range(4)]
            bystander = pool.submit(other.channel.request, "call", ["fine"])
            peer.read_requests(4)
            os.close(peer.resp_w)  # the peer dies
            for f in waiting:
                with pytest.raises(ChannelClosed) as info:
                    f.result(timeout=10)
                assert info.value.kind == "eof"
            other.reply(other.read_requests(1))
            assert bystander.result(timeout=10).result == "fine"
        with pytest.raises(ChannelClosed):
            peer.channel.request("call", [5])
    finally:
        other.channel.close()
        peer.close()
        other.close()


@pytest.mark.timeout(60)
def test_a_timeout_fails_one_request_and_its_late_reply_reaches_nobody():
    peer = EchoPeer()
    try:
        with pytest.raises(TimeoutError):
            peer.channel.request("call", ["slow"], timeout=0.05)
        slow = peer.read_requests(1)
        with ThreadPoolExecutor(1) as pool:
            fast = pool.submit(peer.channel.request, "call", ["fast"])
            batch = peer.read_requests(1)
            peer.reply(slow + batch)  # the abandoned reply first
            assert fast.result(timeout=10).result == "fast"
        assert peer.channel.closed is None
    finally:
        peer.channel.close()
        peer.close()


@pytest.mark.timeout(60)
def test_interrupt_wakes_a_reader_whose_peer_is_alive():
    peer = EchoPeer()
    try:
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(peer.channel.request, "call", [1])
            peer.read_requests(1)  # it is blocked in read now (or about to be)
            peer.channel.interrupt("the worker exited", "eof")
            with pytest.raises(ChannelClosed) as info:
                waiting.result(timeout=10)
            assert info.value.reason == "the worker exited"
    finally:
        peer.close()


@pytest.mark.timeout(60)
def test_drain_files_what_a_dead_peer_wrote_before_its_end():
    # an agent that said "began" and exited: the notice is still in the pipe when the
    # supervisor notices the exit, and must be read before the channel is closed
    notes: list[p.Notification] = []
    r, w = os.pipe()
    channel = Channel(r, os.open(os.devnull, os.O_WRONLY), CODEC, on_notification=notes.append)
    os.write(w, CODEC.encode(p.Notification("began", [7])))
    os.close(w)
    assert channel.drain(5.0) is True
    assert notes == [p.Notification("began", [7])]
    assert channel.closed is not None and channel.closed.kind == "eof"


@pytest.mark.timeout(60)
def test_drain_gives_up_on_a_peer_that_is_alive_and_leaves_the_channel_open():
    peer = EchoPeer()
    try:
        assert peer.channel.drain(0.1) is False
        assert peer.channel.closed is None
    finally:
        peer.close()


@pytest.mark.timeout(60)
def test_a_bad_frame_fails_every_waiter_with_the_same_reason():
    peer = EchoPeer()
    try:
        with ThreadPoolExecutor(3) as pool:
            waiting = [pool.submit(peer.channel.request, "call", [i]) for i in range(3)]
            peer.read_requests(3)
            os.write(peer.resp_w, b"\x00\x00\x00\x07garbage")
            kinds = set()
            for f in waiting:
                with pytest.raises(ChannelClosed) as info:
                    f.result(timeout=10)
                kinds.add(info.value.kind)
            assert kinds == {"bad_frame"}
    finally:
        peer.close()


# ---- the watchdog ----------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_watchdog_whose_callback_raises_keeps_enforcing_deadlines():
    import time

    from zixir.runtime.watchdog import Watchdog

    fired: list = []
    done = threading.Event()

    def on_expired(what):
        fired.append(what)
        if what == "first":
            raise RuntimeError("the kill failed")
        done.set()

    dog = Watchdog(on_expired, idle_wake=60.0)
    try:
        dog.watch(1, time.monotonic(), "first")
        dog.watch(2, time.monotonic() + 0.05, "second")
        dog.watch(3, time.monotonic() + 3600, "never")
        assert done.wait(30)
        assert fired == ["first", "second"] and dog.failures == 1
        assert not dog.unwatch(1) and not dog.unwatch(2)  # claimed by the watchdog
        assert dog.unwatch(3)  # still ours
    finally:
        dog.close()
    assert dog._thread is not None and not dog._thread.is_alive()  # joined
