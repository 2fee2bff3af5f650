"""Durable runs through real programs: `zixir run` killed with SIGKILL at chosen and at random
points and run again, the memory store killed during commits, runs of different keys side by
side, and the approval round trip through the `zixir workflow` commands.

Side effects are counted in a log file that the Python module below appends to (one line per
execution), so "never ran twice" is checked on what actually happened."""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from workflow_helpers import zixir

EFFECTS = '''
"""Side effects of the test pipelines: one log line per execution; crash points kill the
`zixir run` process (the host) with SIGKILL when reached."""
import os
import signal
import time


def _log(line):
    with open(os.environ["WF_LOG"], "a") as f:
        f.write(line + "\\n")


def _host():
    pid = os.getppid()
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\\0")
        if b"zixir" in argv and b"run" in argv:
            return pid
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
    raise RuntimeError("no zixir run process above this worker")


def _crash_point(name):
    folder = os.environ.get("WF_CRASH")
    if not folder:
        return
    path = os.path.join(folder, name)
    try:
        os.rename(path, path + ".reached")  # only the first to get here crashes the host
    except FileNotFoundError:
        return
    os.kill(_host(), signal.SIGKILL)
    time.sleep(600)  # never reply: this worker dies with the router, the step is not committed


def load(seed):
    _log("load")
    _crash_point("load")
    return seed


def square(x, seed):
    _log(f"square:{x}")
    _crash_point(f"square-{x}")
    return x * x + seed


def total(xs):
    _crash_point("total-start")
    _log("total")
    return sum(xs)
'''

PIPELINE = '''
fn main() {
  workflow.run("pipe", "KEY", run => {
    let seed = workflow.step(run, "load", () => python "effects" "load" (7))
    let squares = workflow.map(run, "square", range(N), x => python "effects" "square" (x, seed),
                               {concurrency: 4})
    let total = workflow.step(run, "total", () => python "effects" "total" (squares))
    [seed, len(squares), total]
  })
}
'''
N = 1000
CONCURRENCY = 4


def expected(n: int = N) -> str:
    return f"[7, {n}, {sum(x * x + 7 for x in range(n))}]"


@pytest.fixture
def pipeline(tmp_path):
    (tmp_path / "effects.py").write_text(EFFECTS)

    def write(key: str = "default", n: int = N) -> str:
        path = tmp_path / f"pipe-{key}.zx"
        path.write_text(PIPELINE.replace("KEY", key).replace("N", str(n)))
        return str(path)

    return write


