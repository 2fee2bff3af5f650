"""Engine semantics: every op, every error, defaults and edge cases, on every backend."""

from __future__ import annotations

import ast
import json
import math
import re
from array import array
from pathlib import Path

import numpy as np
import pytest

from zixir.engine import OPS, run
from zixir.engine.values import as_numbers
from zixir.lang.errors import ZixirRuntimeError

CORPUS = Path(__file__).resolve().parents[1] / "cases.jsonl"
DESIGN_OPS = """list_sum list_product list_mean list_min list_max list_variance list_std dot_product
vec_add vec_sub vec_mul vec_div vec_scale map_add map_mul filter_gt sort_asc find_index
count_value mat_mul mat_transpose string_count string_find string_starts_with
string_ends_with""".split()


class ZixirList(list):
    """Stands in for the language's own list subclass."""


def single_engine_calls() -> list[tuple[str, str, list, dict]]:
    """Corpus cases that are one `engine.OP(literal, ...)` call, as (id, op, args, case)."""
    calls = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        match = re.fullmatch(r"engine\.(\w+)\((.*)\)", case["source"].strip(), re.S)
        if not match:
            continue
        literal = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", match[2]))
        calls.append((case["id"], match[1], ast.literal_eval(f"[{literal}]"), case))
    return calls


CORPUS_CALLS = single_engine_calls()


def test_corpus_has_engine_cases() -> None:
    assert len(CORPUS_CALLS) >= 30


@pytest.mark.parametrize("case_id, name, args, case", CORPUS_CALLS, ids=[c[0] for c in CORPUS_CALLS])
def test_conformance_corpus(engine, case_id, name, args, case) -> None:
    if "error" in case:
        with pytest.raises(ZixirRuntimeError, match=re.escape(case["error"])):
            engine(name, *args)
    else:
        result = engine(name, *args)
        assert result == case["expect"]
        assert type(result) is type(case["expect"])


# ---- the registry -------------------------------------------------------------------------


def test_registry_lists_exactly_the_design_ops() -> None:
    assert sorted(OPS) == sorted(DESIGN_OPS)


@pytest.mark.parametrize("name", DESIGN_OPS)
def test_registry_entry_is_complete(name: str) -> None:
    op = OPS[name]
    assert op.name == name
    assert op.doc and "\n" not in op.doc and op.doc.endswith(".")
    assert op.signature.startswith(f"{name}(") and " -> " in op.signature
    assert 1 <= op.min_args <= op.max_args == len(op.params)
    assert op.result in {"float", "int", "bool", "list"}
    assert all(p.kind in {"list", "number", "int", "string"} for p in op.params)


def test_signatures_show_types_and_defaults() -> None:
    assert OPS["list_sum"].signature == "list_sum(xs: [Float]) -> Float"
    assert OPS["vec_scale"].signature == "vec_scale(xs: [Float], factor: Float = 1.0) -> [Float]"
    assert OPS["mat_transpose"].signature == (
        "mat_transpose(flat: [Float], rows: Int, cols: Int) -> [Float]"
    )
    assert OPS["string_starts_with"].signature.endswith("-> Bool")
    assert OPS["find_index"].signature.endswith("-> Int")
    assert (OPS["filter_gt"].min_args, OPS["filter_gt"].max_args) == (1, 2)


def test_run_engine_is_run() -> None:
    from zixir.engine import run_engine

    assert run_engine("dot_product", [1.0, 2.0], [3.0, 4.0]) == 11.0
    assert run("list_sum", [1.0, 2.0]) == 3.0


# ---- reductions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, xs, expected",
    [
        ("list_sum", [1.5, 2.5, -1.0], 3.0),
        ("list_sum", [1, 2, 3], 6.0),
        ("list_product", [1.0, 2.0, 3.0, 4.0, 5.0], 120.0),
        ("list_product", [2, -3], -6.0),
        ("list_mean", [1.0, 2.0, 3.0, 4.0], 2.5),
        ("list_mean", [7], 7.0),
        ("list_min", [3, -2.5, 4], -2.5),
        ("list_max", [3, -2.5, 4], 4.0),
        ("list_variance", [1.0, 2.0, 3.0, 4.0], 1.25),
        ("list_variance", [5.0], 0.0),
        ("list_std", [2, 4, 4, 4, 5, 5, 7, 9], 2.0),
        ("list_std", [1.0, 1.0], 0.0),
    ],
)
def test_reductions(engine, name, xs, expected) -> None:
    result = engine(name, xs)
    assert type(result) is float
    assert result == expected


