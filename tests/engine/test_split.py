"""Long sums and dot products: the CPU dispatch of the C kernels, the block cut of runs from
ZX_SPLIT_FROM elements, and the front end's threads must all give the bits of the
single-threaded baseline (SSE2) C kernel, in both builds, for buffers and lists.

Lengths are chosen around every threshold: the eight lanes, a block (ZX_BLOCK), the cut
(ZX_SPLIT_FROM) and the front end's helper threads (16 MiB of input).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from zixir.engine import run_with

pytest.importorskip("zixir.engine._ckernels", reason="the C engine was not built (needs a C compiler)")
_listread = pytest.importorskip("zixir.engine._listread",
                                reason="the native front end was not built (needs a C++ compiler)")

from zixir.engine import native  # noqa: E402

C = native.load_c_backend()
LIB, FFI = C.kernels.lib, C.kernels.ffi
SPLIT, BLOCK = LIB.ZX_SPLIT_FROM, LIB.ZX_BLOCK

LENGTHS = [
    0, 1, 7, 8, 9, 1000, BLOCK - 1, BLOCK, BLOCK + 7, SPLIT - 8, SPLIT - 1, SPLIT, SPLIT + 1,
    SPLIT + 7, SPLIT + BLOCK + 3, 2 * SPLIT - 1, 2 * SPLIT + 5, 3 * SPLIT + 1234,
]
LONG = [n for n in LENGTHS if n >= SPLIT]


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def cpu_has_avx2() -> bool:
    try:
        return " avx2 " in f" {Path('/proc/cpuinfo').read_text()} ".replace("\n", " ")
    except OSError:
        pytest.skip("no /proc/cpuinfo (Linux only) to tell whether the CPU has AVX2")


@contextmanager
def simd_level(level: int) -> Iterator[int]:
    before = LIB.zx_simd_level(-1)
    try:
        yield LIB.zx_simd_level(level)
    finally:
        LIB.zx_simd_level(before)


@contextmanager
def threads(count: int) -> Iterator[None]:
    before = _listread.set_threads(count)
    try:
        yield
    finally:
        _listread.set_threads(before)


def data(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + n)
    # mixed magnitudes, so that any change in the order of the additions shows in the bits
    scale = 10.0 ** rng.integers(-8, 9, n)
    return rng.standard_normal(n) * scale, rng.standard_normal(n)


def baseline(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """zx_sum, zx_dot, zx_mean of the C build at the baseline level, on this thread."""
    n = len(a)
    with simd_level(0) as level:
        assert level == 0
        pa, pb = FFI.from_buffer("double[]", a), FFI.from_buffer("double[]", b)
        return LIB.zx_sum(pa, n), LIB.zx_dot(pa, pb, n), LIB.zx_mean(pa, n)


def zeroed() -> object:
    return FFI.new("double[8]")


def block_cut_model(a: np.ndarray, b: np.ndarray | None) -> float:
    """The header's definition of a long zx_sum / zx_dot, spelled out with the piecewise
    kernels: every block from zeroed lanes, the lanes added in block order, then the tail."""
    n = len(a)
    full = n - n % 8
    total = [0.0] * 8
    pa = FFI.from_buffer("double[]", a)
    pb = FFI.from_buffer("double[]", b) if b is not None else None
    for at in range(0, full, BLOCK):
        lanes, length = zeroed(), min(BLOCK, full - at)
        if pb is None:
            LIB.zx_sum_from(pa + at, length, lanes)
        else:
            LIB.zx_dot_from(pa + at, pb + at, length, lanes)
        total = [t + lanes[j] for j, t in enumerate(total)]
    lanes = FFI.new("double[8]", total)
    if pb is None:
        return LIB.zx_sum_from(pa + full, n - full, lanes)
    return LIB.zx_dot_from(pa + full, pb + full, n - full, lanes)


# ---- the dispatch ---------------------------------------------------------------------------


def test_c_build_runs_the_avx2_loops_where_the_cpu_has_them() -> None:
    assert LIB.zx_simd_level(-1) == (1 if cpu_has_avx2() else 0)


def test_simd_level_is_capped_at_what_the_cpu_supports() -> None:
    best = 1 if cpu_has_avx2() else 0
    with simd_level(5) as level:
        assert level == best
    with simd_level(0) as level:
        assert level == 0 == LIB.zx_simd_level(-1)


@pytest.mark.parametrize("n", LENGTHS)
def test_every_simd_level_gives_the_baseline_bits(n: int) -> None:
    a, b = data(n)
    expected = [bits(v) for v in baseline(a, b)]
    pa, pb = FFI.from_buffer("double[]", a), FFI.from_buffer("double[]", b)
    for level in (1, 0):
        with simd_level(level):
            got = [LIB.zx_sum(pa, n), LIB.zx_dot(pa, pb, n), LIB.zx_mean(pa, n)]
            assert [bits(v) for v in got] == expected, level
            lanes = zeroed()  # the piecewise kernels too, in pieces of 8k elements
            for at in range(0, n, 1024):
                s = LIB.zx_sum_from(pa + at, min(1024, n - at), lanes)
            if n and n < SPLIT:
                assert bits(s) == expected[0]


# ---- the block cut --------------------------------------------------------------------------


@pytest.mark.parametrize("n", LENGTHS)
def test_long_runs_follow_the_block_cut(n: int) -> None:
    a, b = data(n)
    s, d, _ = baseline(a, b)
    if n >= SPLIT:
        assert bits(s) == bits(block_cut_model(a, None))
        assert bits(d) == bits(block_cut_model(a, b))
    else:  # one run of eight lanes
        assert bits(s) == bits(LIB.zx_sum_from(FFI.from_buffer("double[]", a), n, zeroed()))


def lost_ones(n: int) -> tuple[np.ndarray, float]:
    """2**53 then 1.0 at every later index that is 0 mod 8 (lane 0), zeros elsewhere: one run of
    lanes loses every 1.0 (2**53 + 1 rounds back to 2**53), the block cut keeps those of the
    blocks after the first (each block sums its ones exactly, and an even count is exact next to
    2**53). Returns the input and the block cut's exact result."""
    x = np.zeros(n)
    x[0:n - n % 8:8] = 1.0
    x[0] = 2.0**53
    full = n - n % 8
    kept = (full - min(BLOCK, full)) // 8
    assert kept % 2 == 0
    return x, 2.0**53 + kept


