"""The fiber scheduler (zixir/lang/fibers.py): many fibers on one OS thread, values delivered
from other threads, timers, exceptions, cancellation, and plain threads that block as before."""

from __future__ import annotations

import random
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zixir.lang import fibers
from zixir.lang.fibers import FiberCancelled, Waiter, WaitTimeout


def in_thread(fn):
    """Run `fn` on a fresh thread (its own scheduler) and return its value or raise."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001
            box["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the thread did not finish"
    if "error" in box:
        raise box["error"]
    return box["value"]


# ---- plain threads ---------------------------------------------------------------------------

def test_plain_thread_blocks_until_another_thread_sets():
    w = Waiter()
    threading.Timer(0.05, lambda: w.set(42)).start()
    assert in_thread(lambda: w.wait(5)) == 42


def test_plain_thread_timeout_and_late_value():
    w = Waiter()
    start = time.monotonic()
    with pytest.raises(WaitTimeout):
        w.wait(0.05)
    assert time.monotonic() - start >= 0.04
    assert w.set(1) is True
    assert w.wait(0) == 1


def test_first_delivery_wins_and_error_is_raised():
    w = Waiter()
    assert w.fail(ValueError("boom")) is True
    assert w.set(1) is False
    with pytest.raises(ValueError, match="boom"):
        w.wait()
    assert w.done


def test_sleep_without_fibers_is_a_plain_sleep():
    start = time.monotonic()
    fibers.sleep(0.03)
    assert time.monotonic() - start >= 0.025
    assert fibers.current() is None


# ---- fibers on one thread --------------------------------------------------------------------

def test_thousands_of_sleeping_fibers_run_on_one_thread_concurrently():
    def main():
        threads = set()

        def body(i):
            threads.add(threading.get_ident())
            fibers.sleep(0.2)
            return i * 2

        fs = [fibers.spawn(lambda i=i: body(i)) for i in range(5000)]
        start = time.monotonic()
        values = [f.waiter.wait() for f in fs]
        return values, time.monotonic() - start, threads, threading.active_count()

    before = threading.active_count()
    values, elapsed, threads, during = in_thread(main)
    assert values == [i * 2 for i in range(5000)]
    assert len(threads) == 1  # every fiber ran on the spawning thread
    assert elapsed < 30.0  # 5000 x 0.2 s one after the other would be 1000 s
    assert during <= before + 1


def test_values_from_other_threads_wake_the_right_fibers():
    def main():
        waiters = [Waiter() for _ in range(1000)]
        fs = [fibers.spawn(lambda w=w: w.wait(20)) for w in waiters]

        def producer(part):
            order = list(part)
            random.shuffle(order)
            for i in order:
                waiters[i].set(i)

        fibers.sleep(0)  # let every fiber park first
        ps = [threading.Thread(target=producer, args=(range(k, 1000, 4),)) for k in range(4)]
        for p in ps:
            p.start()
        values = [f.waiter.wait(20) for f in fs]
        for p in ps:
            p.join()
        return values

    assert in_thread(main) == list(range(1000))


def test_wait_timeout_in_a_fiber_and_a_value_after_it():
    def main():
        w = Waiter()

        def body():
            try:
                w.wait(0.05)
            except WaitTimeout:
                return "timed out"
            return "no"

        f = fibers.spawn(body)
        assert f.waiter.wait(5) == "timed out"
        w.set(3)  # late: nobody waits any more, nothing breaks
        g = fibers.spawn(lambda: w.wait(0.01))
        return g.waiter.wait(5)

    assert in_thread(main) == 3


def test_a_fiber_exception_goes_to_its_waiter():
    def main():
        def body():
            fibers.sleep(0.01)
            raise KeyError("missing")

        f = fibers.spawn(body)
        with pytest.raises(KeyError, match="missing"):
            f.waiter.wait(5)
        return True

    assert in_thread(main)


def test_nested_spawns_and_many_waiters_of_one_fiber():
    def main():
        def tree(depth):
            if depth == 0:
                fibers.sleep(0.01)
                return 1
            kids = [fibers.spawn(lambda: tree(depth - 1)) for _ in range(3)]
            return sum(k.waiter.wait() for k in kids)

        root = fibers.spawn(lambda: tree(5))
        # many fibers wait for the same one
        watchers = [fibers.spawn(lambda: root.waiter.wait()) for _ in range(100)]
        return [w.waiter.wait(20) for w in watchers]

    assert in_thread(main) == [3 ** 5] * 100


def test_root_waits_with_timeout_while_fibers_run():
    def main():
        w = Waiter()
        fibers.spawn(lambda: fibers.sleep(0.2))
        with pytest.raises(WaitTimeout):
            w.wait(0.02)
        return True

    assert in_thread(main)


def test_cancel_a_parked_fiber():
    def main():
        w = Waiter()
        f = fibers.spawn(lambda: w.wait())
        fibers.sleep(0)
        f.cancel()
        with pytest.raises(FiberCancelled):
            f.waiter.wait(5)
        w.set(1)  # a later value does not resume the cancelled fiber
        g = fibers.spawn(lambda: 5)
        g.cancel()  # never started
        with pytest.raises(FiberCancelled):
            g.waiter.wait(5)
        return True

    assert in_thread(main)


def test_blocking_runs_on_a_helper_thread_in_a_fiber():
    def main():
        fs = [fibers.spawn(lambda: fibers.blocking(time.sleep, 0.2) or threading.get_ident())
              for _ in range(20)]
        start = time.monotonic()
        idents = [f.waiter.wait(10) for f in fs]
        return time.monotonic() - start, idents, threading.get_ident()

    elapsed, idents, me = in_thread(main)
    assert elapsed < 3.0  # 20 x 0.2 s serially would be 4 s
    assert me in idents  # the fiber went on on its own thread after the helper returned
    assert fibers.blocking(lambda x: x + 1, 1) == 2  # outside a fiber: just a call


def test_keyboard_interrupt_in_a_fiber_reaches_the_root():
    def main():
        def body():
            fibers.sleep(0.01)
            raise KeyboardInterrupt

        fibers.spawn(body)
        fibers.spawn(lambda: fibers.sleep(1))
        with pytest.raises(KeyboardInterrupt):
            Waiter().wait(5)
        return True

    assert in_thread(main)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["set", "fail", "timeout", "thread"]),
                          st.integers(0, 3)), min_size=1, max_size=40))
def test_no_lost_wake_ups(plan):
    """Every fiber ends exactly as its plan says: a value or an error from this thread or
    another one, or a timeout; whatever the order and timing."""

    def main():
        waiters = [Waiter() for _ in plan]
        fs = []
        for i, (how, _delay) in enumerate(plan):
            timeout = 0.02 if how == "timeout" else 10
            fs.append(fibers.spawn(lambda w=waiters[i], t=timeout: w.wait(t)))
        senders = []
        for i, (how, delay) in enumerate(plan):
            w = waiters[i]
            if how == "set":
                fibers.spawn(lambda w=w, i=i, d=delay: (fibers.sleep(d / 1000), w.set(i)))
            elif how == "fail":
                fibers.spawn(lambda w=w, i=i: w.fail(ValueError(i)))
            elif how == "thread":
                t = threading.Timer(delay / 1000, lambda w=w, i=i: w.set(i))
                t.start()
                senders.append(t)
        outcomes = []
        for f in fs:
            try:
                outcomes.append(f.waiter.wait(20))
            except ValueError as e:
                outcomes.append(("error", e.args[0]))
            except WaitTimeout:
                outcomes.append("timeout")
        for t in senders:
            t.join()
        return outcomes

    expected = [i if how in ("set", "thread") else ("error", i) if how == "fail" else "timeout"
                for i, (how, _) in enumerate(plan)]
    assert in_thread(main) == expected
