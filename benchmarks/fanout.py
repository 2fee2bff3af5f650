"""Fan-out benchmark: N HTTP calls of a fixed latency, side by side in one run.

    python benchmarks/fanout.py [--calls 1000 10000] [--latency 0.05] [--concurrency 1000]
                                [--rounds 3] [--processes N] [--memory 10000] [--quick]

The server is the evaluation example's fake model server (examples/fanout), in a process of
its own on 127.0.0.1, answering every request after `--latency` seconds (no rate limit, no
errors). Every contender calls it through the same client code (examples/fanout/
model_client.py) with at most `--concurrency` requests in flight:

  asyncio        `model_client.score` (aiohttp) under an asyncio.Semaphore, in this process
                 (its connections opened first, untimed, in the same event loop)
  zixir          a Zixir program, `pmap(xs, x => python "model_client" "score" (...), C)`
                 through `Runtime.eval` on 2 workers, with `[modules.model_client]
                 concurrency = C`
  zixir router   `WorkerPool.call` in this process (the router's call path: what a Zixir
                 program's `python` call runs), from C threads
  threads        `model_client.score_blocking` (urllib) on ThreadPoolExecutor(C)
  processes      `score_blocking` on ProcessPoolExecutor(--processes; default: its own
                 default, the CPU count, as many processes as zixir's 2 workers here): one
                 call per process at a time; only at the smallest N (it takes N x latency /
                 processes)
  no HTTP        the same N calls of the same latency without any client work:
                 `asyncio.sleep(latency)` under a Semaphore vs a Zixir pmap of an
                 `async def` that only sleeps; the difference is zixir's own cost per call

Rounds are interleaved (every contender once per round); each line shows the median and best
wall time, the overhead per call beyond the ideal (N / C x latency), and the CPU time of the
contender's processes (this process, the runtime's router and workers, the executor's
processes; never the server's) per call. A `goals` line follows each table. Last, the router's
memory with `--memory` calls in flight at once: a Zixir program's pmap of that many async
calls on a fresh runtime; the router's RSS and thread count at the peak against just before,
and the peak number of calls in flight the router reports.

Measured 2026-12-05 (2 cores, Python 3.11.7, other builds and tests running; the load
average also counts this script's own 1,000 threads: every number is noisy, and the
one-process aiohttp server is the bottleneck of every HTTP row, so they run far above the
ideal), `--rounds 3`. N = 1000 from a default run (load average 8.8 at its start, up to 190),
N = 10000 from `--calls 10000` (so the process pool ran at 10,000 too; load 17 at its start,
up to 155):

    N = 1000 (ideal 0.05 s)        median s  best s  vs asyncio  overhead us/call  CPU us/call
    asyncio (aiohttp)                 2.145   1.865     1.00x          2094.6         539.4
    zixir (pmap n)                    2.522   2.286     1.18x          2472.4        1473.6
    zixir router path                 5.802   4.444     2.71x          5752.1        6780.3
    threads (1000, urllib)            3.511   2.092     1.64x          3460.9        3642.0
    processes (2, urllib)            29.152  28.344    13.59x         29101.6        2254.6
    no HTTP: asyncio.sleep            0.222   0.133     1.00x           172.5          92.6
    no HTTP: zixir (pmap n)           0.652   0.365     2.93x           601.7         491.0
    router RSS with up to 1000 calls in flight: 41.7 MB
    goals: zixir / asyncio = 1.18x (goal <= 1.3x); processes / zixir = 11.6x (goal >= 10x)

    N = 10000 (ideal 0.50 s)
    asyncio (aiohttp)                13.886   8.201     1.00x          1338.6         574.5
    zixir (pmap n)                   12.493  10.527     0.90x          1199.3         907.4
    zixir router path                66.479  16.992     4.79x          6597.9        9488.4
    threads (1000, urllib)           34.221  23.487     2.46x          3372.1        4348.3
    processes (2, urllib)           281.743 278.532    20.29x         28124.3        2174.2
    no HTTP: asyncio.sleep            0.927   0.769     1.00x            42.7          60.3
    no HTTP: zixir (pmap n)           2.599   1.766     2.80x           209.9         257.1
    router RSS with up to 1000 calls in flight: 44.0 MB
    goals: zixir / asyncio = 0.90x (goal <= 1.3x); processes / zixir = 22.6x (goal >= 10x)

    router with 10,000 of 10,000 calls in flight at once (async calls of 5 s, 2 workers,
    7.30 s in all): RSS 33.1 -> 125.8 MB (+92.6 MB, 9.5 KB per call), threads 17 -> 18

Through HTTP, zixir was within 1.3x of plain asyncio (1.18x at 1,000 calls, 0.90x at 10,000:
its client work runs in two worker processes, asyncio's in one) and 11.6x (1,000) and 22.6x
(10,000) faster than ProcessPoolExecutor with its default 2 processes (with 4 processes the
ratios halve). zixir's own cost, measured without HTTP, is 170-430 us of wall time and
260-490 us of CPU per call (router, worker and host together; asyncio.sleep: 60-90 us): at
10,000 sleeps zixir takes 2.8x asyncio's wall time. The router-path row (1,000 host threads
calling WorkerPool in this process) suffers most from the load. In the router, 10,000 waiting
calls cost about 9.5 KB each (their fibers, Call records and Waiters) and no thread each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "fanout")
sys.path.insert(0, EXAMPLE)
sys.path.insert(0, ROOT)

import model_client  # noqa: E402
from proc_cpu import cpu_seconds  # noqa: E402

#: the client's timeout per request: on a loaded machine a request may wait long for a CPU
TIMEOUT = 120.0
#: the worker module of the calls without HTTP (written to a temporary directory)
SLEEPER = "import asyncio\n\n\nasync def nap(seconds, i):\n    await asyncio.sleep(seconds)\n" \
          "    return i\n"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [sys.executable, os.path.join(EXAMPLE, "fake_model_server.py"), "--latency",
         str(latency), str(latency)], stdout=subprocess.PIPE, text=True)
    return server, server.stdout.readline().strip()


# ---- contenders: each returns (wall seconds, cpu seconds) ----------------------------------


def run_asyncio_sleep(latency: float, n: int, concurrency: int) -> tuple[float, float]:
    """N `asyncio.sleep(latency)` calls under an asyncio.Semaphore: no client work at all."""
    async def main() -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> int:
            async with gate:
                await asyncio.sleep(latency)
                return i

        assert len(await asyncio.gather(*(one(i) for i in range(n)))) == n

    cpu = time.process_time()
    started = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - started, time.process_time() - cpu


def run_asyncio(url: str, n: int, concurrency: int) -> tuple[float, float]:
    """`model_client.score` under a Semaphore. Its connections are opened first, untimed, by
    `concurrency` calls in the same loop (zixir's workers keep theirs open between runs)."""
    async def main() -> tuple[float, float]:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> float:
            async with gate:
                return await model_client.score(url, i, "benchmark", TIMEOUT)

        await asyncio.gather(*(one(i) for i in range(min(n, concurrency))))  # connected
        cpu = time.process_time()
        started = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(n)))
        measured = time.perf_counter() - started, time.process_time() - cpu
        assert len(results) == n
        for session in model_client._sessions.values():
            await session.close()
        model_client._sessions.clear()
        return measured

    return asyncio.run(main())


