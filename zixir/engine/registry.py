"""The engine op table: one entry per op with its parameters, result, doc and reference code.

The checker (arity), the language server (signature and doc), the dispatcher (validation) and
every backend (which op names to implement) read this table; nothing else lists the ops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import reference
from .values import FastReader, NumVec, as_count, as_number, as_numbers, as_text, op_error

_NO_DEFAULT: Any = object()

#: Zixir type annotation shown for each parameter kind and result kind
_KIND_TYPES = {
    "list": "[Float]",
    "number": "Float",
    "int": "Int",
    "string": "String",
    "float": "Float",
    "bool": "Bool",
}


@dataclass(frozen=True, slots=True)
class Param:
    """One op parameter: `kind` is "list" (of numbers), "number", "int" (>= 0) or "string"."""

    name: str
    kind: str
    default: Any = _NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    def __str__(self) -> str:
        text = f"{self.name}: {_KIND_TYPES[self.kind]}"
        return f"{text} = {self.default!r}" if self.has_default else text


@dataclass(frozen=True, slots=True)
class EngineOp:
    """An engine op: what it takes, what it returns, and its pure-Python meaning."""

    name: str
    params: tuple[Param, ...]
    result: str  # "float", "int", "bool" or "list" (a list of floats)
    doc: str
    reference: Callable[..., Any]
    check: Callable[[EngineOp, list[Any]], None] | None = None
    # derived once: engine calls are hot, so nothing below is recomputed per call
    min_args: int = field(init=False)
    max_args: int = field(init=False)
    list_positions: tuple[int, ...] = field(init=False)
    _defaults: tuple[Any, ...] = field(init=False, repr=False)
    _validate: Callable[[tuple[Any, ...], Any], list[Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        required = sum(1 for p in self.params if not p.has_default)
        setattr_ = object.__setattr__
        setattr_(self, "min_args", required)
        setattr_(self, "max_args", len(self.params))
        setattr_(self, "list_positions",
                 tuple(i for i, p in enumerate(self.params) if p.kind == "list"))
        setattr_(self, "_defaults", tuple(p.default for p in self.params[required:]))
        setattr_(self, "_validate", _validator(self.name, self.params))

    @property
    def signature(self) -> str:
        params = ", ".join(map(str, self.params))
        return f"{self.name}({params}) -> {_KIND_TYPES[self.result]}"

    def bind(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """Check the argument count and fill in defaults."""
        count = len(args)
        if count == self.max_args:
            return args
        if not self.min_args <= count <= self.max_args:
            if self.min_args == self.max_args:
                plural = "" if self.max_args == 1 else "s"
                expected = f"{self.max_args} argument{plural}"
            else:
                expected = f"{self.min_args} to {self.max_args} arguments"
            raise op_error(self.name, f"expected {expected}, got {count}")
        return args + self._defaults[count - self.min_args:]

    def validate(self, values: tuple[Any, ...], reader: FastReader | None = None) -> list[Any]:
        """Convert bound arguments for a backend; `reader` reads lists in native code."""
        converted = self._validate(values, reader)
        if self.check is not None:
            self.check(self, converted)
        return converted


#: the validating conversion for each parameter kind: (op, param, value, list reader) -> value
_CONVERTERS: dict[str, Callable[..., Any]] = {
    "list": as_numbers, "number": as_number, "int": as_count, "string": as_text,
}


def _validator(op: str, params: tuple[Param, ...]) -> Callable[[tuple[Any, ...], Any], list]:
    """A function converting all arguments of `op`; unrolled for the common arities (hot path)."""
    steps = [(_CONVERTERS[p.kind], p.name) for p in params]
    if len(steps) == 1:
        (c0, p0), = steps
        return lambda values, reader: [c0(op, p0, values[0], reader)]
    if len(steps) == 2:
        (c0, p0), (c1, p1) = steps
        return lambda values, reader: [
            c0(op, p0, values[0], reader), c1(op, p1, values[1], reader)
        ]
    return lambda values, reader: [
        convert(op, name, value, reader) for (convert, name), value in zip(steps, values, strict=True)
    ]


def _same_length(op: EngineOp, args: list[Any]) -> None:
    xs, ys = args[0], args[1]
    if xs.n != ys.n:
        raise op_error(op.name, f"length mismatch ({xs.n} vs {ys.n})")


def _expect_size(op: EngineOp, vec: NumVec, name: str, size: int, formula: str) -> None:
    if vec.n != size:
        raise op_error(
            op.name, f"length mismatch: {name} has {vec.n} elements, {formula} = {size}"
        )


def _mat_mul_dims(op: EngineOp, args: list[Any]) -> None:
    a, b, a_rows, a_cols, b_cols = args
    _expect_size(op, a, "a", a_rows * a_cols, "a_rows * a_cols")
    _expect_size(op, b, "b", a_cols * b_cols, "a_cols * b_cols")


def _mat_transpose_dims(op: EngineOp, args: list[Any]) -> None:
    flat, rows, cols = args
    _expect_size(op, flat, "flat", rows * cols, "rows * cols")


def _op(
    name: str,
    params: list[Param],
    result: str,
    doc: str,
    check: Callable[[EngineOp, list[Any]], None] | None = None,
) -> EngineOp:
    return EngineOp(name, tuple(params), result, doc, getattr(reference, name), check)


_XS = Param("xs", "list")
_YS = Param("ys", "list")
_S = Param("s", "string")

OPS: dict[str, EngineOp] = {
    op.name: op
    for op in [
        _op("list_sum", [_XS], "float", "Sum of the elements; 0.0 for an empty list."),
        _op("list_product", [_XS], "float", "Product of the elements; 1.0 for an empty list."),
        _op("list_mean", [_XS], "float", "Arithmetic mean; 0.0 for an empty list."),
        _op("list_min", [_XS], "float", "Smallest element (NaN if any is NaN); 0.0 if empty."),
        _op("list_max", [_XS], "float", "Largest element (NaN if any is NaN); 0.0 if empty."),
        _op("list_variance", [_XS], "float", "Population variance; 0.0 for an empty list."),
        _op("list_std", [_XS], "float", "Population standard deviation; 0.0 if empty."),
        _op("dot_product", [_XS, _YS], "float",
            "Sum of pairwise products of two equal-length lists.", _same_length),
        _op("vec_add", [_XS, _YS], "list", "Element-wise sum of two equal-length lists.",
            _same_length),
        _op("vec_sub", [_XS, _YS], "list", "Element-wise difference xs - ys.", _same_length),
        _op("vec_mul", [_XS, _YS], "list", "Element-wise product of two equal-length lists.",
            _same_length),
        _op("vec_div", [_XS, _YS], "list",
            "Element-wise quotient xs / ys; dividing by 0.0 gives 0.0.", _same_length),
        _op("vec_scale", [_XS, Param("factor", "number", 1.0)], "list",
            "Every element multiplied by factor."),
        _op("map_add", [_XS, Param("addend", "number", 0.0)], "list",
            "Every element plus addend."),
        _op("map_mul", [_XS, Param("factor", "number", 1.0)], "list",
            "Every element multiplied by factor."),
        _op("filter_gt", [_XS, Param("threshold", "number", 0.0)], "list",
            "The elements strictly greater than threshold, in order."),
        _op("sort_asc", [_XS], "list", "Elements in ascending order (-0.0 before 0.0, NaN last)."),
        _op("find_index", [_XS, Param("value", "number")], "int",
            "Index of the first element equal to value, or -1."),
        _op("count_value", [_XS, Param("value", "number")], "int",
            "How many elements equal value."),
        _op("mat_mul",
            [Param("a", "list"), Param("b", "list"), Param("a_rows", "int"),
             Param("a_cols", "int"), Param("b_cols", "int")],
            "list", "Product of two row-major matrices, as a flat row-major list.",
            _mat_mul_dims),
        _op("mat_transpose", [Param("flat", "list"), Param("rows", "int"), Param("cols", "int")],
            "list", "Transpose of a rows x cols row-major matrix, as a flat list.",
            _mat_transpose_dims),
        _op("string_count", [_S], "int", "Length of the string in UTF-8 bytes."),
        _op("string_find", [_S, Param("needle", "string")], "int",
            "UTF-8 byte offset of the first occurrence of needle, or -1 (empty needle: 0)."),
        _op("string_starts_with", [_S, Param("prefix", "string")], "bool",
            "Whether the string starts with prefix."),
        _op("string_ends_with", [_S, Param("suffix", "string")], "bool",
            "Whether the string ends with suffix."),
    ]
}


def lookup(name: str) -> EngineOp:
    """The op called `name`, or the language's error for an unknown op."""
    op = OPS.get(name)
    if op is None:
        from zixir.lang.errors import ZixirRuntimeError

        raise ZixirRuntimeError(f"unknown engine op: {name}")
    return op
