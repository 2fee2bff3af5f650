"""Runtime benchmarks, side by side in one run; prints ratios against the targets.

    python benchmarks/runtime.py [--quick]

1. no-op call latency (p50/p99). "A no-op call through the runtime" is `builtins.abs(0)`
   called from one thread, one call at a time, after a warm-up, with a started pool of one
   worker; the time covers everything the caller waits for: policy and breaker checks,
   taking the worker, encoding, the pipe round trip, the worker's dispatch, decoding.
     - router path: `WorkerPool.call` in the calling process. This is where a Zixir
       program's `python` calls happen (the router runs the interpreter; its
       `RouterServices.call_python` is `pool.call`), so the targets apply to it.
     - host path: `Runtime.call_python` from the embedding program. By default the direct
       path: the host thread calls a worker the router lent it, over the worker's own pipes
       (zixir/runtime/direct.py); with `direct=False` the routed path: host -> router pipe
       -> pool -> worker and back (one more process hop).
   Baselines: a raw pipe ping-pong of 32 bytes between two forked processes (no encoding, no
   dispatch: the floor), ProcessPoolExecutor, multiprocessing.Pool and pebble.ProcessPool
   (submit one call and wait for it).
2. time from a worker's SIGKILL to the caller's WorkerCrashed
3. time from that SIGKILL to the next successful call on the replacement (numpy preloaded)
4. speedup of CPU-bound calls with 2 workers vs 1 (8 calls from 2 threads, as pmap does)
5. an 80 MB float64 array sent to a worker (numpy.ndim: the transfer only), sent and summed,
   and sent and returned (numpy.copy: 160 MB move)
1b. the host path (`Runtime.call_python`: direct with spin 30 us and spin 0, routed with
   spin 30 us) against ProcessPoolExecutor in interleaved rounds (median and best of the
   rounds' p50), with the CPU time each call costs in the host, the router and the worker
   (schedstat, every thread, in ns): polling before blocking trades CPU for latency, and
   this shows how much
1c. throughput: no-op calls per second from 1, 2 and 4 host threads on 2 workers (direct,
   routed, ProcessPoolExecutor(2)), rounds interleaved
1d. the idle footprint (RSS and PSS of every child: router, template, workers; the memory
   store starts on first use and is shown apart) of a runtime with 2 workers beside
   ProcessPoolExecutor(2)'s workers
1e. start-up: `zixir run examples/hello.zx`, wall time and the CPU time of all its processes
Absolute numbers on a shared machine are noise; the ratios are the result. Note that on this
virtual machine an idle CPU sleeps deeply: with nothing else running the raw ping-pong itself
takes ~45 us (waking the peer's CPU), under light load ~5 us; every path pays that wake-up.

Measured (2 cores, Python 3.11.7), 2026-11-23, two full runs, load average 0.99 / 1.29
(before this round, same machine under load: raw 5.1 us, router path 42-72 us, host path
129-178 us, ProcessPoolExecutor ~83 us; crash -> error 1.5-8.9 ms; 80 MB sent 0.6-1.9 GB/s):

    no-op p50 / p99 (us)              run 1          run 2
    raw pipe ping-pong             48.7 /  73.0   45.0 /  77.8
    zixir call (router path)        7.1 /  72.8    7.0 /  10.3   (0.14x, 0.16x raw)
    zixir Runtime.call_python      46.7 / 141.6   54.6 / 159.5   (0.96x, 1.21x raw)
    ProcessPoolExecutor           108.7 / 187.2  112.7 / 174.2   (router path 15.4x, 16.0x faster)
    multiprocessing.Pool           96.4 / 347.7  111.0 / 537.2
    pebble.ProcessPool            124.5 / 225.9  131.3 / 226.5
    SIGKILL -> WorkerCrashed        0.95 ms        0.98 ms       (median; max 1.40, 3.72)
    SIGKILL -> next success         4.78 ms        5.19 ms
    CPU-bound, 2 workers vs 1       1.93x          1.90x
    80 MB sent (numpy.ndim)         6.48 GB/s      6.16 GB/s
    80 MB sent and summed           4.88 GB/s      4.99 GB/s
    80 MB sent and returned         5.17 GB/s      5.13 GB/s     (each way)
The router path polls for 30 us before blocking (`RuntimeConfig.spin`), so it does not pay the
sleeping CPU's wake-up that the raw ping-pong (which blocks at once) pays; with spin=0 it
measured 50 us next to a raw 50 us on the calm machine and 11-12 us next to a raw 5 us
under load (2.2x). For a like-for-like floor the benchmark also times a raw ping-pong whose two
sides poll for 30 us before blocking, and the router path with spin=0; it prints both ratios.

Measured 2026-11-23 (later), after the host path got a dedicated channel per host thread (its
own pipe pair and router thread: no hand-off between threads on either side) and every polling
loop of the router and the host started yielding the CPU (`zixir/runtime/spin.py`). The
machine was never calm (other builds ran; load average 1.1-1.6), and it switched between two
regimes: "idle CPUs" (raw ping-pong ~50 us, polling raw 2 us) and "a core taken by another
process" (raw 5 us, polling raw 69 us). Two --quick runs of each:

    no-op p50 / p99 (us)             idle CPUs                      a core taken
                                     run 1          run 2           run 3          run 4
    raw pipe ping-pong             47.1 /  61.1   52.7 / 142.7     5.0 /   6.2    4.9 /   5.9
    raw ping-pong, polling 30us     1.9 /   2.9    2.0 /   4.1    69.1 /  98.1   69.1 /  77.6
    zixir call (router path)        7.2 /  10.4    7.4 /  17.4    42.3 /  65.5   41.7 /  48.1
    zixir Runtime.call_python      67.1 / 109.9   22.2 /  73.1    59.9 /  80.4   59.2 / 119.5
    ProcessPoolExecutor           140.0 / 218.2  150.9 / 227.1    80.6 / 114.4   77.8 / 133.9
    host path vs ProcessPoolExec.   2.1x           6.8x            1.3x           1.3x
Before this change, with a core taken: router path 72.4, host path 100.4, ProcessPoolExecutor
81.7 (host path 0.8x); on idle CPUs the table above: host path 46.7-54.6 (~2.1x).
The host path involves three processes (host, router, worker) on two cores. Its p50 is 21-24 us
(6-8x faster than ProcessPoolExecutor) whenever no polling loop holds a CPU another of the
three needs; it is 60-73 us when the worker's own polling loop (python_workers/worker.py,
which does not yield) shares a core with the router: the router then waits for that loop's
30 us to end, twice a call. With the worker's loop using `spin.poll_briefly` (measured on a
copy), the host path measured 21-25 us p50 in 9 runs of 9 on idle CPUs and 48 us with a core
taken, and the router path 12 us with a core taken (42 us without).

Measured 2026-12-05 (--quick --host-only) after the channel rewrite, on a machine shared with
other builds (load average 7-9: every absolute number is several times the calm figure):

    Runtime.call_python, spin=30us   p50 267.7 us (best 250.4)   CPU/call: host 83, router 148,
                                                                 worker 66 us (298 total)
    Runtime.call_python, spin=0      p50 275.9 us (best 243.8)   CPU/call: 90 / 172 / 71 (334)
    ProcessPoolExecutor              p50 454.1 us (best 438.1)   CPU/call: host 418, worker 109
    host path vs ProcessPoolExecutor 1.6-1.7x (target 8x: MISSED)
    idle footprint, 2 workers        zixir RSS 104 MiB / PSS 46 MiB; ProcessPoolExecutor(2)
                                     RSS 42 / PSS 15 (PSS 3.1x; goal 2x: MISSED)
In an A/B run under the same load the previous channel code measured 224-231 us host p50
against 247-265 us now (2.0x vs 1.7-2.0x ProcessPoolExecutor).

Measured 2026-12-05 (later, --quick) after the direct path (host threads call lent workers
over the workers' own pipes), the on-demand memory store, numpy preloaded once used and the
lean janitor. The machine was far from calm (load average 12.5, other builds and test suites
on both cores: CPU-bound calls on 2 workers ran 1.03x faster than on 1, so no core was free,
and every absolute number is several times the calm figure; the raw blocking ping-pong
measured 10.9 us):

    no-op p50 (median of 3 interleaved rounds)      p50      CPU per call: host / router /
                                                             worker (us)
    Runtime.call_python, direct, spin=30us         176.6 us   146 /   0 / 101
    Runtime.call_python, direct, spin=0            153.5 us   115 /   0 /  90
    Runtime.call_python, routed, spin=30us         426.1 us   134 / 259 / 110
    ProcessPoolExecutor                            469.0 us   412 /   - / 114
    direct vs ProcessPoolExecutor                  2.7x (spin 30 us), 3.1x (spin 0); the
                                                   routed path 1.1x; target 8x MISSED here.
    In the same run the host path (170 us) was as fast as the router-internal path (178 us),
    which the issue measured at 8-9 us (12x ProcessPoolExecutor) on a calm machine.
    throughput, 2 workers, calls/s, 1/2/4 threads: direct 1,148 / 2,971 / 2,108; routed
    657 / 1,075 / 986; ProcessPoolExecutor 565 / 1,440 / 619. With more threads than
    workers the threads without a lease take the routed path (and lent workers come back
    to the router when its callers wait), so 4 threads do not beat 2.
    idle footprint, 2 workers, after one call: PSS 26 MiB (router, template, 2 workers;
    RSS 63) against ProcessPoolExecutor(2)'s 16 MiB (RSS 47): 1.6x, goal 2x met; the
    memory store, started by the first memory use, adds 9 MiB PSS (2.1x). Before: 58 / 16.
    start-up, `zixir run examples/hello.zx`, 10 interleaved runs, load 13: before the
    confinement work 2.82 s wall median / 0.69 s CPU of all processes; main 3.27 / 0.92;
    now 2.21 / 0.56. Without bytecode caches (PYTHONDONTWRITEBYTECODE=1, every module
    compiled at every start), load 10: 1.90 / 0.89, 2.22 / 1.19, now 1.40 / 0.88. After
    merging the observability work, 8 interleaved runs at load 19: before the confinement
    work 5.92 s / 1.11 s, main 6.09 / 1.27, this branch 3.66 / 0.76.

Measured 2026-12-05 (--quick, two runs, load average 2.2, no core free: CPU-bound calls on 2
workers 1.03-1.09x faster than on 1) after the direct path moved onto the multiplexed worker
links (lending pauses the link's reader):

    no-op p50, median of 3 rounds (best)     run 1           run 2    CPU/call host/router/worker
    Runtime.call_python, direct, spin=30us  163.6 (139.2)  122.8 (112.7)   79-88 /  8 / 76-89 us
    Runtime.call_python, direct, spin=0     150.2 (149.5)  113.3 (109.3)   70-89 /  7-9 / 65-81
    Runtime.call_python, routed, spin=30us  465.0 (411.6)  408.4 (388.5)  100-103 / 276-314 / 107-109
    ProcessPoolExecutor                     524.7 (453.7)  584.8 (458.6)  490-491 /   - / 119-134
    direct vs ProcessPoolExecutor           3.2x / 3.5x    4.8x / 5.2x     target 8x MISSED here
    throughput, 2 workers, 1/2/4 threads (calls/s): direct 5,967 / 8,834 / 1,608, routed
    1,863 / 2,288 / 1,916, ProcessPoolExecutor 1,101 / 1,599 / 1,626 (run 2).

Measured 2026-12-05 (--quick --host-only, sections 1b/1c; the previous code and this one run
alternately, two runs each, load average 4.4-5.1, no core free) after trimming the direct
path's per-call work: one-frame encode/decode without a FrameDecoder on both ends, outcomes
grouped per function before they reach the router, no clock read for the first wait, a worker
that formats no names and makes no ABC check for a plain result, a spin that stops polling
while its polls come back empty, and threads without a lease taking turns on the lent ones:

    no-op p50, median of 3 rounds (best)   before           after        CPU/call host/router/worker
    direct, spin=30us                   123.1 (121.7)   82.4 (80.2)   before 64-97 / 4.3-4.6 / 65-86
                                        176.0 (127.9)  116.8 (98.6)   after  54-70 / 0.7-0.9 / 40-52
    direct, spin=0                      109.5 (109.2)   78.6 (76.3)   before 64 / 4.4-4.7 / 53-59
                                        116.6 (114.2)  103.3 (79.4)   after  49-58 / 0.7-0.9 / 38-46
    ProcessPoolExecutor                 400.0, 420.2   426.2, 462.4   323-382 / - / 84-103
    direct vs ProcessPoolExecutor       2.4-3.7x        4.0-5.4x (best rounds 4.5-5.6x); target 8x
                                                        MISSED on this machine
    throughput, 2 workers, calls/s, 1/2/4 threads: before 7,058 / 6,657 / 2,263 and
    5,059 / 5,942 / 2,289; after 6,447 / 9,398 / 6,856 and 3,982 / 7,425 / 5,102 (4 threads
    no longer fall back to the router; 2 workers on 2 busy cores bound it).
Two more runs of each, later (load average 3.0-5.2), after turns of 8 calls on a shared lease:

    no-op p50, median of 3 rounds (best)   before           after        CPU/call host/router/worker
    direct, spin=30us                   137.0 (132.3)   98.9 (96.0)   before 77-99 / 6.0-6.9 / 72-84
                                        175.6 (169.7)   85.3 (80.8)   after  54-63 / 0.6-1.0 / 41-48
    direct, spin=0                      121.5 (118.7)   91.4 (79.4)   before 69-98 / 4.6-7.2 / 62-81
                                        166.2 (147.8)   78.1 (75.3)   after  48-57 / 0.7-1.0 / 38-44
    ProcessPoolExecutor                 506.0, 749.4   701.6, 533.5   436-591 / - / 115-166
    direct vs ProcessPoolExecutor       3.7-4.5x        6.3-7.7x (median p50s; best rounds against
                                                        best rounds 5.1-6.1x); target 8x MISSED
    throughput, calls/s, 1/2/4 threads: before 4,446 / 6,012 / 2,229 and 5,794 / 5,072 / 1,848;
    after 3,750 / 4,790 / 5,689 and 7,398 / 7,815 / 5,737.
Where the remaining time goes (spin=0): a floor measured beside it, msgpack frames over two
pipes with one Python function per side and the same poll/write/poll/read, costs host 18-22
us, child 16-20 us, p50 30 us; the direct path costs ~30 us more in the host and ~20 us more
in the worker. perf (cpu-clock) splits both sides alike: ~62% in the interpreter, ~21% kernel
(wake-ups, context switches), ~9% libc, ~5% msgpack. Between two calls the caches belong to
other processes, so the interpreter runs the same bytecode 2-3x slower than in a warm loop,
and on this virtual machine a clock read is a system call (~0.7-1 us warm): the host makes
six system calls a call (poll(0) for a worker that died idle, write, poll, read, two clock
reads for the latency metrics), the worker three (read, write, the CPU-limit clock read).
On a calm machine, where a polling peer finds the reply on another core, the direct path
with spin=30us measured 36 us (best round, 13x ProcessPoolExecutor).

Measured 2026-12-05 (evening, --quick --host-only, two runs on a calm machine, load average
0.7-0.9) after three changes: a thread's sync call in the router reads its worker's reply
itself (the link's reader thread stays parked: one thread switch less each way), the default
`spin` went from 30 to 100 us with a yield counting as "another thread ran" only past 50 us (a
virtual CPU's own sched_yield often took more than 5 us, which stopped polling on an idle
machine, so a 30 us spin rarely caught a reply), and the router no longer imports sqlite3,
secrets, uuid, tempfile or concurrent.futures at start, nor workers asyncio before their first
async call:

    no-op p50, median of 3 rounds (best)   run 1           run 2        CPU/call host/router/worker
    direct, spin=100us (the default)     69.7 (36.8)     54.4 (47.9)    56-72 / 0.9-1.0 / 54-69 us
    direct, spin=30us                    98.6 (87.4)     80.6 (74.9)    61-62 / 0.9-1.0 / 43-49
    direct, spin=0                       95.7 (72.0)     75.6 (67.8)    44-59 / 0.8 / 42-46
    routed, spin=100us                  273.2 (263.9)   277.5 (250.6)   172-179 / 229-241 / 59
    ProcessPoolExecutor                 541.2 (403.0)   496.9 (401.0)   407-426 / - / 119-142
    direct (default) vs ProcessPoolExecutor: 7.8x and 9.1x (median p50s); section 1 (one pass
    of 1,000 calls): Runtime.call_python 49.5 and 67.7 us, 10.6x and 10.5x. A third run (load
    0.3): direct 41.0 us (best 32.9) against 442.4 (363.4), 10.8x; CPU per call 46 / 0.8 / 44.
    throughput, 2 workers, calls/s, 1/2/4 threads: direct 17,987 / 10,494 / 9,155 and
    21,617 / 12,125 / 10,000; routed 3,612 / 3,372 / 2,732 and 3,537 / 4,085 / 4,744;
    ProcessPoolExecutor 1,405 / 1,750 / 2,114 and 1,370 / 2,586 / 2,658 (one host thread and
    one worker already keep both cores busy: more threads than cores only add switches).
    idle footprint, 2 workers: PSS 34 MiB (router 13.8, template and each worker 5.7-5.9;
    RSS 70) against ProcessPoolExecutor(2)'s 20 MiB (RSS 51): 1.7x, goal 2x met; before this
    change 41-42 MiB (2.1x). With the memory store, once used: 2.4x.
    start-up, `zixir run examples/hello.zx`: 1.10-1.32 s wall median (0.90-1.19 best).
The router's own path (section 1, `WorkerPool.call` in the benchmark's process) measured
145-180 us in these runs, and 82 us p50 in a loop of 6,000 calls with the workers polling
100 us (95 us with spin 0; 245-290 us before the inline read, at load 4). The router does not poll
for a reply itself: measured, its polling slowed that path down (130-160 us), a caller and a
worker polling on two shared cores.

Measured 2026-12-05 (latest, --quick --host-only, load 1.2): direct, spin=100us 34.2 us p50
(best 34.1) against ProcessPoolExecutor 366.3 us: 10.7x; throughput direct 26,339 / 15,042 /
11,614 calls/s from 1/2/4 threads; idle PSS 34 vs 19 MiB, 1.8x; `zixir run hello.zx` 0.63 s.
Since Ctrl-C became safe at any point of a call (a routed call takes its worker and hands it
back in an `uninterrupted()` section, zixir/lang/deep.py, with its waits `interruptible()`:
about 4 us of locks per call on this machine), the router path measured 88-113 us p50 against
80-83 us for the code before, in 3 alternating runs of section 1 (with the sections replaced
by no-ops: 84-88 us).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import select
import signal
import statistics
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from zixir.lang.errors import WorkerCrashed  # noqa: E402
from zixir.runtime import Runtime, RuntimeConfig  # noqa: E402
from zixir.runtime.pool import WorkerPool  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return s[len(s) // 2] * 1e6, s[min(len(s) - 1, int(len(s) * 0.99))] * 1e6


def timed(fn, n: int) -> list[float]:
    for _ in range(min(200, n)):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


# ---- 1. no-op latency ------------------------------------------------------------------------


def _read_polling(fd: int, spin_s: float) -> bytes:
    """Read from a non-blocking pipe, polling for `spin_s` before blocking in select."""
    deadline = time.perf_counter() + spin_s
    while True:
        try:
            return os.read(fd, 256)
        except BlockingIOError:
            if time.perf_counter() >= deadline:
                select.select([fd], [], [])


def raw_pipe_pingpong(n: int, spin_s: float = 0.0) -> list[float]:
    """The floor: 32 bytes back and forth between two processes; with `spin_s`, both sides
    poll before blocking, as the runtime's call path does (a like-for-like baseline)."""
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    if spin_s:
        os.set_blocking(a_r, False)
        os.set_blocking(b_r, False)
    pid = os.fork()
    if pid == 0:
        os.close(a_w)
        os.close(b_r)
        while True:
            data = _read_polling(a_r, spin_s) if spin_s else os.read(a_r, 256)
            if not data:
                os._exit(0)
            os.write(b_w, data)
    os.close(a_r)
    os.close(b_w)
    msg = b"x" * 32

    def once():
        os.write(a_w, msg)
        if spin_s:
            _read_polling(b_r, spin_s)
        else:
            os.read(b_r, 256)

    try:
        return timed(once, n)
    finally:
        os.close(a_w)
        os.close(b_r)
        os.waitpid(pid, 0)