class Zixir:
    def __init__(self, url: str, concurrency: int, sleeper: str) -> None:
        import zixir

        self.url, self.concurrency = url, concurrency
        self.rt = zixir.Runtime(workers=2, paths=[EXAMPLE, sleeper], log_level="off",
                                call_timeout=120,
                                max_queue=1_000_000,
                                modules={"model_client": {"concurrency": concurrency}})
        self.rt.call_python("model_client", "score", [url, 0, "warm"])
        self.rt.eval('python "benchsleep" "nap" (0, 0)')
        try:
            self.rt.eval("pmap([1], x => x, 1)")
            self.pmap_width = True
        except Exception:
            self.pmap_width = False
        pids = self.rt.pids()
        self.pids = [pids["router"], *pids["workers"]]
        self.peak_rss = 0.0

    @property
    def label(self) -> str:
        return "zixir (pmap n)" if self.pmap_width else \
            f"zixir ({min(self.concurrency, 60)} host threads)"

    def run_sleep(self, latency: float, n: int) -> tuple[float, float]:
        """The same N calls of a fixed latency without HTTP: `benchsleep.nap`, an async
        function that only sleeps (what is left is zixir's own cost)."""
        cpu = time.process_time() + cpu_seconds(self.pids)
        started = time.perf_counter()
        result = self.rt.eval(f'len(pmap(range({n}), i => python "benchsleep" "nap" '
                              f'({latency}, i), {self.concurrency}))')
        wall = time.perf_counter() - started
        assert result == n
        return wall, time.process_time() + cpu_seconds(self.pids) - cpu

    def run(self, n: int) -> tuple[float, float]:
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.02):
                self.peak_rss = max(self.peak_rss, rss_mb(self.pids[0]))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cpu = time.process_time() + cpu_seconds(self.pids)
        started = time.perf_counter()
        if self.pmap_width:
            result = self.rt.eval(
                f'len(pmap(range({n}), i => python "model_client" "score" '
                f'("{self.url}", i, "benchmark", {TIMEOUT}), {self.concurrency}))')
            assert result == n
        else:
            with ThreadPoolExecutor(min(self.concurrency, 60)) as pool:
                assert len(list(pool.map(lambda i: self.rt.call_python(
                    "model_client", "score", [self.url, i, "benchmark", TIMEOUT]), range(n)))) == n
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        return wall, time.process_time() + cpu_seconds(self.pids) - cpu

    def close(self) -> None:
        self.rt.close()