@pytest.mark.parametrize(
    "name, expected",
    [("list_sum", 0.0), ("list_product", 1.0), ("list_mean", 0.0), ("list_min", 0.0),
     ("list_max", 0.0), ("list_variance", 0.0), ("list_std", 0.0)],
)
def test_reductions_of_empty_list(engine, name, expected) -> None:
    result = engine(name, [])
    assert type(result) is float and result == expected


def test_long_reductions_match_math(engine) -> None:
    xs = [((i * 7919) % 1000) / 7.0 - 50.0 for i in range(5000)]
    assert engine("list_sum", xs) == pytest.approx(math.fsum(xs), rel=1e-12)
    assert engine("list_mean", xs) == pytest.approx(math.fsum(xs) / len(xs), rel=1e-12)
    assert engine("list_min", xs) == min(xs)
    assert engine("list_max", xs) == max(xs)
    assert engine("list_variance", xs) == pytest.approx(float(np.var(xs)), rel=1e-12)
    assert engine("list_std", xs) == pytest.approx(float(np.std(xs)), rel=1e-12)
    small = [1.0 + (i % 5) * 1e-3 for i in range(300)]
    assert engine("list_product", small) == pytest.approx(math.prod(small), rel=1e-12)


def test_variance_is_stable_far_from_zero(engine) -> None:
    xs = [1e9 + v for v in (4.0, 7.0, 13.0, 16.0)] * 50
    assert engine("list_variance", xs) == pytest.approx(22.5, rel=1e-9)