def noop_latency(n: int) -> dict[str, tuple[float, float]]:
    results = {"raw pipe ping-pong": percentiles(raw_pipe_pingpong(n))}
    results["raw ping-pong, polling 30us"] = percentiles(raw_pipe_pingpong(n, 30e-6))
    pool = WorkerPool(RuntimeConfig(workers=1, log_level="off"))
    pool.start()
    try:
        results["zixir call (router path)"] = percentiles(
            timed(lambda: pool.call("builtins", "abs", [0]), n))
    finally:
        pool.close()
    pool = WorkerPool(RuntimeConfig(workers=1, log_level="off", spin=0))
    pool.start()
    try:
        results["zixir call, spin=0"] = percentiles(
            timed(lambda: pool.call("builtins", "abs", [0]), n))
    finally:
        pool.close()
    with Runtime(workers=1, log_level="off") as rt:
        results["zixir Runtime.call_python (host)"] = percentiles(
            timed(lambda: rt.call_python("builtins", "abs", [0]), n))
    with ProcessPoolExecutor(1) as ex:
        results["ProcessPoolExecutor"] = percentiles(
            timed(lambda: ex.submit(abs, 0).result(), n))
    with multiprocessing.Pool(1) as mp:
        results["multiprocessing.Pool"] = percentiles(timed(lambda: mp.apply(abs, (0,)), n))
    try:
        import pebble

        with pebble.ProcessPool(1) as pp:
            results["pebble.ProcessPool"] = percentiles(
                timed(lambda: pp.schedule(abs, (0,)).result(), n))
    except ImportError:
        pass
    return results


