"""Python calls on the local worker pool beside the same calls on a Ray cluster, in one run.

    python benchmarks/cluster.py [--quick] [--calls N] [--rounds N] [--jobs N] [--work N]
                                 [--state]

A local Ray cluster is started for the run (`ray.cluster_utils.Cluster`: a head and a second
node, one CPU each, no dashboard) and shut down at the end. Measured, rounds interleaved
(each round runs every backend once, in turn):
1. per-call overhead: N calls of a trivial function, one at a time, from the host program
   (`rt.call_python`); local with the direct path (host -> worker), local routed (host ->
   router -> worker, what a Zixir program's call costs) and Ray (host -> router -> actor over
   TCP). Wall time per call and the CPU time per call of the host, the router and the workers
   (from /proc: Ray's own daemons are not counted);
2. throughput: `pmap` of N trivial calls, 64 in flight, two workers;
3. CPU-bound jobs: `pmap` of J jobs of `burn(W)` on Ray over one node (one worker) and over
   two nodes (two workers, one per node), beside the same on the local pool with one and two
   workers.
Reported: median and best of the rounds. Then a written estimate of the throughput at 10 and
100 nodes from the measured per-call costs (the model and its inputs are printed).
`--state` also runs benchmarks/cluster_state.py (memory store and workflow steps on SQLite vs
PostgreSQL) when it is there.

Measured 2026-12-05 (2 cores, Python 3.11.7, Ray 2.60.0, both "nodes" on this machine, which
other builds shared: load average 7-9 during the run), default options:

                  per call us       CPU per call us   pmap calls/s
                  median / best     median / best     median / best
    local direct   451 / 391         240 / 240         1642 / 2111
    local routed   609 / 542         540 / 450         2551 / 2694
    Ray            957 / 905         900 / 820         2354 / 3128

    8 jobs of 0.39 s      wall s median / best    CPU s
    Ray, 1 node            2.05 / 1.77            1.64
    Ray, 2 nodes           2.14 / 1.84            1.38
    local, 1 worker        2.70 / 2.34            1.57
    local, 2 workers       1.65 / 1.62            1.42

Second run (load rising from 3 to 10 during it): per call 306 / 204 us direct, 446 / 446
routed, 538 / 474 Ray (CPU 210, 440, 590 us); pmap 2445, 3789, 3095 calls/s; 8 jobs of 0.16 s:
Ray 1 node 1.67 s, 2 nodes 1.41 s (1.19x), local 1 worker 1.82 s, 2 workers 1.23 s; model:
R = 3095 calls/s, the router the limit beyond about 39 nodes with 0.1 s jobs.

A call on Ray costs about 100-350 us more than a routed local call (TCP on loopback instead of a
pipe, and Ray's actor process). The two "nodes" share the same 2 busy cores (and Ray runs its
workers at niceness 19), so 2 Ray nodes gave no speed-up over 1 here (0.96x); on separate
machines each node adds its own CPUs. Model output of that run: one router dispatched about
2350 calls/s, so with jobs of 0.1 s the router, not Ray, becomes the limit beyond about 30
nodes of 8 CPUs (about 290 nodes with 1 s jobs, 3 nodes with 10 ms jobs).
"""

from __future__ import annotations

import argparse
import os
import runpy
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LIB_DIR = os.path.join(ROOT, "tests", "cluster")  # clusterlib: add, burn, held
sys.path.insert(0, ROOT)

from proc_cpu import cpu_seconds  # noqa: E402

OBJECT_STORE = 80 * 1024 * 1024


def runtime_pids(rt) -> list[int]:
    router = rt.stats()["router"]
    return [os.getpid(), router["pid"], *router["workers"]["pids"]]


class Backend:
    def __init__(self, name: str, **options) -> None:
        from zixir.runtime import Runtime

        self.name = name
        self.dir = tempfile.mkdtemp(prefix="zixir-bench-")
        self.rt = Runtime(paths=[LIB_DIR], memory_path=os.path.join(self.dir, "m.db"),
                          **options)
        self.rt.call_python("clusterlib", "add", [1, 2])  # workers up
        self.rt.eval('pmap(range(8), i => python "clusterlib" "add" (i, 1), 8)')

    def close(self) -> None:
        self.rt.close()
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)