def test_dot_product(engine) -> None:
    assert engine("dot_product", [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == 32.0
    assert engine("dot_product", [1, 2], [3, 4]) == 11.0
    assert engine("dot_product", [], []) == 0.0
    xs = [i / 3.0 for i in range(1000)]
    assert engine("dot_product", xs, xs) == pytest.approx(math.fsum(x * x for x in xs), rel=1e-12)


# ---- element-wise ops ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, xs, ys, expected",
    [
        ("vec_add", [1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [5.0, 7.0, 9.0]),
        ("vec_sub", [5.0, 7.0], [1.0, 2.0], [4.0, 5.0]),
        ("vec_mul", [1.5, -2.0], [2.0, 3.0], [3.0, -6.0]),
        ("vec_div", [1.0, 4.0], [2.0, 0.0], [0.5, 0.0]),
        ("vec_div", [-3.0, math.inf, 1.0], [0.0, -0.0, 4.0], [0.0, 0.0, 0.25]),
        ("vec_add", [1, 2], [3, 4], [4.0, 6.0]),
        ("vec_add", [], [], []),
    ],
)
def test_binary_element_wise(engine, name, xs, ys, expected) -> None:
    result = engine(name, xs, ys)
    assert type(result) is list and all(type(v) is float for v in result)
    assert result == expected


def test_long_element_wise_ops(engine) -> None:
    xs = [i * 0.5 - 100 for i in range(700)]
    ys = [(i % 13) - 6.0 for i in range(700)]
    assert engine("vec_add", xs, ys) == [x + y for x, y in zip(xs, ys, strict=True)]
    assert engine("vec_sub", xs, ys) == [x - y for x, y in zip(xs, ys, strict=True)]
    assert engine("vec_mul", xs, ys) == [x * y for x, y in zip(xs, ys, strict=True)]
    assert engine("vec_div", xs, ys) == [x / y if y else 0.0 for x, y in zip(xs, ys, strict=True)]
    assert engine("vec_scale", xs, -2.5) == [x * -2.5 for x in xs]
    assert engine("map_add", xs, 0.25) == [x + 0.25 for x in xs]
    assert engine("map_mul", xs, 3) == [x * 3.0 for x in xs]
    assert engine("filter_gt", xs, 10) == [x for x in xs if x > 10]


@pytest.mark.parametrize(
    "name, args, expected",
    [
        ("vec_scale", ([1.0, 2.0, 3.0], 2.0), [2.0, 4.0, 6.0]),
        ("vec_scale", ([1.0, -2.0],), [1.0, -2.0]),
        ("map_add", ([1.0, 2.0, 3.0], 10), [11.0, 12.0, 13.0]),
        ("map_add", ([1.0, 2.0],), [1.0, 2.0]),
        ("map_mul", ([1.0, 2.0], 3.0), [3.0, 6.0]),
        ("map_mul", ([4, 5],), [4.0, 5.0]),
        ("filter_gt", ([-1.0, 0.0, 2.0],), [2.0]),
        ("filter_gt", ([1.0, 5.0, 2.0, 7.0], 2), [5.0, 7.0]),
        ("filter_gt", ([1.0, 2.0], 2.0), []),
        ("filter_gt", ([], 1.0), []),
    ],
)
def test_list_and_number_ops_with_defaults(engine, name, args, expected) -> None:
    result = engine(name, *args)
    assert result == expected and all(type(v) is float for v in result)


def test_sort_asc(engine) -> None:
    assert engine("sort_asc", [3.0, 1.0, 4.0, 1.0, 5.0]) == [1.0, 1.0, 3.0, 4.0, 5.0]
    assert engine("sort_asc", [3, -1, 2.5]) == [-1.0, 2.5, 3.0]
    assert engine("sort_asc", []) == []
    xs = [((i * 2654435761) % 1000003) / 17.0 - 20000.0 for i in range(3000)]
    assert engine("sort_asc", xs) == sorted(xs)


# ---- search ---------------------------------------------------------------------------------


def test_find_index_and_count_value(engine) -> None:
    assert engine("find_index", [1, 2, 3], 2.0) == 1
    assert engine("find_index", [5.0, 6.0, 5.0], 5) == 0
    assert engine("find_index", [1.0, 2.0], 9.0) == -1
    assert engine("find_index", [], 1.0) == -1
    assert engine("count_value", [1, 1.0, 2], 1) == 2
    assert engine("count_value", [1.0, 2.0, 1.0], 1.0) == 2
    assert engine("count_value", [1.0], 3.0) == 0
    long = [float(i % 10) for i in range(1000)]
    assert engine("find_index", long, 7.0) == 7
    assert engine("count_value", long, 7.0) == 100
    assert type(engine("count_value", long, 7.0)) is int
    assert type(engine("find_index", long, 7.0)) is int


# ---- matrices -----------------------------------------------------------------------------


def test_mat_mul(engine) -> None:
    a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # 2 x 3
    b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]  # 3 x 2
    assert engine("mat_mul", a, b, 2, 3, 2) == [58.0, 64.0, 139.0, 154.0]
    assert engine("mat_mul", [2], [3], 1, 1, 1) == [6.0]
    assert engine("mat_mul", [], [], 0, 0, 0) == []
    assert engine("mat_mul", [], [], 2, 0, 3) == [0.0] * 6


def test_mat_mul_matches_numpy(engine) -> None:
    rows, inner, cols = 13, 17, 11
    a = [((i * 31) % 23) / 7.0 - 1.5 for i in range(rows * inner)]
    b = [((i * 17) % 19) / 5.0 - 2.0 for i in range(inner * cols)]
    expected = (np.array(a).reshape(rows, inner) @ np.array(b).reshape(inner, cols)).ravel()
    result = engine("mat_mul", a, b, rows, inner, cols)
    assert result == pytest.approx(expected.tolist(), rel=1e-12, abs=1e-12)


def test_mat_transpose(engine) -> None:
    assert engine("mat_transpose", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3) == [
        1.0, 4.0, 2.0, 5.0, 3.0, 6.0,
    ]
    assert engine("mat_transpose", [1, 2, 3], 3, 1) == [1.0, 2.0, 3.0]
    assert engine("mat_transpose", [], 0, 5) == []
    flat = [float(i) for i in range(40 * 70)]
    expected = np.array(flat).reshape(40, 70).T.ravel().tolist()
    assert engine("mat_transpose", flat, 40, 70) == expected


# ---- strings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, args, expected",
    [
        ("string_count", ("hello",), 5),
        ("string_count", ("",), 0),
        ("string_count", ("héllo",), 6),
        ("string_count", ("😀",), 4),
        ("string_find", ("hello world", "world"), 6),
        ("string_find", ("hello", "z"), -1),
        ("string_find", ("hello", ""), 0),
        ("string_find", ("", ""), 0),
        ("string_find", ("", "a"), -1),
        ("string_find", ("héllo wörld", "wörld"), 7),
        ("string_find", ("aaab", "ab"), 2),
        ("string_starts_with", ("hello world", "hello"), True),
        ("string_starts_with", ("hello", "world"), False),
        ("string_starts_with", ("hi", ""), True),
        ("string_starts_with", ("hi", "hi there"), False),
        ("string_ends_with", ("hello world", "world"), True),
        ("string_ends_with", ("héllo", "llo"), True),
        ("string_ends_with", ("hello", "hell"), False),
        ("string_ends_with", ("", ""), True),
    ],
)
def test_string_ops(engine, name, args, expected) -> None:
    result = engine(name, *args)
    assert result == expected and type(result) is type(expected)


