"""Property tests: every backend against numpy or exact arithmetic on random inputs.

Inputs mix ordinary, huge, tiny and subnormal floats, ints, signed zeros, infinities and NaN,
as lists or numpy arrays, with lengths that cross the kernels' 8-lane blocks and the short-list
shortcut. Element-wise results must be exact (IEEE operations are correctly rounded);
summations are checked against the exactly rounded sum within the classic error bound.
"""

from __future__ import annotations

import math
import operator
import struct
from fractions import Fraction
from functools import reduce

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zixir.engine import run_with

EPS = 2.0**-52
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def magnitude_floats(limit: float) -> st.SearchStrategy[float]:
    """Finite floats up to `limit` in size, weighted towards interesting scales."""
    return st.one_of(
        st.floats(-1e3, 1e3),
        st.floats(-limit, limit),
        st.floats(-1e-300, 1e-300),  # tiny and subnormal
        st.sampled_from([0.0, -0.0, 1.0, -1.0, 5e-324, limit, -limit]),
        st.integers(-(2**53), 2**53),
        st.integers(-(2**80), 2**80).filter(lambda i: abs(i) <= limit),
    )


SPECIALS = st.sampled_from([math.nan, math.inf, -math.inf])


def number_lists(limit: float = 1e300, specials: bool = True, max_size: int = 300):
    element = st.one_of(magnitude_floats(limit), SPECIALS) if specials else magnitude_floats(limit)
    return st.lists(element, max_size=max_size)


def as_input(values: list, form: str):
    return np.array([float(v) for v in values], dtype=np.float64) if form == "numpy" else values


FORMS = st.sampled_from(["list", "numpy"])


def floats_of(values: list) -> list[float]:
    return [float(v) for v in values]


