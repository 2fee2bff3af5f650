"""Argument validation: turn Zixir/Python values into what the engine ops compute on.

Every engine argument passes through here before any backend sees it, so a kernel only ever
receives a contiguous run of float64 values and its exact length, plain floats, non-negative
ints or strings. The rules:

* numbers are `int` or `float` (and their subclasses, and other real-number types such as numpy
  scalars), never `bool`: `True` is not a number in Zixir;
* an `int` that does not fit a float64 is an error, not `inf`;
* a list of numbers is a `list` (or subclass), a `tuple`, or a one-dimensional buffer of a numeric
  type (numpy array, `array.array`, memoryview). Buffers of C-contiguous native float64 are used
  in place, other numeric buffers are converted once.

Errors are `ZixirRuntimeError`s without a position whose message starts with `engine.OP:`.
"""

from __future__ import annotations

import math
import numbers
import sys
from array import array
from collections.abc import Callable
from typing import Any

from zixir.lang.errors import ZixirRuntimeError

#: buffer formats whose items are real numbers (struct codes, with an optional byte-order mark)
_NUMERIC_CODES = frozenset("bBhHiIlLqQnNefd")
_NATIVE_ORDER_MARKS = ("", "@", "=", "<" if sys.byteorder == "little" else ">")

#: a list reader in native code: returns (bytearray of doubles, -1) on success or (None, index
#: of the first element it could not read) so Python can decide and word the error
FastReader = Callable[[Any], tuple[bytearray | None, int]]


def op_error(op: str, message: str) -> ZixirRuntimeError:
    return ZixirRuntimeError(f"engine.{op}: {message}")


def zixir_type_name(value: Any) -> str:
    """The Zixir name of a value's type, for error messages: what `type_of` says, as in every
    other error message (`string`, not `String`)."""
    if value is None:
        return "nil"
    if isinstance(value, bool) or type(value).__name__ == "Bool":
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ZRange":
        return "list" if type(value).__name__ != "ZRange" else "range"
    if isinstance(value, dict):
        return "map"
    if callable(value):
        return "function"
    return type(value).__name__


def is_real_number(value: Any) -> bool:
    """True for ints and floats of any kind except booleans (numpy's included)."""
    if isinstance(value, (float, int)):
        return not isinstance(value, bool)
    return isinstance(value, numbers.Real) and type(value).__name__ not in ("bool_", "bool")


class NumVec:
    """A validated sequence of float64 values, held as Python floats or as a double buffer.

    Small lists stay Python floats (`items`) so the pure-Python path needs no conversion; long
    lists and buffers become one contiguous double buffer (`buffer`) that kernels read in place.
    Each form is derived from the other on first use.
    """

    __slots__ = ("n", "_items", "_buffer")

    def __init__(self, n: int, items: list[float] | None, buffer: Any) -> None:
        self.n = n
        self._items = items
        self._buffer = buffer

    @property
    def in_buffer(self) -> bool:
        return self._buffer is not None

    @property
    def items(self) -> list[float]:
        if self._items is None:
            self._items = memoryview(self._buffer).cast("B").cast("d").tolist()
        return self._items

    @property
    def buffer(self) -> Any:
        """An object exposing n C-contiguous native float64 values through the buffer protocol."""
        if self._buffer is None:
            self._buffer = array("d", self._items)
        return self._buffer


def _check_list_items(op: str, param: str, xs: list | tuple) -> list[float]:
    """Validate list elements in Python and return them as floats."""
    kinds = set(map(type, xs))
    if kinds <= {float}:
        return xs if type(xs) is list else list(xs)
    if not kinds <= {float, int}:
        for index, x in enumerate(xs):
            if not is_real_number(x):
                raise op_error(
                    op,
                    f"expected a list of numbers ({param}[{index}] is {zixir_type_name(x)})",
                )
    try:
        return list(map(float, xs))
    except OverflowError:
        index = next(i for i, x in enumerate(xs) if not math.isfinite(_float_or_inf(x)))
        raise op_error(op, f"integer too large for a float ({param}[{index}])") from None


def _float_or_inf(x: Any) -> float:
    try:
        return float(x)
    except OverflowError:
        return math.inf


def _other_buffer(op: str, param: str, value: Any, view: memoryview) -> NumVec:
    """A NumVec for a buffer that is not C-contiguous native float64: checked, converted once."""
    fmt = view.format
    code, mark = fmt[-1:], fmt[:-1]
    if view.ndim != 1 or code not in _NUMERIC_CODES or mark not in ("", "@", "=", "<", ">", "!"):
        detail = f"{view.ndim}-dimensional" if view.ndim != 1 else f"items of format {fmt!r}"
        raise op_error(op, f"expected a list of numbers ({param} is a buffer of {detail})")
    if code == "d" and mark in _NATIVE_ORDER_MARKS and view.c_contiguous:
        return NumVec(len(view), None, view.cast("B").cast("d"))
    import numpy

    return NumVec(len(view), None, numpy.ascontiguousarray(numpy.asarray(value), numpy.float64))


def as_numbers(op: str, param: str, value: Any, reader: FastReader | None = None) -> NumVec:
    """Validate a list-of-numbers argument.

    `reader`, when given, reads list elements in native code straight into a double buffer
    (one pass, no Python objects per element); anything it cannot read is re-checked here so
    error wording and the acceptance of unusual number types stay in one place.
    """
    if isinstance(value, (list, tuple)):
        if reader is not None:
            buffer, _bad = reader(value)
            if buffer is not None:
                return NumVec(len(value), None, buffer)
        return NumVec(len(value), _check_list_items(op, param, value), None)
    view = buffer_view(value)
    if view is None:
        raise op_error(op, f"expected a list of numbers ({param} is {zixir_type_name(value)})")
    if view.format == "d" and view.ndim == 1 and view.c_contiguous:
        return NumVec(len(view), None, view)  # used in place, never copied
    return _other_buffer(op, param, value, view)


def buffer_view(value: Any) -> memoryview | None:
    """A memoryview of `value` if it exposes a buffer and is not text (bytes are not numbers)."""
    if isinstance(value, (bytes, bytearray, str)):
        return None
    try:
        return memoryview(value)
    except TypeError:
        return None


def as_number(op: str, param: str, value: Any, _reader: Any = None) -> float:
    """Validate a number argument (never a bool) and return it as a float."""
    if type(value) is float:
        return value
    if not is_real_number(value):
        raise op_error(op, f"expected a number for {param} (got {zixir_type_name(value)})")
    try:
        return float(value)
    except OverflowError:
        raise op_error(op, f"integer too large for a float ({param})") from None


def as_count(op: str, param: str, value: Any, _reader: Any = None) -> int:
    """Validate a non-negative integer argument (a dimension): ints only, never bool or float."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise op_error(
            op, f"expected a non-negative integer for {param} (got {zixir_type_name(value)})"
        )
    if value < 0:
        raise op_error(op, f"expected a non-negative integer for {param} (got {value})")
    return int(value)


def as_text(op: str, param: str, value: Any, _reader: Any = None) -> str:
    """Validate a string argument."""
    if not isinstance(value, str):
        raise op_error(op, f"expected a string for {param} (got {zixir_type_name(value)})")
    return value