def test_string_find_on_long_text(engine) -> None:
    text = "ab" * 5000 + "é needle " + "cd" * 100
    assert engine("string_find", text, "needle") == 10000 + 3
    assert engine("string_find", text, "needlex") == -1
    assert engine("string_count", text) == len(text.encode())


# ---- NaN, infinities, signed zeros --------------------------------------------------------


NAN = math.nan
INF = math.inf


def test_min_and_max_propagate_nan(engine) -> None:
    for xs in ([1.0, NAN, -3.0], [NAN], [2.0] * 40 + [NAN] + [1.0] * 40):
        assert math.isnan(engine("list_min", xs))
        assert math.isnan(engine("list_max", xs))


def test_min_and_max_order_signed_zeros(engine) -> None:
    for xs in ([0.0, -0.0], [-0.0, 0.0], [0.0] * 50 + [-0.0] + [1.0] * 50):
        assert math.copysign(1.0, engine("list_min", xs)) == -1.0
        assert math.copysign(1.0, engine("list_max", [-x for x in xs if x == 0] + [-1.0])) == 1.0
    assert math.copysign(1.0, engine("list_max", [-0.0, -1.0, -0.0])) == -1.0
    assert math.copysign(1.0, engine("list_min", [0.0, 3.0])) == 1.0


def test_min_and_max_with_infinities(engine) -> None:
    assert engine("list_min", [INF, -INF, 0.0]) == -INF
    assert engine("list_max", [INF, -INF, 0.0]) == INF


def test_sort_puts_nan_last_and_negative_zero_first(engine) -> None:
    xs = [2.0, NAN, -0.0, 0.0, -INF, -0.0, 1.0, INF, NAN]
    result = engine("sort_asc", xs)
    assert result[:7] == [-INF, 0.0, 0.0, 0.0, 1.0, 2.0, INF]
    assert [math.copysign(1.0, z) for z in result[1:4]] == [-1.0, -1.0, 1.0]
    assert all(math.isnan(v) for v in result[7:])
    big = [float((i * 37) % 101) - 50.0 for i in range(500)] + [NAN, -0.0] * 5
    ordered = engine("sort_asc", big)
    assert ordered[:-5] == sorted(v for v in big if v == v)
    assert all(math.isnan(v) for v in ordered[-5:])


def test_search_never_matches_nan(engine) -> None:
    assert engine("find_index", [NAN, 1.0], NAN) == -1
    assert engine("count_value", [NAN, NAN], NAN) == 0
    assert engine("find_index", [NAN, -0.0], 0.0) == 1
    assert engine("count_value", [0.0, -0.0, 1.0], -0.0) == 2
    assert engine("filter_gt", [NAN, 1.0, INF], 0.5) == [1.0, INF]
    assert engine("filter_gt", [1.0, 2.0], NAN) == []


def test_nan_and_inf_flow_through_arithmetic(engine) -> None:
    assert math.isnan(engine("list_sum", [1.0, NAN]))
    assert engine("list_sum", [1.0, INF]) == INF
    assert math.isnan(engine("list_sum", [INF, -INF]))
    assert math.isnan(engine("list_variance", [INF, 1.0]))
    assert math.isnan(engine("list_mean", [NAN] * 100))
    assert engine("dot_product", [INF, 1.0], [2.0, 3.0]) == INF