# ---- 6. the host path, interleaved, with CPU time per call and the idle footprint ------------


def _task_cpu_ns(pid: int) -> int:
    """On-CPU nanoseconds of every thread of `pid` (schedstat: ns, not clock ticks)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def _memory_kib(pids: list[int]) -> tuple[int, int]:
    """(RSS, PSS) in KiB summed over `pids` (smaps_rollup)."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


class _Contender:
    """One way to make a no-op call from this process, with the pids that do the work."""

    def __init__(self, name: str, call, roles: dict[str, list[int]]) -> None:
        self.name, self.call, self.roles = name, call, roles
        self.p50: list[float] = []
        self.cpu: dict[str, list[float]] = {role: [] for role in ("host", *roles)}

    def round(self, n: int) -> None:
        for _ in range(min(200, n)):
            self.call()
        me = os.getpid()
        before = {role: sum(_task_cpu_ns(p) for p in pids) for role, pids in self.roles.items()}
        host_before = _task_cpu_ns(me)
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            self.call()
            samples.append(time.perf_counter() - t)
        self.cpu["host"].append((_task_cpu_ns(me) - host_before) / n / 1e3)
        for role, pids in self.roles.items():
            after = sum(_task_cpu_ns(p) for p in pids)
            self.cpu[role].append((after - before[role]) / n / 1e3)
        self.p50.append(percentiles(samples)[0])


