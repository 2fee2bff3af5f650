"""What a person at a terminal sees from `zixir run`: progress bars for big fan-outs (never on a
pipe or with --quiet), readable log lines (JSON on a pipe or with --log-json), and the --stats
table. The program runs in the router process; the bars are drawn by the host."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap

import pytest

from .terminal import ZIXIR, run_on_terminal

pytestmark = pytest.mark.timeout(240)

FANOUT = textwrap.dedent('''
    fn score(x) {
      python "time" "sleep" (0.002)
      if x % 50 == 7 { python "math" "sqrt" (-1.0) } else { x }
    }

    fn main() {
      let small = pmap(0..20, x => x)
      let steps = workflow.run("bars", "k", run => workflow.map(run, "squares", 0..150, x => x * x))
      println(len(small), len(steps))
      pmap(0..300, score)
    }
''')

ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def plain(text: str) -> str:
    return ANSI.sub("", text).replace("\r", "\n")


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "ZIXIR_MEMORY": str(tmp_path / "memory.db")}


@pytest.fixture
def fanout(tmp_path):
    path = tmp_path / "fanout.zx"
    path.write_text(FANOUT)
    return str(path)


def test_progress_bars_on_a_terminal(fanout, env):
    status, out, screen = run_on_terminal([*ZIXIR, "run", "--workers", "2", fanout], env)
    assert status == 1, screen  # 6 elements failed: pmap raises the first
    assert out.strip() == "20 150"
    assert "math.sqrt raised ValueError" in screen
    text = plain(screen)
    assert re.search(r"pmap .*300/300 +6 failed", text), text  # done/total and failures
    assert re.search(r"/s", text)  # the rate
    assert "ETA" in text
    assert re.search(r"bars: squares .*150/150 +0 failed", text), text  # workflow.map
    assert "/20" not in text  # fewer than 100 items: no bar


def test_no_progress_bars_with_quiet(fanout, env):
    status, out, screen = run_on_terminal([*ZIXIR, "run", "--quiet", fanout], env)
    assert status == 1, screen
    assert out.strip() == "20 150"
    assert "300/300" not in screen and "150/150" not in screen and "\x1b[" not in screen
    assert screen.lstrip().startswith(fanout)  # only the program's error


def test_no_progress_bars_on_a_pipe(fanout, env):
    done = subprocess.run([*ZIXIR, "run", fanout], capture_output=True, text=True, env=env,
                          timeout=180)
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip() == "20 150"
    assert done.stderr.startswith(fanout)  # only the program's error: no bar, no escapes
    assert "300/300" not in done.stderr and "\x1b[" not in done.stderr


SHARED = textwrap.dedent('''
    fn main() {
      let tasks = map(0..120, x => spawn(() => python "time" "sleep" (0.002)))
      await_all(tasks)
      pmap(0..200, x => {
        python "time" "sleep" (0.005)
        if x % 50 == 0 { println("line", x) }
        if x == 120 { attempt(() => python "time" "sleep" (30)).ok }
        x
      })
      println("done")
    }
''')


def test_output_and_log_lines_go_above_the_bars_on_a_shared_terminal(tmp_path, env):
    """stdout and stderr on one terminal (the usual case): the program's lines and the log
    lines are printed above the bar, never glued to the end of a bar's line, in order."""
    path = tmp_path / "shared.zx"
    path.write_text(SHARED)
    status, _, screen = run_on_terminal([*ZIXIR, "run", "--timeout", "0.5", str(path)], env,
                                        stdout_too=True)
    assert status == 0, screen
    segments = [s.strip() for s in re.split(r"[\r\n]+", ANSI.sub("", screen)) if s.strip()]
    for x in (0, 50, 100, 150):
        assert f"line {x}" in segments, segments  # a line of its own
    timeout = next(s for s in segments if "call.timeout" in s)
    assert re.match(r"\d\d:\d\d:\d\d \[warning", timeout), timeout
    assert any(re.match(r"await_all .*120/120 +0 failed", s) for s in segments), segments
    last_bar = max(i for i, s in enumerate(segments) if re.match(r"pmap .*200/200", s))
    assert segments.index("done") > last_bar  # printed after the pmap (and its bar) ended


SLOW_FIRST = textwrap.dedent('''
    fn main() {
      let slow = spawn(() => python "time" "sleep" (2.0))
      let quick = map(1..120, x => spawn(() => python "time" "sleep" (0.005)))
      len(await_all(concat([slow], quick)))
    }
''')


def test_await_all_counts_tasks_as_they_finish_not_in_order(tmp_path, env):
    """The first task is slow, the 119 others quick: the bar counts them as they finish
    instead of standing at 0/120 until the first one is done."""
    path = tmp_path / "slow_first.zx"
    path.write_text(SLOW_FIRST)
    status, out, screen = run_on_terminal([*ZIXIR, "run", "--workers", "2", str(path)], env)
    assert status == 0 and out.strip() == "120", screen
    counts = [int(n) for n in re.findall(r"await_all .*? (\d+)/120", plain(screen))]
    assert counts and counts[-1] == 120, counts
    assert any(20 <= n < 120 for n in counts), counts  # shown before the slow task ended