class ZixirRouter:
    def __init__(self, url: str, concurrency: int) -> None:
        from zixir.runtime.config import RuntimeConfig
        from zixir.runtime.pool import WorkerPool

        self.url, self.concurrency = url, concurrency
        self.pool = WorkerPool(RuntimeConfig(
            workers=2, paths=(EXAMPLE,), log_level="off", call_timeout=120,
            max_queue=1_000_000, modules={"model_client": {"concurrency": concurrency}}))
        self.pool.start()
        self.pool.call("model_client", "score", [url, 0, "warm"])
        self.executor = ThreadPoolExecutor(concurrency)

    def run(self, n: int) -> tuple[float, float]:
        pids = self.pool.worker_pids()
        cpu = time.process_time() + cpu_seconds(pids)
        started = time.perf_counter()
        assert len(list(self.executor.map(lambda i: self.pool.call(
            "model_client", "score", [self.url, i, "benchmark", TIMEOUT]), range(n)))) == n
        return time.perf_counter() - started, time.process_time() + cpu_seconds(pids) - cpu

    def close(self) -> None:
        self.executor.shutdown()
        self.pool.close()


def run_threads(url: str, n: int, concurrency: int, pool: ThreadPoolExecutor
                ) -> tuple[float, float]:
    cpu = time.process_time()
    started = time.perf_counter()
    assert len(list(pool.map(lambda i: model_client.score_blocking(url, i, "benchmark", TIMEOUT),
                             range(n)))) == n
    return time.perf_counter() - started, time.process_time() - cpu


def _blocking(args: tuple[str, int]) -> float:
    return model_client.score_blocking(args[0], args[1], "benchmark", TIMEOUT)


def run_processes(url: str, n: int, pool: ProcessPoolExecutor) -> tuple[float, float]:
    pids = list(pool._processes)
    cpu = time.process_time() + cpu_seconds(pids)
    started = time.perf_counter()
    assert len(list(pool.map(_blocking, [(url, i) for i in range(n)], chunksize=1))) == n
    return time.perf_counter() - started, time.process_time() + cpu_seconds(pids) - cpu


def proc_status(pid: int) -> tuple[float, int]:
    """(VmRSS in MB, threads) of a process."""
    rss, threads = 0.0, 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


def measure_memory(n: int, sleeper: str, hold: float = 5.0) -> None:
    """The router with `n` calls in flight at once: a Zixir program's
    `pmap(0..n, i => python "benchsleep" "nap" (hold, i), n)` on a fresh runtime (memory a
    previous run freed would hide the cost); the router's RSS and threads at the peak against
    just before, and the peak of calls in flight the router itself reports."""
    import zixir

    with zixir.Runtime(workers=2, paths=[sleeper], log_level="off", call_timeout=120,
                       max_queue=10 * n) as rt:
        rt.eval('python "benchsleep" "nap" (0, 0)')
        rt.eval('len(pmap(0..100, i => python "benchsleep" "nap" (0, i), 100))')
        router = rt.pids()["router"]
        rss0, threads0 = proc_status(router)
        peak = {"rss": rss0, "threads": threads0, "inflight": 0}
        done: list = []
        runner = threading.Thread(target=lambda: done.append(rt.eval(
            f'len(pmap(0..{n}, i => python "benchsleep" "nap" ({hold}, i), {n}))')))
        started = time.perf_counter()
        runner.start()
        while runner.is_alive():
            rss, threads = proc_status(router)
            peak["rss"], peak["threads"] = max(peak["rss"], rss), max(peak["threads"], threads)
            peak["inflight"] = max(peak["inflight"],
                                   rt.stats()["router"]["workers"]["inflight"])
            time.sleep(0.05)
        runner.join()
        wall = time.perf_counter() - started
    assert done == [n]
    extra = peak["rss"] - rss0
    print(f"\nrouter with {peak['inflight']:,} of {n:,} calls in flight at once (pmap, async "
          f"calls of {hold:g} s, 2 workers, {wall:.2f} s in all): RSS {rss0:.1f} -> "
          f"{peak['rss']:.1f} MB (+{extra:.1f} MB, {extra * 1024 / n:.1f} KB per call), "
          f"threads {threads0} -> {peak['threads']}")