def timed(rt, fn) -> tuple[float, float]:
    """(wall, CPU of the runtime's processes) of fn()."""
    pids = runtime_pids(rt)
    cpu0, t0 = cpu_seconds(pids), time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    return wall, cpu_seconds(pids) - cpu0


def summary(samples: list[float]) -> str:
    return f"{statistics.median(samples):10.1f} {min(samples):10.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="200 calls, 2 rounds, 4 jobs of 300k iterations")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--work", type=int, default=1_000_000, help="iterations per job")
    parser.add_argument("--state", action="store_true",
                        help="also run benchmarks/cluster_state.py (SQLite vs PostgreSQL)")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.rounds, args.jobs, args.work = 200, 2, 4, 300_000
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        from ray.cluster_utils import Cluster
    except ImportError:
        sys.exit("Ray is not installed: pip install 'zixir[ray]'")
    sys.path.insert(0, LIB_DIR)
    import clusterlib

    start = time.perf_counter()
    clusterlib.burn(args.work)
    job_seconds = time.perf_counter() - start

    temp_dir = tempfile.mkdtemp(prefix="zxray-")  # Ray's session files, removed at the end
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": OBJECT_STORE, "include_dashboard": False,
        "temp_dir": temp_dir})
    backends: list[Backend] = []
    try:
        cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE, temp_dir=temp_dir)
        cluster.wait_for_nodes()
        address = cluster.address
        calls = {"local direct": Backend("local direct", workers=2),
                 "local routed": Backend("local routed", workers=2, direct=False),
                 "Ray": Backend("Ray", workers=2, cluster=address, cluster_cpus=0.5)}
        backends += calls.values()
        per_call: dict[str, list[float]] = {k: [] for k in calls}
        per_call_cpu: dict[str, list[float]] = {k: [] for k in calls}
        throughput: dict[str, list[float]] = {k: [] for k in calls}
        fan = f'pmap(range({args.calls}), i => python "clusterlib" "add" (i, 1), 64)'
        for r in range(args.rounds):
            for name, b in calls.items():
                rt = b.rt
                wall, cpu = timed(rt, lambda rt=rt: [rt.call_python("clusterlib", "add", [i, 1])
                                                     for i in range(args.calls)])
                per_call[name].append(wall / args.calls * 1e6)
                per_call_cpu[name].append(cpu / args.calls * 1e6)
                wall, _ = timed(rt, lambda rt=rt: rt.eval(fan))
                throughput[name].append(args.calls / wall)
            print(f"calls: round {r + 1}/{args.rounds} done", flush=True)
        for b in calls.values():
            b.close()
        backends.clear()

        # CPU-bound jobs: one worker (one node) vs two (one per node), Ray and local
        job_backends = {
            "Ray, 1 node (1 worker)": lambda: Backend("ray1", workers=1, cluster=address,
                                                      cluster_cpus=1),
            "Ray, 2 nodes (2 workers)": lambda: Backend("ray2", workers=2, cluster=address,
                                                        cluster_cpus=1),
            "local, 1 worker": lambda: Backend("local1", workers=1),
            "local, 2 workers": lambda: Backend("local2", workers=2),
        }
        jobs: dict[str, list[float]] = {k: [] for k in job_backends}
        jobs_cpu: dict[str, list[float]] = {k: [] for k in job_backends}
        program = (f'pmap(range({args.jobs}), i => python "clusterlib" "burn" ({args.work}), '
                   f'{args.jobs})')
        nodes_used: dict[str, int] = {}
        for r in range(args.rounds):
            for name, make in job_backends.items():
                b = make()
                try:
                    where = b.rt.eval('pmap(range(16), i => python "clusterlib" "held" (0.05),'
                                      ' 16)')
                    nodes_used[name] = len({w["node"] for w in where})
                    wall, cpu = timed(b.rt, lambda b=b: b.rt.eval(program))
                    jobs[name].append(wall)
                    jobs_cpu[name].append(cpu)
                finally:
                    b.close()
            print(f"jobs: round {r + 1}/{args.rounds} done", flush=True)
    finally:
        for b in backends:
            b.close()
        cluster.shutdown()
        import shutil

        shutil.rmtree(temp_dir, ignore_errors=True)

    load = os.getloadavg()[0]
    print(f"\nload average {load:.1f} on {os.cpu_count()} cores; {args.rounds} rounds, "
          "median / best of the rounds")
    print(f"\n1-2. {args.calls} calls of clusterlib.add from the host, one at a time; then a "
          "pmap of as many, 64 in flight (2 workers)")
    print(f"{'':16}{'us/call':>10} {'best':>10}   {'CPU us/call':>11} {'best':>6}   "
          f"{'pmap calls/s':>12} {'best':>10}")
    for name in per_call:
        print(f"{name:16}{summary(per_call[name])}   {statistics.median(per_call_cpu[name]):11.1f}"
              f" {min(per_call_cpu[name]):6.1f}   {statistics.median(throughput[name]):12.0f}"
              f" {max(throughput[name]):10.0f}")
    print(f"\n3. {args.jobs} jobs of burn({args.work}) (about {job_seconds:.2f} s each here "
          "alone), all in flight")
    print(f"{'':28}{'wall s':>8} {'best':>8}   {'CPU s':>7}   nodes used")
    for name in jobs:
        print(f"{name:28}{statistics.median(jobs[name]):8.2f} {min(jobs[name]):8.2f}   "
              f"{statistics.median(jobs_cpu[name]):7.2f}   {nodes_used.get(name, '?')}")
    one, two = statistics.median(jobs["Ray, 1 node (1 worker)"]), \
        statistics.median(jobs["Ray, 2 nodes (2 workers)"])
    print(f"speed-up of 2 Ray nodes over 1: {one / two:.2f}x (2 cores shared with the rest "
          "of the machine)")

    # ---- the model -----------------------------------------------------------------------
    ray_wall = statistics.median(per_call["Ray"]) * 1e-6
    routed_wall = statistics.median(per_call["local routed"]) * 1e-6
    ray_rate = statistics.median(throughput["Ray"])
    # the router handles every call: its CPU per call bounds the calls/s of one runtime
    router_bound = ray_rate  # measured with 2 workers: a lower bound of the router's rate
    print("\nEstimate at 10 and 100 nodes (a model, not a measurement):")
    print("  inputs: t_job = running time of one call's function; c = per-call cost on Ray, "
          f"one at a time = {ray_wall * 1e6:.0f} us (local routed: {routed_wall * 1e6:.0f} us);"
          f" R = calls/s one router dispatched in the pmap above = {router_bound:.0f}/s "
          "(on 2 shared cores, with its 2 actors on the same machine)")
    print("  model: calls/s = min(nodes x cpus_per_node / (t_job + c), R): every node runs one "
          "worker per CPU, each busy t_job + c per call, and one router admits every call "
          "(policy, breaker, limits) so it cannot exceed R")
    for t_job in (0.01, 0.1, 1.0):
        row = []
        for nodes in (10, 100):
            cpus = 8
            rate = min(nodes * cpus / (t_job + ray_wall), router_bound)
            row.append(f"{nodes} nodes x {cpus} CPUs: {rate:9.0f} calls/s")
        print(f"  t_job {t_job:5.2f} s:  " + ";  ".join(row))
    for t_job in (0.01, 0.1, 1.0):
        limit = router_bound * (t_job + ray_wall) / 8
        print(f"  t_job {t_job:5.2f} s: the router becomes the limit beyond about {limit:.0f} "
              "nodes of 8 CPUs")

    if args.state:  # the state half of the cluster benchmarks: SQLite vs PostgreSQL
        state = os.path.join(HERE, "cluster_state.py")
        if os.path.exists(state):
            print("\n---- memory store and workflow state (benchmarks/cluster_state.py) ----")
            sys.argv = [state, *(["--steps", "50", "--puts", "100", "--rounds", "2"]
                                 if args.quick else [])]
            runpy.run_path(state, run_name="__main__")
        else:
            print("\nbenchmarks/cluster_state.py is not there: no state benchmark")


if __name__ == "__main__":
    main()
