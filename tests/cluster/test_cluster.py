"""Python calls, pmap and fan-out on a Ray cluster: the same programs give the same values and
the same typed errors as on the local worker pool, the calls really run in Ray worker
processes on both nodes, a lost node fails only the calls it held, and an address where no
cluster answers is a clear error at start."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from zixir.lang.errors import ClusterUnavailable, WorkerCrashed, ZixirError

from .conftest import HERE, client_address, node_ids

PARITY = f"{HERE}/parity.zx"
LIB = "clusterlib"
POLICY_REFUSAL = ('python "os" "system" is not allowed (os is not a module of the script\'s '
                  "directory, and os.system is not in the allowed list); allow it with --allow "
                  'os.system or in zixir.toml: [policy] allow = ["os.system"]')
DOWN = ["PythonError", "clusterdown.call raised ServiceDown: the service is down"]
EXPECTED = [
    5.5,
    ["PythonError", "clusterlib.fail raised ValueError: bad input 7"],
    ["CallTimeout", "clusterlib.sleep did not return within 2 s; its worker was killed and "
                    "replaced"],
    ["PolicyDenied", POLICY_REFUSAL],
    [1, 4, 9, 16, 25, 36, 49],
    ["done"] * 6,
    [DOWN, DOWN, ["CircuitOpen", "the circuit for clusterdown is open after repeated "
                                 "failures; next probe in N s"]],
    2,
]


def zixir(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zixir", *args], capture_output=True,
                          text=True, timeout=timeout)


def normalized(value):
    """The program's value with the breaker's countdown (it depends on timing) as N."""
    text = json.dumps(value)
    return json.loads(re.sub(r"next probe in [0-9.]+ s", "next probe in N s", text))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["local", "ray"])
def test_the_same_program_gives_the_same_values_and_errors(backend, request, tmp_path):
    extra = []
    if backend == "ray":
        extra = ["--cluster", request.getfixturevalue("ray_cluster").address]
    result = zixir("run", "--json", "--memory", str(tmp_path / "memory.db"), *extra, PARITY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert normalized(json.loads(result.stdout)) == EXPECTED, result.stderr[-2000:]


@pytest.mark.timeout(300)
def test_calls_run_in_ray_workers_on_both_nodes(ray_cluster, tmp_path):
    from zixir.runtime import Runtime

    nodes = node_ids(ray_cluster)
    assert len(nodes) == 2
    with Runtime(cluster=ray_cluster.address, workers=2, cluster_cpus=0.5,
                 paths=[HERE], memory_path=str(tmp_path / "m.db")) as rt:
        rt.call_python(LIB, "later", [0.0])  # the workers say it is async
        # many calls in flight at once: the pool spreads them over both worker actors
        seen = rt.eval('pmap(range(12), i => python "clusterlib" "held" (0.3))')
        pids = {s["pid"] for s in seen}
        assert {s["node"] for s in seen} == set(nodes), seen  # both nodes served calls
        workers = rt.stats()["router"]["workers"]
        assert pids == set(workers["pids"]), (pids, workers)
        assert rt.eval('python "clusterlib" "add" (40, 2)') == 42
    for pid in pids:  # the actors are gone with the runtime (Ray ends them; give it time)
        deadline = time.monotonic() + 30
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _is_ray_worker_of_ours(pid)


def _is_ray_worker_of_ours(pid: int) -> bool:
    """Is `pid` still a Ray worker serving our actor? (Ray may reuse an idle worker process,
    but not while our actor holds it.)"""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"WorkerActor" in f.read()
    except OSError:
        return False


@pytest.mark.timeout(300)
def test_a_lost_node_fails_only_its_calls_and_retried_ones_run_elsewhere(ray_cluster, tmp_path):
    from zixir.runtime import Runtime

    node = ray_cluster.add_node(num_cpus=1, object_store_memory=80 * 1024 * 1024,
                                temp_dir=ray_cluster.temp_dir)
    ray_cluster.wait_for_nodes()
    lost = node.node_id
    modules = {"clusterlib.held_again": {"retries": {"attempts": 3, "initial": 0.1}}}
    with Runtime(cluster=ray_cluster.address, workers=3, cluster_cpus=0.5, paths=[HERE],
                 modules=modules, memory_path=str(tmp_path / "m.db")) as rt:
        rt.call_python(LIB, "held", [0.0])  # both functions are known to be async
        rt.call_python(LIB, "held_again", [0.0])
        where = rt.eval('pmap(range(12), i => python "clusterlib" "held" (0.3), 12)')
        assert lost in {w["node"] for w in where}, where  # a worker runs on that node
        # 18 calls of 8 s in flight at once, spread over the three workers: even ones
        # without retries, odd ones with
        program = """
          pmap(range(18), i => attempt(() => if i % 2 == 0 {
                 python "clusterlib" "held" (8)
               } else {
                 python "clusterlib" "held_again" (8)
               }), 18)
        """
        outcome: dict = {}
        thread = threading.Thread(target=lambda: outcome.update(value=rt.eval(program)))
        thread.start()
        deadline = time.monotonic() + 6.0
        while rt.stats()["router"]["workers"]["inflight"] < 18 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert rt.stats()["router"]["workers"]["inflight"] == 18  # every call is running
        ray_cluster.remove_node(node)
        thread.join(180)
        assert not thread.is_alive()
        results = outcome["value"]
        held, again = results[0::2], results[1::2]
        crashed = [r for r in held if not r["ok"]]
        assert crashed, held  # the lost node held some calls: they failed, typed
        assert {r["error"]["type"] for r in crashed} == {"WorkerCrashed"}, crashed
        assert all(r["value"]["node"] != lost for r in held if r["ok"])  # the others ran on
        assert all(r["ok"] for r in again), again  # retried elsewhere: every one succeeded
        assert all(r["value"]["node"] != lost for r in again)
        # the pool replaced the lost worker: three workers answer again
        assert rt.eval('python "clusterlib" "add" (1, 2)') == 3


@pytest.mark.timeout(120)
def test_an_unreachable_cluster_is_a_clear_error_at_start(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'zixir[ray]')")
    from zixir.runtime import Runtime

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    result = zixir("run", "--memory", str(tmp_path / "m.db"), "--cluster",
                   f"ray://127.0.0.1:{port}", PARITY, timeout=60)
    assert result.returncode == 1
    assert f"cannot reach the Ray cluster at ray://127.0.0.1:{port}" in result.stderr
    assert time.monotonic() - started < 30
    with pytest.raises(ClusterUnavailable) as info:
        Runtime(cluster=f"127.0.0.1:{port}")
    assert info.value.address == f"127.0.0.1:{port}"
    with pytest.raises(ClusterUnavailable, match="malformed cluster address 'nowhere'"):
        Runtime(cluster="nowhere")
    check = zixir("check", "--cluster", f"127.0.0.1:{port}", PARITY, timeout=60)
    assert check.returncode == 1 and "cannot reach the Ray cluster" in check.stderr
    repl = subprocess.run([sys.executable, "-m", "zixir", "repl", "--cluster", "auto"],
                          input="", capture_output=True, text=True, timeout=60,
                          env={**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}"})
    assert repl.returncode == 1
    assert f"cannot reach the Ray cluster at auto (127.0.0.1:{port})" in repl.stderr


@pytest.mark.timeout(300)
def test_zixir_toml_cluster_key_with_a_ray_client_address(ray_cluster, tmp_path):
    program = tmp_path / "where.zx"
    program.write_text('python "clusterlib" "where" ()\n')
    (tmp_path / "zixir.toml").write_text(
        f'[runtime]\nworkers = 1\ncluster = "{client_address(ray_cluster)}"\n'
        'cluster_cpus = 0.5\n'
        f'paths = ["{HERE}"]\n')
    result = zixir("run", "--json", "--memory", str(tmp_path / "m.db"), str(program))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["node"] in node_ids(ray_cluster)
    (tmp_path / "zixir.toml").write_text('[runtime]\ncluster = "nowhere"\n')
    result = zixir("check", str(program), timeout=60)
    assert result.returncode == 2
    assert "zixir.toml" in result.stderr and "cluster" in result.stderr


@pytest.mark.timeout(300)
def test_agents_run_as_ray_actors_and_keep_their_state_across_a_crash(ray_cluster, tmp_path):
    from zixir.runtime import Runtime

    with Runtime(cluster=ray_cluster.address, workers=1, cluster_cpus=0.5, paths=[HERE],
                 memory_path=str(tmp_path / "m.db")) as rt:
        rt.agents.start("counter", LIB, "Counter", [10])
        assert rt.agents.call("counter", "add", 5) == 15
        first = rt.agents.call("counter", "where")
        assert first["node"] in node_ids(ray_cluster)  # it runs in a Ray worker process
        assert _is_ray_worker_of_ours(first["pid"])
        with pytest.raises(WorkerCrashed):
            rt.agents.call("counter", "crash")
        # rebuilt by the router's supervision from its start arguments and its snapshot
        assert rt.agents.call("counter", "add", 1, timeout=60) == 16
        again = rt.agents.call("counter", "where")
        assert again["pid"] != first["pid"] and again["node"] in node_ids(ray_cluster)
        status = rt.agents.status("counter")
        assert status["status"] == "running" and status["restarts"] == 1, status
        # the same from a Zixir program
        assert rt.eval('agent.call("counter", "add", [4])') == 20
        assert rt.agents.stop("counter") is True


@pytest.mark.timeout(300)
def test_actor_crashes_count_toward_the_restart_intensity(ray_cluster, tmp_path):
    from zixir.runtime import Runtime

    events = tmp_path / "events.jsonl"
    with Runtime(cluster=ray_cluster.address, workers=2, cluster_cpus=0.5, paths=[HERE],
                 restart_intensity=1, restart_period=60, log_file=str(events),
                 memory_path=str(tmp_path / "m.db")) as rt:
        rt.eval('pmap(range(4), i => python "clusterlib" "where" (), 4)')
        first = _worker_pids(rt)
        assert len(first) == 2
        # an idle actor killed from outside: no call is to blame, the restart counts
        os.kill(first[0], signal.SIGKILL)
        _wait(lambda: len(_worker_pids(rt)) == 2 and first[0] not in _worker_pids(rt))
        second = _worker_pids(rt)
        os.kill(second[0], signal.SIGKILL)  # one more than the intensity: escalation
        _wait(lambda: '"event": "supervisor.escalate"' in events.read_text())
        # the root supervisor starts a fresh router, which starts fresh actors
        _wait(lambda: _try_where(rt) is not None)
        assert _try_where(rt)["pid"] not in set(first) | set(second)
    text = events.read_text()
    assert '"event": "supervisor.escalate"' in text and "lost its link to the router" in text


def _worker_pids(rt) -> list[int]:
    try:
        return list(rt.stats()["router"]["workers"]["pids"])
    except (KeyError, ZixirError):  # the router is being replaced
        return []


def _try_where(rt):
    try:
        return rt.call_python(LIB, "where", [])
    except ZixirError:  # RestartLimitExceeded, RouterCrashed: the old router on its way out
        return None


def _wait(condition, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
