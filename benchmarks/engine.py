"""Engine backends side by side with numpy and plain Python, in one run, as ratios.

    python benchmarks/engine.py               # call overhead, then ops x sizes x input kinds
    python benchmarks/engine.py --calls       # only the call overhead of each way in
    python benchmarks/engine.py --crossover   # list length where the kernels start to win
    python benchmarks/engine.py --ops list_sum dot_product list_mean --sizes 8 1000
    python benchmarks/engine.py --small       # every op on lists at n = 8 and 1e3 vs plain Python

Every engine time is of the public API, `zixir.run_engine(op, ...)`, with the backend selected
by `zixir.engine.use_backend` (what `ZIXIR_ENGINE` selects). Each cell is the best of a few
timed batches. "x numpy" is numpy's time divided by the backend's (above 1.0: faster than
numpy); for ops returning a list, "x numpy" keeps numpy's result an array and "x np+list"
converts it with `.tolist()`, since the engine hands back a Python list. "x builtin" is the
same against the obvious pure-Python code on a list (`sum(xs)`, `sorted(xs)`, ...). The first
line states numpy's BLAS/OpenMP thread settings. Absolute times on a shared machine are noise;
compare within a row.

The call-overhead table times one short call (8 floats) every way in: the native front end
called directly (`run_with(backend, ...)`), the public `zixir.run_engine`, and `engine.OP(xs)`
in compiled Zixir code (a loop's time per iteration minus the empty loop's); target: at most
1.5x the front end's.
"""

from __future__ import annotations

import argparse
import math
import operator
import random
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

import numpy as np

import zixir
from zixir.engine import OPS, Backend, active_backend, load_backend, run_with, use_backend

SIZES = [8, 1_000, 100_000, 10_000_000]
OPS_MEASURED = ["list_sum", "dot_product", "list_mean", "list_max", "vec_add", "sort_asc",
                "mat_mul"]
PYTHON_BACKEND_MAX = 100_000  # the pure-Python backend is skipped above this (too slow to wait)
MAT_MUL_MAX = 100_000  # elements per matrix; 1e7 would be a 3162^2 product (O(n^1.5) work)


