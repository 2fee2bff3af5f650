"""Overhead of durability: a zixir durable step and a checkpointed map element, beside DBOS on
SQLite doing the same steps, in one run with the rounds interleaved.

    python benchmarks/workflow.py [--steps 200] [--elements 1000] [--rounds 5]

Rows (per step or element, median and best of the rounds; wall time and CPU time):
  zixir step        `workflow.step(run, "sI", () => i)` N times in one run, minus the same loop
                    calling the function directly (so: the cost the durability adds)
  zixir map elem    `workflow.map(run, "m", xs, x => x)` minus `pmap(xs, x => x)`
  dbos step         a `@DBOS.step` returning i, N times in one `@DBOS.workflow`, minus the
                    same loop of plain calls
zixir's CPU time is that of the host, the router and the memory store (read from /proc);
DBOS runs in this process. Every step is a SQLite commit in both, but not an equally durable
one: zixir's store runs WAL with synchronous=NORMAL (a commit survives the crash of any process,
not a power cut), DBOS's SQLite defaults sync every commit to disk, so on a slow disk its row is
mostly fsync. DBOS (`pip install -e '.[bench]'`) is a benchmark-only dependency: without it its
row is left out.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

from proc_cpu import measured

from zixir.runtime import Runtime


class ZixirCase:
    def __init__(self, steps: int, elements: int, directory: str) -> None:
        self.rt = Runtime(workers=2, memory_path=os.path.join(directory, "zixir.sqlite3"),
                          log_level="off")
        pids = self.rt.pids()
        self.pids = [os.getpid(), pids["router"], pids["memory"]]
        self.steps, self.elements, self.round = steps, elements, 0
        self.rt.eval("fn ident(x) { x }")

    def step_round(self) -> tuple[float, float]:
        self.round += 1
        durable = (f'workflow.run("steps", "r{self.round}", run => {{ for i in 0..{self.steps} '
                   f'{{ workflow.step(run, "s" + str(i), () => ident(i)) }} }})')
        plain = f"for i in 0..{self.steps} {{ (() => ident(i))() }}"
        return _difference(measured(lambda: self.rt.eval(durable), self.pids),
                           measured(lambda: self.rt.eval(plain), self.pids), self.steps)

    def map_round(self) -> tuple[float, float]:
        self.round += 1
        durable = (f'workflow.run("map", "r{self.round}", run => workflow.map(run, "m", '
                   f'range({self.elements}), x => ident(x)))')
        plain = f"pmap(range({self.elements}), x => ident(x))"
        return _difference(measured(lambda: self.rt.eval(durable), self.pids),
                           measured(lambda: self.rt.eval(plain), self.pids), self.elements)

    def close(self) -> None:
        self.rt.close()


class DbosCase:
    def __init__(self, steps: int, directory: str) -> None:
        from dbos import DBOS

        self.steps = steps
        self.DBOS = DBOS
        DBOS(config={"name": "zixir-bench",
                     "system_database_url": f"sqlite:///{directory}/dbos.sqlite3",
                     "log_level": "ERROR"})

        @DBOS.step()
        def step(i: int) -> int:
            return i

        @DBOS.workflow()
        def workflow(n: int) -> int:
            return sum(step(i) for i in range(n))

        def plain_step(i: int) -> int:
            return i

        self.workflow = workflow
        self.plain = lambda: sum(plain_step(i) for i in range(steps))
        DBOS.launch()

    def step_round(self) -> tuple[float, float]:
        pids = [os.getpid()]
        return _difference(measured(lambda: self.workflow(self.steps), pids),
                           measured(self.plain, pids), self.steps)

    def close(self) -> None:
        self.DBOS.destroy()


def _difference(durable: tuple[float, float], plain: tuple[float, float],
                n: int) -> tuple[float, float]:
    return (durable[0] - plain[0]) / n, (durable[1] - plain[1]) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--elements", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zixir-bench-") as directory:
        zixir = ZixirCase(args.steps, args.elements, directory)
        try:
            dbos: DbosCase | None = DbosCase(args.steps, directory)
        except ImportError:
            dbos = None
        results: dict[str, list[tuple[float, float]]] = {"zixir step": [],
                                                         "zixir map elem": []}
        if dbos is not None:
            results["dbos step"] = []
        zixir.step_round()  # warm up: imports, the first worker calls, SQLite pages
        if dbos is not None:
            dbos.step_round()
        try:
            for _ in range(args.rounds):
                results["zixir step"].append(zixir.step_round())
                if dbos is not None:
                    results["dbos step"].append(dbos.step_round())
                results["zixir map elem"].append(zixir.map_round())
        finally:
            zixir.close()
            if dbos is not None:
                dbos.close()
    print(f"{args.steps} steps, {args.elements} map elements, {args.rounds} rounds "
          f"(overhead per step or element, microseconds)")
    print(f"{'':16}{'wall median':>12}{'wall best':>11}{'cpu median':>12}{'cpu best':>10}")
    for name, rounds in results.items():
        walls = [w * 1e6 for w, _ in rounds]
        cpus = [c * 1e6 for _, c in rounds]
        print(f"{name:16}{statistics.median(walls):12.0f}{min(walls):11.0f}"
              f"{statistics.median(cpus):12.0f}{min(cpus):10.0f}")
    if dbos is not None:
        ratio = (statistics.median(w for w, _ in results["zixir step"])
                 / statistics.median(w for w, _ in results["dbos step"]))
        print(f"zixir step / dbos step (wall, median): {ratio:.2f}")


if __name__ == "__main__":
    main()
