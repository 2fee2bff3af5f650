"""WorkerLink.hold/read_inline (zixir/runtime/link.py): a thread's sync call reads its own
reply while the reader stays parked, hands the pipe back on a notification, and fails, wakes
and closes as the reader would on end of file or an interrupt."""

from __future__ import annotations

import os
import threading
import time

import pytest
from conftest import wait_for

from zixir.runtime import protocol as p
from zixir.runtime.channel import ChannelClosed
from zixir.runtime.link import WorkerLink


@pytest.fixture
def peer():
    """(link, the worker's ends: (read fd of requests, write fd of replies), codec, notes)."""
    from_worker_r, from_worker_w = os.pipe()
    to_worker_r, to_worker_w = os.pipe()
    codec = p.Codec()
    notes: list = []
    link = WorkerLink(from_worker_r, to_worker_w, codec, on_notification=notes.append)
    ends = [to_worker_r, from_worker_w]
    yield link, ends, codec, notes
    link.close("test over")
    for fd in ends:
        if fd is not None:
            os.close(fd)


def _closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def _answer_later(fd: int, frames: list[bytes], delay: float = 0.05) -> threading.Thread:
    def run() -> None:
        for frame in frames:
            time.sleep(delay)
            os.write(fd, frame)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_an_inline_read_takes_its_reply_while_the_reader_stays_parked(peer):
    link, (requests, replies), codec, _notes = peer
    assert link.hold()
    for n in range(3):  # the reader stays parked between calls
        request_id, waiter = link.send("call", ["m", "f", [n]])
        assert p.FrameDecoder(codec).feed(os.read(requests, 1 << 16))[0].params == ["m", "f",
                                                                                     [n]]
        answer = _answer_later(replies, [codec.encode_response(request_id, None, n * 10)])
        link.read_inline(request_id, waiter)
        answer.join()
        assert waiter.done and waiter.wait(0).result == n * 10
        assert link.held and link._parked
    link.resume()  # the reader reads again: a reply now arrives without an inline read
    request_id, waiter = link.send("call", ["m", "f", []])
    os.write(replies, codec.encode_response(request_id, None, "late"))
    assert waiter.wait(5.0).result == "late"


def test_a_notification_hands_the_pipe_back_to_the_reader(peer):
    link, (_requests, replies), codec, notes = peer
    assert link.hold()
    request_id, waiter = link.send("call", ["m", "f"])
    answer = _answer_later(replies, [codec.encode(p.Notification("async", ["m", "f"])),
                                     codec.encode_response(request_id, None, "after")], 0.1)
    link.read_inline(request_id, waiter)  # returns at the notification
    assert [n.method for n in notes] == ["async"]
    assert not link.held  # the reader reads: it delivers the reply that follows
    assert waiter.wait(5.0).result == "after"
    answer.join()


def test_end_of_file_during_an_inline_read_fails_the_call_and_closes_the_link(peer):
    link, ends, _codec, _notes = peer
    assert link.hold()
    rfd = link.rfd
    request_id, waiter = link.send("call", ["m", "f"])
    os.close(ends[1])  # the worker died
    ends[1] = None
    link.read_inline(request_id, waiter)
    with pytest.raises(ChannelClosed) as caught:
        waiter.wait(0)
    assert caught.value.kind == "eof"
    wait_for(lambda: _closed(rfd), what="the parked reader to end and close the pipe")
    assert not link.hold()


def test_an_interrupt_ends_an_inline_read_of_a_silent_pipe(peer):
    """The watchdog's kill of a worker whose grandchild keeps the pipe open: no end of file
    ever comes, the interrupt alone ends the read (and the fds are closed after it)."""
    link, _ends, _codec, _notes = peer
    assert link.hold()
    rfd = link.rfd
    request_id, waiter = link.send("call", ["m", "f"])
    timer = threading.Timer(0.1, lambda: link.interrupt("m.f timed out", "closed"))
    timer.start()
    started = time.monotonic()
    link.read_inline(request_id, waiter)
    assert time.monotonic() - started < 2.0
    with pytest.raises(ChannelClosed):
        waiter.wait(0)
    wait_for(lambda: _closed(rfd), what="the fds to be closed once the read ended")
    timer.join()


def test_an_exception_raised_into_the_reading_thread_is_delivered_between_slices(peer):
    """Ctrl-C in the REPL reaches a Python call through an exception raised into the
    thread: the inline read polls in slices so that it arrives."""
    import ctypes

    link, _ends, _codec, _notes = peer
    assert link.hold()
    request_id, waiter = link.send("call", ["m", "f"])
    caught: list = []

    def read() -> None:
        try:
            link.read_inline(request_id, waiter)
        except KeyboardInterrupt:
            caught.append(time.monotonic())

    thread = threading.Thread(target=read)
    thread.start()
    time.sleep(0.1)
    raised = time.monotonic()
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                               ctypes.py_object(KeyboardInterrupt))
    thread.join(5.0)
    assert caught and caught[0] - raised < 1.0