def host_path(n: int, rounds: int) -> None:
    """`Runtime.call_python` on the direct path (spin 30 us and spin 0) and on the routed
    path (direct=False) against ProcessPoolExecutor, rounds interleaved; latency and CPU time
    per call in the host, the router and the worker."""
    configs = [("direct, spin=100us", {"spin": 100e-6}), ("direct, spin=30us", {"spin": 30e-6}),
               ("direct, spin=0", {"spin": 0.0}),
               ("routed, spin=100us", {"spin": 100e-6, "direct": False})]
    runtimes = {name: Runtime(workers=1, log_level="off", **opts) for name, opts in configs}
    ex = ProcessPoolExecutor(1)
    try:
        contenders = []
        for name, rt in runtimes.items():
            rt.call_python("builtins", "abs", [0])
            pids = rt.pids()
            contenders.append(_Contender(
                f"Runtime.call_python, {name}",
                lambda rt=rt: rt.call_python("builtins", "abs", [0]),
                {"router": [pids["router"]], "worker": list(pids["workers"])}))
        ex.submit(abs, 0).result()
        contenders.append(_Contender("ProcessPoolExecutor", lambda: ex.submit(abs, 0).result(),
                                     {"worker": list(ex._processes)}))
        for _ in range(rounds):
            for c in contenders:
                c.round(n)
        print(f"   {rounds} interleaved rounds of {n} calls; p50 per round: median / best; "
              "CPU time per call (us, median of rounds)")
        print(f"   {'':<42} {'p50 med':>8} {'p50 best':>9} {'host':>7} {'router':>7} "
              f"{'worker':>7} {'total':>7}")
        ppe = contenders[-1]
        for c in contenders:
            cpu = {role: statistics.median(v) for role, v in c.cpu.items()}
            print(f"   {c.name:<42} {statistics.median(c.p50):6.1f}us {min(c.p50):7.1f}us "
                  f"{cpu['host']:7.1f} {cpu.get('router', 0.0):7.1f} {cpu['worker']:7.1f} "
                  f"{sum(cpu.values()):7.1f}")
        for c in contenders[:-1]:
            ratio = statistics.median(ppe.p50) / statistics.median(c.p50)
            best = min(ppe.p50) / min(c.p50)
            target = "direct" in c.name
            print(f"   {c.name}: {ratio:.1f}x faster than ProcessPoolExecutor (median p50; "
                  f"best {best:.1f}x)" + (f"  target >= 8x [{'ok' if ratio >= 8 else 'MISSED'}]"
                                          if target else ""))
    finally:
        for rt in runtimes.values():
            rt.close()
        ex.shutdown()


