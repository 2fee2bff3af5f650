"""The native front end: reductions and dot_product served by `run_with`/`run` without Python.

It is a shortcut, so these tests check three things: that it is really taken for the common
argument shapes (the Python path is made to fail), that its results are bit for bit those of the
backend's own kernels on a buffer (lists are converted in chunks and summed piecewise), and that
everything it does not take as is still reaches Python validation with the same errors.
"""

from __future__ import annotations

import math
import struct
from array import array

import numpy as np
import pytest

import zixir.engine as engine
from zixir.engine import OPS, backends, run_with
from zixir.lang.errors import ZixirRuntimeError

listread = pytest.importorskip("zixir.engine._listread", reason="built without a C++ compiler")

REDUCTIONS = {"list_sum", "list_product", "list_mean", "list_min", "list_max", "list_variance",
              "list_std"}
ELEMENT_WISE = {"vec_add", "vec_sub", "vec_mul", "vec_div", "vec_scale", "map_add", "map_mul"}
FAST_OPS = REDUCTIONS | ELEMENT_WISE | {"dot_product"}
CHUNK = listread.CHUNK
#: lengths around the kernels' 8-element blocks and the front end's chunks
LENGTHS = [0, 1, 7, 8, 9, 100, CHUNK - 1, CHUNK, CHUNK + 1, CHUNK + 8, 2 * CHUNK, 3 * CHUNK + 5]


@pytest.fixture(scope="module", params=["c", "zig"])
def native(request, backend_named):
    """A native backend as shipped (the front end is the same for the "-kernels" variants)."""
    return backend_named(request.param)


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def values(n: int, seed: int = 5) -> list[float]:
    """Values over many magnitudes, so any change in summation order changes the result."""
    rng = np.random.default_rng(seed + n)
    return (rng.standard_normal(n) * 10.0 ** rng.integers(-8, 9, n)).tolist()


def python_path_fails(monkeypatch, backend) -> None:
    def refuse(op, values):
        raise AssertionError(f"{op.name} went through the Python path")

    monkeypatch.setattr(backend, "execute", refuse)


def test_native_backends_register_their_kernels(native, backend_named) -> None:
    assert native.fast_ops == FAST_OPS
    assert native.fast_path_reads_lists
    kinds = listread.KINDS
    for name, (kind, whole, piecewise, *default) in native.kernels.fast_table(kinds).items():
        assert whole and bool(piecewise) == (kind in (kinds["sum"], kinds["mean"], kinds["dot"]))
        assert default == ([OPS[name].params[1].default] if kind == kinds["map"] else []), name
    # the addresses are this build's own functions: C and Zig differ
    c, zig = backend_named("c-kernels"), backend_named("zig-kernels")
    assert c.kernels.address("zx_sum") != zig.kernels.address("zx_sum")


@pytest.mark.parametrize("n", [0, 8, 1000, 3 * CHUNK + 5])
def test_common_shapes_never_enter_python(native, monkeypatch, n) -> None:
    xs = values(n)
    arr = np.array(xs)
    expected = run_with(native, "list_sum", arr)
    python_path_fails(monkeypatch, native)
    for form in (xs, tuple(xs), arr, array("d", xs), memoryview(arr), arr[:n]):
        assert bits(run_with(native, "list_sum", form)) == bits(expected)
        for name in REDUCTIONS:
            assert type(run_with(native, name, form)) is float
        for name in ELEMENT_WISE - {"vec_scale", "map_add", "map_mul"}:
            assert len(run_with(native, name, form, xs)) == n
        for name in ("vec_scale", "map_add", "map_mul"):
            assert len(run_with(native, name, form)) == len(run_with(native, name, form, 2)) == n
        assert type(run_with(native, "dot_product", form, xs)) is float
    ints = [int(v) % 1000 - 500 for v in xs]
    assert run_with(native, "list_sum", ints) == float(sum(ints))


def test_run_uses_the_front_end_of_the_active_backend(native, monkeypatch) -> None:
    monkeypatch.setattr(backends, "_active", native)
    python_path_fails(monkeypatch, native)
    assert engine.run("list_sum", [1.0, 2.0, 3]) == 6.0
    assert engine.run("dot_product", np.ones(3), [1.0, 2.0, 3.0]) == 6.0
    assert engine.run_engine("list_mean", [1.0, 2.0]) == 1.5


def test_run_rereads_the_active_backend(monkeypatch) -> None:
    monkeypatch.setattr(backends, "_active", backends.load_backend("python"))
    python = backends.load_backend("python")
    calls = []
    monkeypatch.setattr(python, "execute", lambda op, values: calls.append(op.name) or 0.5,
                        raising=False)
    assert engine.run("list_sum", [1.0]) == 0.5 and calls == ["list_sum"]


