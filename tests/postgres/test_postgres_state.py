"""The memory store on a real PostgreSQL server (started by the `postgres_server` fixture):
`zixir run --memory postgresql://...` (and ZIXIR_MEMORY, zixir.toml), two runtimes sharing one
database, atomic updates across them, a workflow killed with SIGKILL on one "host" and resumed
by another process, acknowledged writes across kills of the store process and a lost database
connection, agent snapshots, the `zixir workflow` and `zixir dashboard` commands on a URL, and
the error for a database that cannot be reached.

The unit tests of the store's operations run on both backends in tests/workflow."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from zixir.runtime import Runtime
from zixir.runtime.memory import MemoryUnavailable, open_store, unpack_value

ROOT = Path(__file__).resolve().parents[2]


def zixir(*args: str, env: dict | None = None, cwd: str | None = None,
          timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "zixir", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})


def stored(url: str, key: str):
    store = open_store(url)
    try:
        blob = store.get(key)
        return None if blob is None else unpack_value(blob)
    finally:
        store.close()


def test_zixir_run_keeps_memory_in_postgresql_by_flag_env_and_zixir_toml(tmp_path,
                                                                         postgres_url):
    script = tmp_path / "count.zx"
    script.write_text('memory.put("greeting", "hello")\n'
                      '[memory.incr("runs"), memory.get("greeting")]\n')
    first = zixir("run", str(script), "--memory", postgres_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == '[1, "hello"]'
    second = zixir("run", str(script), env={"ZIXIR_MEMORY": postgres_url})
    assert second.stdout.strip() == '[2, "hello"]', second.stderr
    project = tmp_path / "project"
    project.mkdir()
    (project / "zixir.toml").write_text(f'[runtime]\nmemory_path = "{postgres_url}"\n')
    (project / "count.zx").write_text(script.read_text())
    third = zixir("run", "count.zx", cwd=str(project))
    assert third.stdout.strip() == '[3, "hello"]', third.stderr
    assert stored(postgres_url, "runs") == 3  # in the database itself


BUMP = """
fn bump(i) { memory.incr("hits")
             memory.update("list", xs => append(xs, i), []) }