def throughput(thread_counts: tuple[int, ...], seconds: float, rounds: int) -> None:
    """No-op calls per second from 1..N host threads, 2 workers: the direct path, the routed
    path and ProcessPoolExecutor(2), rounds interleaved (median of rounds)."""
    rts = {"direct": Runtime(workers=2, log_level="off"),
           "routed": Runtime(workers=2, log_level="off", direct=False)}
    ex = ProcessPoolExecutor(2)
    calls = {"direct": lambda: rts["direct"].call_python("builtins", "abs", [0]),
             "routed": lambda: rts["routed"].call_python("builtins", "abs", [0]),
             "ProcessPoolExecutor": lambda: ex.submit(abs, 0).result()}
    rates: dict[tuple[str, int], list[float]] = {}
    try:
        for call in calls.values():
            for _ in range(100):
                call()
        for _ in range(rounds):
            for threads in thread_counts:
                for name, call in calls.items():
                    rates.setdefault((name, threads), []).append(
                        _rate(call, threads, seconds))
        print(f"   calls/s, median of {rounds} rounds of {seconds:g} s "
              f"({' / '.join(f'{t} threads' for t in thread_counts)})")
        for name in calls:
            row = [statistics.median(rates[(name, t)]) for t in thread_counts]
            print(f"   {name:<22}" + "".join(f"{r:>12,.0f}" for r in row)
                  + f"   ({row[-1] / row[0]:.2f}x from 1 to {thread_counts[-1]} threads)")
    finally:
        for rt in rts.values():
            rt.close()
        ex.shutdown()


