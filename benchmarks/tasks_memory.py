"""What 10,000 waiting tasks cost the router: memory and OS threads.

A program spawns a gate task (one Python call that sleeps) and N tasks that each await the
gate (half of them with a timeout, so the scheduler's timer heap holds N/2 entries). While they
all wait, this script reads the router process's VmRSS and thread count from /proc, and
compares them with the same runtime just before (after a warm-up evaluation). Then the same
for N tasks that each make a Python call themselves (a sync function of 1 ms on 2 workers: the
calls wait for a worker in the router, each a fiber's Waiter, not a thread).

    python benchmarks/tasks_memory.py [--tasks N] [--rounds R]

Linux only (reads /proc). Each measurement has a router of its own (memory a previous one
freed would hide the cost); rounds are interleaved; the median and best of each row are printed.

Measured 2026-12-05 (2 cores shared with other builds, load average 8-9, Python 3.11, 2
workers), 3 rounds, median: 10,000 tasks waiting on one task: +78 MB router RSS (8.0 KB per
task), no extra OS thread, 4.2 s for a 3 s gate; 10,000 tasks each making a 1 ms sync call:
+94 MB (9.7 KB per task), no extra OS thread, 15.3 s for the 10,000 calls on 2 workers.
(`benchmarks/fanout.py` measures the same for 10,000 async calls in flight at once.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

HELPER = "import time\n\ndef nap(seconds):\n    time.sleep(seconds)\n    return seconds\n"

AWAIT_GATE = """
let gate = spawn(() => python "benchlib" "nap" ({hold}))
let ts = map(0..{n}, i => spawn(() => if i % 2 == 0 {{ await(gate) }} else {{ await(gate, 600) }}))
len(await_all(ts))
"""

CALLS = """
let ts = map(0..{n}, i => spawn(() => python "benchlib" "nap" ({hold})))
len(await_all(ts))
"""


def proc_status(pid: int) -> tuple[int, int]:
    """(VmRSS in bytes, number of threads) of a process."""
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


def measure(rt, router: int, source: str, hold: float) -> tuple[int, int, float]:
    """(extra RSS at the peak, extra threads at the peak, wall time of the evaluation)."""
    base_rss, base_threads = proc_status(router)
    peak = [base_rss, base_threads]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, threads = proc_status(router)
            peak[0] = max(peak[0], rss)
            peak[1] = max(peak[1], threads)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.perf_counter()
    try:
        rt.eval(source)
    finally:
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
    return peak[0] - base_rss, peak[1] - base_threads, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hold", type=float, default=3.0, help="seconds the gate call sleeps")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        sys.exit("reads /proc: Linux only")

    from zixir import Runtime

    rows: dict[str, list[tuple[int, int, float]]] = {"await": [], "calls": []}
    programs = {"await": AWAIT_GATE.format(n=args.tasks, hold=args.hold),
                "calls": CALLS.format(n=args.tasks, hold=0.001)}
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "benchlib.py"), "w") as f:
            f.write(HELPER)
        for _ in range(args.rounds):
            for key, source in programs.items():  # a fresh router for every measurement
                with Runtime(workers=args.workers, paths=[tmp], max_queue=10 * args.tasks,
                             log_level="off") as rt:
                    router = rt.pids()["router"]
                    rt.eval('python "benchlib" "nap" (0.0)')  # warm: workers up
                    rt.eval("len(await_all(map(0..100, i => spawn(() => i))))")
                    rows[key].append(measure(rt, router, source, args.hold))
    print(f"{args.tasks:,} tasks, router process, {args.rounds} rounds (median / best)")
    labels = {"await": "all waiting on one task (half with a timeout)",
              "calls": "each making a Python call (sync workers)"}
    for key, results in rows.items():
        rss = [r[0] for r in results]
        threads = [r[1] for r in results]
        wall = [r[2] for r in results]
        print(f"  {labels[key]}:")
        print(f"    extra RSS     {statistics.median(rss) / 2**20:8.1f} MB / "
              f"{min(rss) / 2**20:.1f} MB  ({statistics.median(rss) / args.tasks / 1024:.1f} KB "
              f"per task)")
        print(f"    extra threads {statistics.median(threads):8.0f} / {min(threads)}")
        print(f"    wall time     {statistics.median(wall):8.2f} s / {min(wall):.2f} s")


if __name__ == "__main__":
    main()