def best_time(fn: Callable[[], Any], budget: float = 0.15) -> float:
    """Seconds per call: the best of three batches sized to fill `budget`."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(budget / 3 / once))
    return min(timeit.repeat(fn, number=number, repeat=3)) / number


def engine_call(backend: Backend, op: str, args: list) -> Callable[[], Any]:
    """`run_with(backend, op, *args)` as a closure that passes the arguments one by one, like the
    numpy and builtin closures it is compared with (unpacking `*args` costs ~50 ns per call,
    which is the harness's, not the engine's)."""
    if len(args) == 1:
        (a0,) = args
        return lambda: run_with(backend, op, a0)
    if len(args) == 2:
        a0, a1 = args
        return lambda: run_with(backend, op, a0, a1)
    return lambda: run_with(backend, op, *args)


def public_call(op: str, args: list) -> Callable[[], Any]:
    """`zixir.run_engine(op, *args)` (the active backend), arguments passed one by one."""
    run = zixir.run_engine
    if len(args) == 1:
        (a0,) = args
        return lambda: run(op, a0)
    if len(args) == 2:
        a0, a1 = args
        return lambda: run(op, a0, a1)
    return lambda: run(op, *args)


def time_public(backend: Backend, op: str, args: list, budget: float) -> float:
    """Seconds per `zixir.run_engine(op, *args)` call with `backend` active."""
    before = active_backend().name
    use_backend(backend.name)
    try:
        return best_time(public_call(op, args), budget)
    finally:
        use_backend(before)


def make_inputs(op: str, n: int, rng: np.random.Generator) -> tuple[list, list, Callable, Callable]:
    """(buffer args, list args, numpy equivalent, builtin-Python equivalent) for an op at size n."""
    if op == "mat_mul":
        side = max(1, round(math.sqrt(n)))
        a, b = rng.standard_normal(side * side), rng.standard_normal(side * side)
        args = [a, b, side, side, side]
        la, lb = a.tolist(), b.tolist()

        def builtin_mat_mul() -> list[float]:
            cols = [lb[c::side] for c in range(side)]
            return [sum(map(operator.mul, la[r * side:(r + 1) * side], col))
                    for r in range(side) for col in cols]

        return (args, [la, lb, side, side, side],
                lambda: a.reshape(side, side) @ b.reshape(side, side), builtin_mat_mul)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    la, lb = a.tolist(), b.tolist()
    two = op in ("dot_product", "vec_add")
    numpy_fn = {
        "list_sum": lambda: a.sum(),
        "dot_product": lambda: a @ b,
        "list_mean": lambda: a.mean(),
        "list_max": lambda: a.max(),
        "vec_add": lambda: a + b,
        "sort_asc": lambda: np.sort(a),
    }[op]
    builtin_fn = {
        "list_sum": lambda: sum(la),
        "dot_product": lambda: sum(map(operator.mul, la, lb)),
        "list_mean": lambda: sum(la) / len(la),
        "list_max": lambda: max(la),
        "vec_add": lambda: list(map(operator.add, la, lb)),
        "sort_asc": lambda: sorted(la),
    }[op]
    return ([a, b] if two else [a]), ([la, lb] if two else [la]), numpy_fn, builtin_fn


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g}{unit}"
    return f"{seconds * 1e9:.3g}ns"


def fmt_ratio(reference: float | None, seconds: float | None) -> str:
    if reference is None or seconds is None:
        return "-"
    return f"{reference / seconds:.2f}x"


def available_backends() -> dict[str, Backend]:
    backends = {}
    for name in ("c", "zig", "python"):
        try:
            backends[name] = load_backend(name)
        except Exception as exc:  # noqa: BLE001 - report and go on with the others
            print(f"# backend {name} unavailable: {exc}", file=sys.stderr)
    return backends


def table(sizes: list[int], budget: float, ops: list[str]) -> None:
    backends = available_backends()
    rng = np.random.default_rng(7)
    print("input: numpy float64 buffers (list-result ops: x numpy keeps numpy's array, "
          "x np+list adds .tolist())")
    header = f"{'op':<12} {'n':>9} {'numpy':>9} {'np+list':>9}"
    for name in backends:
        header += f" {name:>9} {'x numpy':>8} {'x np+list':>9}"
    print(header)
    for op in ops:
        for n in sizes:
            if op == "mat_mul" and n > MAT_MUL_MAX:
                print(f"{op:<12} {n:>9}   skipped: a {round(math.sqrt(n))}^2 matrix product")
                continue
            buffers, lists, numpy_fn, builtin_fn = make_inputs(op, n, rng)
            t_np = best_time(numpy_fn, budget)
            listy = OPS[op].result == "list"
            t_np_list = best_time(lambda f=numpy_fn: f().tolist(), budget) if listy else None
            row = f"{op:<12} {n:>9} {fmt_time(t_np):>9} {fmt_time(t_np_list):>9}"
            for name, backend in backends.items():
                if name == "python" and n > PYTHON_BACKEND_MAX:
                    row += f" {'-':>9} {'-':>8} {'-':>9}"
                    continue
                t = time_public(backend, op, buffers, budget)
                row += (f" {fmt_time(t):>9} {fmt_ratio(t_np, t):>8}"
                        f" {fmt_ratio(t_np_list, t):>9}")
            print(row, flush=True)
    print()
    print("input: Python lists of floats (builtin = the plain Python expression on the list)")
    header = f"{'op':<12} {'n':>9} {'builtin':>9} {'np(list)':>9}"
    for name in backends:
        header += f" {name:>9} {'x builtin':>9}"
    print(header)
    for op in ops:
        for n in sizes:
            if op == "mat_mul" and n > MAT_MUL_MAX:
                continue
            buffers, lists, numpy_fn, builtin_fn = make_inputs(op, n, rng)
            big = n > PYTHON_BACKEND_MAX
            t_builtin = None if big and op == "mat_mul" else best_time(builtin_fn, budget)
            np_on_list = _numpy_on_lists(op, lists)
            t_np = best_time(np_on_list, budget)
            row = f"{op:<12} {n:>9} {fmt_time(t_builtin):>9} {fmt_time(t_np):>9}"
            for name, backend in backends.items():
                if name == "python" and big:
                    row += f" {'-':>9} {'-':>9}"
                    continue
                t = time_public(backend, op, lists, budget)
                row += f" {fmt_time(t):>9} {fmt_ratio(t_builtin, t):>9}"
            print(row, flush=True)


CALL_OPS = {"list_sum": 1, "vec_add": 2, "list_max": 1}
ZIXIR_LOOP = """
fn each(xs, ys, n) {{ for i in 0..n {{ {call} }} }}
fn empty(xs, ys, n) {{ for i in 0..n {{ xs }} }}
"""


def _zixir_per_call(call: str, xs: list, ys: list, n: int = 500) -> float:
    """Seconds per `call` in a compiled Zixir loop, minus the empty loop (best of 15 each)."""
    from zixir.lang.session import Session
    from zixir.lang.values import from_python

    session = Session()
    session.eval(ZIXIR_LOOP.format(call=call))
    args = [from_python(xs), from_python(ys), n]
    best = {}
    for name in ("each", "empty") * 15:
        fn = session.namespace[f"u_{name}"]
        start = time.perf_counter()
        session.call(fn, args)
        best[name] = min(best.get(name, math.inf), time.perf_counter() - start)
    return max(best["each"] - best["empty"], 0.0) / n


def _short_batches(fn: Callable[[], Any], budget: float, number: int = 500) -> float:
    """Seconds per call: the best of many short batches (a batch that was not preempted)."""
    repeat = max(3, int(budget / max(timeit.timeit(fn, number=number), 1e-6)))
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def call_overhead(budget: float) -> None:
    """One short call (8 floats) every way in, against the native front end called directly."""
    rng = random.Random(5)
    xs = [rng.uniform(-1, 1) for _ in range(8)]
    ys = [rng.uniform(-1, 1) for _ in range(8)]
    backend = active_backend()
    print(f"call overhead, lists of 8 floats, backend {backend.name} "
          "(ratio: time / the front end's; target <= 1.5x)")
    print(f"{'op':<10} {'front end':>10} {'run_engine':>10} {'ratio':>6} "
          f"{'from Zixir':>10} {'ratio':>6}")
    for op, count in CALL_OPS.items():
        args = [xs, ys][:count]
        call = f"engine.{op}({', '.join(['xs', 'ys'][:count])})"
        t_front = t_public = t_zixir = math.inf
        for _ in range(5):  # rounds interleaved, best of each: a busy machine slows all alike
            t_front = min(t_front, _short_batches(engine_call(backend, op, args), budget / 5))
            t_public = min(t_public, _short_batches(public_call(op, args), budget / 5))
            t_zixir = min(t_zixir, _zixir_per_call(call, xs, ys))
        print(f"{op:<10} {fmt_time(t_front):>10} {fmt_time(t_public):>10} "
              f"{t_public / t_front:>5.2f}x {fmt_time(t_zixir):>10} {t_zixir / t_front:>5.2f}x",
              flush=True)
    t_sum = _zixir_per_call("sum(xs)", xs, ys)
    print(f"(for scale: Zixir's own sum(xs) {fmt_time(t_sum)}, Python's sum(xs) "
          f"{fmt_time(_short_batches(lambda: sum(xs), budget))})")
    print()


def _numpy_on_lists(op: str, lists: list) -> Callable[[], Any]:
    """numpy given the same Python lists: conversion included, result back to a list."""
    if op == "mat_mul":
        a, b, side = lists[0], lists[1], lists[2]
        return lambda: (np.array(a).reshape(side, side) @ np.array(b).reshape(side, side)).tolist()
    arrays = lambda: [np.array(x) for x in lists]  # noqa: E731
    return {
        "list_sum": lambda: float(np.sum(lists[0])),
        "dot_product": lambda: float(np.dot(*arrays())),
        "list_mean": lambda: float(np.mean(lists[0])),
        "list_max": lambda: float(np.max(lists[0])),
        "vec_add": lambda: np.add(*arrays()).tolist(),
        "sort_asc": lambda: np.sort(lists[0]).tolist(),
    }[op]


def crossover(budget: float) -> None:
    """For each op, the shortest list length from which the kernels beat the Python path."""
    c = load_backend("c").always_native()
    py = load_backend("python")
    lengths = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    rng = random.Random(3)
    print(f"{'op':<20}" + "".join(f"{n:>7}" for n in lengths) + "   native wins from")
    for op in OPS.values():
        ratios = []
        for n in lengths:
            args = _sample_args(op.name, n, rng)
            t_py = best_time(lambda a=args, o=op.name: run_with(py, o, *a), budget)
            t_c = best_time(lambda a=args, o=op.name: run_with(c, o, *a), budget)
            ratios.append(t_py / t_c)
        wins = next((n for n, r in zip(lengths, ratios, strict=True)
                     if r > 1.0 and all(q > 1.0 for q in ratios[lengths.index(n):])), None)
        print(f"{op.name:<20}" + "".join(f"{r:>7.2f}" for r in ratios) + f"   {wins}")


def _sample_args(name: str, n: int, rng: random.Random) -> list:
    xs = [rng.uniform(-100, 100) for _ in range(n)]
    ys = [rng.uniform(-100, 100) for _ in range(n)]
    text = "".join(rng.choice("abcdefgh ") for _ in range(n))
    side = max(1, math.isqrt(n))
    return {
        "dot_product": [xs, ys], "vec_add": [xs, ys], "vec_sub": [xs, ys], "vec_mul": [xs, ys],
        "vec_div": [xs, ys], "vec_scale": [xs, 2.0], "map_add": [xs, 1.0], "map_mul": [xs, 3.0],
        "filter_gt": [xs, 0.0], "find_index": [xs, 1e9], "count_value": [xs, 1.0],
        "mat_mul": [xs[: side * side], ys[: side * side], side, side, side],
        "mat_transpose": [xs[: side * side], side, side],
        "string_count": [text + "é"], "string_find": [text + "xyz", "xyz"],
        "string_starts_with": [text, text[: n // 2]], "string_ends_with": [text, text[n // 2:]],
    }.get(name, [xs])


SMALL_SIZES = [8, 1_000]


def _variance(xs: list[float]) -> float:
    mean = sum(xs) / len(xs)
    return sum((x - mean) ** 2 for x in xs) / len(xs)


def _find(xs: list[float], value: float) -> int:
    for index, x in enumerate(xs):
        if x == value:
            return index
    return -1


def _mat_mul(a: list[float], b: list[float], rows: int, inner: int, cols: int) -> list[float]:
    out = [0.0] * (rows * cols)
    for i in range(rows):
        for j in range(cols):
            total = 0.0
            for k in range(inner):
                total += a[i * inner + k] * b[k * cols + j]
            out[i * cols + j] = total
    return out


def small_cases(n: int, rng: random.Random) -> dict[str, tuple[list, Callable[[], Any]]]:
    """Op -> (engine arguments, the obvious pure-Python code for them) for lists of length n.

    mat_mul and mat_transpose take square matrices of about n elements (n = 8: 3 x 3), the
    string ops an ASCII text of n characters (needle and affixes found at the end / start)."""
    xs = [rng.uniform(-100, 100) for _ in range(n)]
    ys = [rng.uniform(-100, 100) for _ in range(n)]
    side = max(1, round(math.sqrt(n)))
    a, b = xs[: side * side] + [1.0] * (side * side - n), ys[: side * side] + [2.0] * (side * side - n)
    text = "".join(rng.choice("abcdefgh ") for _ in range(n - 3)) + "xyz"
    target, prefix = xs[n // 2], text[:3]
    cases: dict[str, tuple[list, Callable[[], Any]]] = {
        "list_sum": ([xs], lambda: sum(xs)),
        "list_product": ([xs], lambda: math.prod(xs)),
        "list_mean": ([xs], lambda: sum(xs) / len(xs)),
        "list_min": ([xs], lambda: min(xs)),
        "list_max": ([xs], lambda: max(xs)),
        "list_variance": ([xs], lambda: _variance(xs)),
        "list_std": ([xs], lambda: math.sqrt(_variance(xs))),
        "dot_product": ([xs, ys], lambda: sum(map(operator.mul, xs, ys))),
        "vec_add": ([xs, ys], lambda: list(map(operator.add, xs, ys))),
        "vec_sub": ([xs, ys], lambda: list(map(operator.sub, xs, ys))),
        "vec_mul": ([xs, ys], lambda: list(map(operator.mul, xs, ys))),
        "vec_div": ([xs, ys], lambda: [x / y if y != 0.0 else 0.0 for x, y in zip(xs, ys, strict=True)]),
        "vec_scale": ([xs, 2.5], lambda: [x * 2.5 for x in xs]),
        "map_add": ([xs, 2.5], lambda: [x + 2.5 for x in xs]),
        "map_mul": ([xs, 2.5], lambda: [x * 2.5 for x in xs]),
        "filter_gt": ([xs, 0.0], lambda: [x for x in xs if x > 0.0]),
        "sort_asc": ([xs], lambda: sorted(xs)),
        "find_index": ([xs, target], lambda: _find(xs, target)),
        "count_value": ([xs, target], lambda: sum(1 for x in xs if x == target)),
        "mat_mul": ([a, b, side, side, side], lambda: _mat_mul(a, b, side, side, side)),
        "mat_transpose": ([a, side, side],
                          lambda: [a[r * side + c] for c in range(side) for r in range(side)]),
        "string_count": ([text], lambda: len(text.encode())),
        "string_find": ([text, "xyz"], lambda: text.encode().find(b"xyz")),
        "string_starts_with": ([text, prefix], lambda: text.startswith(prefix)),
        "string_ends_with": ([text, "xyz"], lambda: text.endswith("xyz")),
    }
    assert cases.keys() == OPS.keys()
    return cases


def small(budget: float, sizes: list[int]) -> None:
    """Every op on Python lists (strings for the string ops) beside the obvious Python code."""
    backends = {name: b for name, b in available_backends().items() if name != "python"}
    rng = random.Random(11)
    header = f"{'op':<20} {'n':>6} {'python':>9}"
    for name in backends:
        header += f" {name:>9} {'x python':>9}"
    print("input: Python lists (x python = the obvious Python code's time / the engine's)")
    print(header)
    cases = {n: small_cases(n, rng) for n in sizes}
    for op in OPS:
        for n in sizes:
            args, plain = cases[n][op]
            t_plain = best_time(plain, budget)
            row = f"{op:<20} {n:>6} {fmt_time(t_plain):>9}"
            for backend in backends.values():
                t = best_time(engine_call(backend, op, args), budget)
                row += f" {fmt_time(t):>9} {fmt_ratio(t_plain, t):>9}"
            print(row, flush=True)


def threading_settings() -> str:
    """The BLAS/OpenMP thread settings numpy ran with: they change numpy's side of every ratio
    (mat_mul above all), so the table states them."""
    import os

    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    shown = ", ".join(f"{n}={os.environ.get(n, '(unset)')}" for n in names)
    try:  # what the libraries actually run with (the `bench` extra installs threadpoolctl)
        from threadpoolctl import threadpool_info

        pools = "; ".join(f"{p['internal_api']} {p.get('version') or ''} "
                          f"{p['num_threads']} threads ({p.get('threading_layer', '?')})"
                          for p in threadpool_info()) or "no BLAS/OpenMP pools loaded"
    except ImportError:
        pools = "thread pools unknown (pip install threadpoolctl)"
    return f"numpy {np.__version__}; {shown}; in use: {pools}; {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crossover", action="store_true", help="measure list crossovers")
    parser.add_argument("--calls", action="store_true", help="only the call-overhead table")
    parser.add_argument("--small", action="store_true",
                        help="every op at n = 8 and 1e3 (or --sizes) vs the obvious Python code")
    parser.add_argument("--sizes", type=int, nargs="*", default=SIZES)
    parser.add_argument("--ops", nargs="*", default=OPS_MEASURED, choices=OPS_MEASURED)
    parser.add_argument("--budget", type=float, default=0.12, help="seconds per cell")
    args = parser.parse_args()
    print(threading_settings())
    if args.calls:
        call_overhead(args.budget)
    elif args.crossover:
        crossover(args.budget / 2)
    elif args.small:
        small(args.budget, args.sizes if args.sizes != SIZES else SMALL_SIZES)
    else:
        call_overhead(args.budget)
        table(args.sizes, args.budget, args.ops)


if __name__ == "__main__":
    main()
