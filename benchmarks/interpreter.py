"""Zixir interpreter vs plain CPython, side by side in one run.

Each workload is written once in Zixir and once in Python; both run in this process and the
best of several repetitions is compared. Target (issue): within 2x of CPython on fib(25) and on
the 1e6-iteration while loop.

    python benchmarks/interpreter.py [--repeat N]
"""

from __future__ import annotations

import argparse
import time

from zixir.lang.session import Session

FIB_ZX = """
fn fib(n: Int) -> Int: if n <= 1: n else: fib(n - 1) + fib(n - 2)
"""


def fib_py(n):
    return n if n <= 1 else fib_py(n - 1) + fib_py(n - 2)


LOOP_ZX = """
fn count(limit: Int) -> Int {
  let i = 0
  let total = 0
  while i < limit {
    total = total + i
    i = i + 1
  }
  total
}
"""


def count_py(limit):
    i = 0
    total = 0
    while i < limit:
        total = total + i
        i = i + 1
    return total


TOP_LOOP_ZX = """
let i = 0
let total = 0
while i < 1000000 {
  total = total + i
  i = i + 1
}
total
"""

TOP_LOOP_PY = """
i = 0
total = 0
while i < 1000000:
    total = total + i
    i = i + 1
"""

COMP_ZX = """
fn squares(xs) -> [Int]: [x * x for x in xs if x % 3 != 0]
"""


def squares_py(xs):
    return [x * x for x in xs if x % 3 != 0]


# ---- try/rescue on the success path: the same loop with and without `try` -------------------

TRY_LOOP_ZX = """
fn step(i) { i % 7 }
fn plain_loop(limit) {
  let total = 0
  for i in 0..limit { total = total + step(i) }
  total
}
fn guarded_loop(limit) {
  let total = 0
  for i in 0..limit {
    try { total = total + step(i) } rescue e { total = -1 }
  }
  total
}
"""


def try_overhead(rounds: int, limit: int = 300_000) -> None:
    """Target: a loop whose body is wrapped in `try` runs within 1.2x of the same loop without
    it. Rounds interleave the two (alternating which goes first); median and best of wall and
    CPU time."""
    import statistics

    session = Session()
    session.eval(TRY_LOOP_ZX)
    plain = session.namespace["u_plain_loop"]
    guarded = session.namespace["u_guarded_loop"]
    assert session.call(plain, [1000]) == session.call(guarded, [1000]) == sum(
        i % 7 for i in range(1000))
    times: dict[str, list[tuple[float, float]]] = {"plain": [], "try": []}
    for r in range(rounds):
        order = [("plain", plain), ("try", guarded)]
        for name, fn in order if r % 2 == 0 else reversed(order):
            wall, cpu = time.perf_counter(), time.process_time()
            session.call(fn, [limit])
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    print(f"\ntry/rescue overhead: for loop of {limit:,} calls, {rounds} interleaved rounds")
    print(f"{'':22} {'wall median':>12} {'wall best':>10} {'cpu median':>11} {'cpu best':>9}")
    for name in ("plain", "try"):
        walls = [w for w, _ in times[name]]
        cpus = [c for _, c in times[name]]
        print(f"{name + ' loop':22} {statistics.median(walls) * 1e3:10.1f}ms "
              f"{min(walls) * 1e3:8.1f}ms {statistics.median(cpus) * 1e3:9.1f}ms "
              f"{min(cpus) * 1e3:7.1f}ms")
    ratio = {k: [statistics.median([t[k] for t in times["try"]]) /
                 statistics.median([t[k] for t in times["plain"]]),
                 min(t[k] for t in times["try"]) / min(t[k] for t in times["plain"])]
             for k in (0, 1)}
    print(f"{'ratio try / plain':22} {ratio[0][0]:11.3f}x {ratio[0][1]:9.3f}x "
          f"{ratio[1][0]:10.3f}x {ratio[1][1]:8.3f}x   (target <= 1.2x)")


def best_of(repeat: int, fn, *args) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    session = Session()
    session.eval(FIB_ZX + LOOP_ZX + COMP_ZX)
    fib_zx = session.namespace["u_fib"]
    count_zx = session.namespace["u_count"]
    squares_zx = session.namespace["u_squares"]
    data_zx = session.eval_value("range(100000) |> map(fn(x): x)")
    data_py = list(range(100_000))
    assert session.call(fib_zx, [20]) == fib_py(20)
    assert session.call(count_zx, [1000]) == count_py(1000)
    assert list(session.call(squares_zx, [data_zx])) == squares_py(data_py)

    rows = [
        ("fib(25)", lambda: session.call(fib_zx, [25]), lambda: fib_py(25)),
        ("while loop 1e6 (in a function)", lambda: session.call(count_zx, [1_000_000]),
         lambda: count_py(1_000_000)),
        ("while loop 1e6 (top level)", lambda: session.eval(TOP_LOOP_ZX),
         lambda: exec(TOP_LOOP_PY, {})),
        ("comprehension over 1e5", lambda: session.call(squares_zx, [data_zx]),
         lambda: squares_py(data_py)),
    ]
    print(f"{'workload':34} {'zixir':>10} {'python':>10} {'ratio':>8}")
    for name, zx, pyfn in rows:
        t_zx = best_of(args.repeat, zx)
        t_py = best_of(args.repeat, pyfn)
        print(f"{name:34} {t_zx * 1e3:8.1f}ms {t_py * 1e3:8.1f}ms {t_zx / t_py:7.2f}x")
    try_overhead(max(args.repeat, 9))


if __name__ == "__main__":
    main()