# ---- the run ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="--calls 300 --rounds 2")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="ProcessPoolExecutor size (default: its own, the CPU count)")
    parser.add_argument("--memory", type=int, default=10_000, metavar="N",
                        help="measure the router's memory with N calls in flight (0: skip)")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.rounds, args.memory = [300], 2, 1000
    c = args.concurrency
    sleeper_dir = tempfile.TemporaryDirectory()
    sleeper = sleeper_dir.name
    with open(os.path.join(sleeper, "benchsleep.py"), "w") as f:
        f.write(SLEEPER)
    server, url = start_server(args.latency)
    processes = args.processes
    zixir = Zixir(url, c, sleeper)
    router = ZixirRouter(url, c)
    threads = ThreadPoolExecutor(c)
    procs = ProcessPoolExecutor(processes)
    list(procs.map(_blocking, [(url, i) for i in range(processes)]))  # started
    print(f"{args.latency * 1000:g} ms per call, at most {c} in flight, {args.rounds} rounds "
          f"interleaved, load average {os.getloadavg()[0]:.2f}")
    try:
        for n in args.calls:
            contenders = {
                "asyncio (aiohttp)": lambda n=n: run_asyncio(url, n, c),
                zixir.label: lambda n=n: zixir.run(n),
                "zixir router path": lambda n=n: router.run(n),
                f"threads ({c}, urllib)": lambda n=n: run_threads(url, n, c, threads),
            }
            if n == min(args.calls):
                contenders[f"processes ({processes}, urllib)"] = \
                    lambda n=n: run_processes(url, n, procs)
            contenders["no HTTP: asyncio.sleep"] = \
                lambda n=n: run_asyncio_sleep(args.latency, n, c)
            contenders["no HTTP: zixir (pmap n)"] = lambda n=n: zixir.run_sleep(args.latency, n)
            times: dict[str, list[tuple[float, float]]] = {k: [] for k in contenders}
            zixir.peak_rss = 0.0
            for _ in range(args.rounds):
                for name, run in contenders.items():
                    times[name].append(run())
            ideal = n / min(n, c) * args.latency
            medians = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
            print(f"\nN = {n} (ideal {ideal:.2f} s)")
            print(f"  {'contender':28} {'median s':>9} {'best s':>8} {'vs asyncio':>10} "
                  f"{'overhead us/call':>16} {'CPU us/call':>12}")
            for name, samples in times.items():
                walls = [w for w, _ in samples]
                med = statistics.median(walls)
                cpu = statistics.median(cp for _, cp in samples)
                base = medians["no HTTP: asyncio.sleep" if name.startswith("no HTTP")
                               else "asyncio (aiohttp)"]
                print(f"  {name:28} {med:9.3f} {min(walls):8.3f} {med / base:9.2f}x "
                      f"{(med - ideal) / n * 1e6:16.1f} {cpu / n * 1e6:12.1f}")
            print(f"  router RSS with up to {min(n, c) if zixir.pmap_width else min(c, 60)} "
                  f"calls in flight: {zixir.peak_rss:.1f} MB")
            ours = medians[zixir.label]
            print(f"  goals: zixir / asyncio = {ours / medians['asyncio (aiohttp)']:.2f}x "
                  "(goal <= 1.3x)", end="")
            process_line = f"processes ({processes}, urllib)"
            if process_line in medians:
                print(f"; processes / zixir = {medians[process_line] / ours:.1f}x "
                      "(goal >= 10x)", end="")
            own = medians["no HTTP: zixir (pmap n)"] - medians["no HTTP: asyncio.sleep"]
            print(f"; zixir's own cost: {own / n * 1e6:.0f} us per call more than "
                  "asyncio.sleep")
    finally:
        procs.shutdown()
        threads.shutdown()
        router.close()
        zixir.close()
        server.terminate()
        server.wait(10)
    if args.memory:
        measure_memory(args.memory, sleeper)
    sleeper_dir.cleanup()


if __name__ == "__main__":
    main()
