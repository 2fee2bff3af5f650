"""The cost of running a Zixir program under the debugger, side by side in one run.

The same program runs in this process as a plain `Session.run_file` and under the debugger's
engine (`zixir.debug.engine.Debugger`, no protocol, no client) in four situations:
  - not traced (a launch with noDebug),
  - traced, no breakpoints: only the 'call' hook runs,
  - a breakpoint in a function that is never called: still only the 'call' hook for the hot
    code (line events are enabled per code object with a breakpoint line),
  - a conditional breakpoint (`false`) in the hot loop: line events in the hot frame and the
    condition evaluated on every iteration (the worst case of a breakpoint that is not hit).
Rounds are interleaved; the median and best wall time and the CPU time are printed, with
ratios against the plain run.

    python benchmarks/debugger.py [--rounds N]

Measured (2 cores shared with other builds, load average ~12, Python 3.11.7), 3 rounds,
median wall time against the plain run: not traced 1.34x, traced without breakpoints 6.1x,
breakpoint in an unused fn 5.1x, never-true conditional breakpoint in the loop 122x. On 3.11
a thread with `sys.settrace` pays for line bookkeeping on every instruction even where no frame
wants line events; `sys.monitoring` (3.12+) would avoid that, and is not used yet.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from zixir.debug.engine import Breakpoint, Debugger
from zixir.lang.session import Session

PROGRAM = """
fn fib(n) {
  if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}
fn never(x) {
  let y = x + 1
  y
}
let total = 0
for i in 0..200000 {
  total = total + i % 7
}
[total, fib(20)]
"""
UNUSED_LINE, LOOP_LINE = 5, 10


def run_plain(path: str) -> None:
    Session().run_file_value(path)


def run_debugged(path: str, trace: bool, breakpoints: list[Breakpoint]) -> None:
    debugger = Debugger(lambda name, body: None, lambda category, text: None)
    debugger.set_breakpoints(path, breakpoints)
    outcome = debugger.run(Session(), path, trace=trace).result()
    assert outcome.error is None and not outcome.terminated, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.zx")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(PROGRAM.lstrip("\n"))
        cases = {
            "plain Session.run_file": lambda: run_plain(path),
            "debugger, not traced": lambda: run_debugged(path, False, []),
            "traced, no breakpoints": lambda: run_debugged(path, True, []),
            "breakpoint in an unused fn": lambda: run_debugged(
                path, True, [Breakpoint(1, UNUSED_LINE)]),
            "never-true bp in the loop": lambda: run_debugged(
                path, True, [Breakpoint(2, LOOP_LINE, condition="false")]),
        }
        wall: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, case in cases.items():
                started, started_cpu = time.perf_counter(), time.process_time()
                case()
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - started_cpu)
    base = statistics.median(wall["plain Session.run_file"])
    print(f"{'case':30} {'median s':>9} {'best s':>8} {'cpu s':>7} {'vs plain':>9}")
    for name in cases:
        median = statistics.median(wall[name])
        print(f"{name:30} {median:9.3f} {min(wall[name]):8.3f} "
              f"{statistics.median(cpu[name]):7.3f} {median / base:8.2f}x")


if __name__ == "__main__":
    main()