def _rate(call, threads: int, seconds: float) -> float:
    stop = threading.Event()
    counts = [0] * threads
    start = threading.Barrier(threads + 1)

    def loop(i: int) -> None:
        start.wait()
        k = 0
        while not stop.is_set():
            call()
            k += 1
        counts[i] = k

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - began)


def idle_footprint(workers: int = 2) -> None:
    """RSS and PSS of every child of an idle runtime with `workers` workers (after one call;
    the memory store starts when memory is first used), beside ProcessPoolExecutor's."""
    with Runtime(workers=workers, log_level="off") as rt:
        rt.call_python("builtins", "abs", [0])
        pids = rt.pids()
        ours = [pid for pid in (pids["router"], pids["memory"], pids["template"],
                                *pids["workers"]) if pid]
        time.sleep(0.5)  # let start-up garbage settle; the footprint is a steady state
        zixir = _memory_kib(ours)
        rt.memory.put("k", 1)  # the store starts on this first use
        store = _memory_kib([rt.pids()["memory"]])
    with ProcessPoolExecutor(workers) as ex:
        list(ex.map(abs, range(workers * 4)))
        time.sleep(0.5)
        ppe = _memory_kib(list(ex._processes))
    print(f"   zixir runtime, {workers} workers (router, template, workers): "
          f"RSS {zixir[0] / 1024:.0f} MiB, PSS {zixir[1] / 1024:.0f} MiB; the memory store, "
          f"once used: RSS {store[0] / 1024:.0f} MiB, PSS {store[1] / 1024:.0f} MiB more")
    print(f"   ProcessPoolExecutor({workers}) workers: RSS {ppe[0] / 1024:.0f} MiB, "
          f"PSS {ppe[1] / 1024:.0f} MiB")
    ratio = zixir[1] / max(1, ppe[1])
    print(f"   PSS ratio {ratio:.1f}x  goal <= 2x [{'ok' if ratio <= 2 else 'MISSED'}]; "
          f"with the store {(zixir[1] + store[1]) / max(1, ppe[1]):.1f}x")