def same_float(a: float, b: float) -> bool:
    """Equal as IEEE values, NaN equal to NaN, and zeros of the same sign."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def assert_same_list(result: list, expected) -> None:
    expected = [float(v) for v in expected]
    assert type(result) is list and all(type(v) is float for v in result)
    assert len(result) == len(expected)
    bad = [(i, r, e) for i, (r, e) in enumerate(zip(result, expected, strict=True))
           if not same_float(r, e)]
    assert not bad, bad[:5]


def special_result(values: list[float]) -> float | None:
    """What a sum of `values` must be when NaN or infinities are involved, else None."""
    if any(math.isnan(v) for v in values) or (math.inf in values and -math.inf in values):
        return math.nan
    if math.inf in values:
        return math.inf
    if -math.inf in values:
        return -math.inf
    return None


def assert_sum_close(result: float, terms: list[float]) -> None:
    """`result` is a float64 summation of `terms`: within n * eps * sum|term| of the exact sum."""
    special = special_result(terms)
    if special is not None:
        assert same_float(result, special) or (math.isnan(special) and math.isnan(result))
        return
    exact = math.fsum(terms)
    bound = len(terms) * EPS * math.fsum(abs(t) for t in terms) + 1e-300
    assert abs(result - exact) <= bound, (result, exact, bound)


# ---- reductions ---------------------------------------------------------------------------


@SETTINGS
@given(values=number_lists(), form=FORMS)
def test_sum_and_mean(backend, values, form) -> None:
    xs = as_input(values, form)
    floats = floats_of(values)
    result = run_with(backend, "list_sum", xs)
    assert type(result) is float
    assert_sum_close(result, floats)
    mean = run_with(backend, "list_mean", xs)
    if floats:
        assert same_float(mean, result / len(floats))
    else:
        assert mean == 0.0
    if floats and special_result(floats) is None:
        assert result == pytest.approx(float(np.sum(np.array(floats))),
                                       abs=2 * len(floats) * EPS * float(np.sum(np.abs(floats)))
                                       + 1e-300)


@SETTINGS
@given(pairs=st.lists(st.tuples(magnitude_floats(1e150), magnitude_floats(1e150)), max_size=300),
       form=FORMS)
def test_dot_product(backend, pairs, form) -> None:
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    result = run_with(backend, "dot_product", as_input(xs, form), as_input(ys, form))
    products = [float(x) * float(y) for x, y in zip(xs, ys, strict=True)]
    assert_sum_close(result, products)


@SETTINGS
@given(values=st.lists(st.one_of(st.floats(0.5, 2.0), st.floats(-2.0, -0.5), st.integers(-3, 3)),
                       max_size=300),
       form=FORMS)
def test_product(backend, values, form) -> None:
    result = run_with(backend, "list_product", as_input(values, form))
    exact = math.prod(Fraction(v) for v in values) if values else Fraction(1)
    assert result == pytest.approx(float(exact), rel=2 * len(values) * EPS + 1e-300)


@SETTINGS
@given(values=number_lists(limit=1e150, specials=False), offset=st.sampled_from([0.0, 1e6, -3e9]),
       form=FORMS)
def test_variance_and_std(backend, values, offset, form) -> None:
    floats = [float(v) + offset for v in values]
    result = run_with(backend, "list_variance", as_input(floats, form))
    std = run_with(backend, "list_std", as_input(floats, form))
    if not floats:
        assert result == std == 0.0
        return
    n = len(floats)
    mean = sum(Fraction(v) for v in floats) / n
    exact = sum((Fraction(v) - mean) ** 2 for v in floats) / n
    mean_square = float(sum(Fraction(v) ** 2 for v in floats) / n)
    tolerance = 4 * n * EPS * float(exact) + 4 * (n * EPS) ** 2 * mean_square + 1e-290
    assert result >= 0.0
    assert abs(result - float(exact)) <= tolerance, (result, float(exact), tolerance)
    assert same_float(std, math.sqrt(result))
    assert result == pytest.approx(float(np.var(np.array(floats))), rel=1e-6, abs=tolerance)


@SETTINGS
@given(values=number_lists(), form=FORMS)
def test_min_and_max(backend, values, form) -> None:
    xs = as_input(values, form)
    floats = floats_of(values)
    low, high = run_with(backend, "list_min", xs), run_with(backend, "list_max", xs)
    if not floats:
        assert low == high == 0.0
        return
    if any(math.isnan(v) for v in floats):
        assert math.isnan(low) and math.isnan(high)
        return
    assert low == float(np.min(floats)) and high == float(np.max(floats))
    ordered = sorted(floats, key=lambda v: (v, math.copysign(1.0, v)))
    assert same_float(low, ordered[0]) and same_float(high, ordered[-1])


# ---- element-wise -------------------------------------------------------------------------


@SETTINGS
@given(pairs=st.lists(st.tuples(st.one_of(magnitude_floats(1e300), SPECIALS),
                                st.one_of(magnitude_floats(1e300), SPECIALS)), max_size=300),
       form=FORMS)
def test_binary_element_wise(backend, pairs, form) -> None:
    xs = as_input([p[0] for p in pairs], form)
    ys = as_input([p[1] for p in pairs], form)
    a = np.array([float(p[0]) for p in pairs], dtype=np.float64)
    b = np.array([float(p[1]) for p in pairs], dtype=np.float64)
    with np.errstate(all="ignore"):
        expected = {
            "vec_add": a + b,
            "vec_sub": a - b,
            "vec_mul": a * b,
            "vec_div": np.where(b != 0.0, a / np.where(b != 0.0, b, 1.0), 0.0),
        }
    for name, want in expected.items():
        assert_same_list(run_with(backend, name, xs, ys), want.tolist())


@SETTINGS
@given(values=number_lists(), scalar=st.one_of(magnitude_floats(1e300), SPECIALS), form=FORMS)
def test_list_and_scalar(backend, values, scalar, form) -> None:
    xs = as_input(values, form)
    a = np.array(floats_of(values), dtype=np.float64)
    s = float(scalar)
    with np.errstate(all="ignore"):
        assert_same_list(run_with(backend, "vec_scale", xs, scalar), (a * s).tolist())
        assert_same_list(run_with(backend, "map_mul", xs, scalar), (a * s).tolist())
        assert_same_list(run_with(backend, "map_add", xs, scalar), (a + s).tolist())
        assert_same_list(run_with(backend, "filter_gt", xs, scalar), a[a > s].tolist())


# ---- ordering and search ------------------------------------------------------------------


def long_mixed_list(seed: int, size: int) -> list[float]:
    """A long list for the radix path: normal values, repeats, signed zeros, specials."""
    rng = np.random.default_rng(seed)
    pool = np.concatenate([rng.standard_normal(size) * 10.0 ** rng.integers(-300, 300, size),
                           [0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, -5e-324]])
    return rng.choice(pool, size).tolist()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1000, 6000), form=FORMS)
def test_sort_long(backend, seed, size, form) -> None:
    check_sort(backend, long_mixed_list(seed, size), form)


@SETTINGS
@given(values=number_lists(), form=FORMS)
def test_sort(backend, values, form) -> None:
    check_sort(backend, values, form)


def check_sort(backend, values: list, form: str) -> None:
    floats = floats_of(values)
    result = run_with(backend, "sort_asc", as_input(values, form))
    finite = sorted((v for v in floats if not math.isnan(v)),
                    key=lambda v: (v, math.copysign(1.0, v)))
    nan_count = len(floats) - len(finite)
    assert_same_list(result[:len(finite)], finite)
    assert len(result) == len(floats) and all(math.isnan(v) for v in result[len(finite):])
    assert np.array_equal(np.array(result), np.sort(np.array(floats)), equal_nan=True)
    assert nan_count == sum(math.isnan(v) for v in result)


@SETTINGS
@given(values=st.lists(st.sampled_from([0.0, -0.0, 1.0, 2, 2.5, math.nan, math.inf]),
                       max_size=300),
       value=st.sampled_from([0.0, -0.0, 1, 2.0, 2.5, 3.0, math.nan, math.inf]), form=FORMS)
def test_find_and_count(backend, values, value, form) -> None:
    a = np.array(floats_of(values), dtype=np.float64)
    hits = np.flatnonzero(a == float(value))
    xs = as_input(values, form)
    assert run_with(backend, "find_index", xs, value) == (int(hits[0]) if hits.size else -1)
    assert run_with(backend, "count_value", xs, value) == int(hits.size)


# ---- matrices -----------------------------------------------------------------------------


@SETTINGS
@given(rows=st.integers(0, 12), inner=st.integers(0, 12), cols=st.integers(0, 12),
       data=st.data(), form=FORMS)
def test_mat_mul_and_transpose(backend, rows, inner, cols, data, form) -> None:
    element = st.floats(-1e6, 1e6)
    a = data.draw(st.lists(element, min_size=rows * inner, max_size=rows * inner))
    b = data.draw(st.lists(element, min_size=inner * cols, max_size=inner * cols))
    result = run_with(backend, "mat_mul", as_input(a, form), as_input(b, form), rows, inner, cols)
    A, B = np.array(a).reshape(rows, inner), np.array(b).reshape(inner, cols)
    expected = (A @ B).ravel()
    bound = inner * EPS * (np.abs(A) @ np.abs(B)).ravel() + 1e-300
    assert len(result) == rows * cols
    assert np.all(np.abs(np.array(result) - expected) <= bound)
    # every output accumulates in k order, exactly like the pure-Python reference (a plain
    # left fold: `sum` of floats is compensated from Python 3.12 on)
    exact_order = [reduce(operator.add, (float(A[i, k]) * float(B[k, j]) for k in range(inner)),
                          0.0)
                   for i in range(rows) for j in range(cols)]
    assert_same_list(result, exact_order)
    transposed = run_with(backend, "mat_transpose", as_input(a, form), rows, inner)
    assert_same_list(transposed, A.T.ravel().tolist())


# ---- strings ------------------------------------------------------------------------------


@SETTINGS
@given(text=st.text(max_size=200), start=st.integers(0, 200), length=st.integers(0, 8),
       noise=st.text(max_size=3))
def test_string_ops(backend, text, start, length, noise) -> None:
    needle = text[start:start + length] + noise
    raw, sub = text.encode("utf-8"), needle.encode("utf-8")
    assert run_with(backend, "string_count", text) == len(raw)
    assert run_with(backend, "string_find", text, needle) == raw.find(sub)
    assert run_with(backend, "string_starts_with", text, needle) is raw.startswith(sub)
    assert run_with(backend, "string_ends_with", text, needle) is raw.endswith(sub)


# ---- the two native builds agree bit for bit ----------------------------------------------


def bits(value):
    if isinstance(value, float):
        return struct.pack("<d", value) if not math.isnan(value) else "nan"
    if isinstance(value, list):
        return [bits(v) for v in value]
    return value


@SETTINGS
@given(values=st.one_of(number_lists(max_size=400), st.just([0.0] * 3001)), seed=st.integers(0, 2**32 - 1))
def test_c_and_zig_kernels_agree_bit_for_bit(native_pair, values, seed) -> None:
    c, zig = native_pair
    xs = np.array(floats_of(values))
    if len(values) > 3000:
        xs = np.array(long_mixed_list(seed, 3000))
    ys = xs[::-1].copy()
    for name, args in [
        ("list_sum", (xs,)), ("list_product", (xs,)), ("list_mean", (xs,)), ("list_min", (xs,)),
        ("list_max", (xs,)), ("list_variance", (xs,)), ("list_std", (xs,)),
        ("dot_product", (xs, ys)), ("vec_div", (xs, ys)), ("sort_asc", (xs,)),
        ("filter_gt", (xs, 1.0)),
    ]:
        assert bits(run_with(c, name, *args)) == bits(run_with(zig, name, *args)), name
