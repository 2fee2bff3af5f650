"""Tasks through `zixir run`: programs that spawn many tasks making Python calls, on a real
runtime (router, worker processes). Sync Python functions hold one worker each while they
run, so the concurrency of these calls is bounded by the number of workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HELPER = '''
import os, time

def nap(seconds):
    start = time.time()
    time.sleep(seconds)
    return [os.getpid(), start, time.time()]

def note(path, text):
    with open(path, "a") as f:
        f.write(text + "\\n")
    return text
'''


def zixir_run(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "tasklib.py").write_text(HELPER)
    # the workers start with the runtime, not while the first calls wait for them
    (tmp_path / "zixir.toml").write_text("[runtime]\nprewarm = true\n")
    script = tmp_path / "main.zx"
    script.write_text(source)
    return subprocess.run([sys.executable, "-m", "zixir", "run", str(script), *args],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


def most_at_once(spans: list[list[float]]) -> int:
    events = sorted([(s, 1) for _, s, _ in spans] + [(e, -1) for _, _, e in spans])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def test_tasks_calling_python_run_concurrently_bounded_by_the_workers(tmp_path):
    result = zixir_run(tmp_path, """
let tasks = map(0..24, i => spawn(() => python "tasklib" "nap" (0.2)))
println(await_all(tasks))
""", "--workers", "4")
    assert result.returncode == 0, result.stderr
    spans = json.loads(result.stdout)
    assert len(spans) == 24
    span = max(e for _, _, e in spans) - min(s for _, s, _ in spans)
    busy = sum(e - s for _, s, e in spans)
    assert len({pid for pid, _, _ in spans}) == 4
    assert 3 <= most_at_once(spans) <= 4  # one sync call per worker process
    assert span >= 6 * 0.2 * 0.95  # 24 calls / 4 workers, 0.2 s each
    assert busy / span >= 2  # on average at least two calls at once (one at a time: 1)


def test_pmap_n_limits_the_calls_in_flight(tmp_path):
    result = zixir_run(tmp_path, 'println(pmap(0..10, i => python "tasklib" "nap" (0.1), 2))',
                       "--workers", "4")
    assert result.returncode == 0, result.stderr
    spans = json.loads(result.stdout)
    assert len(spans) == 10 and most_at_once(spans) == 2


def test_the_run_waits_for_tasks_nobody_awaited(tmp_path):
    notes = tmp_path / "notes.txt"
    result = zixir_run(tmp_path, f"""
for i in 0..5 {{
  spawn(() => {{ python "tasklib" "nap" (0.2); python "tasklib" "note" ("{notes}", str(i)) }})
}}
println("spawned")
""", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "spawned\n"
    assert sorted(notes.read_text().split()) == ["0", "1", "2", "3", "4"]


def test_a_failed_task_nobody_awaited_fails_the_run_with_its_position(tmp_path):
    result = zixir_run(tmp_path, 'let t = spawn(() => python "tasklib" "nap" ("x"))\n'
                                 'println("main done")\n')
    assert result.returncode == 1
    assert "main done" in result.stdout
    assert "main.zx:1:" in result.stderr and "TypeError" in result.stderr


def test_await_timeout_through_the_runtime(tmp_path):
    result = zixir_run(tmp_path, """
let t = spawn(() => python "tasklib" "nap" (1.0))
println(try { await(t, 0.1) } rescue e { e.type + ": " + e.message })
println(len(await(t)))
""", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "TaskTimeout: Task timed out after 0.1 seconds\n3\n"
