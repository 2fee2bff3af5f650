"""Agents through the public Python API (`Runtime.agents`): start and call, the mailbox,
restarts with snapshots, the restart types and intensity, timeouts, stop, the breaker, policy
and confinement, agents calling agents (and the deadlock cycle), 200 agents at once, and a
host killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from conftest import HERE, descendants, make_runtime, pid_alive, sleeping, wait_for

from zixir.lang.errors import (
    AgentDeadlock,
    AgentError,
    CallTimeout,
    CircuitOpen,
    PolicyDenied,
    PythonError,
    RestartLimitExceeded,
    WorkerCrashed,
    ZixirRuntimeError,
)


@pytest.fixture(scope="module")
def rt():
    runtime = make_runtime(workers=1)
    yield runtime
    runtime.close()


def command_line(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline") as f:
        return f.read().replace("\0", " ")


def gone(pids) -> bool:
    return not any(pid_alive(p) for p in pids)


def test_start_call_status_list_and_stats(rt):
    assert rt.agents.start("basic", "agentlib", "Counter", [10], kwargs={"step": 5}) == "basic"
    assert rt.agents.call("basic", "add") == 15
    assert rt.agents.call("basic", "add", 2) == 17
    assert rt.agents.call("basic", "add_later", 3) == 20  # an async def method
    pid = rt.agents.call("basic", "pid")
    status = rt.agents.status("basic")
    assert status == {"name": "basic", "class": "agentlib.Counter", "pid": pid,
                      "status": "running", "restarts": 0, "calls": 4, "waiting": 0,
                      "last_error": None}
    assert pid != os.getpid() and pid not in rt.pids()["workers"]
    # forked from the agent template, never exec'd: the same program and command line
    template = rt.pids()["agent_template"]
    assert os.readlink(f"/proc/{pid}/exe") == os.readlink(f"/proc/{template}/exe")
    assert command_line(pid) == command_line(template)
    assert "python_workers.forkserver" in command_line(pid)
    assert status in rt.agents.list()
    assert pid in rt.pids()["agents"]
    agents = rt.stats()["router"]["agents"]
    assert agents["running"] >= 1 and agents["calls"] >= 4
    assert rt.agents.stop("basic") is True


def test_typed_errors_of_misuse(rt):
    rt.agents.start("dup", "agentlib", "Plain")
    with pytest.raises(AgentError, match="Agent dup already exists"):
        rt.agents.start("dup", "agentlib", "Plain")
    with pytest.raises(AgentError, match="Agent nobody is not running"):
        rt.agents.call("nobody", "add", 1)
    with pytest.raises(AgentError, match="Agent nobody is not running"):
        rt.agents.status("nobody")
    with pytest.raises(AgentError, match="restart must be one of"):
        rt.agents.start("bad", "agentlib", "Plain", restart="sometimes")
    with pytest.raises(AgentError, match="checkpoint must be"):
        rt.agents.start("bad", "agentlib", "Plain", checkpoint=-1)
    with pytest.raises(PythonError, match="has no method 'nope'"):
        rt.agents.call("dup", "nope")
    with pytest.raises(PolicyDenied, match="not a public method name"):
        rt.agents.call("dup", "__init__")
    with pytest.raises(PolicyDenied, match='python "subprocess" "Popen" is not allowed'):
        rt.agents.start("shell", "subprocess", "Popen", [["true"]])
    with pytest.raises(PythonError, match="ValueError: cannot build this one"):
        rt.agents.start("broken", "agentlib", "Failing")
    assert "broken" not in [a["name"] for a in rt.agents.list()]  # the name stays free
    rt.agents.start("badsnap", "agentlib", "BadSnapshot")
    with pytest.raises(ZixirRuntimeError, match="the result of agent badsnap "
                       "\\(BadSnapshot.thing\\) cannot be returned to zixir"):
        rt.agents.call("badsnap", "thing")
    assert rt.agents.call("badsnap", "add", 1) == 1
    with pytest.raises(AgentError, match="snapshot\\(\\) of agent badsnap \\(BadSnapshot.add\\) "
                       "returned a value that cannot be stored: values of type object"):
        rt.agents.call("badsnap", "add", 1)
    assert rt.agents.call("badsnap", "add", 1) == 3  # the method ran; the agent goes on
    os.kill(rt.agents.status("badsnap")["pid"], signal.SIGKILL)
    assert rt.agents.call("badsnap", "add", 0) == 3  # the snapshot after n = 3
    rt.agents.stop("badsnap")
    assert rt.agents.stop("dup") is True
    assert rt.agents.stop("dup") is False
    with pytest.raises(AgentError, match="Agent dup is not running"):
        rt.agents.call("dup", "add", 1)
    rt.agents.start("dup", "agentlib", "Plain", [7])  # a stopped name can be used again
    assert rt.agents.call("dup", "add", 1) == 8
    rt.agents.stop("dup")


def test_one_call_at_a_time_in_arrival_order(rt):
    rt.agents.start("order", "agentlib", "Counter")
    pid = rt.agents.call("order", "pid")
    results: dict[int, list] = {}

    def call(i: int, pause: float) -> None:
        results[i] = rt.agents.call("order", "record", i, pause)

    threads = [threading.Thread(target=call, args=(0, 2.0))]
    threads[0].start()
    wait_for(lambda: sleeping(pid), what="the first call running")
    for i in range(1, 5):  # each arrives while the first still runs, in this order
        threads.append(threading.Thread(target=call, args=(i, 0.0)))
        threads[-1].start()
        wait_for(lambda i=i: rt.agents.status("order")["waiting"] == i,
                 what=f"call {i} in the mailbox")
    for t in threads:
        t.join(30)
    assert results[4] == [0, 1, 2, 3, 4]
    rt.agents.stop("order")


def test_waiting_for_a_turn_is_bounded_by_the_call_timeout(rt):
    rt.agents.start("busy", "agentlib", "Counter")
    pid = rt.agents.call("busy", "pid")
    t = threading.Thread(target=rt.agents.call, args=("busy", "span", 2.0))
    t.start()
    wait_for(lambda: sleeping(pid), what="the first call running")
    with pytest.raises(CallTimeout, match="waited 0.5 s for its turn \\(the agent was busy\\)"):
        rt.agents.call("busy", "add", 1, timeout=0.5)
    t.join(30)
    assert rt.agents.call("busy", "add", 1) == 1  # the call that gave up never ran
    assert rt.agents.status("busy")["restarts"] == 0
    rt.agents.stop("busy")


def test_different_agents_run_in_parallel(rt):
    rt.agents.start("par-a", "agentlib", "Counter")
    rt.agents.start("par-b", "agentlib", "Counter")
    spans: dict[str, list] = {}
    threads = [threading.Thread(target=lambda n=n: spans.__setitem__(
        n, rt.agents.call(n, "span", 1.5))) for n in ("par-a", "par-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    (a0, a1), (b0, b1) = spans["par-a"], spans["par-b"]
    assert a0 < b1 and b0 < a1  # the two calls overlapped in time
    rt.agents.stop("par-a")
    rt.agents.stop("par-b")


def test_large_arrays_pass_both_ways(rt):
    rt.agents.start("arrays", "agentlib", "Arrays")
    big = rt.agents.call("arrays", "ones", 300_000)  # 2.4 MB, above the shared-memory threshold
    assert len(big) == 300_000
    assert rt.agents.call("arrays", "add_all", [1.5] * 300_000) == 450_000.0
    rt.agents.stop("arrays")


def test_kill_between_calls_restarts_with_the_snapshot(rt):
    rt.agents.start("snap", "agentlib", "Counter")
    for _ in range(3):
        rt.agents.call("snap", "add")
    pid = rt.agents.call("snap", "pid")
    os.kill(pid, signal.SIGKILL)
    # the next call waits for the restart and finds the state of the last call
    assert rt.agents.call("snap", "add") == 4
    status = rt.agents.status("snap")
    assert status["restarts"] == 1 and status["status"] == "running"
    assert status["pid"] != pid
    assert status["last_error"] == "the process was killed by signal SIGKILL"
    rt.agents.stop("snap")


def test_kill_during_a_call_fails_only_that_call(rt):
    rt.agents.start("mid", "agentlib", "Counter")
    rt.agents.call("mid", "add", 10)
    pid = rt.agents.call("mid", "pid")
    outcome: dict[str, object] = {}

    def slow() -> None:
        try:
            outcome["slow"] = rt.agents.call("mid", "record", "slow", 5.0)
        except Exception as e:
            outcome["slow"] = e

    def queued() -> None:
        outcome["queued"] = rt.agents.call("mid", "add", 1)

    first = threading.Thread(target=slow)
    first.start()
    wait_for(lambda: sleeping(pid), what="the slow call running")
    second = threading.Thread(target=queued)  # waits behind the slow call, then the restart
    second.start()
    wait_for(lambda: rt.agents.status("mid")["waiting"] == 1, what="the second call waiting")
    os.kill(pid, signal.SIGKILL)
    first.join(30)
    second.join(30)
    assert isinstance(outcome["slow"], WorkerCrashed)
    assert outcome["slow"].signal == signal.SIGKILL
    assert outcome["queued"] == 11  # restored from the snapshot of the call before the crash
    rt.agents.stop("mid")


def test_a_crash_loop_reaches_failed():
    with make_runtime(workers=1, restart_intensity=3, restart_period=30.0) as rt:
        rt.agents.start("loop", "agentlib", "Counter")
        for _ in range(4):  # 3 restarts are allowed in the period; the 4th crash is too many
            with pytest.raises(WorkerCrashed):
                rt.agents.call("loop", "crash")
        status = wait_for(lambda: (s := rt.agents.status("loop"))["status"] == "failed" and s,
                          what="the agent to fail")
        assert status["restarts"] == 3 and "more than 3 restarts" in status["last_error"]
        with pytest.raises(RestartLimitExceeded, match="Agent loop has failed"):
            rt.agents.call("loop", "add")
        assert rt.agents.stop("loop") is False


def test_a_restart_that_cannot_build_the_object_is_retried_then_failed(rt, tmp_path):
    rt.agents.start("once", "agentlib", "BuildsOnce", [str(tmp_path / "built")])
    with pytest.raises(WorkerCrashed):
        rt.agents.call("once", "crash")
    # every new build raises: each attempt is a restart, until the intensity is exceeded
    with pytest.raises(RestartLimitExceeded, match="Agent once has failed: more than 3 restarts "
                       "in 5 s \\(last: agentlib.BuildsOnce\\(...\\) raised ConnectionError: "
                       "the service is gone\\)"):
        rt.agents.call("once", "add")
    status = rt.agents.status("once")
    assert status["status"] == "failed" and status["restarts"] == 3 and status["pid"] is None


def test_restart_intensity_counts_only_the_restarts_within_the_period():
    with make_runtime(workers=1, restart_intensity=1, restart_period=2.0) as rt:
        rt.agents.start("spaced", "agentlib", "Counter")
        for _ in range(2):  # one crash per period: each is the only one in its window
            with pytest.raises(WorkerCrashed):
                rt.agents.call("spaced", "crash")
            assert rt.agents.call("spaced", "add") >= 1
            time.sleep(2.2)
        assert rt.agents.status("spaced")["status"] == "running"
        assert rt.agents.status("spaced")["restarts"] == 2
        for _ in range(2):  # two within the period: beyond the intensity
            with pytest.raises(WorkerCrashed):
                rt.agents.call("spaced", "crash")
        wait_for(lambda: rt.agents.status("spaced")["status"] == "failed",
                 what="the agent to fail")
        with pytest.raises(RestartLimitExceeded, match="more than 1 restart in 2 s"):
            rt.agents.call("spaced", "add")


def test_restart_types(rt):
    rt.agents.start("trans", "agentlib", "Plain", [1], restart="transient")
    pid = rt.agents.call("trans", "pid")
    os.kill(pid, signal.SIGKILL)  # abnormal: restarted
    assert rt.agents.call("trans", "add", 1) == 2
    rt.agents.start("trans-exit", "agentlib", "Counter", restart="transient")
    with pytest.raises(WorkerCrashed, match="exited with code 0"):
        rt.agents.call("trans-exit", "exit_normally")
    status = wait_for(lambda: (s := rt.agents.status("trans-exit"))["status"] == "stopped"
                      and s, what="a normal exit to stop a transient agent")
    assert status["restarts"] == 0
    rt.agents.start("temp", "agentlib", "Plain", restart="temporary")
    os.kill(rt.agents.call("temp", "pid"), signal.SIGKILL)
    status = wait_for(lambda: (s := rt.agents.status("temp"))["status"] == "stopped" and s,
                      what="a temporary agent to stay down")
    assert status["restarts"] == 0 and "SIGKILL" in status["last_error"]
    with pytest.raises(AgentError, match="Agent temp is not running"):
        rt.agents.call("temp", "add", 1)
    rt.agents.stop("trans")


def test_calls_arriving_during_a_restart_wait_for_it(rt):
    rt.agents.start("slow", "agentlib", "SlowRestart")
    rt.agents.call("slow", "record", "before")
    pid = rt.agents.call("slow", "pid")
    os.kill(pid, signal.SIGKILL)
    # its restore() takes 1.5 s: the agent is seen restarting, and calls made now wait
    wait_for(lambda: rt.agents.status("slow")["status"] == "restarting", timeout=10.0,
             what="the agent to be restarting")
    results: dict[int, object] = {}

    def call(i: int) -> None:
        try:
            results[i] = rt.agents.call("slow", "record", i)
        except Exception as e:
            results[i] = e

    threads = []
    for i in range(3):  # arriving in this order, while it is being rebuilt
        threads.append(threading.Thread(target=call, args=(i,)))
        threads[-1].start()
        wait_for(lambda i=i: rt.agents.status("slow")["waiting"] == i + 1,
                 what=f"call {i} in the mailbox")
    with pytest.raises(CallTimeout, match="waited 0.2 s for its turn \\(the agent was "
                       "restarting\\)"):
        rt.agents.call("slow", "get", timeout=0.2)
    for t in threads:
        t.join(30)
    # all three ran after the restore, in arrival order, on the new process
    assert results[2] == ["before", 0, 1, 2], results
    status = rt.agents.status("slow")
    assert status["status"] == "running" and status["restarts"] == 1 and status["pid"] != pid
    rt.agents.stop("slow")


def test_checkpoint_every_n_calls_and_never(rt):
    rt.agents.start("every2", "agentlib", "Counter", checkpoint=2)
    for _ in range(3):
        rt.agents.call("every2", "add")
    os.kill(rt.agents.call("every2", "pid"), signal.SIGKILL)  # the 4th call (pid) checkpoints
    assert rt.agents.call("every2", "get") == 3
    rt.agents.start("forget", "agentlib", "Counter", [100], checkpoint="never")
    rt.agents.call("forget", "add", 5)
    os.kill(rt.agents.call("forget", "pid"), signal.SIGKILL)
    assert rt.agents.call("forget", "get") == 100  # built again from its arguments only
    assert rt.memory.get("zixir.agent/forget") is None
    wait_for(lambda: (rt.memory.get("zixir.agent/every2") or {}).get("n") == 3,
             what="the snapshot to reach the memory store")
    rt.agents.stop("every2")
    rt.agents.stop("forget")


def test_snapshots_reach_the_store_coalesced_and_a_flush_writes_at_once():
    from zixir.runtime.agent_checkpoints import CheckpointWriter

    class Store:
        def __init__(self):
            self.writes, self.data = [], {}

        def put(self, key, value):
            self.writes.append((key, value))
            self.data[key] = value

        def delete(self, key):
            self.writes.append((key, None))
            self.data.pop(key, None)

    store = Store()
    writer = CheckpointWriter(store, interval=60.0)  # a flush cannot wait out this pause
    for i in range(100):  # a hot agent: only its latest snapshot is written
        writer.put("hot", {"n": i})
    writer.put("cold", 1)
    assert writer.flush(10.0)
    assert store.data == {"zixir.agent/hot": {"n": 99}, "zixir.agent/cold": 1}
    assert len(store.writes) == 2
    writer.delete("cold")
    writer.close()
    assert store.data == {"zixir.agent/hot": {"n": 99}}


def test_a_hung_method_is_timed_out_and_the_agent_restarted(rt):
    rt.agents.start("hung", "agentlib", "Counter")
    rt.agents.call("hung", "add", 2)
    pid = rt.agents.call("hung", "pid")
    with pytest.raises(CallTimeout, match="did not return within 0.5 s"):
        rt.agents.call("hung", "hang", timeout=0.5)
    assert not pid_alive(pid)
    assert rt.agents.call("hung", "get") == 2
    status = rt.agents.status("hung")
    assert status["restarts"] == 1 and "ran past 0.5 s" in status["last_error"]
    rt.agents.stop("hung")


def test_stop_during_a_call(rt):
    rt.agents.start("stopme", "agentlib", "Counter")
    pid = rt.agents.call("stopme", "pid")
    outcome: dict[str, object] = {}

    def slow() -> None:
        try:
            outcome["r"] = rt.agents.call("stopme", "span", 10.0)
        except Exception as e:
            outcome["r"] = e

    t = threading.Thread(target=slow)
    t.start()
    wait_for(lambda: sleeping(pid), what="the call running")
    assert rt.agents.stop("stopme") is True
    t.join(30)
    assert isinstance(outcome["r"], AgentError) and "was stopped" in str(outcome["r"])
    assert not pid_alive(pid)
    assert rt.agents.status("stopme")["status"] == "stopped"


def test_stop_during_a_restart(rt):
    rt.agents.start("halfway", "agentlib", "SlowRestart")
    rt.agents.call("halfway", "add", 1)  # a snapshot, so the restart restores (1.5 s)
    os.kill(rt.agents.call("halfway", "pid"), signal.SIGKILL)
    wait_for(lambda: rt.agents.status("halfway")["status"] == "restarting", timeout=10.0,
             what="the agent to be restarting")
    outcome: dict[str, object] = {}

    def waiting() -> None:
        try:
            outcome["r"] = rt.agents.call("halfway", "get")
        except Exception as e:
            outcome["r"] = e

    t = threading.Thread(target=waiting)
    t.start()
    wait_for(lambda: rt.agents.status("halfway")["waiting"] == 1, what="the call waiting")
    before = set(rt.pids()["agents"])
    assert rt.agents.stop("halfway") is True
    t.join(30)
    assert isinstance(outcome["r"], AgentError) and "Agent halfway is not running" in \
        str(outcome["r"])
    time.sleep(2.0)  # past the restore: the process being built is not kept
    status = rt.agents.status("halfway")
    assert status["status"] == "stopped" and status["pid"] is None
    pids = rt.pids()
    assert not (set(pids["agents"]) - before)
    # no forked process of the router beyond its workers, agents and templates
    known = {*pids["workers"], *pids["agents"], pids["template"], pids["agent_template"]}
    forked = {p for p in descendants(pids["router"])
              if "python_workers.forkserver" in command_line(p)}
    assert forked <= known, forked - known


def test_agents_call_agents_and_a_cycle_is_a_typed_error(rt):
    rt.agents.start("ping-a", "agentlib", "Relay", ["ping-b"])
    rt.agents.start("ping-b", "agentlib", "Relay", ["ping-a"])
    rt.agents.start("leaf", "agentlib", "Counter", [40])
    assert rt.agents.call("ping-a", "ping", 1).startswith("pong from ")
    assert rt.agents.call("ping-a", "via", "leaf", "add", [2]) == 42
    with pytest.raises(AgentDeadlock, match="agent ping-a -> agent ping-b -> agent ping-a"):
        rt.agents.call("ping-a", "ping", 2)
    with pytest.raises(AgentDeadlock, match="agent ping-a -> agent ping-a"):
        rt.agents.call("ping-a", "via", "ping-a", "ping", [0])
    # from a thread the method started: still seen (the agent serves one call at a time)
    with pytest.raises(AgentDeadlock, match="agent ping-a -> agent ping-b -> agent ping-a"):
        rt.agents.call("ping-a", "via_thread", "ping-b", "ping", [1])
    assert rt.agents.call("ping-a", "via_thread", "leaf", "get", []) == 42
    assert {"ping-a", "ping-b", "leaf"} <= set(rt.agents.call("ping-a", "names"))
    # both agents are still fine afterwards
    assert rt.agents.call("ping-b", "ping", 0).startswith("pong")
    # Python functions, under the same policy; and a plain worker function calling an agent
    assert rt.agents.call("ping-a", "python", "math", "sqrt", [81.0]) == 9.0
    with pytest.raises(PolicyDenied, match='"os" "system" is not allowed'):
        rt.agents.call("ping-a", "python", "os", "system", ["true"])
    assert rt.call_python("agentlib", "dispatch", ["leaf", "add", [1]]) == 43
    for name in ("ping-a", "ping-b", "leaf"):
        rt.agents.stop(name)


def test_the_worker_api_outside_a_runtime_is_a_typed_error(monkeypatch):
    from zixir import worker
    from zixir.lang.errors import RouterCrashed

    monkeypatch.delenv(worker.SOCKET_ENV, raising=False)
    with pytest.raises(ZixirRuntimeError, match="not started by a zixir runtime"):
        worker.call_agent("a", "m")
    monkeypatch.setenv(worker.SOCKET_ENV, "/nonexistent/zixir-router.sock")
    with pytest.raises(RouterCrashed, match="cannot reach the router"):
        worker.call("math", "sqrt", [4.0])


def test_a_cycle_through_a_worker_function_is_an_immediate_deadlock_error():
    # the call timeout is long: a cycle that waited for the agent's mailbox would take it all
    with make_runtime(workers=1, call_timeout=60.0,
                      modules={"agentlib.dispatch_threaded": {"threads": 2}}) as rt:
        rt.agents.start("loopy", "agentlib", "Relay", ["other"])
        rt.agents.start("other", "agentlib", "Relay", ["loopy"])
        rt.agents.start("idle", "agentlib", "Counter", [40])
        started = time.monotonic()
        # agent loopy -> the pool worker's agentlib.dispatch -> agent loopy
        with pytest.raises(AgentDeadlock, match="agent call cycle agent loopy -> "
                           "python agentlib.dispatch -> agent loopy: agent loopy is already"):
            rt.agents.call("loopy", "python", "agentlib", "dispatch", ["loopy", "ping", [0]])
        # the same through an `async def` worker function (a task on the worker's loop)
        with pytest.raises(AgentDeadlock, match="agent loopy -> python "
                           "agentlib.dispatch_async -> agent loopy"):
            rt.agents.call("loopy", "python", "agentlib", "dispatch_async",
                           ["loopy", "ping", [0]])
        # and on a thread of the module's pool (`threads`)
        with pytest.raises(AgentDeadlock, match="agent loopy -> python "
                           "agentlib.dispatch_threaded -> agent loopy"):
            rt.agents.call("loopy", "python", "agentlib", "dispatch_threaded",
                           ["loopy", "ping", [0]])
        # and with another agent in between: the chain goes on through that agent's calls
        with pytest.raises(AgentDeadlock, match="agent loopy -> python agentlib.dispatch -> "
                           "agent other -> agent loopy"):
            rt.agents.call("loopy", "python", "agentlib", "dispatch", ["other", "ping", [1]])
        assert time.monotonic() - started < 30
        # the ordinary paths: a worker function that calls no agent, one that calls an idle
        # agent (from an agent and from the host), and the worker's next chain-less call of
        # the same function reaching the agent it refused before
        assert rt.agents.call("loopy", "python", "math", "sqrt", [16.0]) == 4.0
        assert rt.agents.call("loopy", "python", "agentlib", "dispatch",
                              ["idle", "add", [1]]) == 41
        assert rt.call_python("agentlib", "dispatch", ["loopy", "ping", [0]]).startswith("pong")
        assert rt.call_python("agentlib", "dispatch_async", ["idle", "add", [1]]) == 42
        assert rt.call_python("agentlib", "dispatch_threaded", ["loopy", "ping", [0]]) \
            .startswith("pong")
        assert rt.agents.call("loopy", "ping", 0).startswith("pong")


def test_the_breaker_counts_agent_crashes():
    with make_runtime(workers=1, breaker_fail_max=2, breaker_reset_timeout=60.0,
                      restart_intensity=10) as rt:
        rt.agents.start("brk", "agentlib", "Counter")
        for _ in range(2):
            with pytest.raises(WorkerCrashed):
                rt.agents.call("brk", "crash")
        with pytest.raises(CircuitOpen):
            rt.agents.call("brk", "add")
        assert rt.stats()["router"]["breakers"]


def test_module_settings_apply_to_agent_calls():
    # [modules.M] / [modules."M.Class.method"]: the method's timeout, the module's breaker
    modules = {"agentlib": {"breaker": {"failures": 1, "reset_after": 60}},
               "agentlib.Counter.hang": {"timeout": 0.5}}
    with make_runtime(workers=1, call_timeout=30.0, modules=modules) as rt:
        rt.agents.start("ms", "agentlib", "Counter", [3])
        started = time.monotonic()
        with pytest.raises(CallTimeout, match="did not return within 0.5 s"):
            rt.agents.call("ms", "hang")
        assert time.monotonic() - started < 15  # not the runtime's 30 s
        with pytest.raises(CircuitOpen, match="the circuit for agentlib is open"):
            rt.agents.call("ms", "get")  # one failure opens this module's breaker
        assert rt.agents.status("ms")["restarts"] == 1


def test_agents_are_confined_like_workers(rt):
    rt.agents.start("conf", "agentlib", "Counter")
    info = rt.agents.call("conf", "confinement")
    assert info["pgid"] == info["pid"] == info["sid"]  # a process group of its own
    assert info["rlimit_as"] > 0  # an address-space limit
    with open(os.path.join(rt._dir, "groups")) as f:
        assert str(info["pid"]) in f.read().split()  # recorded for the janitor
    rt.agents.stop("conf")


def test_agent_writes_are_confined_by_landlock(rt, tmp_path):
    import shutil
    import tempfile

    from zixir.runtime import confine

    assert confine.landlock_abi() > 0, "this machine's kernel has Landlock"
    outside = tempfile.mkdtemp(prefix="zixir-outside-", dir=os.path.expanduser("~"))
    try:
        rt.agents.start("writer", "agentlib", "Writer")
        with pytest.raises(PythonError) as info:
            rt.agents.call("writer", "write", os.path.join(outside, "written"))
        assert info.value.exc_type == "PermissionError"
        assert not os.listdir(outside)
        inside = str(tmp_path / "fine")  # the temp directory
        assert rt.agents.call("writer", "write", inside) == inside
        rt.agents.stop("writer")
    finally:
        shutil.rmtree(outside, ignore_errors=True)


def test_two_hundred_agents_alive_at_once(no_leaks):
    with make_runtime(workers=1) as rt:
        for i in range(200):
            rt.agents.start(f"a{i}", "agentlib", "Plain", [i], checkpoint="never")
        agents = rt.agents.list()
        assert len(agents) == 200 and {a["status"] for a in agents} == {"running"}
        pids = {a["pid"] for a in agents}
        assert len(pids) == 200 and all(pid_alive(p) for p in pids)
        assert [rt.agents.call(f"a{i}", "add", 1) for i in range(0, 200, 20)] == \
            list(range(1, 201, 20))
        assert rt.stats()["router"]["agents"]["running"] == 200
    wait_for(lambda: gone(pids), timeout=20.0, what="every agent to exit with the runtime")


HOST = textwrap.dedent("""
    import json, sys, time
    from zixir.runtime import Runtime
    rt = Runtime(workers=1, paths=[sys.argv[1]], log_level="off")
    for i in range(3):
        rt.agents.start(f"h{i}", "agentlib", "Counter")
    pids = [rt.agents.call(f"h{i}", "pid") for i in range(3)]
    print(json.dumps({"agents": pids, "dir": rt._dir}), flush=True)
    time.sleep(600)
""")


def test_a_host_killed_with_sigkill_leaves_no_agent_behind():
    host = subprocess.Popen([sys.executable, "-c", HOST, str(HERE)], stdout=subprocess.PIPE,
                            text=True)
    try:
        info = json.loads(host.stdout.readline())
        processes = descendants(host.pid)
        assert set(info["agents"]) <= processes
        host.kill()
        host.wait(30)
        wait_for(lambda: gone(processes), timeout=15.0,
                 what=f"every process of the killed host to die: "
                      f"{[p for p in processes if pid_alive(p)]}")
        wait_for(lambda: not os.path.exists(info["dir"]), timeout=15.0,
                 what="the temp directory to be removed")
    finally:
        if host.poll() is None:
            host.kill()
            host.wait(30)