# ---- input containers ---------------------------------------------------------------------


def containers(values: list[float]) -> list:
    arr = np.array(values, dtype=np.float64)
    return [
        list(values),
        ZixirList(values),
        tuple(values),
        arr,
        np.array(values, dtype=np.float32),
        np.array([int(v) for v in values], dtype=np.int32),
        array("d", values),
        array("i", [int(v) for v in values]),
        memoryview(array("d", values)),
        np.repeat(np.array(values, dtype=np.float64), 2)[::2],
        arr.astype(">f8"),
        np.array(values, dtype=np.float64)[:len(values)],
    ]


@pytest.mark.parametrize("index", range(12))
def test_every_container_kind_is_a_list_of_numbers(engine, index) -> None:
    values = [float(v) for v in range(-3, 300)]
    xs = containers(values)[index]
    assert engine("list_sum", xs) == sum(values)
    scaled = engine("vec_scale", xs, 2.0)
    assert type(scaled) is list and all(type(v) is float for v in scaled)
    assert scaled == [v * 2 for v in values]
    assert engine("dot_product", xs, values) == sum(v * v for v in values)
    short = containers([1.0, 2.0, 3.0])[index]
    assert engine("vec_add", short, short) == [2.0, 4.0, 6.0]


def test_contiguous_float64_buffers_are_used_in_place() -> None:
    arr = np.arange(10, dtype=np.float64)
    doubles = array("d", [1.0, 2.0])
    for source in (arr, doubles, memoryview(doubles), memoryview(arr)):
        held = as_numbers("list_sum", "xs", source).buffer
        assert memoryview(held).obj is memoryview(source).obj
        assert np.shares_memory(np.asarray(held), np.asarray(source))


def test_numpy_elements_in_lists_are_numbers(engine) -> None:
    assert engine("list_sum", [np.float64(1.5), np.int64(2), 3]) == 6.5
    assert engine("vec_scale", [1.0], np.float32(2.0)) == [2.0]


def test_large_ints_that_fit_a_float_are_accepted(engine) -> None:
    assert engine("list_sum", [2**60, 1.0]) == float(2**60) + 1.0
    assert engine("map_add", [1.0], 2**70) == [1.0 + 2.0**70]


# ---- errors -------------------------------------------------------------------------------


def raises(engine, pattern: str, name: str, *args) -> str:
    with pytest.raises(ZixirRuntimeError, match=pattern) as info:
        engine(name, *args)
    assert info.value.line is None  # the interpreter attaches the position
    return str(info.value)


def test_unknown_op(engine) -> None:
    assert raises(engine, "^unknown engine op: foo$", "foo", [1.0]) == "unknown engine op: foo"


@pytest.mark.parametrize("name", DESIGN_OPS)
def test_missing_and_extra_arguments_name_the_op(engine, name) -> None:
    op = OPS[name]
    few = op.min_args - 1
    message = raises(engine, f"^engine\\.{name}: expected .*argument", name, *([[1.0]] * few))
    assert f"got {few}" in message
    many = op.max_args + 1
    message = raises(engine, f"^engine\\.{name}: expected", name, *([[1.0]] * many))
    assert f"got {many}" in message


def test_arity_wording() -> None:
    for name, args, text in [
        ("list_sum", (), "engine.list_sum: expected 1 argument, got 0"),
        ("mat_transpose", ([1.0, 2.0],), "engine.mat_transpose: expected 3 arguments, got 1"),
        ("vec_scale", ([1.0], 1.0, 2.0), "engine.vec_scale: expected 1 to 2 arguments, got 3"),
    ]:
        with pytest.raises(ZixirRuntimeError) as info:
            run(name, *args)
        assert str(info.value) == text


BAD_LISTS = [5, 2.5, "1.0", None, True, {"a": 1.0}, [1.0, "x"], [1.0, None], [True, 2.0],
             [[1.0]], (1.0, False), b"\x00" * 8, bytearray(8), np.array([True, False]),
             np.zeros((2, 2)), np.array([1 + 2j]), np.array(["a"]), [1.0, np.bool_(True)]]