def start(script: str, store: str, log: str, crash: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "WF_LOG": log}
    if crash:
        env["WF_CRASH"] = crash
    return subprocess.Popen([sys.executable, "-P", "-m", "zixir", "run", script, "--memory",
                             store, "--workers", str(CONCURRENCY)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def executions(log: str) -> collections.Counter:
    if not os.path.exists(log):
        return collections.Counter()
    with open(log) as f:
        return collections.Counter(f.read().split())


def squares(counts: collections.Counter) -> int:
    return sum(c for k, c in counts.items() if k.startswith("square:"))


def run_to_completion(script, store, log, crash=None, kill_after=None, most=12):
    """Run until the program finishes; SIGKILLs (from a crash point or `kill_after()` seconds
    in) end attempts in between. The output and how many attempts were killed."""
    kills = 0
    for _ in range(most):
        proc = start(script, store, log, crash)
        delay = kill_after() if kill_after else None
        try:
            out, err = proc.communicate(timeout=delay if delay is not None else 600)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            return out, kills
        assert proc.returncode == -signal.SIGKILL, err
        kills += 1
    raise AssertionError(f"the pipeline did not finish in {most} attempts")


def test_killed_at_chosen_points_the_pipeline_resumes_and_never_repeats_a_step(
        tmp_path, pipeline):
    """Kills during a step (before its commit), right after a commit (first element of the map
    and start of the last step) and in the middle of the 1,000-element map."""
    crash = tmp_path / "crash"
    crash.mkdir()
    for point in ("load", "square-0", "square-500", "total-start"):
        (crash / point).touch()
    store, log = str(tmp_path / "m.sqlite3"), str(tmp_path / "log")
    out, kills = run_to_completion(pipeline(), store, log, str(crash))
    assert out.strip() == expected()
    assert kills == 4 and sorted(os.listdir(crash)) == [
        "load.reached", "square-0.reached", "square-500.reached", "total-start.reached"]
    counts = executions(log)
    assert counts["load"] == 2  # the killed attempt, then once; never after its commit
    assert counts["total"] == 1  # the kill came before its side effect
    assert all(counts[f"square:{x}"] >= 1 for x in range(N))
    # two kills inside the map: at most the elements in flight ran again
    assert squares(counts) - N <= 2 * CONCURRENCY
    # finished: running it again runs nothing and gives the same value
    again = zixir("run", pipeline(), "--memory", store, env={"WF_LOG": log})
    assert again.stdout.strip() == expected() and executions(log) == counts


def test_killed_at_random_moments_the_result_matches_an_uninterrupted_run(tmp_path, pipeline):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    clean_store, clean_log = str(tmp_path / "clean.sqlite3"), str(tmp_path / "clean.log")
    began = time.monotonic()
    clean, _ = run_to_completion(pipeline(), clean_store, clean_log)
    duration = time.monotonic() - began
    assert clean.strip() == expected()
    store, log = str(tmp_path / "m.sqlite3"), str(tmp_path / "log")
    planned = [rng.uniform(0.3, 0.95) * duration for _ in range(3)]
    out, kills = run_to_completion(pipeline(), store, log,
                                   kill_after=lambda: planned.pop() if planned else None)
    assert out == clean, f"seed {seed}"
    counts = executions(log)
    assert counts["load"] <= 1 + kills and counts["total"] <= 1 + kills, f"seed {seed}"
    assert squares(counts) - N <= kills * CONCURRENCY, f"seed {seed}: {kills} kills"
    assert set(counts) == set(executions(clean_log))


def test_runs_of_different_keys_side_by_side(tmp_path, pipeline):
    store, log = str(tmp_path / "m.sqlite3"), str(tmp_path / "log")
    procs = [start(pipeline(key, n=60 + i), store, log) for i, key in enumerate("abc")]
    outputs = [p.communicate(timeout=600) for p in procs]
    for i, (proc, (out, err)) in enumerate(zip(procs, outputs, strict=True)):
        assert proc.returncode == 0, err
        assert out.strip() == expected(60 + i)
    listed = zixir("workflow", "list", "--memory", store).stdout.splitlines()
    rows = [line.split()[:4] for line in listed[1:]]
    assert rows == [["pipe", key, "done", "3/3"] for key in "abc"]
    assert squares(executions(log)) == 60 + 61 + 62


def test_killing_the_memory_store_during_commits_loses_no_committed_step(tmp_path):
    from zixir.runtime import Runtime

    (tmp_path / "effects.py").write_text(EFFECTS)
    log = str(tmp_path / "log")
    os.environ["WF_LOG"] = log
    source = '''
workflow.run("many", run => {
  let results = []
  for i in 0..200 {
    results = append(results, workflow.step(run, "s" + str(i),
                                            () => python "effects" "square" (i, 0)))
  }
  sum(results)
})
'''
    try:
        # six store restarts in a few seconds are this test's doing, not a failing store
        with Runtime(workers=2, memory_path=str(tmp_path / "m.sqlite3"), log_level="off",
                     paths=(str(tmp_path),), root_intensity=20) as rt:
            outcome: dict = {}

            def program():
                try:
                    outcome["value"] = rt.eval(source, fresh=True)
                except BaseException as exc:  # noqa: BLE001 - checked below
                    outcome["error"] = exc

            thread = threading.Thread(target=program)
            thread.start()
            kills = 0
            while thread.is_alive() and kills < 6:
                done = len(executions(log))
                deadline = time.monotonic() + 60
                while len(executions(log)) < done + 8 and thread.is_alive():
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                pid = rt.pids()["memory"]
                if pid and thread.is_alive():
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
            thread.join(timeout=600)
            assert outcome.get("value") == sum(i * i for i in range(200)), outcome
            assert kills >= 1
            counts = executions(log)
            assert all(counts[f"square:{i}"] >= 1 for i in range(200))
            shown = rt.workflows.show("many")
            assert shown["status"] == "done"
            assert [s["status"] for s in shown["steps"]] == ["done"] * 200
            assert rt.eval(source, fresh=True) == outcome["value"]
            assert executions(log) == counts  # nothing committed was lost: nothing re-ran
    finally:
        os.environ.pop("WF_LOG", None)


APPROVAL = '''
workflow.run("ship", run => {
  let built = workflow.step(run, "build", () => python "effects" "load" ("artifact"))
  let note = workflow.approval(run, "review", "check the build")
  built + " shipped: " + note
})
'''


def test_approval_round_trip_through_the_cli(tmp_path):
    (tmp_path / "effects.py").write_text(EFFECTS)
    script = tmp_path / "ship.zx"
    script.write_text(APPROVAL)
    store, log = str(tmp_path / "m.sqlite3"), str(tmp_path / "log")
    env = {"WF_LOG": log}
    waiting = zixir("run", str(script), "--memory", store, env=env)
    assert waiting.returncode == 3, waiting.stderr
    assert f"zixir workflow approve ship review --memory {store}" in waiting.stderr
    assert "check the build" in waiting.stderr
    listed = zixir("workflow", "list", "--memory", store)
    assert listed.stdout.splitlines()[1].split()[:4] == ["ship", "default", "waiting", "1/2"]
    shown = zixir("workflow", "show", "ship", "--memory", store).stdout
    assert "waiting for an approval of step review" in shown
    approved = zixir("workflow", "approve", "ship", "review", "--note", "lgtm", "--memory", store)
    assert approved.returncode == 0 and "approved" in approved.stdout
    done = zixir("run", str(script), "--memory", store, env=env)
    assert done.returncode == 0 and done.stdout.strip() == '"artifact shipped: lgtm"'
    assert executions(log)["load"] == 1

    reset = zixir("workflow", "reset", "ship", "--memory", store)
    assert reset.stdout.strip() == "reset ship: 1 run forgotten"
    assert zixir("run", str(script), "--memory", store, env=env).returncode == 3
    rejected = zixir("workflow", "reject", "ship", "review", "--note", "not today",
                     "--memory", store)
    assert rejected.returncode == 0
    failed = zixir("run", str(script), "--memory", store, env=env)
    assert failed.returncode == 1
    assert "Step review was rejected: not today" in failed.stderr
    shown = zixir("workflow", "show", "ship", "--memory", store).stdout
    assert "status failed" in shown and "rejected" in shown and "not today" in shown
    again = zixir("workflow", "approve", "ship", "review", "--memory", store)
    assert again.returncode == 1 and "already rejected" in again.stderr


def test_workflow_commands_report_problems(tmp_path):
    missing = zixir("workflow", "show", "nope", "--memory", str(tmp_path / "none.sqlite3"))
    assert missing.returncode == 1 and "no memory store" in missing.stderr
    store = str(tmp_path / "m.sqlite3")
    script = tmp_path / "one.zx"
    script.write_text('workflow.run("one", run => workflow.step(run, "s", () => 1))')
    assert zixir("run", str(script), "--memory", store).stdout.strip() == "1"
    unknown = zixir("workflow", "show", "other", "--memory", store)
    assert unknown.returncode == 1 and "No workflow run other" in unknown.stderr
    not_approval = zixir("workflow", "approve", "one", "s", "--memory", store)
    assert not_approval.returncode == 1 and "Step s is not an approval" in not_approval.stderr
    assert zixir("workflow", "--memory", store).returncode == 2


SLOW_MAP = '''
fn main() {
  workflow.run("slow", run => {
    workflow.map(run, "nap", range(100), x => python "effects" "nap" (x), {concurrency: 2})
  })
}
'''

NAP = '''
import os
import time


def nap(x):
    time.sleep(0.02)
    with open(os.environ["WF_LOG"], "a") as f:
        f.write(f"nap:{x}\\n")
    return x
'''


def test_ctrl_c_leaves_the_running_step_unfinished_not_failed(tmp_path):
    """Ctrl-C stops `zixir run` while a map runs: the step is not recorded as failed with the
    WorkerCrashed of the workers stopped under it; it stays unfinished and the next run
    resumes it from its checkpoints."""
    (tmp_path / "effects.py").write_text(NAP)
    script = tmp_path / "slow.zx"
    script.write_text(SLOW_MAP)
    store, log = str(tmp_path / "m.sqlite3"), str(tmp_path / "log")
    env = {**os.environ, "WF_LOG": log}
    proc = subprocess.Popen([sys.executable, "-P", "-m", "zixir", "run", str(script),
                             "--memory", store, "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while sum(executions(log).values()) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    shown = zixir("workflow", "show", "slow", "--memory", store).stdout
    assert "status running" in shown and "failed" not in shown, shown
    assert "WorkerCrashed" not in shown, shown
    done = zixir("run", str(script), "--memory", store, env={"WF_LOG": log})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[" + ", ".join(map(str, range(100))) + "]"
    counts = executions(log)
    assert sorted(counts) == sorted(f"nap:{x}" for x in range(100))
    assert sum(counts.values()) <= 100 + 2  # at most the elements in flight ran twice