TIMEOUT = textwrap.dedent('''
    fn main() {
      let a = attempt(() => python "time" "sleep" (30)).ok
      let b = attempt(() => python "subprocess" "run" (["true"])).ok
      let c = attempt(() => agent.start("shell", "subprocess", "Popen")).ok
      [a, b, c]
    }
''')


def test_log_lines_for_people_on_a_terminal(tmp_path, env):
    path = tmp_path / "timeout.zx"
    path.write_text(TIMEOUT)
    status, out, screen = run_on_terminal([*ZIXIR, "run", "--timeout", "0.5", str(path)], env)
    assert status == 0, screen
    text = plain(screen)
    assert "{\"" not in text  # no raw JSON on the terminal
    timeout = next(line for line in text.splitlines() if "call.timeout" in line)
    assert "[warning" in timeout and "call=time.sleep" in timeout and "timeout=0.5" in timeout
    # pid is the router's, which wrote the line; the worker that timed out has its own key
    router, worker = (re.search(rf"\b{key}=(\d+)", timeout) for key in ("pid", "worker_pid"))
    assert "process=router" in timeout and router and worker, timeout
    assert router.group(1) != worker.group(1)
    refused = [line for line in text.splitlines() if "call.refused" in line]
    assert len(refused) == 2, text  # a Python call and an agent, both refused by the policy
    for line in refused:
        assert "[warning" in line and "reason=policy" in line  # refusals at warning


def test_log_lines_are_json_with_log_json_and_on_a_pipe(tmp_path, env):
    path = tmp_path / "timeout.zx"
    path.write_text(TIMEOUT)
    status, out, screen = run_on_terminal([*ZIXIR, "run", "--log-json", "--timeout", "0.5",
                                           str(path)], env)
    assert status == 0, screen
    events = [json.loads(line) for line in screen.splitlines() if line.startswith("{")]
    assert {"call.timeout", "call.refused"} <= {e["event"] for e in events}
    timeout = next(e for e in events if e["event"] == "call.timeout")
    assert timeout["process"] == "router" and timeout["worker_pid"] != timeout["pid"]
    refused = [e for e in events if e["event"] == "call.refused"]
    assert [(e["level"], e["process"], e["function"]) for e in refused] == [
        ("warning", "router", "run"), ("warning", "router", "Popen")]

    done = subprocess.run([*ZIXIR, "run", "--timeout", "0.5", str(path)], capture_output=True,
                          text=True, env=env, timeout=120)
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert {"call.timeout", "call.refused"} <= {e["event"] for e in events}


def test_the_repl_shows_a_timeout_as_an_error_and_a_readable_line(env):
    status, out, screen = run_on_terminal(
        [*ZIXIR, "repl", "--workers", "1", "--timeout", "0.5"], env,
        stdin=b'python "time" "sleep" (30)\n1 + 1\n')
    assert status == 0, screen
    assert out.strip() == "2"  # the session goes on after the error
    text = plain(screen)
    assert "time.sleep did not return within 0.5 s" in text
    assert "{\"" not in text
    line = next(line for line in text.splitlines() if "call.timeout" in line)
    assert "[warning" in line and "call=time.sleep" in line


def test_stats_is_a_table_with_units(tmp_path, env):
    path = tmp_path / "stats.zx"
    path.write_text(textwrap.dedent('''
        fn main() {
          for i in 0..10 { python "math" "sqrt" (4.0) }
          attempt(() => python "math" "sqrt" (-1.0)).ok
          workflow.run("tabled", run => workflow.step(run, "one", () => 1))
        }
    '''))
    done = subprocess.run([*ZIXIR, "run", "--stats", str(path)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    report = done.stderr
    assert "escalated None" not in report and "at_line_start" not in report
    assert "None" not in report
    header = next(line for line in report.splitlines() if "function" in line and "p50" in line)
    assert header.split() == ["function", "calls", "failed", "retries", "p50", "p90", "p99",
                              "max"]
    row = next(line for line in report.splitlines() if line.strip().startswith("math.sqrt"))
    cells = row.split()
    assert cells[1:4] == ["11", "1", "0"]
    assert re.fullmatch(r"[\d.]+", cells[4]) and cells[5] in ("ms", "s")  # a unit
    assert re.search(r"math\.sqrt +ValueError +1", report)
    assert re.search(r"Workers: \d+ running", report)
    assert "router restarted 0 times" in report
    assert re.search(r"tabled +step +done +1 +[\d.]+ (ms|s)\n", report), report
