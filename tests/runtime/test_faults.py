"""Fault injection, one test per row of the failure table.

Each test asserts the typed error, that no call hangs (every wait has a deadline, and
pytest-timeout backs them), that an unrelated call in flight on another worker still succeeds,
and that no child process is left behind (the `no_leaks` fixture).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import HERE, descendants, make_runtime, pid_alive, wait_for

from zixir.lang.errors import (
    CallTimeout,
    CircuitOpen,
    Overloaded,
    PolicyDenied,
    ProtocolError,
    PythonError,
    RestartLimitExceeded,
    RouterCrashed,
    WorkerCrashed,
    ZixirRuntimeError,
)

FAKE = "fakesession:FakeSession"


def events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def event_names(path: Path) -> set[str]:
    return {e["event"] for e in events(path)}


class Bystander:
    """A call in flight on another worker while the fault happens; it must still succeed."""

    def __init__(self, rt, tmp_path: Path, name: str = "bystander") -> None:
        self.rt = rt
        self.gate = tmp_path / f"{name}.open"
        self.marker = tmp_path / f"{name}.pid"
        self.pool = ThreadPoolExecutor(1)

    def __enter__(self):
        self.future = self.pool.submit(self.rt.call_python, "faultlib", "gate",
                                       [str(self.gate), str(self.marker)])
        wait_for(self.marker.exists, what="the bystander call to reach its worker")
        self.pid = int(self.marker.read_text())
        return self

    def finish(self):
        self.gate.touch()
        try:
            return self.future.result(timeout=30)
        finally:
            self.pool.shutdown()

    def __exit__(self, *exc):
        self.gate.touch()
        self.pool.shutdown()


@pytest.fixture
def runtime_factory(no_leaks, tmp_path):
    made = []

    def make(**options):
        options.setdefault("log_file", str(tmp_path / "events.jsonl"))
        options.setdefault("log_level", "info")
        options.setdefault("session_factory", FAKE)
        rt = make_runtime(**options)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close()


def blocking_call_on_a_worker(rt, tmp_path, name="victim"):
    """Start a call that blocks in a worker; returns (future, worker pid, pool)."""
    gate, marker = tmp_path / f"{name}.open", tmp_path / f"{name}.pid"
    pool = ThreadPoolExecutor(1)
    future = pool.submit(rt.call_python, "faultlib", "gate", [str(gate), str(marker)])
    wait_for(marker.exists, what="the victim call to reach its worker")
    return future, int(marker.read_text()), pool


def test_worker_sigkilled_mid_call(runtime_factory, tmp_path):
    rt = runtime_factory()
    with Bystander(rt, tmp_path) as by:
        future, pid, pool = blocking_call_on_a_worker(rt, tmp_path)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerCrashed) as info:
            future.result(timeout=10)
        pool.shutdown()
        assert info.value.signal == signal.SIGKILL and info.value.exitcode is None
        assert f"(pid {pid}) was killed by signal SIGKILL" in info.value.message
        assert "faultlib.gate" in info.value.message
        assert by.finish() == "opened"
    assert rt.call_python("math", "sqrt", [9.0]) == 3.0  # the replacement serves
    wait_for(lambda: {"process.crash", "process.restart"} <= event_names(tmp_path /
                                                                       "events.jsonl"),
             what="crash and restart events")


def test_worker_segfault(runtime_factory, tmp_path):
    rt = runtime_factory()
    with Bystander(rt, tmp_path) as by:
        with pytest.raises(WorkerCrashed) as info:
            rt.call_python("faultlib", "segfault", [])
        assert info.value.signal == signal.SIGSEGV
        assert by.finish() == "opened"
    assert rt.call_python("faultlib", "echo", [1]) == 1


def test_os_exit_in_the_library(runtime_factory, tmp_path):
    rt = runtime_factory()
    with Bystander(rt, tmp_path) as by:
        with pytest.raises(WorkerCrashed) as info:
            rt.call_python("faultlib", "hard_exit", [7])
        assert info.value.exitcode == 7 and info.value.signal is None
        assert "exited with code 7" in info.value.message
        assert by.finish() == "opened"


def test_infinite_loop_past_the_call_timeout(runtime_factory, tmp_path):
    rt = runtime_factory(call_timeout=30)
    with Bystander(rt, tmp_path) as by:
        before = set(rt.pids()["workers"])
        with pytest.raises(CallTimeout) as info:
            rt.call_python("faultlib", "spin", [], timeout=0.5)
        assert "0.5 s" in info.value.message
        assert by.finish() == "opened"
    wait_for(lambda: len(set(rt.pids()["workers"]) - before) == 1, what="a replacement worker")
    assert rt.call_python("faultlib", "echo", ["alive"]) == "alive"
    assert "call.timeout" in event_names(tmp_path / "events.jsonl")
    # a deliberate kill is a replacement, not a restart counted toward the intensity
    assert rt.stats()["router"]["workers"]["restarts"] == 0


def test_memory_error_in_the_library(runtime_factory, tmp_path):
    rt = runtime_factory()
    with Bystander(rt, tmp_path) as by:
        with pytest.raises(PythonError) as info:
            rt.call_python("faultlib", "raise_memory_error", [])
        assert info.value.exc_type == "MemoryError"
        assert "ran out of memory" in info.value.message
        assert by.finish() == "opened"
    assert rt.stats()["router"]["counts"].get("recycled") == 1  # the worker is replaced
    assert rt.call_python("faultlib", "echo", [2]) == 2


def test_address_space_rlimit_hit(runtime_factory, tmp_path):
    limit = 3 << 30
    rt = runtime_factory(rlimit_as=limit)
    with Bystander(rt, tmp_path) as by:
        with pytest.raises(PythonError) as info:
            rt.call_python("faultlib", "allocate", [limit])
        assert info.value.exc_type == "MemoryError"
        assert by.finish() == "opened"
    assert rt.call_python("faultlib", "allocate", [1 << 20]) == 1 << 20


def test_result_that_cannot_be_encoded(runtime_factory, tmp_path):
    rt = runtime_factory(workers=2)
    with Bystander(rt, tmp_path) as by:
        with pytest.raises(ZixirRuntimeError) as info:  # the function returned: no "raised"
            rt.call_python("faultlib", "unencodable", [])
        assert not isinstance(info.value, PythonError)
        assert "cannot be returned to zixir" in info.value.message
        assert "complex" in info.value.message
        other = rt.call_python("faultlib", "whoami", [])  # the same worker is healthy
        assert other != by.pid
        assert by.finish() == "opened"
    assert rt.stats()["router"]["workers"]["restarts"] == 0


def test_result_larger_than_the_frame_limit(runtime_factory, tmp_path):
    rt = runtime_factory(max_frame=1 << 20)
    with Bystander(rt, tmp_path) as by:
        with pytest.raises(ProtocolError) as info:
            rt.call_python("faultlib", "big_result", [2 << 20])
        assert "frame limit" in info.value.message
        assert by.finish() == "opened"
    assert rt.call_python("faultlib", "big_result", [1000]) == "x" * 1000


def test_malformed_frame_from_a_worker(runtime_factory, tmp_path):
    rt = runtime_factory()
    with Bystander(rt, tmp_path) as by:
        with pytest.raises(ProtocolError) as info:
            rt.call_python("faultlib", "malformed_frame", [])
        assert "bad frame" in info.value.message
        assert by.finish() == "opened"
    assert rt.stats()["router"]["counts"].get("protocol_errors") == 1
    assert rt.call_python("faultlib", "echo", [3]) == 3


def test_library_printing_to_stdout_and_stderr(runtime_factory, tmp_path, capfd):
    rt = runtime_factory()
    with Bystander(rt, tmp_path) as by:
        assert rt.call_python("faultlib", "noisy", ["chatty"]) == "chatty"
        assert rt.call_python("faultlib", "echo", [[1, 2]]) == [1, 2]  # protocol intact
        assert by.finish() == "opened"
    out, err = capfd.readouterr()
    assert "chatty-out" in out and "chatty-err" in err


def test_restart_intensity_exceeded_escalates(runtime_factory, tmp_path):
    rt = runtime_factory(restart_intensity=2, restart_period=60)
    with Bystander(rt, tmp_path) as by:
        # crashes no call is to blame for (an idle worker killed from outside) count toward
        # the intensity; crashes caused by calls go to their module's breaker instead
        for _ in range(2):
            idle = _idle_worker(rt, by.pid)
            os.kill(idle, signal.SIGKILL)
            wait_for(lambda idle=idle: _idle_worker(rt, by.pid) not in (None, idle),
                     what="the killed worker's replacement")
        os.kill(_idle_worker(rt, by.pid), signal.SIGKILL)
        # Escalation stops every worker of the supervisor (OTP): the bystander's call fails
        # with the same typed error instead of hanging (its gate is still closed).
        wait_for(by.future.done, what="the bystander's call to end")
        with pytest.raises(RestartLimitExceeded):
            by.finish()
    # the root supervisor replaced the router: the runtime serves again
    wait_for(lambda: _try(lambda: rt.call_python("faultlib", "echo", [4])) == 4,
             what="a fresh router")
    names = event_names(tmp_path / "events.jsonl")
    assert "supervisor.escalate" in names and "router.exit" in names


def _idle_worker(rt, busy: int) -> int | None:
    pids = set(_try(lambda: rt.pids()["workers"]) or ()) - {busy}
    return min(pids) if pids else None


def _try(fn):
    try:
        return fn()
    except (RouterCrashed, RestartLimitExceeded):  # the old router is on its way out
        return None


def test_breaker_opens_and_fails_fast(runtime_factory, tmp_path):
    rt = runtime_factory(breaker_fail_max=3, breaker_reset_timeout=60, restart_intensity=10)
    with Bystander(rt, tmp_path) as by:
        for _ in range(3):
            with pytest.raises(WorkerCrashed):
                rt.call_python("faultlib", "kill_self", [])
        # the last replacement may still be starting: 2 workers, 3 replacements
        wait_for(lambda: rt.stats()["router"]["counts"].get("worker_starts") == 5,
                 what="the replacements to start")
        calls_before = rt.stats()["router"]["counts"].get("worker_starts")
        with pytest.raises(CircuitOpen) as info:
            rt.call_python("faultlib", "echo", [1])
        assert 0 < info.value.retry_after <= 60
        assert rt.stats()["router"]["counts"].get("worker_starts") == calls_before
        assert rt.call_python("math", "sqrt", [4.0]) == 2.0  # other modules are unaffected
        assert by.finish() == "opened"  # faultlib's in-flight call was admitted before
    states = rt.stats()["router"]["breakers"]
    assert states["faultlib"]["state"] == "open"
    assert "breaker.state" in event_names(tmp_path / "events.jsonl")


def test_half_open_admits_exactly_one_probe(runtime_factory, tmp_path):
    rt = runtime_factory(workers=2, breaker_fail_max=2, breaker_reset_timeout=0.5,
                         restart_intensity=10)
    for _ in range(2):
        with pytest.raises(WorkerCrashed):
            rt.call_python("faultlib", "kill_self", [])
    with pytest.raises(CircuitOpen):
        rt.call_python("faultlib", "echo", [1])
    time.sleep(0.6)  # the breaker's open period is a timer, not an event
    entries = tmp_path / "entries"
    entries.mkdir()
    gate = tmp_path / "probe.open"
    barrier = threading.Barrier(8)

    def attempt():
        barrier.wait(timeout=10)
        try:
            return rt.call_python("faultlib", "probe", [str(entries), str(gate)])
        except CircuitOpen as e:
            return e

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(attempt) for _ in range(8)]
        # the probe waits at the gate while the seven others are refused
        wait_for(lambda: sum(f.done() for f in futures) == 7, what="seven refusals")
        gate.touch()
        results = [f.result(timeout=30) for f in futures]
    assert sum(isinstance(r, CircuitOpen) for r in results) == 7
    assert results.count("opened") == 1
    assert len(os.listdir(entries)) == 1  # exactly one call reached a worker
    assert rt.stats()["router"]["breakers"]["faultlib"]["state"] == "closed"
    assert rt.call_python("faultlib", "echo", [5]) == 5


def test_retries_with_backoff_for_an_idempotent_call(runtime_factory, tmp_path):
    rt = runtime_factory(idempotent=("faultlib.flaky",), retry_attempts=4, retry_backoff=0.01,
                         restart_intensity=10)
    counter = tmp_path / "attempts"
    with Bystander(rt, tmp_path) as by:
        assert rt.call_python("faultlib", "flaky", [str(counter), 2]) == 3
        assert rt.stats()["router"]["counts"]["retries"] == 2
        # not marked idempotent: the first crash is the caller's error
        other = tmp_path / "other"
        with pytest.raises(WorkerCrashed):
            rt.call_python("faultlib", "kill_self", [])
        # an explicit per-call retry count works for any function
        assert rt.call_python("faultlib", "flaky", [str(other), 1], retries=2) == 2
        assert by.finish() == "opened"


def test_router_killed_mid_program(runtime_factory, tmp_path):
    rt = runtime_factory()
    gate, marker = tmp_path / "gate", tmp_path / "marker"
    program = (f"[memory_put('before', {{'n': 41}}), "
               f"python('faultlib', 'gate', {str(gate)!r}, {str(marker)!r})]")
    router_pid = rt.pids()["router"]
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(rt.eval, program)
        wait_for(marker.exists, what="the program to reach its Python call")
        worker_pid = int(marker.read_text())
        rt.memory.put("during", "host writes still work")  # the bystander: the store
        os.kill(router_pid, signal.SIGKILL)
        with pytest.raises(RouterCrashed) as info:
            future.result(timeout=10)
    assert "SIGKILL" in info.value.message and "memory" in info.value.message
    assert rt.memory.get("before") == {"n": 41}
    assert rt.memory.get("during") == "host writes still work"
    wait_for(lambda: not pid_alive(worker_pid), timeout=2, what="the old router's worker to die")
    wait_for(lambda: _try(lambda: rt.eval("memory_get('before')")) == {"n": 41},
             what="the restarted router")
    assert rt.pids()["router"] != router_pid


def test_memory_store_killed_during_a_write_burst(runtime_factory, tmp_path):
    rt = runtime_factory()
    acknowledged: list[int] = []
    stop = threading.Event()

    def burst():
        for i in range(100_000):
            if stop.is_set():
                return
            rt.memory.put(f"k{i:06d}", {"i": i, "payload": [i] * 3})
            acknowledged.append(i)

    with Bystander(rt, tmp_path) as by:
        with ThreadPoolExecutor(1) as pool:
            writer = pool.submit(burst)
            wait_for(lambda: len(acknowledged) > 200, what="the burst to start")
            store_pid = wait_for(lambda: rt.pids()["memory"], what="the store's pid")
            os.kill(store_pid, signal.SIGKILL)
            wait_for(lambda: rt.pids()["memory"] not in (None, store_pid),
                     what="a new memory store")
            mark = len(acknowledged)
            wait_for(lambda: len(acknowledged) > mark + 200, what="writes after the restart")
            stop.set()
            writer.result(timeout=30)
        assert by.finish() == "opened"
    keys = set(rt.memory.keys("k"))
    missing = [i for i in acknowledged if f"k{i:06d}" not in keys]
    assert not missing, f"{len(missing)} acknowledged writes lost"
    assert rt.memory.get(f"k{acknowledged[-1]:06d}")["i"] == acknowledged[-1]
    assert rt.eval("memory_get('k000001')") == {"i": 1, "payload": [1, 1, 1]}


HOST_SCRIPT = r"""
import json, sys, threading
sys.path.insert(0, sys.argv[1])
from zixir.runtime import Runtime
rt = Runtime(workers=2, paths=(sys.argv[1],), log_level="off", prewarm=True)
rt.call_python("faultlib", "echo", [1])
print(json.dumps(rt.pids()), flush=True)
threading.Event().wait()
"""


def test_host_sigkilled_leaves_no_child(no_leaks):
    host = subprocess.Popen([sys.executable, "-c", HOST_SCRIPT, str(HERE)],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = host.stdout.readline()
        pids = json.loads(line)
        children = [pids["router"], pids["memory"], pids["template"], *pids["workers"]]
        assert len(children) == 5 and all(pid_alive(p) for p in children)
        assert set(children) <= descendants(host.pid)
        os.kill(host.pid, signal.SIGKILL)
        host.wait(timeout=10)
        wait_for(lambda: not any(pid_alive(p) for p in children), timeout=1.0,
                 what="every child of the killed host to exit")
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        host.stdout.close()


def test_more_concurrent_calls_than_the_queue_holds(runtime_factory, tmp_path):
    rt = runtime_factory(workers=2, max_queue=2)
    with Bystander(rt, tmp_path) as by:
        busy, _, pool = blocking_call_on_a_worker(rt, tmp_path, "busy")
        queued_pool = ThreadPoolExecutor(2)
        queued = [queued_pool.submit(rt.call_python, "faultlib", "echo", [i]) for i in range(2)]
        wait_for(lambda: rt.stats()["router"]["workers"]["queued"] == 2,
                 what="two calls queued")
        with pytest.raises(Overloaded) as info:
            rt.call_python("faultlib", "echo", [99])
        assert "max_queue 2" in info.value.message
        (tmp_path / "busy.open").touch()
        assert busy.result(timeout=10) == "opened"
        assert sorted(f.result(timeout=10) for f in queued) == [0, 1]
        assert by.finish() == "opened"
        pool.shutdown()
        queued_pool.shutdown()


def test_denied_module(runtime_factory, tmp_path):
    rt = runtime_factory()
    with Bystander(rt, tmp_path) as by:
        with pytest.raises(PolicyDenied) as info:
            rt.call_python("os", "system", ["true"])
        assert "os.system" in info.value.message
        for module, function in [("builtins", "eval"), ("builtins", "__import__"),
                                 ("subprocess", "run"), ("logging", "os.system"),
                                 ("math", "sqrt.__class__")]:
            with pytest.raises(PolicyDenied):
                rt.call_python(module, function, ["1"])
        assert rt.call_python("builtins", "round", [2.675], {"ndigits": 2}) == 2.67
        assert by.finish() == "opened"
    allowed = runtime_factory(allow=("os",), workers=1)
    assert allowed.call_python("os", "getpid", []) in allowed.pids()["workers"]


def test_timeout_while_a_grandchild_holds_the_worker_pipes(runtime_factory, tmp_path):
    rt = runtime_factory(workers=1)
    with pytest.raises(CallTimeout):
        rt.call_python("faultlib", "spin_with_child", [], timeout=0.5)
    assert rt.call_python("faultlib", "echo", ["alive"]) == "alive"
