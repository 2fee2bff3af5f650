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


if __name__ == "__main__":
    main()