@pytest.mark.parametrize("n", [SPLIT, SPLIT + 5, 2 * SPLIT + 3])
@pytest.mark.parametrize("backend_id", ["c", "zig"])
@pytest.mark.parametrize("count", [1, 2, 3])
def test_the_block_cut_is_visible_in_the_result(backend_named, backend_id, n, count) -> None:
    backend = backend_named(backend_id)
    x, expected = lost_ones(n)
    ones = np.ones(n)
    assert expected != 2.0**53
    with threads(count):
        assert run_with(backend, "list_sum", x) == expected
        assert run_with(backend, "dot_product", x, ones) == expected
        assert run_with(backend, "list_mean", x) == expected / n
        assert run_with(backend, "list_sum", x.tolist()) == expected
        assert run_with(backend, "dot_product", x.tolist(), ones) == expected
    assert backend.kernels.lib.zx_sum(backend.kernels.ffi.from_buffer("double[]", x), n) == expected


# ---- the front end's threads, both builds ---------------------------------------------------


@pytest.mark.parametrize("n", [n for n in LENGTHS if n >= BLOCK])
@pytest.mark.parametrize("backend_id", ["c", "zig", "c-kernels", "zig-kernels"])
def test_threaded_front_end_gives_the_baseline_bits(backend_named, backend_id, n) -> None:
    backend = backend_named(backend_id)
    a, b = data(n)
    s, d, m = baseline(a, b)
    for count in (1, 2, 3, 8):
        with threads(count):
            assert bits(run_with(backend, "list_sum", a)) == bits(s), count
            assert bits(run_with(backend, "list_mean", a)) == bits(m), count
            assert bits(run_with(backend, "dot_product", a, b)) == bits(d), count


@pytest.mark.parametrize("n", [SPLIT - 1, SPLIT, SPLIT + 7, 2 * SPLIT + 5])
@pytest.mark.parametrize("backend_id", ["c", "zig"])
def test_long_lists_give_the_buffer_bits(backend_named, backend_id, n) -> None:
    backend = backend_named(backend_id)
    a, b = data(n)
    s, d, m = baseline(a, b)
    la, lb = a.tolist(), b.tolist()
    assert bits(run_with(backend, "list_sum", la)) == bits(s)
    assert bits(run_with(backend, "list_mean", la)) == bits(m)
    assert bits(run_with(backend, "dot_product", la, lb)) == bits(d)
    assert bits(run_with(backend, "dot_product", la, b)) == bits(d)
    assert bits(run_with(backend, "dot_product", a, lb)) == bits(d)
    # the variance's mean is zx_sum's: lists and buffers agree past the cut too
    assert bits(run_with(backend, "list_variance", la)) == bits(run_with(backend, "list_variance", a))


