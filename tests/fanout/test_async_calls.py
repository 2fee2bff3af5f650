"""Async Python functions and `threads`: many calls in flight per worker, timeouts that
cancel one task, crashes that fail each call in flight once."""

from __future__ import annotations

import os
import signal
import time

import pytest

from zixir.lang.errors import CallTimeout, PythonError, WorkerCrashed

from .fanout_support import fan_out


def test_async_function_result_is_the_awaited_value(runtime):
    rt = runtime(workers=1)
    pid = rt.call_python("asynclib", "pid")
    assert rt.call_python("asynclib", "nap", [0.01]) == pid
    assert rt.call_python("asynclib", "later", [0.01]) == "later"  # returns an awaitable
    with pytest.raises(PythonError) as info:
        rt.call_python("asynclib", "fails", ["no such key"])
    assert info.value.exc_type == "LookupError" and "no such key" in info.value.message
    # from a Zixir program, through pmap
    assert rt.eval('pmap([1, 2, 3], s => python "asynclib" "nap" (0.01))') == [pid] * 3


def test_one_worker_holds_many_async_calls(runtime):
    rt = runtime(workers=1)
    rt.call_python("asynclib", "nap", [0.0])  # the worker has said the function is async
    started = time.monotonic()
    pids = fan_out(lambda i: rt.call_python("asynclib", "nap", [0.5]), range(40), threads=40)
    elapsed = time.monotonic() - started
    assert len(set(pids)) == 1 and isinstance(pids[0], int)
    assert elapsed < 0.5 * 40 / 4, f"40 calls of 0.5 s on one worker took {elapsed:.2f} s"


def test_threads_run_sync_calls_concurrently(runtime):
    rt = runtime(workers=1, modules={"asynclib.block": {"threads": 8}})
    fan_out(lambda i: rt.call_python("asynclib", "block", [0.0]), range(8), threads=8)
    started = time.monotonic()
    pids = fan_out(lambda i: rt.call_python("asynclib", "block", [0.5]), range(8), threads=8)
    elapsed = time.monotonic() - started
    assert len(set(pids)) == 1 and isinstance(pids[0], int)
    assert elapsed < 0.5 * 8 / 2, f"8 threaded calls of 0.5 s took {elapsed:.2f} s"
    # without threads, the same calls take turns on the one worker
    rt2 = runtime(workers=1)
    rt2.call_python("asynclib", "pid")
    started = time.monotonic()
    fan_out(lambda i: rt2.call_python("asynclib", "block", [0.25]), range(4), threads=4)
    assert time.monotonic() - started >= 0.25 * 4 * 0.9


def test_async_timeout_cancels_only_that_call(runtime, tmp_path):
    rt = runtime(workers=1, modules={"asynclib.nap": {"timeout": 0.5}})
    pid = rt.call_python("asynclib", "pid")
    marker = tmp_path / "cancelled"
    outcomes = fan_out(
        lambda i: rt.call_python("asynclib", "nap", [30.0 if i == 0 else 0.2,
                                                     str(marker) if i == 0 else ""]),
        range(10), threads=10)
    assert isinstance(outcomes[0], CallTimeout), outcomes[0]
    assert "cancelled" in outcomes[0].message
    assert outcomes[1:] == [pid] * 9  # the others finished on the same worker
    deadline = time.monotonic() + 5
    while (not marker.exists() or not marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)  # created, then written
    assert marker.read_text() == "cancelled"  # the task was cancelled in the worker
    assert rt.call_python("asynclib", "pid") == pid  # the worker stayed up


def test_sync_timeout_still_replaces_the_worker(runtime):
    rt = runtime(workers=1, modules={"asynclib.block": {"timeout": 0.5}})
    pid = rt.call_python("asynclib", "pid")
    with pytest.raises(CallTimeout):
        rt.call_python("asynclib", "block", [30.0])
    assert rt.call_python("asynclib", "pid") != pid


def test_killed_worker_fails_each_call_in_flight_once(runtime):
    rt = runtime(workers=2)
    pid = rt.call_python("asynclib", "pid")
    rt.call_python("asynclib", "nap", [0.0])
    started = time.monotonic()

    def call(i):
        return rt.call_python("asynclib", "nap", [3.0])

    import threading
    killer = threading.Timer(1.0, lambda: os.kill(pid, signal.SIGKILL))
    killer.start()
    try:
        outcomes = fan_out(call, range(40), threads=40)
    finally:
        killer.cancel()
    crashed = [o for o in outcomes if isinstance(o, WorkerCrashed)]
    done = [o for o in outcomes if isinstance(o, int)]
    assert len(crashed) + len(done) == 40, outcomes
    assert crashed, "no call was in flight on the killed worker"
    assert all(str(pid) in c.message for c in crashed)
    assert time.monotonic() - started < 15