@pytest.mark.parametrize("bad", BAD_LISTS, ids=range(len(BAD_LISTS)))
@pytest.mark.parametrize("name", [n for n in DESIGN_OPS if OPS[n].params[0].kind == "list"])
def test_bad_lists_name_the_op(engine, name, bad) -> None:
    op = OPS[name]
    good = {"list": [1.0], "number": 1.0, "int": 1}
    args = [bad] + [good[p.kind] for p in op.params[1:op.min_args]]
    raises(engine, f"^engine\\.{name}: expected a list of numbers", name, *args)


def test_bad_list_in_second_position(engine) -> None:
    message = raises(engine, "^engine.dot_product: expected a list of numbers", "dot_product",
                     [1.0, 2.0], [1.0, True])
    assert "ys[1] is bool" in message
    long = [1.0] * 500 + ["x"]
    message = raises(engine, "expected a list of numbers", "vec_add", long, long)
    assert "xs[500] is string" in message


@pytest.mark.parametrize(
    "name, args",
    [
        ("vec_scale", ([1.0, 2.0], False)),
        ("vec_scale", ([1.0], True)),
        ("map_add", ([1.0], "1")),
        ("map_mul", ([1.0], None)),
        ("filter_gt", ([1.0], [0.0])),
        ("find_index", ([1.0], True)),
        ("count_value", ([1.0], "a")),
    ],
)
def test_bad_numbers_name_the_op(engine, name, args) -> None:
    raises(engine, f"^engine\\.{name}: expected a number", name, *args)


def test_integers_too_large_for_a_float(engine) -> None:
    raises(engine, r"^engine\.list_sum: integer too large for a float \(xs\[1\]\)", "list_sum",
           [1.0, 10**400])
    raises(engine, r"^engine\.vec_scale: integer too large", "vec_scale", [1.0], -(10**400))
    long = [1] * 300 + [10**309]
    raises(engine, r"^engine\.list_mean: integer too large.*xs\[300\]", "list_mean", long)


@pytest.mark.parametrize("name", ["dot_product", "vec_add", "vec_sub", "vec_mul", "vec_div"])
def test_length_mismatch(engine, name) -> None:
    message = raises(engine, f"^engine\\.{name}: length mismatch", name, [1.0, 2.0], [1.0])
    assert "(2 vs 1)" in message
    raises(engine, "length", name, [1.0] * 300, np.ones(299))


@pytest.mark.parametrize(
    "args, pattern",
    [
        (([1.0, 2.0], [1.0], 1, 2, 2), "length mismatch: b has 1 elements"),
        (([1.0, 2.0, 3.0], [1.0], 2, 2, 1), "length mismatch: a has 3 elements"),
        (([1.0], [1.0], -1, 1, 1), "expected a non-negative integer for a_rows"),
        (([1.0], [1.0], 1, 1.0, 1), "expected a non-negative integer for a_cols"),
        (([1.0], [1.0], 1, 1, True), "expected a non-negative integer for b_cols"),
        (([1.0], "x", 1, 1, 1), "expected a list of numbers"),
    ],
)
def test_mat_mul_validates_dimensions(engine, args, pattern) -> None:
    raises(engine, f"^engine\\.mat_mul: {re.escape(pattern)}", "mat_mul", *args)


def test_mat_transpose_validates_dimensions(engine) -> None:
    raises(engine, "^engine.mat_transpose: length mismatch", "mat_transpose", [1.0, 2.0], 3, 1)
    raises(engine, "^engine.mat_transpose: expected a non-negative integer for rows",
           "mat_transpose", [1.0], "1", 1)
    raises(engine, "^engine.mat_transpose: expected 3 arguments", "mat_transpose", [1.0, 2.0])


@pytest.mark.parametrize(
    "name, args",
    [
        ("string_count", (5,)),
        ("string_count", (["a"],)),
        ("string_find", ("abc", 1)),
        ("string_find", (None, "a")),
        ("string_starts_with", ("abc", b"a")),
        ("string_ends_with", (True, "a")),
    ],
)
def test_bad_strings_name_the_op(engine, name, args) -> None:
    raises(engine, f"^engine\\.{name}: expected a string", name, *args)
