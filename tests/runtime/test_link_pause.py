"""WorkerLink.pause/resume (zixir/runtime/link.py): while a worker is lent to a host thread,
the router's reader leaves its pipe alone, and a paused link still fails and closes."""

from __future__ import annotations

import os
import time

import pytest
from conftest import wait_for

from zixir.runtime import protocol as p
from zixir.runtime.channel import ChannelClosed
from zixir.runtime.link import WorkerLink


@pytest.fixture
def pipes():
    """(link, the worker's write end of the link's read pipe, codec)."""
    from_worker_r, from_worker_w = os.pipe()
    to_worker_r, to_worker_w = os.pipe()
    codec = p.Codec()
    link = WorkerLink(from_worker_r, to_worker_w, codec)
    yield link, from_worker_w, codec
    link.close("test over")
    os.close(from_worker_w)
    os.close(to_worker_r)


def test_a_paused_link_reads_nothing_until_resumed(pipes):
    link, worker_w, codec = pipes
    request_id, waiter = link.send("call", ["m", "f"])
    assert link.pause(5.0)
    reply = codec.encode_response(request_id, None, "answer")
    os.write(worker_w, reply)
    time.sleep(0.3)  # a reader that still read would have taken it by now
    assert not waiter.done
    borrowed = os.open(f"/proc/self/fd/{link.rfd}", os.O_RDONLY | os.O_NONBLOCK)
    try:  # the borrower (the host thread) finds the whole frame in the pipe
        assert os.read(borrowed, 1 << 16) == reply
    finally:
        os.close(borrowed)
    link.resume()
    os.write(worker_w, reply)
    assert waiter.wait(5.0).result == "answer"


def test_a_paused_link_that_is_interrupted_fails_its_calls_and_closes(pipes):
    link, _worker_w, _codec = pipes
    _id, waiter = link.send("call", ["m", "f"])
    assert link.pause(5.0)
    rfd = link.rfd
    link.interrupt("the worker exited", "eof")
    with pytest.raises(ChannelClosed):
        waiter.wait(5.0)

    def closed() -> bool:
        try:
            os.fstat(rfd)
        except OSError:
            return True
        return False

    wait_for(closed, what="the parked reader to end and close the pipe")
    assert not link.pause(1.0)  # nothing left to lend