def test_worker_that_does_not_answer_a_cancellation_is_replaced(monkeypatch):
    """An async call whose event loop is blocked cannot be cancelled: past the grace period
    its worker counts as hung and is replaced; the caller had its CallTimeout at once."""
    from zixir.runtime import pool as pool_module
    from zixir.runtime.config import RuntimeConfig
    from zixir.runtime.pool import WorkerPool

    from .fanout_support import HERE

    monkeypatch.setattr(pool_module, "CANCEL_GRACE", 1.0)
    pool = WorkerPool(RuntimeConfig(workers=1, paths=(str(HERE),), log_level="off",
                                    modules={"asynclib.hog": {"timeout": 0.5}}))
    try:
        pool.start()
        pid = pool.call("asynclib", "hog", [0.0])
        started = time.monotonic()
        with pytest.raises(CallTimeout, match="cancelled"):
            pool.call("asynclib", "hog", [30.0])
        assert time.monotonic() - started < 5
        deadline = time.monotonic() + 15
        while pid in pool.worker_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid not in pool.worker_pids()
        assert pool.stats.snapshot()["counts"]["hung"] == 1
        assert pool.call("asynclib", "pid") != pid
    finally:
        pool.close()


def _router_threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads line")


def test_ten_thousand_async_calls_in_flight_without_a_thread_each(runtime, tmp_path):
    """A Zixir program's pmap with 10,000 async calls in flight at once (the router's own
    count says so; each call waits for a file the test creates once they all are) on 2
    workers: the router's thread count does not grow with them."""
    import threading

    rt = runtime(workers=2, call_timeout=120)
    opened = tmp_path / "open"
    rt.eval(f'python "asynclib" "gate" ("{tmp_path / "warm"}", 0)')  # the router learns: async
    router = rt.pids()["router"]
    threads_before = _router_threads(router)
    outcome: list = []
    program = f'pmap(0..10000, i => python "asynclib" "gate" ("{opened}", 60), 10000)'
    runner = threading.Thread(target=lambda: outcome.append(rt.eval(program)))
    started = time.monotonic()
    runner.start()
    in_flight = most_threads = 0
    try:
        while in_flight < 10000 and runner.is_alive() and time.monotonic() < started + 50:
            in_flight = rt.stats()["router"]["workers"]["inflight"]
            most_threads = max(most_threads, _router_threads(router))
            time.sleep(0.05)
    finally:
        opened.write_text("go")
        runner.join(60)
    assert in_flight == 10000
    assert most_threads <= threads_before + 2, (threads_before, most_threads)
    (pids,) = outcome
    assert len(pids) == 10000 and set(pids) == set(rt.pids()["workers"])  # on both workers


def test_pmap_beyond_concurrency_and_max_queue_is_overloaded_with_a_hint(runtime):
    rt = runtime(workers=1, max_queue=3, modules={"asynclib": {"concurrency": 2}})
    rt.eval('python "asynclib" "nap" (0.0)')
    outcomes = rt.eval('pmap(0..8, i => attempt(() => python "asynclib" "nap" (0.3)), 8)')
    refused = [o["error"] for o in outcomes if not o["ok"]]
    assert sum(o["ok"] for o in outcomes) == 5  # 2 running, 3 waiting for a slot
    assert len(refused) == 3 and all(e["type"] == "Overloaded" for e in refused), outcomes
    assert "max_queue 3; raise [runtime] max_queue" in refused[0]["message"]


def test_an_open_circuit_refuses_before_the_rate_limiter_makes_a_call_wait(runtime):
    """The order around a call: breaker admission comes before the rate token, so a refused
    call neither waits for a token nor spends one."""
    from zixir.lang.errors import CircuitOpen

    rt = runtime(workers=1, modules={"asynclib.fails": {
        "rate": "1/s", "breaker": {"failures": 1, "reset_after": 30, "on": ["LookupError"]}}})
    with pytest.raises(PythonError):
        rt.call_python("asynclib", "fails", ["down"])  # takes the token; opens the circuit
    started = time.monotonic()
    for _ in range(3):
        with pytest.raises(CircuitOpen):
            rt.call_python("asynclib", "fails", ["down"])
    assert time.monotonic() - started < 1.5  # token first: 3 s (one a second)


def test_every_async_call_past_its_timeout_is_a_call_timeout(runtime):
    """300 async calls time out at once: each is a CallTimeout, never the PythonError
    CancelledError of the worker's reply to the cancel racing the deadline."""
    rt = runtime(workers=2, modules={"asynclib.nap": {
        "timeout": 0.3, "breaker": {"failures": 100_000}}})
    rt.call_python("asynclib", "nap", [0.0])
    kinds: dict[str, int] = {}
    for _ in range(3):
        outcomes = rt.eval('pmap(0..300, i => attempt(() => python "asynclib" "nap" (2.0)), '
                           '300)')
        for o in outcomes:
            kind = o["error"]["type"] + ":" + (o["error"].get("python_type") or "")
            kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds == {"CallTimeout:": 900}, kinds


def test_a_call_that_waited_past_its_wait_timeout_says_how_to_avoid_it(runtime):
    rt = runtime(workers=1, modules={"asynclib.nap": {"rate": "5/s", "wait_timeout": 0.3}})
    outcomes = rt.eval('pmap(0..10, i => attempt(() => python "asynclib" "nap" (0.0)), 10)')
    refused = [o["error"]["message"] for o in outcomes if not o["ok"]]
    assert refused, outcomes  # 10 calls at 5/s need 1.8 s of waiting
    assert all("wait_timeout" in m and "raise wait_timeout in the module's [modules] table"
               in m for m in refused), refused
