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
    result = subprocess.run([sys.executable, "-m", "zixir", "run", str(example), "--json"],
                            capture_output=True, text=True, timeout=120)
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