@pytest.mark.parametrize("n", LENGTHS)
def test_lists_give_the_kernels_result_bit_for_bit(native, n) -> None:
    xs, ys = values(n), values(n, seed=9)
    a, b = np.array(xs), np.array(ys)
    for name in sorted(REDUCTIONS):
        want = run_with(native, name, a)
        assert bits(run_with(native, name, xs)) == bits(want), name
        assert bits(run_with(native, name, tuple(xs))) == bits(want), name
    want = run_with(native, "dot_product", a, b)
    for pair in [(xs, ys), (a, ys), (xs, b), (tuple(xs), ys)]:
        assert bits(run_with(native, "dot_product", *pair)) == bits(want)


@pytest.mark.parametrize("n", LENGTHS)
def test_piecewise_kernels_continue_the_whole_kernel(native, n) -> None:
    """zx_sum_from / zx_dot_from fed in pieces of multiples of 8 give zx_sum / zx_dot."""
    ffi, lib = native.kernels.ffi, native.kernels.lib
    xs, ys = values(n), values(n, seed=11)
    x, y = ffi.new("double[]", xs or [0.0]), ffi.new("double[]", ys or [0.0])
    for piece in (8, 64, CHUNK):
        sum_lanes, dot_lanes = ffi.new("double[8]"), ffi.new("double[8]")
        total = dot = 0.0
        for start in range(0, max(n, 1), piece):
            count = min(piece, n - start)
            total = lib.zx_sum_from(x + start, count, sum_lanes)
            dot = lib.zx_dot_from(x + start, y + start, count, dot_lanes)
        assert bits(total) == bits(lib.zx_sum(x, n)), piece
        assert bits(dot) == bits(lib.zx_dot(x, y, n)), piece


def test_c_and_zig_agree_on_long_lists(backend_named) -> None:
    c, zig = backend_named("c"), backend_named("zig")
    xs, ys = values(5 * CHUNK + 3), values(5 * CHUNK + 3, seed=2)
    for name in sorted(REDUCTIONS):
        assert bits(run_with(c, name, xs)) == bits(run_with(zig, name, xs)), name
    assert bits(run_with(c, "dot_product", xs, ys)) == bits(run_with(zig, "dot_product", xs, ys))


