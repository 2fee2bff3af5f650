"""The native front end for the rest of the op table: filter, sort, search, matrices, strings,
and the long-list reductions read piece by piece.

Like test_front_end.py: the Python path is made to fail to prove the front end serves the call,
results are compared with the Python path of the same backend (`engine._run_with`, which is what
every call did before), and every argument the front end declines must reach that Python path and
fail there with the same error.
"""

from __future__ import annotations

import math
import struct
import tracemalloc
from array import array

import numpy as np
import pytest

import zixir.engine as engine
from zixir.engine import OPS, run_with
from zixir.lang.errors import ZixirRuntimeError

listread = pytest.importorskip("zixir.engine._listread", reason="built without a C++ compiler")

CHUNK = listread.CHUNK
STRING_OPS = {"string_count", "string_find", "string_starts_with", "string_ends_with"}
LIST_OPS = {"filter_gt", "sort_asc", "find_index", "count_value", "mat_mul", "mat_transpose"}
LENGTHS = [0, 1, 7, 8, 9, 33, 100, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5]


@pytest.fixture(scope="module", params=["c", "zig"])
def native(request, backend_named):
    return backend_named(request.param)


def bits(value):
    if isinstance(value, list):
        return [struct.pack("<d", v) for v in value]
    if isinstance(value, float):
        return struct.pack("<d", value)
    return value


def python_path(backend, name, *args):
    """What the call gave before the front end served it: the backend's Python path."""
    return engine._run_with(backend, name, *args)


def outcome(call, *args):
    try:
        return "ok", bits(call(*args))
    except Exception as exc:  # noqa: BLE001 - compared as type and message
        return type(exc).__name__, str(exc)


def python_path_fails(monkeypatch, backend) -> None:
    def refuse(op, values):
        raise AssertionError(f"{op.name} went through the Python path")

    monkeypatch.setattr(backend, "execute", refuse)


def values(n: int, seed: int = 1) -> list[float]:
    rng = np.random.default_rng(seed + n)
    xs = np.round(rng.standard_normal(n) * 4.0, 1)  # repeats, zeros of both signs
    xs[rng.random(n) < 0.05] = -0.0
    return xs.tolist()


