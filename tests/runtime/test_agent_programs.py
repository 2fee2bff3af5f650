"""Agents as a Zixir program meets them: `agent.*` in scripts run by `zixir run` (a subprocess
with its own runtime), with the script's directory holding the agent classes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import descendants, pid_alive, wait_for

HERE = Path(__file__).parent


@pytest.fixture
def script_dir(tmp_path: Path) -> Path:
    shutil.copy(HERE / "agentlib.py", tmp_path / "agentlib.py")
    return tmp_path


def run(script_dir: Path, source: str, *args: str, timeout: float = 120):
    path = script_dir / "prog.zx"
    path.write_text(textwrap.dedent(source))
    return subprocess.run([sys.executable, "-m", "zixir", "run", str(path), "--json", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=script_dir)


def value(result) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_start_call_status_list_stop(script_dir):
    result = run(script_dir, """
        let name = agent.start("c", "agentlib", "Counter", [10], {kwargs: {step: 5}})
        let a = agent.call(name, "add")
        let b = agent.call(name, "add", [2])
        let c = agent.call(name, "add_later", [3])
        let s = agent.status("c")
        let listed = agent.list()
        let was = agent.stop("c")
        let again = agent.stop("c")
        # `agent` is a namespace only before a call of one of its members
        fn shadowed() {
          let agent = {status: "idle", name: "x"}
          [agent.status, agent.name]
        }
        [name, a, b, c, s.status, s.calls, s.class, type_of(s.pid), len(listed), was, again,
         agent.status("c").status, shadowed()]
    """)
    assert value(result) == ["c", 15, 17, 20, "running", 3, "agentlib.Counter", "int", 1,
                             True, False, "stopped", ["idle", "x"]]


def test_errors_are_typed_and_rescuable(script_dir):
    result = run(script_dir, """
        fn kind(f) { try { f() } rescue e { e.type + ": " + e.message } }
        agent.start("c", "agentlib", "Plain")
        [kind(() => agent.start("c", "agentlib", "Plain")),
         kind(() => agent.call("ghost", "add", [1])),
         kind(() => agent.call("c", "nope")),
         kind(() => agent.start("s", "subprocess", "Popen", [["true"]])),
         kind(() => agent.start("x", "agentlib", "Plain", [], {restart: "often"})),
         kind(() => agent.start("x", "agentlib", "Plain", [], {color: 1})),
         kind(() => agent.call("c", 42))]
    """)
    kinds = value(result)
    assert kinds[0] == "AgentError: Agent c already exists"
    assert kinds[1] == "AgentError: Agent ghost is not running"
    assert kinds[2].startswith("PythonError: ") and "has no method 'nope'" in kinds[2]
    assert kinds[3].startswith('PolicyDenied: python "subprocess" "Popen" is not allowed')
    assert kinds[4].startswith("AgentError: agent.start: restart must be one of")
    assert kinds[5] == ("AgentError: agent.start: unknown option color (expected kwargs, "
                        "restart, checkpoint)")
    assert kinds[6] == "AgentError: agent.call: the method must be a string, got int"


def test_an_uncaught_agent_error_has_a_position(script_dir):
    result = run(script_dir, 'let x = 1\nagent.call("ghost", "add")\n')
    assert result.returncode == 1
    assert "prog.zx:2:1: error: Agent ghost is not running" in result.stderr


def test_kill_between_calls_and_during_a_call(script_dir):
    result = run(script_dir, """
        agent.start("c", "agentlib", "Counter")
        agent.call("c", "add", [41])
        let pid = agent.call("c", "pid")
        python "agentlib" "kill" (pid)
        let after = agent.call("c", "add")
        let s = agent.status("c")
        let crashed = try { agent.call("c", "crash") } rescue e { e.type }
        let kept = agent.call("c", "get")
        [after, s.restarts, s.pid != pid, crashed, kept, agent.status("c").restarts]
    """)
    assert value(result) == [42, 1, True, "WorkerCrashed", 42, 2]


def test_restart_types_checkpoints_and_arrival_order(script_dir):
    result = run(script_dir, """
        fn kill(name) {
          python "agentlib" "kill" (agent.status(name).pid)  # no call: it would checkpoint
          while agent.status(name).status == "running" { python "time" "sleep" (0.01) }
        }
        fn settled(name) {
          while agent.status(name).status == "restarting" { python "time" "sleep" (0.01) }
          agent.status(name)
        }
        # restart types: a temporary agent stays down; a transient one after a normal exit
        agent.start("temp", "agentlib", "Plain", [], {restart: "temporary"})
        kill("temp")
        let temp = settled("temp")
        agent.start("trans", "agentlib", "Counter", [], {restart: "transient"})
        let exited = try { agent.call("trans", "exit_normally") } rescue e { e.type }
        let trans = settled("trans")
        agent.start("back", "agentlib", "Counter", [], {restart: "transient"})
        kill("back")
        let back = settled("back")
        # checkpoints: every 2nd call, or never
        agent.start("every2", "agentlib", "Counter", [], {checkpoint: 2})
        for i in range(3) { agent.call("every2", "add") }
        kill("every2")
        agent.start("forget", "agentlib", "Counter", [100], {checkpoint: "never"})
        agent.call("forget", "add", [5])
        kill("forget")
        # arrival order: calls made while the first one runs wait in the mailbox, in order
        agent.start("order", "agentlib", "Counter")
        let first = spawn(() => agent.call("order", "record", [0, 1.0]))
        python "time" "sleep" (0.3)
        let rest = map(range(1, 4), i => {
          let t = spawn(() => agent.call("order", "record", [i]))
          python "time" "sleep" (0.15)
          t
        })
        await(first)
        [[temp.status, temp.restarts], [exited, trans.status, trans.restarts],
         [back.status, back.restarts], agent.call("every2", "get"), agent.call("forget", "get"),
         await_all(rest)[2]]
    """)
    assert value(result) == [["stopped", 0], ["WorkerCrashed", "stopped", 0], ["running", 1],
                             2, 100, [0, 1, 2, 3]]


def test_a_crash_loop_reaches_failed(script_dir):
    result = run(script_dir, """
        agent.start("loop", "agentlib", "Counter")
        let crashes = map(range(4), i => try { agent.call("loop", "crash") } rescue e { e.type })
        let after = try { agent.call("loop", "add") } rescue e { e.type }
        let s = agent.status("loop")
        [crashes, after, s.status, s.restarts]
    """)
    assert value(result) == [["WorkerCrashed"] * 4, "RestartLimitExceeded", "failed", 3]


def test_agents_calling_agents_and_the_deadlock_cycle(script_dir):
    result = run(script_dir, """
        agent.start("a", "agentlib", "Relay", ["b"])
        agent.start("b", "agentlib", "Relay", ["a"])
        let ok = agent.call("a", "ping", [1])
        let cycle = try { agent.call("a", "ping", [2]) } rescue e { [e.type, e.message] }
        let via_python = try {
          agent.call("a", "python", ["agentlib", "dispatch", ["a", "ping", [0]]])
        } rescue e { [e.type, e.message] }
        [contains(ok, "pong"), cycle, via_python]
    """)
    ok, (kind, message), (kind2, message2) = value(result)
    assert ok is True and kind == "AgentDeadlock"
    assert "agent call cycle agent a -> agent b -> agent a" in message
    assert kind2 == "AgentDeadlock"
    assert "agent call cycle agent a -> python agentlib.dispatch -> agent a" in message2


def test_a_hung_method_times_out_and_the_agent_comes_back(script_dir):
    result = run(script_dir, """
        agent.start("h", "agentlib", "Counter", [7])
        let t = try { agent.call("h", "hang") } rescue e { e.type }
        [t, agent.call("h", "get"), agent.status("h").restarts]
    """, "--timeout", "1")
    assert value(result) == ["CallTimeout", 7, 1]


def test_calls_made_during_a_restart_wait_for_it(script_dir):
    result = run(script_dir, """
        agent.start("s", "agentlib", "SlowRestart")
        agent.call("s", "add", [5])
        python "agentlib" "kill" (agent.call("s", "pid"))
        # its restore() takes 1.5 s: wait until the supervisor is rebuilding it
        while agent.status("s").status != "restarting" { python "time" "sleep" (0.01) }
        let during = agent.status("s").status
        let tasks = map(range(3), i => spawn(() => agent.call("s", "add", [1])))
        let values = sort(await_all(tasks))
        [during, values, agent.status("s").status, agent.status("s").restarts]
    """)
    assert value(result) == ["restarting", [6, 7, 8], "running", 1]


def test_stop_during_a_call(script_dir):
    result = run(script_dir, """
        agent.start("c", "agentlib", "Counter")
        let pid = agent.call("c", "pid")
        let t = spawn(() => agent.call("c", "span", [10]))
        python "time" "sleep" (0.5)
        let was = agent.stop("c")
        let outcome = try { await(t) } rescue e { [e.type, e.message] }
        let s = agent.status("c")
        [was, outcome, s.status, s.pid, python "agentlib" "alive" (pid)]
    """)
    was, (kind, message), status, pid, alive = value(result)
    assert was is True and kind == "AgentError"
    assert message == "Agent c was stopped during agent c (Counter.span)"
    assert status == "stopped" and pid is None and alive is False


def test_module_settings_of_zixir_toml_apply_to_agents(script_dir):
    (script_dir / "zixir.toml").write_text(textwrap.dedent("""
        [runtime]
        call_timeout = 60

        [modules.agentlib]
        breaker = { failures = 1, reset_after = 60 }

        [modules."agentlib.Counter"]
        timeout = 1
    """))
    result = run(script_dir, """
        agent.start("c", "agentlib", "Counter", [7])
        let hung = try { agent.call("c", "hang") } rescue e { [e.type, e.message] }
        let next = try { agent.call("c", "get") } rescue e { e.type }
        [hung, next, agent.status("c").restarts]
    """)
    (kind, message), after, restarts = value(result)
    assert kind == "CallTimeout" and "did not return within 1 s" in message
    assert after == "CircuitOpen" and restarts == 1


def test_the_structured_log_records_agent_events(script_dir):
    (script_dir / "zixir.toml").write_text('[runtime]\nlog_level = "info"\n')
    result = run(script_dir, """
        agent.start("c", "agentlib", "Counter")
        try { agent.call("c", "crash") } rescue e { e.type }
        agent.call("c", "add")
        agent.stop("c")
        agent.start("loop", "agentlib", "Counter")
        for i in range(4) { try { agent.call("loop", "crash") } rescue e { e.type } }
        while agent.status("loop").status == "restarting" { python "time" "sleep" (0.01) }
        agent.status("loop").status
    """, "--log-json")
    assert value(result) == "failed"
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    seen = [(e["event"], e.get("name")) for e in events if e["event"].startswith("agent.")]
    for expected in [("agent.start", "c"), ("agent.crash", "c"), ("agent.restart", "c"),
                     ("agent.stop", "c"), ("agent.start", "loop"), ("agent.failed", "loop")]:
        assert expected in seen, (expected, seen)
    assert seen.index(("agent.crash", "c")) < seen.index(("agent.restart", "c")) \
        < seen.index(("agent.stop", "c"))
    (failed,) = [e for e in events if e["event"] == "agent.failed"]
    assert "more than 3 restarts" in failed["reason"] and failed["level"] == "error"


MANY = """
    let n = int(args()[0])
    for i in range(n) {
      agent.start("a" + str(i), "agentlib", "Plain", [i], {checkpoint: "never"})
    }
    let listed = agent.list()
    println({pids: map(listed, a => a.pid), running: len(filter(listed, a => a.status == "running")),
             sum: sum(map(range(0, n, 20), i => agent.call("a" + str(i), "add", [1])))})
    python "time" "sleep" (600)
