"""Commit latency of durable state: the memory store on SQLite beside the memory store on
PostgreSQL, in one run with the rounds interleaved.

    python benchmarks/cluster_state.py [--steps 200] [--puts 500] [--rounds 5] [--url URL]

Rows (per operation, median and best of the rounds; wall time and CPU time):
  sqlite step     `workflow.step(run, "sI", () => i)` N times in one run (each step is a
                  committed record before it returns), minus the same loop without workflow
  postgres step   the same on `memory_path = postgresql://...`
  sqlite put      `rt.memory.put(k, v)` from the host: one acknowledged (committed) write
  postgres put    the same on PostgreSQL
  nofsync ...     the same on a PostgreSQL server run with fsync=off
CPU is that of the host, the router and the memory store (read from /proc); the PostgreSQL
server's own CPU is not counted (it is another machine's in a real deployment).

Without `--url` throwaway servers are started (initdb into temporary directories, as
tests/postgres/server.py does; needs PostgreSQL's binaries and psycopg: `pip install -e
'.[postgresql]'`). Durability differs, so both are shown: the SQLite store is WAL with
synchronous=NORMAL (a commit survives any process's crash, not a power cut); "postgres" runs
with fsync and synchronous_commit on (a commit survives a power cut too: every commit waits for
the disk); "nofsync" runs with fsync off, the same guarantee as the SQLite store's (the WAL is
written to the OS at every commit, not synced), so the difference to sqlite is the cost of the
client/server round trips alone. With `--url` only that server is measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

from proc_cpu import measured

from zixir.runtime import Runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Case:
    """One runtime on one store location."""

    def __init__(self, location: str, steps: int, puts: int) -> None:
        self.rt = Runtime(workers=1, memory_path=location, log_level="off", prewarm=True)
        self.rt.memory.put("warm", 0)  # the store process starts at the first client
        pids = self.rt.pids()
        self.pids = [os.getpid(), pids["router"], pids["memory"]]
        self.steps, self.puts, self.round = steps, puts, 0
        self.rt.eval("fn ident(x) { x }")

    def step_round(self) -> tuple[float, float]:
        self.round += 1
        durable = (f'workflow.run("steps", "r{self.round}", run => {{ for i in 0..{self.steps} '
                   f'{{ workflow.step(run, "s" + str(i), () => ident(i)) }} }})')
        plain = f"for i in 0..{self.steps} {{ (() => ident(i))() }}"
        durable_cost = measured(lambda: self.rt.eval(durable), self.pids)
        plain_cost = measured(lambda: self.rt.eval(plain), self.pids)
        return ((durable_cost[0] - plain_cost[0]) / self.steps,
                (durable_cost[1] - plain_cost[1]) / self.steps)

    def put_round(self) -> tuple[float, float]:
        self.round += 1
        memory, tag = self.rt.memory, f"bench/{self.round}/"

        def puts() -> None:
            for i in range(self.puts):
                memory.put(tag + str(i), {"i": i, "payload": "x" * 64})

        wall, cpu = measured(puts, self.pids)
        return wall / self.puts, cpu / self.puts

    def close(self) -> None:
        self.rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--puts", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--url", default=None,
                        help="a PostgreSQL database to use (default: start a throwaway server)")
    args = parser.parse_args()
    servers = []
    urls = {"postgres": args.url}
    if args.url is None:
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        from postgres.server import Server, find_binaries

        binaries = find_binaries()
        if binaries is None:
            sys.exit("no PostgreSQL binaries (initdb): install PostgreSQL or pass --url")
        for name, durable in (("postgres", True), ("nofsync", False)):
            servers.append(Server(binaries, durable=durable))
            urls[name] = servers[-1].url("bench")
    try:
        with tempfile.TemporaryDirectory(prefix="zixir-bench-") as directory:
            cases = {"sqlite": Case(os.path.join(directory, "m.sqlite3"), args.steps, args.puts)}
            for name, url in urls.items():
                cases[name] = Case(url, args.steps, args.puts)
            results: dict[str, list[tuple[float, float]]] = {
                f"{name} {what}": [] for what in ("step", "put") for name in cases}
            try:
                for case in cases.values():  # warm up: imports, first calls, pages, plans
                    case.step_round()
                    case.put_round()
                for _ in range(args.rounds):
                    for name, case in cases.items():
                        results[f"{name} step"].append(case.step_round())
                    for name, case in cases.items():
                        results[f"{name} put"].append(case.put_round())
            finally:
                for case in cases.values():
                    case.close()
    finally:
        for server in servers:
            server.stop()
    print(f"{args.steps} steps, {args.puts} puts, {args.rounds} rounds "
          f"(per committed step or put, microseconds)")
    print(f"{'':16}{'wall median':>12}{'wall best':>11}{'cpu median':>12}{'cpu best':>10}")
    for name, rounds in results.items():
        walls = [w * 1e6 for w, _ in rounds]
        cpus = [c * 1e6 for _, c in rounds]
        print(f"{name:16}{statistics.median(walls):12.0f}{min(walls):11.0f}"
              f"{statistics.median(cpus):12.0f}{min(cpus):10.0f}")
    for name in urls:
        for what in ("step", "put"):
            ratio = (statistics.median(w for w, _ in results[f"{name} {what}"])
                     / statistics.median(w for w, _ in results[f"sqlite {what}"]))
            print(f"{name} {what} / sqlite {what} (wall, median): {ratio:.2f}")


if __name__ == "__main__":
    main()