def startup(runs: int) -> None:
    """`zixir run examples/hello.zx` (engine calls only: no worker starts) as a user runs it:
    wall time and the CPU time of every process, median and best of `runs`."""
    import resource
    import subprocess

    script = os.path.join(ROOT, "examples", "hello.zx")
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "zixir", "run", script], check=True,
                       stdout=subprocess.DEVNULL, cwd=ROOT)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    print(f"   zixir run examples/hello.zx: wall median {statistics.median(walls):.3f} s "
          f"(best {min(walls):.3f}), CPU of all processes median "
          f"{statistics.median(cpus):.3f} s (best {min(cpus):.3f})")


# ---- 2, 3. crash to error, crash to next success --------------------------------------------


def crash_recovery(rounds: int) -> tuple[list[float], list[float]]:
    pool = WorkerPool(RuntimeConfig(workers=1, log_level="off", restart_intensity=10_000,
                                    restart_period=1.0, preload=("numpy",),
                                    breaker_fail_max=1_000_000))
    pool.start()
    to_error, to_success = [], []
    try:
        for _ in range(rounds):
            pid = pool.worker_pids()[0]
            done = threading.Event()
            seen: list[float] = []

            def victim(seen=seen, done=done):
                try:
                    pool.call("time", "sleep", [30])
                except WorkerCrashed:
                    seen.append(time.perf_counter())
                done.set()

            t = threading.Thread(target=victim)
            t.start()
            _wait_busy(pool)
            killed = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            done.wait(10)
            t.join()
            pool.call("numpy", "add", [1, 2])
            recovered = time.perf_counter()
            to_error.append(seen[0] - killed)
            to_success.append(recovered - killed)
    finally:
        pool.close()
    return to_error, to_success


def _wait_busy(pool: WorkerPool) -> None:
    deadline = time.monotonic() + 10
    while pool.snapshot()["idle"] != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the call never reached its worker")
        time.sleep(0.0005)
    time.sleep(0.002)  # let the request frame reach the worker's read


# ---- 4. CPU-bound speedup --------------------------------------------------------------------


def cpu_work(n: int) -> int:
    """Pure-Python CPU work (workers import this file as module `runtime`)."""
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


def cpu_speedup(calls: int, size: int) -> tuple[float, float]:
    times = []
    here = os.path.dirname(os.path.abspath(__file__))
    for workers in (1, 2):
        pool = WorkerPool(RuntimeConfig(workers=workers, log_level="off", paths=(here,)))
        pool.start()
        try:
            pool.call("runtime", "cpu_work", [10])
            with ThreadPoolExecutor(workers) as ex:  # what pmap does in the router
                t = time.perf_counter()
                list(ex.map(lambda _, pool=pool: pool.call("runtime", "cpu_work", [size]),
                            range(calls)))
                times.append(time.perf_counter() - t)
        finally:
            pool.close()
    return times[0], times[1]


# ---- 5. array throughput ---------------------------------------------------------------------