@pytest.mark.parametrize("n", LONG)
def test_c_and_zig_agree_on_long_runs(native_pair, n) -> None:
    c, zig = native_pair
    a, b = data(n, seed=11)
    for count in (1, 2):
        with threads(count):
            for name, args in [("list_sum", (a,)), ("list_mean", (a,)), ("dot_product", (a, b)),
                               ("list_variance", (a,)), ("list_std", (a,))]:
                assert bits(run_with(c, name, *args)) == bits(run_with(zig, name, *args)), name


def test_thread_count_is_settable_and_checked() -> None:
    assert _listread.threads() >= 1
    with threads(3):
        assert _listread.threads() == 3
    with pytest.raises(ValueError):
        _listread.set_threads(0)


def test_specials_in_a_threaded_sum() -> None:
    n = 2 * SPLIT + 3
    a, _ = data(n)
    a[n // 2] = math.inf
    b = a.copy()
    b[5] = math.nan
    with threads(2):
        assert run_with(C, "list_sum", a) == math.inf
        assert math.isnan(run_with(C, "list_sum", b))


# ---- the Zig build's CPU level --------------------------------------------------------------


def test_zig_is_built_for_avx2_where_the_cpu_has_it(monkeypatch) -> None:
    pytest.importorskip("ziglang")
    from zixir.engine import zigbuild

    monkeypatch.delenv("ZIXIR_ZIG_BASELINE", raising=False)
    assert zigbuild.has_avx2() == cpu_has_avx2()
    assert ("-mcpu=baseline+avx2" in zigbuild.zig_flags()) == cpu_has_avx2()
    monkeypatch.setenv("ZIXIR_ZIG_BASELINE", "1")
    assert "-mcpu=baseline" in zigbuild.zig_flags()


@pytest.mark.parametrize("level", ["baseline", "native"])
def test_both_zig_levels_give_the_c_bits(monkeypatch, level) -> None:
    pytest.importorskip("ziglang")
    if level == "baseline":
        monkeypatch.setenv("ZIXIR_ZIG_BASELINE", "1")
    else:
        monkeypatch.delenv("ZIXIR_ZIG_BASELINE", raising=False)
    zig = native.load_zig_backend()
    assert zig.kernels.lib.zx_simd_level(-1) == (1 if level == "native" and cpu_has_avx2() else 0)
    lib, ffi = zig.kernels.lib, zig.kernels.ffi
    for n in LENGTHS:
        a, b = data(n, seed=3)
        s, d, m = baseline(a, b)
        pa, pb = ffi.from_buffer("double[]", a), ffi.from_buffer("double[]", b)
        assert [bits(lib.zx_sum(pa, n)), bits(lib.zx_dot(pa, pb, n)), bits(lib.zx_mean(pa, n))] == [
            bits(s), bits(d), bits(m)], n
        c_variance = LIB.zx_variance(FFI.from_buffer("double[]", a), n)
        assert bits(lib.zx_variance(pa, n)) == bits(c_variance), n


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 17, 1000, 1003])
def test_min_and_max_agree_at_every_simd_level(n: int) -> None:
    # the extremum loops have an SSE2 and an AVX2 version: same answers, NaN and signed zeros
    # included (NaN anywhere wins; max of zeros is +0.0 if there is one, min -0.0)
    rng = np.random.default_rng(n)
    cases = [rng.standard_normal(n)]
    if n:
        with_nan = rng.standard_normal(n)
        with_nan[rng.integers(0, n)] = math.nan
        zeros = np.where(rng.integers(0, 2, n) == 1, 0.0, -0.0)
        cases += [with_nan, zeros, -np.abs(rng.standard_normal(n)), np.full(n, -0.0)]
    for xs in cases:
        p = FFI.from_buffer("double[]", xs)
        answers = []
        for level in (0, 1):
            with simd_level(level):
                answers.append((bits(LIB.zx_max(p, n)), bits(LIB.zx_min(p, n))))
        expected_max = 0.0 if n == 0 else (math.nan if np.isnan(xs).any() else float(xs.max()))
        if n and not np.isnan(xs).any() and expected_max == 0.0:
            expected_max = 0.0 if any(x == 0.0 and not math.copysign(1, x) < 0 for x in xs) \
                else -0.0
        assert answers[0] == answers[1], (n, xs)
        assert answers[0][0] == bits(expected_max) or (
            math.isnan(expected_max) and math.isnan(struct.unpack("<d", answers[0][0])[0]))
