"""Dedicated host channels: each host thread's own pipe pair to a router thread of its own.

Replies reach the thread that asked, many host threads are served at once, a long request
blocks nobody else, the router's death reaches a thread waiting on its channel as
RouterCrashed, and a request that ends without its reply never leaves the channel behind.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import make_runtime, wait_for

from zixir.lang.errors import CallTimeout, RouterCrashed
from zixir.runtime.channel import DedicatedChannel

FAKE = "fakesession:FakeSession"


@pytest.fixture
def rt(no_leaks):
    # these tests are about the host-router channels: host calls take them only with the
    # direct path (test_direct.py) off
    with make_runtime(workers=4, session_factory=FAKE, direct=False) as runtime:
        yield runtime


def this_threads_channel(rt) -> DedicatedChannel | None:
    return getattr(rt._local, "channel", None)


def _try(fn):
    try:
        return fn()
    except Exception:
        return None


@pytest.mark.timeout(60)
def test_replies_reach_the_thread_that_asked(rt):
    threads, calls = 8, 150
    start = threading.Barrier(threads, timeout=10)

    def caller(t: int) -> list:
        start.wait()
        got = [rt.call_python("faultlib", "echo", [[t, i]]) for i in range(calls)]
        channel = this_threads_channel(rt)
        assert channel is not None and channel.rfd >= 0
        return got, channel

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(caller, range(threads)))
    for t, (got, _) in enumerate(results):
        assert got == [[t, i] for i in range(calls)]
    assert len({id(channel) for _, channel in results}) == threads  # one each


@pytest.mark.timeout(60)
def test_host_threads_are_served_concurrently_and_a_long_eval_blocks_nobody(rt, tmp_path):
    gates = [tmp_path / f"gate{i}" for i in range(3)]
    markers = [tmp_path / f"pid{i}" for i in range(3)]
    with ThreadPoolExecutor(4) as pool:
        blocked = [pool.submit(rt.call_python, "faultlib", "gate", [str(g), str(m)])
                   for g, m in zip(gates[:2], markers[:2], strict=True)]
        program = f"python('faultlib', 'gate', {str(gates[2])!r}, {str(markers[2])!r})"
        evaluating = pool.submit(rt.eval, program)
        for m in markers:  # three requests in their workers at once
            wait_for(m.exists, what=f"{m.name} to reach its worker")
        # meanwhile this thread's calls and stats are answered
        assert rt.call_python("faultlib", "echo", ["free"]) == "free"
        assert rt.stats()["router"]["workers"]["idle"] == 1
        for g in gates:
            g.touch()
        assert [f.result(timeout=10) for f in blocked] == ["opened", "opened"]
        assert evaluating.result(timeout=10) == "opened"


@pytest.mark.timeout(60)
def test_router_killed_while_a_thread_waits_on_its_channel(rt, tmp_path):
    router_pid = rt.pids()["router"]
    gate, marker = tmp_path / "gate", tmp_path / "pid"
    seen: dict = {}

    def victim():
        rt.call_python("faultlib", "echo", [0])  # opens this thread's channel
        seen["channel"] = this_threads_channel(rt)
        try:
            rt.call_python("faultlib", "gate", [str(gate), str(marker)])
        except RouterCrashed as e:
            seen["error"] = e
        # the same thread's next call goes to the new router, on a new channel
        seen["after"] = wait_for(lambda: _try(lambda: rt.call_python("faultlib", "echo",
                                                                     ["again"])),
                                 what="the restarted router")
        seen["new channel"] = this_threads_channel(rt)

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(victim)
        wait_for(marker.exists, what="the call to reach its worker")
        worker_pid = int(marker.read_text())
        os.kill(router_pid, signal.SIGKILL)
        future.result(timeout=30)
    assert isinstance(seen["channel"], DedicatedChannel)
    assert "SIGKILL" in seen["error"].message
    assert seen["after"] == "again"
    assert seen["new channel"] is not seen["channel"] and seen["channel"].rfd < 0
    wait_for(lambda: not os.path.exists(f"/proc/{worker_pid}/status")
             or "zombie" in open(f"/proc/{worker_pid}/status").read(), timeout=5,
             what="the old router's worker to exit")


def test_a_nested_request_takes_the_shared_channel(rt):
    assert rt.call_python("faultlib", "echo", [1]) == 1
    channel = this_threads_channel(rt)
    assert channel is not None
    with channel.lock:  # as if a request of this thread were in flight
        assert rt.call_python("faultlib", "echo", [2]) == 2
    assert this_threads_channel(rt) is channel
    assert rt.call_python("faultlib", "echo", [3]) == 3


@pytest.mark.timeout(60)
def test_a_request_without_its_reply_discards_the_channel(rt, tmp_path):
    gate, marker = tmp_path / "gate", tmp_path / "pid"
    assert rt.call_python("faultlib", "echo", [1]) == 1
    first = this_threads_channel(rt)
    program = f"python('faultlib', 'gate', {str(gate)!r}, {str(marker)!r})"
    with pytest.raises(CallTimeout):
        rt._request("eval", [program, None, True], timeout=0.2)
    assert first.rfd < 0  # closed: its late reply can reach no later request
    wait_for(marker.exists, what="the abandoned eval to reach its worker")
    assert rt.call_python("faultlib", "echo", [2]) == 2  # a new channel, not behind the eval
    assert this_threads_channel(rt) is not first
    gate.touch()


def test_a_thread_that_ends_closes_its_channel(rt):
    box: list = []

    def once():
        rt.call_python("faultlib", "echo", [1])
        box.append(this_threads_channel(rt))

    t = threading.Thread(target=once)
    t.start()
    t.join(timeout=30)
    assert not t.is_alive()
    fds = (box[0].rfd, box[0].wfd)
    box.clear()  # the thread's local is gone with the thread; this was the last reference
    wait_for(lambda: len(rt._channels) == 0, what="the ended thread's channel to be closed")
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)


def test_poll_briefly_returns_on_an_event_or_when_the_time_is_up():
    import select

    from zixir.runtime.spin import poll_briefly

    r, w = os.pipe()
    try:
        poller = select.poll()
        poller.register(r, select.POLLIN)
        assert poll_briefly(poller.poll, 0.001) is False  # nothing comes: returns by itself
        os.write(w, b"x")
        assert poll_briefly(poller.poll, 3600.0) is True  # data is there: returns at once
        assert os.read(r, 1) == b"x"
    finally:
        os.close(r)
        os.close(w)


def test_spin_stops_polling_while_polls_come_back_empty_and_tries_again_later():
    from zixir.runtime import spin as s

    polls = []
    ready = [False]

    def poll(timeout: int) -> list:
        polls.append(timeout)
        return [(3, 1)] if ready[0] else []

    spinner = s.Spin(0.0005)
    for _ in range(s.MISSES):  # empty-handed MISSES times in a row
        spinner.wait(poll)
    assert polls
    polls.clear()
    for _ in range(s.BACKOFF):  # then it blocks at once (no poll) for BACKOFF waits
        spinner.wait(poll)
    assert polls == []
    spinner.wait(poll)  # tries again; one more miss pauses twice as long
    assert polls
    polls.clear()
    for _ in range(2 * s.BACKOFF):
        spinner.wait(poll)
    assert polls == []
    ready[0] = True
    spinner.wait(poll)  # an event: polling paid, the backoff starts over
    assert polls == [0]
    ready[0] = False
    for _ in range(s.MISSES):
        spinner.wait(poll)
    polls.clear()
    for _ in range(s.BACKOFF):
        spinner.wait(poll)
    assert polls == []