def array_throughput(repeats: int) -> dict[str, float]:
    import numpy as np

    arr = np.random.default_rng(0).random(10_000_000)  # 80 MB
    pool = WorkerPool(RuntimeConfig(workers=1, log_level="off"))
    pool.start()
    out = {}
    try:
        for label, function, moved in (("sent (numpy.ndim)", "ndim", 1),
                                       ("sent and summed (numpy.sum)", "sum", 1),
                                       ("sent and returned (numpy.copy), each way", "copy", 2)):
            pool.call("numpy", function, [arr])
            best = min(_timed_once(lambda f=function: pool.call("numpy", f, [arr]))
                       for _ in range(repeats))
            out[label] = moved * arr.nbytes / best / 1e9
        t = min(_timed_once(lambda: arr.sum()) for _ in range(repeats))
        out["(numpy.sum in-process, for scale)"] = arr.nbytes / t / 1e9
    finally:
        pool.close()
    return out


def _timed_once(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--host-only", action="store_true",
                        help="only sections 1 and 1b-1e (latency, CPU time, throughput, "
                             "footprint, start-up)")
    args = parser.parse_args()
    n = 2000 if args.quick else 10_000

    print(f"zixir runtime benchmark ({os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.2f})")
    print("\n1. no-op call latency (builtins.abs(0), one call at a time)")
    lat = noop_latency(n)
    raw = lat["raw pipe ping-pong"][0]
    ours = lat["zixir call (router path)"][0]
    host = lat["zixir Runtime.call_python (host)"][0]
    print(f"   {'':<34} {'p50':>8} {'p99':>9}  {'p50/raw':>7}  {'p50 / router path':>18}")
    for name, (p50, p99) in lat.items():
        print(f"   {name:<34} {p50:6.1f}us {p99:7.1f}us  {p50 / raw:6.2f}x  {p50 / ours:17.2f}x")
    ppe = lat["ProcessPoolExecutor"][0]
    raw_spin = lat["raw ping-pong, polling 30us"][0]
    plain = lat["zixir call, spin=0"][0]
    print(f"   target: router path p50 within 2.5x of raw: {ours / raw:.2f}x "
          f"[{'ok' if ours / raw <= 2.5 else 'MISSED'}]; host path {host / raw:.2f}x")
    print(f"   like for like: polling path vs polling raw {ours / raw_spin:.2f}x "
          f"[{'ok' if ours / raw_spin <= 2.5 else 'MISSED'}], spin=0 path vs blocking raw "
          f"{plain / raw:.2f}x [{'ok' if plain / raw <= 2.5 else 'MISSED'}]")
    print(f"   target: >= 8x faster than ProcessPoolExecutor: {ppe / ours:.1f}x "
          f"[{'ok' if ppe / ours >= 8 else 'MISSED'}]; host path {ppe / host:.1f}x")

    print("\n1b. host path: Runtime.call_python vs ProcessPoolExecutor, interleaved")
    host_path(n // 2, 3 if args.quick else 7)
    print("\n1c. throughput with host threads (2 workers)")
    throughput((1, 2, 4), 0.5 if args.quick else 1.0, 3 if args.quick else 5)
    print("\n1d. idle footprint")
    idle_footprint()
    print("\n1e. start-up")
    startup(5 if args.quick else 15)
    if args.host_only:
        return

    print("\n2/3. worker SIGKILL mid-call (workers preload numpy)")
    to_error, to_success = crash_recovery(10 if args.quick else 30)
    e50, s50 = statistics.median(to_error) * 1e3, statistics.median(to_success) * 1e3
    print(f"   SIGKILL -> caller's WorkerCrashed: median {e50:.2f} ms, max "
          f"{max(to_error) * 1e3:.2f} ms  target < 5 ms [{'ok' if e50 < 5 else 'MISSED'}]")
    print(f"   SIGKILL -> next successful call:   median {s50:.2f} ms, max "
          f"{max(to_success) * 1e3:.2f} ms  target < 50 ms [{'ok' if s50 < 50 else 'MISSED'}]")

    print("\n4. CPU-bound calls (pure-Python loop), 8 calls as pmap makes them")
    one, two = cpu_speedup(8, 1_000_000 if args.quick else 3_000_000)
    print(f"   1 worker {one:.2f} s, 2 workers {two:.2f} s: speedup {one / two:.2f}x "
          f"target >= 1.8 [{'ok' if one / two >= 1.8 else 'MISSED'}]")

    print("\n5. an 80 MB float64 array sent to a worker")
    rates = array_throughput(3 if args.quick else 5)
    for label, gbs in rates.items():
        print(f"   {label:<40} {gbs:6.2f} GB/s")
    sent = rates["sent (numpy.ndim)"]
    print(f"   target >= 2 GB/s [{'ok' if sent >= 2 else 'MISSED'}]")


if __name__ == "__main__":
    main()