for i in 0..N { bump(i) }
memory.get("hits")
"""


def test_two_runtimes_share_one_database_and_atomic_updates_stay_atomic(tmp_path,
                                                                      postgres_url):
    with Runtime(workers=1, memory_path=postgres_url, log_level="off") as one, \
            Runtime(workers=1, memory_path=postgres_url, log_level="off") as two:
        one.memory.put("from-one", {"a": [1, 2]})
        assert two.memory.get("from-one") == {"a": [1, 2]}
        assert two.eval('memory.put("from-two", 7)\nmemory.get("from-one")') == {"a": [1, 2]}
        assert one.memory.get("from-two") == 7
        assert one.memory.keys("from-") == ["from-one", "from-two"]

        n = 30  # each runtime: n incr and n read-modify-write updates, on two threads each
        def work(rt, tag):
            for i in range(n):
                rt.memory.incr("total")
                rt.memory.update("seen", lambda xs, i=i: xs + [f"{tag}{i}"], [])

        threads = [threading.Thread(target=work, args=(rt, f"{tag}{t}-"))
                   for rt, tag in ((one, "a"), (two, "b")) for t in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert one.memory.get("total") == 4 * n
        assert sorted(two.memory.get("seen")) == sorted(
            f"{tag}{t}-{i}" for tag in "ab" for t in range(2) for i in range(n))

    # and two `zixir run` processes (two hosts' runtimes) at once
    script = tmp_path / "bump.zx"
    script.write_text(BUMP.replace("N", "60"))
    procs = [subprocess.Popen([sys.executable, "-P", "-m", "zixir", "run", str(script),
                               "--memory", postgres_url, "--workers", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert stored(postgres_url, "hits") == 120
    assert sorted(stored(postgres_url, "list")) == sorted(list(range(60)) * 2)


EFFECTS = '''
import os
import signal
import time


def _host():
    """The `zixir run` process above this worker."""
    pid = os.getppid()
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\\0")
        if b"zixir" in argv and b"run" in argv:
            return pid
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
    raise RuntimeError("no zixir run process above this worker")


def work(i):
    with open(os.environ["WF_LOG"], "a") as f:
        f.write(f"step:{i}\\n")
    crash = os.environ.get("WF_CRASH_AT")
    if crash is not None and int(crash) == i:
        os.kill(_host(), signal.SIGKILL)
        time.sleep(600)  # never returns: the step is not committed
    return i * i
'''

WORKFLOW = '''
fn main() {
  workflow.run("moved", run => {
    let results = []
    for i in 0..12 {
      results = append(results, workflow.step(run, "s" + str(i),
                                              () => python "effects" "work" (i)))
    }
    sum(results)
  })
}
'''


def test_a_workflow_killed_on_one_host_resumes_on_another(tmp_path, postgres_url):
    """Two directories stand for two hosts: nothing is shared but the database."""
    hosts = []
    for name in ("host-a", "host-b"):
        home = tmp_path / name
        home.mkdir()
        (home / "effects.py").write_text(EFFECTS)
        (home / "moved.zx").write_text(WORKFLOW)
        hosts.append(home)
    log = str(tmp_path / "log")

    def run(home, **env):
        return zixir("run", str(home / "moved.zx"), "--memory", postgres_url, "--workers", "1",
                     cwd=str(home), env={"WF_LOG": log,
                                         "XDG_DATA_HOME": str(home), **env})

    killed = run(hosts[0], WF_CRASH_AT="7")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    listed = zixir("workflow", "list", "--memory", postgres_url)
    row = listed.stdout.splitlines()[1].split()
    assert row[:3] == ["moved", "default", "running"] and row[3].startswith("7/"), row
    resumed = run(hosts[1])
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == str(sum(i * i for i in range(12)))
    with open(log) as f:
        counts = collections.Counter(f.read().split())
    # the steps committed before the kill did not run again; the one killed mid-way did
    assert counts == {**{f"step:{i}": 1 for i in range(12)}, "step:7": 2}


def _store_pid(rt: Runtime) -> int:
    """The store serves as soon as it is ready, a moment before the supervisor records it."""
    deadline = time.monotonic() + 10
    while (pid := rt.pids()["memory"]) is None:
        assert time.monotonic() < deadline, "the store's pid was never recorded"
        time.sleep(0.005)
    return pid


def test_acknowledged_writes_survive_kills_of_the_store_and_a_lost_connection(postgres_url):
    with Runtime(workers=1, memory_path=postgres_url, log_level="off",
                 root_intensity=20) as rt:
        rt.memory.put("warm", 1)
        kills = 0
        for i in range(40):
            rt.memory.put(f"k{i:02d}", i)
            assert rt.memory.incr("count") == i + 1  # never applied twice, never lost
            if i % 20 == 10:
                os.kill(_store_pid(rt), signal.SIGKILL)
                kills += 1
        assert kills == 2
        # the server drops the store's connection: the store reconnects, the write goes on
        import psycopg

        with psycopg.connect(postgres_url, autocommit=True) as admin:
            ended = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE application_name = 'zixir memory store'").fetchall()
        assert ended and all(row[0] for row in ended)
        rt.memory.put("after", "reconnect")
        assert rt.memory.incr("count") == 41
    with Runtime(workers=1, memory_path=postgres_url, log_level="off") as fresh:
        assert [fresh.memory.get(f"k{i:02d}") for i in range(40)] == list(range(40))
        assert fresh.memory.get("after") == "reconnect"
        assert fresh.memory.get("count") == 41


def test_a_server_that_restarts_is_waited_for_and_reconnected_to(postgres_server):
    url = postgres_server.url()
    with Runtime(workers=1, memory_path=url, log_level="off") as rt:
        rt.memory.put("before", 1)
        postgres_server.halt()
        outcome: dict = {}

        def write() -> None:
            try:
                outcome["incr"] = rt.memory.incr("during")
            except Exception as e:  # noqa: BLE001 - checked below
                outcome["incr"] = e

        thread = threading.Thread(target=write)
        thread.start()
        time.sleep(1.0)  # the write waits for the server meanwhile
        postgres_server.start()
        thread.join(60)
        assert outcome["incr"] == 1
        rt.memory.put("after", 2)
    assert [stored(url, k) for k in ("before", "during", "after")] == [1, 1, 2]


AGENTS = '''
class Tally:
    def __init__(self):
        self.n = 0

    def add(self, k):
        self.n += k
        return self.n

    def snapshot(self):
        return {"n": self.n}

    def restore(self, state):
        self.n = state["n"]
'''


def test_agent_snapshots_land_in_postgresql(tmp_path, postgres_url):
    from zixir.runtime.agent_checkpoints import state_key

    (tmp_path / "pgagents.py").write_text(AGENTS)
    with Runtime(workers=1, memory_path=postgres_url, log_level="off",
                 paths=(str(tmp_path),)) as rt:
        rt.agents.start("tally", "pgagents", "Tally")
        for k in (1, 2, 3):
            rt.agents.call("tally", "add", k)
        deadline = time.monotonic() + 60
        while stored(postgres_url, state_key("tally")) != {"n": 6}:
            assert time.monotonic() < deadline, stored(postgres_url, state_key("tally"))
            time.sleep(0.05)
        rt.agents.stop("tally")


APPROVAL = '''
workflow.run("ship", run => {
  let built = workflow.step(run, "build", () => "artifact")
  let note = workflow.approval(run, "review", "check the build")
  built + " shipped: " + note
})
'''


def test_workflow_and_dashboard_commands_on_a_url(tmp_path, postgres_server):
    url = postgres_server.url()
    secret = url.replace("postgres@", "postgres:hunter2@")  # trust auth: any password
    script = tmp_path / "ship.zx"
    script.write_text(APPROVAL)
    waiting = zixir("run", str(script), "--memory", secret)
    assert waiting.returncode == 3, waiting.stderr
    assert "hunter2" not in waiting.stderr
    assert "zixir workflow approve ship review --memory" in waiting.stderr
    assert "postgres:***@" in waiting.stderr
    listed = zixir("workflow", "list", "--memory", url)
    assert listed.stdout.splitlines()[1].split()[:4] == ["ship", "default", "waiting", "1/2"]
    shown = zixir("workflow", "show", "ship", "--memory", url).stdout
    assert "waiting for an approval of step review" in shown

    dashboard = subprocess.Popen([sys.executable, "-P", "-m", "zixir", "dashboard",
                                  "--memory", secret], stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "dashboard of" not in line:
            line = dashboard.stderr.readline()
            assert line, "the dashboard ended without printing its URL"
        assert "hunter2" not in line and "postgres:***@" in line
        page = re.search(r"(http://\S+)\?token=(\S+)", line)
        base, token = page.group(1), page.group(2)
        with urllib.request.urlopen(f"{base}api/state?token={token}", timeout=30) as reply:
            state = json.loads(reply.read())
        assert state["mode"] == "store" and "hunter2" not in json.dumps(state)
        assert [a["step"] for a in state["approvals"]] == ["review"]
    finally:
        dashboard.send_signal(signal.SIGINT)
        dashboard.communicate(timeout=30)

    approved = zixir("workflow", "approve", "ship", "review", "--note", "lgtm", "--memory", url)
    assert approved.returncode == 0 and "approved" in approved.stdout, approved.stderr
    done = zixir("run", str(script), "--memory", url)
    assert done.returncode == 0 and done.stdout.strip() == '"artifact shipped: lgtm"'


def test_an_unreachable_database_is_a_clear_error_at_start(tmp_path, postgres_server):
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wrong = f"postgresql://zixir:s3cret@127.0.0.1:{port}/state"
    with pytest.raises(MemoryUnavailable, match=re.escape(
            f"cannot reach the memory store at postgresql://zixir:***@127.0.0.1:{port}/state")) \
            as info:
        Runtime(workers=1, memory_path=wrong, log_level="off")
    assert "s3cret" not in str(info.value)

    script = tmp_path / "one.zx"
    script.write_text("1 + 1\n")
    result = zixir("run", str(script), "--memory", wrong)
    assert result.returncode == 1
    assert "cannot reach the memory store at postgresql://zixir:***@" in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr
    no_database = postgres_server.base_url("missing")
    listed = zixir("workflow", "list", "--memory", no_database)
    assert listed.returncode == 1 and 'database "missing" does not exist' in listed.stderr
    with pytest.raises(MemoryUnavailable, match="cannot reach the memory store at "
                                                "postgresql://127.0.0.1:notaport/x"):
        Runtime(workers=1, memory_path="postgresql://127.0.0.1:notaport/x", log_level="off")
