"""Interrupting an evaluating thread (Ctrl-C in the REPL, `deep.interrupt`): bookkeeping run
`uninterrupted()` is never split, the interrupt is raised as the section ends or as the code
inside it enters an `interruptible()` wait; an interrupt arriving after a job ended is dropped."""

from __future__ import annotations

import threading
import time

import pytest

from zixir.lang import deep


def run_job(fn):
    """`fn(started)` on a deep thread; its thread id once `started` is set, and its future."""
    started = threading.Event()
    holder: dict = {}

    def job():
        holder["ident"] = threading.get_ident()
        return fn(started)

    future = deep.EXECUTOR.submit(job)
    assert started.wait(30)
    return holder["ident"], future


def busy(seconds: float) -> None:
    """Pure Python work, where an exception raised into the thread lands at once."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_an_interrupt_waits_for_the_section_to_end():
    steps: list[str] = []
    sent = threading.Event()

    def job(started):
        with deep.uninterrupted():
            started.set()
            assert sent.wait(30)  # the interrupt has come
            busy(0.2)
            steps.append("section done")
        steps.append("after the section")

    ident, future = run_job(job)
    deep.interrupt(ident)
    sent.set()
    with pytest.raises(KeyboardInterrupt):
        future.result(30)
    assert steps == ["section done"]


def test_an_interruptible_wait_inside_a_section_is_interrupted_at_once():
    steps: list[str] = []

    def job(started):
        with deep.uninterrupted():
            try:
                with deep.interruptible():
                    started.set()
                    busy(30)
            except KeyboardInterrupt:
                steps.append("wait interrupted")
                raise
            finally:
                steps.append("cleanup")  # runs shielded again

    ident, future = run_job(job)
    began = time.monotonic()
    deep.interrupt(ident)
    with pytest.raises(KeyboardInterrupt):
        future.result(30)
    assert time.monotonic() - began < 10
    assert steps == ["wait interrupted", "cleanup"]


def test_an_interrupt_pending_before_a_wait_is_raised_as_the_wait_begins():
    steps: list[str] = []
    go = threading.Event()

    def job(started):
        with deep.uninterrupted():
            started.set()
            assert go.wait(30)
            steps.append("bookkeeping")
            with deep.interruptible():
                steps.append("never")

    ident, future = run_job(job)
    deep.interrupt(ident)
    go.set()
    with pytest.raises(KeyboardInterrupt):
        future.result(30)
    assert steps == ["bookkeeping"]


def test_an_interrupt_after_the_job_is_dropped_and_the_thread_serves_on():
    ident, future = run_job(lambda started: started.set() or "done")
    assert future.result(30) == "done"
    deep.interrupt(ident)  # late: the job is over
    for _ in range(3):  # the pool's threads still serve jobs, none sees the late interrupt
        assert deep.EXECUTOR.submit(lambda: (busy(0.05), "ok")[1]).result(30) == "ok"