@pytest.mark.parametrize("n", LENGTHS)
def test_element_wise_results_match_numpy(native, n) -> None:
    xs, ys = values(n), values(n, seed=3)
    ys[: n // 3] = [0.0] * (n // 3)  # vec_div by zero gives 0.0
    a, b = np.array(xs), np.array(ys)
    with np.errstate(all="ignore"):
        expected = {"vec_add": a + b, "vec_sub": a - b, "vec_mul": a * b,
                    "vec_div": np.where(b != 0.0, a / np.where(b != 0.0, b, 1.0), 0.0)}
    for name, want in expected.items():
        for pair in [(xs, ys), (a, b), (a, ys), (tuple(xs), b)]:
            result = run_with(native, name, *pair)
            assert type(result) is list and all(type(v) is float for v in result)
            assert result == want.tolist(), name
    for form in (xs, a):
        assert run_with(native, "vec_scale", form) == xs
        assert run_with(native, "vec_scale", form, -2.5) == (a * -2.5).tolist()
        assert run_with(native, "map_mul", form, 3) == (a * 3.0).tolist()
        assert run_with(native, "map_add", form) == (a + 0.0).tolist()
        assert run_with(native, "map_add", form, 2**70) == (a + 2.0**70).tolist()


def test_special_values_in_lists(native) -> None:
    long = [1.0] * (2 * CHUNK)
    assert math.isnan(run_with(native, "list_sum", long + [math.nan]))
    assert run_with(native, "list_max", long + [math.inf]) == math.inf
    assert math.copysign(1.0, run_with(native, "list_min", [0.0] * CHUNK * 2 + [-0.0])) == -1.0
    assert run_with(native, "list_sum", long + [2**60]) == float(2**60) + 2 * CHUNK
    assert run_with(native, "list_mean", []) == 0.0 and run_with(native, "dot_product", [], []) == 0.0


# ---- what the front end leaves to Python ----------------------------------------------------


@pytest.mark.parametrize("position", [0, 5, CHUNK - 1, CHUNK, 3 * CHUNK + 2])
def test_bad_elements_anywhere_are_reported_by_python(native, position) -> None:
    for bad, word in [("x", "string"), (True, "bool"), (None, "nil")]:
        xs = [1.0] * (3 * CHUNK + 3)
        xs[position] = bad
        for name in ("list_sum", "list_mean", "list_variance", "list_min"):
            with pytest.raises(ZixirRuntimeError,
                               match=rf"^engine\.{name}: .*\(xs\[{position}\] is {word}\)"):
                run_with(native, name, xs)
        for name in ("dot_product", "vec_add", "vec_div"):
            with pytest.raises(ZixirRuntimeError,
                               match=rf"^engine\.{name}: .*\(ys\[{position}\] is {word}\)"):
                run_with(native, name, np.ones(len(xs)), xs)
        for name in ("vec_scale", "map_add"):
            with pytest.raises(ZixirRuntimeError, match=rf"\(xs\[{position}\] is {word}\)"):
                run_with(native, name, xs, 2.0)


def test_huge_ints_and_numpy_scalars_in_long_lists(native) -> None:
    xs = [1] * (2 * CHUNK) + [10**400]
    with pytest.raises(ZixirRuntimeError, match=rf"integer too large.*xs\[{2 * CHUNK}\]"):
        run_with(native, "list_sum", xs)
    assert run_with(native, "list_sum", [1.0] * (2 * CHUNK) + [np.float32(0.5)]) == 2 * CHUNK + 0.5


def test_arity_lengths_and_other_buffers_go_to_python(native) -> None:
    with pytest.raises(ZixirRuntimeError, match=r"^engine\.list_sum: expected 1 argument, got 2$"):
        run_with(native, "list_sum", [1.0], [2.0])
    with pytest.raises(ZixirRuntimeError, match=r"^engine\.dot_product: expected 2 arguments"):
        run_with(native, "dot_product", [1.0])
    for name in ("dot_product", "vec_add", "vec_mul"):
        with pytest.raises(ZixirRuntimeError, match=r"length mismatch \(3000 vs 2999\)"):
            run_with(native, name, [1.0] * 3000, np.ones(2999))
    for number, message in [(True, "expected a number for factor"), ("2", "expected a number"),
                            (10**400, "integer too large for a float"),
                            (None, r"expected a number for factor \(got nil")]:
        with pytest.raises(ZixirRuntimeError, match=rf"^engine\.vec_scale: {message}"):
            run_with(native, "vec_scale", [1.0, 2.0], number)
    with pytest.raises(ZixirRuntimeError, match=r"^engine\.map_add: expected 1 to 2 arguments"):
        run_with(native, "map_add", [1.0], 1.0, 2.0)
    assert run_with(native, "vec_scale", [1.0, 2.0], np.float32(2.0)) == [2.0, 4.0]
    with pytest.raises(ZixirRuntimeError, match="^unknown engine op: nope$"):
        run_with(native, "nope", [1.0])
    with pytest.raises(ZixirRuntimeError, match="expected a list of numbers"):
        run_with(native, "list_sum", np.zeros((2, 2)))
    with pytest.raises(ZixirRuntimeError, match="expected a list of numbers"):
        run_with(native, "list_sum", b"\x00" * 8)
    strided = np.arange(10.0)[::3]
    assert run_with(native, "list_sum", strided) == 18.0
    assert run_with(native, "list_sum", np.arange(4, dtype=">f8")) == 6.0
    assert run_with(native, "list_max", np.arange(4, dtype=np.float32)) == 3.0


def test_backend_without_the_list_reader_reads_only_buffers_natively(native, monkeypatch) -> None:
    from zixir.engine.native import NativeBackend

    plain = NativeBackend("plain", native.kernels, None, {})
    assert not plain.fast_path_reads_lists and plain.fast_ops == FAST_OPS
    python_path_fails(monkeypatch, plain)
    assert run_with(plain, "list_sum", np.arange(4.0)) == 6.0
    with pytest.raises(AssertionError, match="went through the Python path"):
        run_with(plain, "list_sum", [1.0, 2.0])


def test_buffers_long_enough_to_release_the_gil(native) -> None:
    from concurrent.futures import ThreadPoolExecutor

    arr = np.arange(1 << 17, dtype=np.float64)
    with ThreadPoolExecutor(4) as pool:
        sums = list(pool.map(lambda _: run_with(native, "list_sum", arr), range(8)))
        dots = list(pool.map(lambda _: run_with(native, "dot_product", arr, arr), range(8)))
    assert set(sums) == {float(arr.sum())}
    assert set(dots) == {float(sum(v * v for v in range(1 << 17)))}