def cases(n: int) -> list[tuple[str, tuple]]:
    """Calls of every list op (and string op) on inputs of about n elements."""
    xs = values(n)
    side = math.isqrt(n)
    a, b = xs[: side * side], values(side * side, seed=4)
    target = xs[n // 2] if n else 1.0
    ints = [int(v) for v in xs]
    text = "".join("abé 😀xyz"[i % 8] for i in range(n))
    return [
        ("filter_gt", (xs,)), ("filter_gt", (xs, 0.5)), ("filter_gt", (ints, -1)),
        ("filter_gt", (xs + [math.nan, math.inf], 1.0)),
        ("sort_asc", (xs,)), ("sort_asc", (ints,)), ("sort_asc", (xs + [math.nan, -math.inf],)),
        ("sort_asc", (xs[::-1] + ints,)),
        ("find_index", (xs, target)), ("find_index", (xs, 1e9)), ("find_index", (xs, math.nan)),
        ("find_index", (ints, 0)), ("find_index", (xs, -0.0)),
        ("count_value", (xs, target)), ("count_value", (xs, 0.0)), ("count_value", (ints, 1)),
        ("count_value", (xs, math.nan)),
        ("mat_mul", (a, b, side, side, side)), ("mat_mul", (xs, [2.0] * n, 1, n, 1)),
        ("mat_mul", (xs, [2.0], n, 1, 1)), ("mat_mul", ([], [], 3, 0, 2)),
        ("mat_mul", ([], [], 0, n, 0)), ("mat_mul", ([], [], n, 0, n)),
        ("mat_transpose", (a, side, side)), ("mat_transpose", (xs, 1, n)),
        ("mat_transpose", (xs, n, 1)), ("mat_transpose", ([], 0, 5)),
        ("string_count", (text,)), ("string_count", (text.encode("ascii", "ignore").decode(),)),
        ("string_count", (text.replace("😀", "ü"),)),
        ("string_find", (text, "xyz")), ("string_find", (text, "😀x")), ("string_find", (text, "")),
        ("string_find", ("ab" * n, "ba")), ("string_find", (text, "é q")),
        ("string_find", ("ü" * n + "x", "x")), ("string_find", ("ab", "abc")),
        ("string_starts_with", (text, text[:3])), ("string_starts_with", (text, "zz")),
        ("string_ends_with", (text, text[-3:])), ("string_ends_with", (text, "")),
        ("string_ends_with", ("é", "aé")),
    ]


def test_every_op_is_on_the_front_end(native, backend_named) -> None:
    assert native.native_ops == set(OPS)
    assert native.fast_ops < native.native_ops
    # the "-kernels" variants run the string kernels, not the Python reference: those calls
    # keep going through execute (the kernels need the UTF-8 bytes, Python has them)
    kernels = backend_named(native.name + "-kernels")
    assert kernels.native_ops == set(OPS) - STRING_OPS
    kinds = listread.KINDS
    table = native.kernels.front_end_table(kinds, frozenset(STRING_OPS))
    assert table.keys() == set(OPS)
    for name, (_kind, whole, *_rest) in table.items():
        assert bool(whole) == (name not in STRING_OPS), name


@pytest.mark.parametrize("n", LENGTHS)
def test_results_are_the_python_paths_and_never_enter_python(native, monkeypatch, n) -> None:
    calls = cases(n)
    expected = [outcome(python_path, native, name, *args) for name, args in calls]
    assert [c for c, (kind, _) in zip(calls, expected, strict=True) if kind != "ok"] == []
    python_path_fails(monkeypatch, native)
    for (name, args), want in zip(calls, expected, strict=True):
        assert outcome(run_with, native, name, *args) == want, (name, args[1:])
        result = run_with(native, name, *args)
        if OPS[name].result == "list":
            assert type(result) is list and all(type(v) is float for v in result), name
        else:
            assert type(result) is {"int": int, "bool": bool, "float": float}[OPS[name].result]


@pytest.mark.parametrize("n", [0, 8, CHUNK + 3])
def test_buffers_and_tuples_are_served_too(native, monkeypatch, n) -> None:
    xs = values(n)
    arr = np.array(xs)
    side = math.isqrt(n)
    want = {
        "filter_gt": bits(python_path(native, "filter_gt", xs, 0.1)),
        "sort_asc": bits(python_path(native, "sort_asc", xs)),
        "find_index": python_path(native, "find_index", xs, xs[-1] if n else 0.0),
        "count_value": python_path(native, "count_value", xs, 0.0),
        "mat_mul": bits(python_path(native, "mat_mul", xs[: side * side], xs[: side * side],
                                    side, side, side)),
        "mat_transpose": bits(python_path(native, "mat_transpose", xs, 1, n)),
    }
    python_path_fails(monkeypatch, native)
    for form in (arr, tuple(xs), array("d", xs), memoryview(arr)):
        assert bits(run_with(native, "filter_gt", form, 0.1)) == want["filter_gt"]
        assert bits(run_with(native, "sort_asc", form)) == want["sort_asc"]
        assert run_with(native, "find_index", form, xs[-1] if n else 0.0) == want["find_index"]
        assert run_with(native, "count_value", form, 0.0) == want["count_value"]
        square = form[: side * side]
        assert bits(run_with(native, "mat_mul", square, square, side, side, side)) == want["mat_mul"]
        assert bits(run_with(native, "mat_transpose", form, 1, n)) == want["mat_transpose"]
    assert arr.tolist() == xs  # sorting a buffer copies it


def test_sort_reuses_the_float_items_of_short_lists(native) -> None:
    xs = [3.5, -1.0, 2.0, -0.0, 0.0, 2.0]
    result = run_with(native, "sort_asc", xs + [7])
    assert bits(result) == bits([-1.0, -0.0, 0.0, 2.0, 2.0, 3.5, 7.0])
    assert {id(v) for v in result[:-1]} == {id(v) for v in xs}  # no new floats but for the int
    assert type(result[-1]) is float


def test_run_serves_the_new_ops_for_the_active_backend(native, monkeypatch) -> None:
    from zixir.engine import backends

    monkeypatch.setattr(backends, "_active", native)
    python_path_fails(monkeypatch, native)
    assert engine.run("sort_asc", [3, 1.0, 2]) == [1.0, 2.0, 3.0]
    assert engine.run("string_find", "héllo", "llo") == 3
    assert engine.run("mat_transpose", [1, 2, 3, 4, 5, 6], 2, 3) == [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]


# ---- long-list reductions: piece by piece, no list-sized buffer ----------------------------


@pytest.mark.parametrize("n", [CHUNK + 1, 3 * CHUNK + 5, 10 * CHUNK])
def test_long_reductions_are_the_buffer_kernels_bit_for_bit(native, n) -> None:
    rng = np.random.default_rng(n)
    for xs in (values(n), (rng.standard_normal(n) + 1e9).tolist(),
               (rng.random(n) * 0.2 + 0.9).tolist()):
        arr = np.array(xs)
        for name in ("list_product", "list_min", "list_max", "list_variance", "list_std"):
            assert bits(run_with(native, name, xs)) == bits(run_with(native, name, arr)), name


def test_min_and_max_across_pieces_keep_nan_and_signed_zeros(native) -> None:
    n = 4 * CHUNK
    for where in (0, CHUNK - 1, CHUNK, n - 1):
        xs = [1.0] * n
        xs[where] = math.nan
        assert math.isnan(run_with(native, "list_min", xs))
        assert math.isnan(run_with(native, "list_max", xs))
        zeros = [0.0] * n
        zeros[where] = -0.0
        assert math.copysign(1.0, run_with(native, "list_min", zeros)) == -1.0
        assert math.copysign(1.0, run_with(native, "list_max", zeros)) == 1.0
        negative = [-0.0] * n
        negative[where] = 0.0
        assert math.copysign(1.0, run_with(native, "list_min", negative)) == -1.0
        assert math.copysign(1.0, run_with(native, "list_max", negative)) == 1.0
        ramp = [float(i) for i in range(n)]
        ramp[where] = -5.0
        assert run_with(native, "list_min", ramp) == -5.0
        assert run_with(native, "list_max", ramp) == float(n - 1 if where != n - 1 else n - 2)


def test_variance_of_a_long_list_with_a_large_offset_is_accurate(native) -> None:
    rng = np.random.default_rng(3)
    noise = rng.standard_normal(20 * CHUNK)
    xs = (noise + 1e8).tolist()
    assert run_with(native, "list_variance", xs) == pytest.approx(float(np.var(noise)), rel=1e-6)
    assert run_with(native, "list_std", xs) == pytest.approx(float(np.std(noise)), rel=1e-6)


@pytest.mark.parametrize("name", ["list_product", "list_min", "list_max", "list_variance",
                                  "list_std", "filter_gt", "find_index", "count_value"])
def test_long_lists_are_not_copied_into_one_buffer(native, name) -> None:
    xs = values(200_000)
    args = (xs, 0.0) if name in ("filter_gt", "find_index", "count_value") else (xs,)
    run_with(native, name, *args)
    tracemalloc.start()
    try:
        run_with(native, name, *args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    list_buffer = 8 * len(xs)
    result = 48 * len(xs) if name == "filter_gt" else 0  # its result list (floats, slots)
    assert peak < result + list_buffer // 4, peak


# ---- what the front end leaves to Python: the same errors as before ------------------------


class Text(str):
    def startswith(self, *args):  # noqa: ARG002 - a subclass may change the meaning
        return "overridden"


BAD_CALLS = [
    ("filter_gt", ([1.0, "x"], 0.0)), ("filter_gt", ([1.0], True)), ("filter_gt", ([1.0], "1")),
    ("filter_gt", ([1.0], 1.0, 2.0)), ("filter_gt", ()), ("filter_gt", ([10**400],)),
    ("filter_gt", ([1.0], 10**400)), ("filter_gt", ([1.0], np.float32(0.5))),
    ("filter_gt", (np.zeros((2, 2)),)),
    ("sort_asc", ([1.0, None],)), ("sort_asc", ([1.0], [2.0])), ("sort_asc", ("abc",)),
    ("sort_asc", (np.arange(5, dtype=np.int32)[::-1],)), ("sort_asc", ([True, 1.0],)),
    ("find_index", ([1.0, 2.0, "x"], 1.0)), ("find_index", ([1.0, 2.0, True], 1.0)),
    ("find_index", ([1.0],)), ("find_index", ([1.0], None)),
    ("find_index", ([1.0] * (2 * CHUNK) + ["late"], 1.0)),
    ("count_value", ([1.0, "x"], 1.0)), ("count_value", ([1.0],)),
    ("count_value", ([1.0], 1.0, 2.0)),
    ("mat_mul", ([1.0] * 4, [1.0] * 4, 2, 2)), ("mat_mul", ([1.0] * 4, [1.0] * 4, 2, 2, 3)),
    ("mat_mul", ([1.0] * 4, [1.0] * 4, 2, 3, 2)), ("mat_mul", ([1.0] * 4, [1.0] * 4, -2, -2, 2)),
    ("mat_mul", ([1.0] * 4, [1.0] * 4, True, 2, 2)), ("mat_mul", ([1.0] * 4, [1.0] * 4, 2.0, 2, 2)),
    ("mat_mul", ([1.0] * 4, [1.0] * 4, 2, 2, np.int64(2))),
    ("mat_mul", ([], [], 2**62, 0, 2**62)), ("mat_mul", ([1.0], [1.0], 2**70, 2**70, 1)),
    ("mat_mul", ([1.0, "a", 1.0, 1.0], [1.0] * 4, 2, 2, 2)),
    ("mat_mul", ([1.0] * 4, "abcd", 2, 2, 2)),
    ("mat_transpose", ([1.0] * 6, 2, 2)), ("mat_transpose", ([1.0] * 6, 2)),
    ("mat_transpose", ([1.0] * 6, 2, -3)), ("mat_transpose", ([1.0] * 6, False, 3)),
    ("mat_transpose", ([1.0] * 6, 2**40, 2**40)), ("mat_transpose", ([None] * 6, 2, 3)),
    ("string_count", (5,)), ("string_count", (["a"],)), ("string_count", ("a", "b")),
    ("string_count", ("ab\ud800",)), ("string_count", ("\udfff" * 3,)),
    ("string_find", ("abc", 1)), ("string_find", (None, "a")), ("string_find", ("abc",)),
    ("string_find", ("ab\ud800c", "c")), ("string_find", ("abc", "\ud800")),
    ("string_find", ("é\ud800", "é")),
    ("string_starts_with", ("abc", b"a")),
    ("string_starts_with", (Text("abc"), "a")), ("string_starts_with", ("abc", Text("a"))),
    ("string_ends_with", (True, "a")), ("string_ends_with", ("abc", "c", "b")),
    ("string_count", (Text("abc"),)), ("string_find", (Text("héllo"), "llo")),
]


@pytest.mark.parametrize("name, args", BAD_CALLS, ids=lambda v: v if isinstance(v, str) else "")
def test_declined_calls_reach_python_and_fail_or_succeed_as_before(native, monkeypatch, name,
                                                                   args) -> None:
    before = outcome(python_path, native, name, *args)
    seen = []
    original = native.execute

    def record(op, values):
        seen.append(op.name)
        return original(op, values)

    monkeypatch.setattr(native, "execute", record)
    assert outcome(run_with, native, name, *args) == before
    arity_error = before[0] == "ZixirRuntimeError" and " argument" in before[1]
    assert seen == ([] if arity_error else [name])  # the front end did not take it


def test_declined_calls_word_the_errors_in_python(native) -> None:
    with pytest.raises(ZixirRuntimeError, match=r"^engine\.mat_mul: length mismatch: a has 4 "):
        run_with(native, "mat_mul", [1.0] * 4, [1.0] * 4, 2, 3, 2)
    with pytest.raises(ZixirRuntimeError, match=r"^engine\.find_index: .*\(xs\[2048\] is string\)"):
        run_with(native, "find_index", [1.0] * (2 * CHUNK) + ["late"], 1.0)
    with pytest.raises(ZixirRuntimeError, match=r"^engine\.filter_gt: expected a number for thr"):
        run_with(native, "filter_gt", [1.0], True)
    with pytest.raises(UnicodeEncodeError):
        run_with(native, "string_count", "ab\ud800")
    assert run_with(native, "string_starts_with", "a\ud800", "a") is True
