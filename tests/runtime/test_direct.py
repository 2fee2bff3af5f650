"""The direct path (zixir/runtime/direct.py): host threads call lent workers over the
workers' own pipes, with the router's policy, breaker, timeout and crash handling unchanged.
Every other runtime test runs on it too (it is on by default); these pin what is its own:
that it is taken, that lent workers come back when the router needs them, and that each
fault gives the routed path's typed error."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
from conftest import make_runtime, wait_for

from zixir.lang.errors import (
    CallTimeout,
    CircuitOpen,
    PolicyDenied,
    ProtocolError,
    PythonError,
    WorkerCrashed,
    ZixirRuntimeError,
)


@pytest.fixture
def runtimes(no_leaks):
    made = []

    def factory(**options):
        rt = make_runtime(**options)
        made.append(rt)
        return rt

    yield factory
    for rt in made:
        rt.close()


def _workers(rt) -> dict:
    return rt.stats()["router"]["workers"]


def test_a_host_call_takes_a_lent_worker(runtimes):
    rt = runtimes(workers=1)
    assert rt.call_python("math", "sqrt", [16.0]) == 4.0
    workers = _workers(rt)
    assert workers["lent"] == 1 and workers["idle"] == 1  # lent, and not in a call
    before = rt.stats()["router"]
    for i in range(50):
        assert rt.call_python("faultlib", "echo", [i]) == i
    with pytest.raises(PythonError):
        rt.call_python("math", "sqrt", [-1.0])
    after = rt.stats()["router"]
    # the router ran none of the 51 calls (they went straight to the worker) but counts them
    assert after["latency_ms"].get("call") == before["latency_ms"].get("call")
    assert after["counts"]["calls.ok"] == before["counts"].get("calls.ok", 0) + 50
    assert after["counts"]["calls.error"] == before["counts"].get("calls.error", 0) + 1
    assert rt.stats()["host"]["latency_ms"]["call_python"]["n"] >= 51


def test_direct_and_routed_give_the_same_values_and_errors(runtimes):
    direct, routed = runtimes(workers=1), runtimes(workers=1, direct=False)
    big = np.arange(300_000, dtype=np.float64)  # 2.4 MB: through shared memory
    cases = [("math", "sqrt", [2.0], {}), ("builtins", "divmod", [7, 2], {}),
             ("faultlib", "echo", [{"a": [1, 2.5, None, "x"]}], {}),
             ("builtins", "int", ["12"], {"base": 16}), ("numpy", "sum", [big], {}),
             ("numpy", "copy", [big], {}), ("faultlib", "echo", [2 ** 100], {})]
    for module, function, args, kwargs in cases:
        a = direct.call_python(module, function, args, kwargs)
        b = routed.call_python(module, function, args, kwargs)
        assert type(a) is type(b)
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
    for module, function, args, kind in [("math", "sqrt", [-1.0], PythonError),
                                         ("os", "system", ["true"], PolicyDenied),
                                         ("math", "no_such", [], PythonError)]:
        with pytest.raises(kind) as d:
            direct.call_python(module, function, args)
        with pytest.raises(kind) as r:
            routed.call_python(module, function, args)
        assert d.value.message == r.value.message
    with pytest.raises(ZixirRuntimeError, match="cannot pass the arguments of faultlib.echo"):
        direct.call_python("faultlib", "echo", [object()])
    assert direct.call_python("faultlib", "echo", [3]) == 3  # the lease is still good
    assert _workers(direct)["lent"] == 1


def test_a_crash_on_the_direct_path_is_a_worker_crash_charged_to_the_breaker(runtimes):
    rt = runtimes(workers=1, breaker_fail_max=2, breaker_reset_timeout=60)
    assert rt.call_python("crashlib", "maybe_kill", [1, False]) == 1
    with pytest.raises(WorkerCrashed) as info:
        rt.call_python("crashlib", "kill_self", [])
    assert info.value.signal == signal.SIGKILL
    with pytest.raises(WorkerCrashed):  # on a new worker (a success between would reset)
        rt.call_python("crashlib", "kill_self", [])
    with pytest.raises(CircuitOpen):
        rt.call_python("crashlib", "maybe_kill", [3, False])
    assert rt.call_python("math", "sqrt", [9.0]) == 3.0  # other modules are unaffected
    stats = rt.stats()
    assert stats["router"]["breakers"]["crashlib"]["state"] == "open"
    assert stats["router"]["workers"]["restarts"] == 2
    assert stats["router"]["workers"]["charged"] == 2  # not counted toward the intensity


def test_a_timeout_on_the_direct_path_kills_and_replaces_the_worker(runtimes):
    rt = runtimes(workers=1, call_timeout=1.0)
    first = rt.call_python("faultlib", "whoami", [])
    started = time.monotonic()
    with pytest.raises(CallTimeout, match="did not return within 1 s"):
        rt.call_python("time", "sleep", [30])
    assert time.monotonic() - started < 10
    second = rt.call_python("faultlib", "whoami", [])
    assert second != first
    counts = rt.stats()["router"]["counts"]
    assert counts.get("timeouts") == 1


def test_a_bad_frame_from_a_lent_worker_is_a_protocol_error(runtimes):
    rt = runtimes(workers=1)
    rt.call_python("faultlib", "noop", [])
    with pytest.raises(ProtocolError):
        rt.call_python("faultlib", "malformed_frame", [])
    assert rt.call_python("faultlib", "echo", [4]) == 4
    assert rt.stats()["router"]["counts"].get("protocol_errors") == 1


def test_a_lent_worker_comes_back_when_zixir_code_needs_it(runtimes, tmp_path):
    rt = runtimes(workers=1, call_timeout=5.0)
    assert rt.call_python("faultlib", "echo", [1]) == 1  # this thread holds the only worker
    assert _workers(rt)["lent"] == 1
    # the router's own call waits for a worker: the host gives the idle lease back
    assert rt.eval('python "math" "sqrt" (25.0)') == 5.0
    assert rt.call_python("faultlib", "echo", [2]) == 2  # and leases it again


def test_a_lease_of_a_thread_that_ended_comes_back(runtimes):
    rt = runtimes(workers=1, call_timeout=5.0)
    out = []
    t = threading.Thread(target=lambda: out.append(rt.call_python("faultlib", "echo", [7])))
    t.start()
    t.join()
    assert out == [7] and _workers(rt)["lent"] == 1
    assert rt.call_python("faultlib", "echo", [8]) == 8  # this thread gets the worker back


def test_host_threads_share_workers_through_the_router(runtimes):
    rt = runtimes(workers=2, call_timeout=10.0)
    results: dict[int, list] = {}

    def run(i):
        results[i] = [rt.call_python("faultlib", "echo", [i * 1000 + k]) for k in range(200)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(results[i] == [i * 1000 + k for k in range(200)] for i in range(6))
    assert _workers(rt)["count"] == 2


def test_more_host_threads_than_workers_take_turns_on_the_lent_workers(runtimes):
    # 4 threads, 2 workers: the threads without a lease wait for a turn on another thread's
    # (handed over at the end of its call) instead of going through the router
    rt = runtimes(workers=2, call_timeout=10.0)
    rt.call_python("faultlib", "echo", [0])
    routed_before = rt.stats()["router"]["latency_ms"].get("call", {}).get("n", 0)
    results: dict[int, list] = {}

    def run(i):
        results[i] = [rt.call_python("faultlib", "echo", [i * 1000 + k]) for k in range(300)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(results[i] == [i * 1000 + k for k in range(300)] for i in range(4))
    router = rt.stats()["router"]
    routed = router["latency_ms"].get("call", {}).get("n", 0) - routed_before
    assert routed < 600, routed  # of 1200 (a loaded machine may route some)
    assert router["workers"]["lent"] == 2


def test_a_router_restart_ends_the_leases_without_failing_later_calls(runtimes):
    rt = runtimes(workers=1)
    assert rt.call_python("faultlib", "echo", [1]) == 1
    router = rt.pids()["router"]
    os.kill(router, signal.SIGKILL)
    wait_for(lambda: rt.pids()["router"] not in (None, router), timeout=30,
             what="a new router")
    assert rt.call_python("faultlib", "echo", [2]) == 2


def test_a_lent_worker_killed_while_idle_fails_no_call(runtimes):
    rt = runtimes(workers=1, breaker_fail_max=1, breaker_reset_timeout=60)
    first = rt.call_python("faultlib", "whoami", [])  # lent to this thread, then idle
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: [w for w in rt.pids()["workers"] if w != first], what="the replacement")
    # as on the routed path: the next call runs on the replacement, nothing is charged
    assert rt.call_python("faultlib", "whoami", []) != first
    stats = rt.stats()["router"]
    assert stats["breakers"].get("faultlib", {}).get("state", "closed") == "closed"
    assert stats["workers"]["charged"] == 0 and stats["workers"]["restarts"] == 1
    assert stats["workers"]["lent"] == 0  # the dead one was given back; that call was routed
    assert rt.call_python("faultlib", "echo", [1]) == 1
    assert _workers(rt)["lent"] == 1  # the next one leases the replacement


def test_after_the_runtime_gave_up_a_leased_thread_gets_restart_limit_exceeded(runtimes):
    from zixir.lang.errors import RestartLimitExceeded

    rt = runtimes(workers=1, root_intensity=0, root_period=600)
    assert rt.call_python("faultlib", "echo", [1]) == 1  # leased
    os.kill(rt.pids()["router"], signal.SIGKILL)  # beyond intensity 0: the runtime gives up
    wait_for(lambda: rt._supervisor.escalated, what="the root supervisor to give up")
    with pytest.raises(RestartLimitExceeded):
        rt.call_python("faultlib", "echo", [2])


def test_an_async_function_met_on_a_lent_worker_is_routed_from_then_on(runtimes):
    fanout = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fanout")
    rt = runtimes(workers=1, paths=(os.path.dirname(__file__), fanout))
    assert rt.call_python("faultlib", "echo", [1]) == 1  # this thread holds a lease
    pid = rt.call_python("asynclib", "nap", [0.0])  # on the lease: the worker says "async"
    routed = rt.stats()["router"]["latency_ms"].get("call", {}).get("n", 0)
    out: list = []
    threads = [threading.Thread(target=lambda: out.append(rt.call_python("asynclib", "nap",
                                                                          [1.0])))
               for _ in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - started
    assert out == [pid] * 8
    assert elapsed < 8 * 1.0 / 2, f"8 naps of 1 s took {elapsed:.2f} s: not shared"
    # the router ran them (where async calls share a worker), not the lease
    assert rt.stats()["router"]["latency_ms"]["call"]["n"] == routed + 8


def test_callers_waiting_for_the_only_worker_get_it_from_busy_host_threads(runtimes):
    # four host threads on one worker: whoever holds the lease keeps calling, the others
    # wait in the router; every lease handed out while one waits must come back
    rt = runtimes(workers=1, call_timeout=2.0)  # a caller waits 2 s at most
    stop = threading.Event()
    done = [0] * 4
    errors: list = []

    def loop(i: int) -> None:
        while not stop.is_set():
            try:
                assert rt.call_python("builtins", "abs", [-i]) == i
                done[i] += 1
            except ZixirRuntimeError as e:
                errors.append(e)
                return

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(5.0)
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors, errors[:3]
    assert all(done), done
