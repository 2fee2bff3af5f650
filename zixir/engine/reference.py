"""The pure-Python engine: the semantics every native backend is tested against.

Functions receive validated arguments (`NumVec`, float, non-negative int, str; lengths and
matrix dimensions already checked) and return plain Python values. They are also the fast path
for short lists, where calling into native code costs more than the work.

Floating-point rules shared by all backends (see native/README.md):
* arithmetic is float64; sums may be associated in any order, so results agree up to rounding;
* `list_min`/`list_max` return NaN if any element is NaN;
* `sort_asc` orders by value with -0.0 before 0.0 and puts NaNs last, in their input order;
  `list_min`/`list_max` of a list without NaN are the first/last element of that order;
* equality (`find_index`, `count_value`) is float64 `==`: NaN equals nothing, -0.0 == 0.0.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_left, bisect_right
from functools import reduce

from .values import NumVec


def _has_nan(items: list[float]) -> bool:
    total = sum(items)  # NaN if any element is NaN (or inf - inf); checked exactly only then
    return total != total and any(x != x for x in items)


def _is_negative_zero(x: float) -> bool:
    return x == 0.0 and math.copysign(1.0, x) < 0.0


def list_sum(xs: NumVec) -> float:
    return float(sum(xs.items, 0.0))


def list_product(xs: NumVec) -> float:
    return float(math.prod(xs.items, start=1.0))


def list_mean(xs: NumVec) -> float:
    return float(sum(xs.items, 0.0)) / xs.n if xs.n else 0.0


def list_min(xs: NumVec) -> float:
    items = xs.items
    if not items:
        return 0.0
    if _has_nan(items):
        return math.nan
    low = min(items)
    if low == 0.0:
        return -0.0 if any(map(_is_negative_zero, items)) else 0.0
    return low


def list_max(xs: NumVec) -> float:
    items = xs.items
    if not items:
        return 0.0
    if _has_nan(items):
        return math.nan
    high = max(items)
    if high == 0.0:
        return 0.0 if any(x == 0.0 and not _is_negative_zero(x) for x in items) else -0.0
    return high


def list_variance(xs: NumVec) -> float:
    """Population variance by the corrected two-pass method (stable for large offsets)."""
    items, n = xs.items, xs.n
    if n == 0:
        return 0.0
    mean = sum(items, 0.0) / n
    deviations = [x - mean for x in items]
    squares = sum(map(operator.mul, deviations, deviations), 0.0)
    drift = sum(deviations, 0.0)
    variance = (squares - drift * drift / n) / n
    return 0.0 if variance < 0.0 else variance


def list_std(xs: NumVec) -> float:
    return math.sqrt(list_variance(xs))


def dot_product(xs: NumVec, ys: NumVec) -> float:
    return float(sum(map(operator.mul, xs.items, ys.items), 0.0))


def vec_add(xs: NumVec, ys: NumVec) -> list[float]:
    return list(map(operator.add, xs.items, ys.items))


def vec_sub(xs: NumVec, ys: NumVec) -> list[float]:
    return list(map(operator.sub, xs.items, ys.items))


def vec_mul(xs: NumVec, ys: NumVec) -> list[float]:
    return list(map(operator.mul, xs.items, ys.items))


def vec_div(xs: NumVec, ys: NumVec) -> list[float]:
    return [x / y if y != 0.0 else 0.0 for x, y in zip(xs.items, ys.items, strict=True)]


def vec_scale(xs: NumVec, factor: float) -> list[float]:
    return [x * factor for x in xs.items]


def map_add(xs: NumVec, addend: float) -> list[float]:
    return [x + addend for x in xs.items]


def map_mul(xs: NumVec, factor: float) -> list[float]:
    return [x * factor for x in xs.items]


def filter_gt(xs: NumVec, threshold: float) -> list[float]:
    return [x for x in xs.items if x > threshold]


def sort_asc(xs: NumVec) -> list[float]:
    items = xs.items
    nans: list[float] = []
    if _has_nan(items):
        nans = [x for x in items if x != x]
        items = [x for x in items if x == x]
    ordered = sorted(items)
    low, high = bisect_left(ordered, 0.0), bisect_right(ordered, 0.0)
    if high > low:  # a run of zeros: negative zeros first, as the native radix sort orders them
        negative = sum(map(_is_negative_zero, ordered[low:high]))
        ordered[low:high] = [-0.0] * negative + [0.0] * (high - low - negative)
    return ordered + nans if nans else ordered


def find_index(xs: NumVec, value: float) -> int:
    if value != value:
        return -1
    for index, x in enumerate(xs.items):
        if x == value:
            return index
    return -1


def count_value(xs: NumVec, value: float) -> int:
    if value != value:
        return 0
    return xs.items.count(value)


def mat_mul(a: NumVec, b: NumVec, a_rows: int, a_cols: int, b_cols: int) -> list[float]:
    left, right = a.items, b.items
    columns = [right[c::b_cols] for c in range(b_cols)] if b_cols else []
    out: list[float] = []
    for r in range(a_rows):
        row = left[r * a_cols:(r + 1) * a_cols]
        # left-to-right and uncompensated, like the kernels: `sum` of floats is compensated
        # from Python 3.12 on, which would make the reference differ between versions
        out.extend(float(reduce(operator.add, map(operator.mul, row, col), 0.0))
                   for col in columns)
    return out


def mat_transpose(flat: NumVec, rows: int, cols: int) -> list[float]:
    items = flat.items
    return [items[r * cols + c] for c in range(cols) for r in range(rows)]


def string_count(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8"))


def string_find(s: str, needle: str) -> int:
    if s.isascii() and needle.isascii():
        return s.find(needle)
    return s.encode("utf-8").find(needle.encode("utf-8"))


def string_starts_with(s: str, prefix: str) -> bool:
    return s.startswith(prefix)


def string_ends_with(s: str, suffix: str) -> bool:
    return s.endswith(suffix)