"""


def test_two_hundred_agents_then_zixir_run_killed_leaves_none_behind(script_dir):
    (script_dir / "many.zx").write_text(textwrap.dedent(MANY))
    host = subprocess.Popen([sys.executable, "-m", "zixir", "run", "many.zx", "--timeout",
                             "900", "200"], cwd=script_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        shown = json.loads(host.stdout.readline())
        assert shown["running"] == 200 and len(set(shown["pids"])) == 200
        assert shown["sum"] == sum(i + 1 for i in range(0, 200, 20))
        processes = descendants(host.pid)
        assert set(shown["pids"]) <= processes  # all alive, under the zixir run process
        host.kill()  # SIGKILL: no cleanup code of the host runs
        host.wait(30)
        wait_for(lambda: not any(pid_alive(p) for p in processes), timeout=30.0,
                 what=f"every process of the killed host to die: "
                      f"{[p for p in processes if pid_alive(p)]}")
    finally:
        if host.poll() is None:
            host.kill()
            host.wait(30)


def test_the_checker_knows_agent_calls(script_dir):
    path = script_dir / "bad.zx"
    path.write_text('agent.call("x")\nagent.start("a", "m", "C")\n')
    result = subprocess.run([sys.executable, "-m", "zixir", "check", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "bad.zx:1:1: error: agent.call expects 2 to 3 arguments, got 1" in result.stdout \
        + result.stderr
    assert ":2:" not in result.stdout + result.stderr



def test_the_agent_pool_example():
    example = HERE.parent.parent / "examples" / "agent_pool.zx"
    result = subprocess.run([sys.executable, "-m", "zixir", "run", str(example), "--json",
                             "--stats"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    before = lines[lines.index("before:") + 1:lines.index("before:") + 5]
    assert before == [f"  {n} running restarts=0 calls=0"
                      for n in ("coordinator", "w1", "w2", "w3")]
    (crash,) = [line for line in lines if "crashed" in line]
    assert crash.startswith("w2 crashed; jobs put back: [")
    lost = json.loads(crash.split(": ", 1)[1])
    after = lines[lines.index("after:") + 1:lines.index("after:") + 5]
    assert [line.split(" calls=")[0] for line in after] == [
        "  coordinator running restarts=0", "  w1 running restarts=0",
        "  w2 running restarts=1", "  w3 running restarts=0"]
    summary = json.loads(lines[-1])
    assert summary == {"done": 20, "pending": 0, "total": sum(j * j for j in range(1, 21)),
                       "retried": lost}
    assert '"event": "agent.crash"' in result.stderr  # the structured log saw it
    # --stats: the agents' line (all stopped by the program's end) and the crash
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("Agents: ")]
    assert line.startswith("Agents: 4 (4 stopped), 1 restart, ") and " calls served (p50 " in line
    assert "agent crashes mid-call 1" in result.stderr
