"""Zixir values as Python objects, and their conversions.

Generated code runs Python's own operators on Zixir values, so the representation is chosen
to make Python fail exactly where Zixir must:
- `Bool` is its own type (two singletons), not Python's `bool`: `true + 1`, `true < 2` raise,
  and `true == 1` is false, as the language requires.
- `ZList` is a `list` whose `+`, `*` and ordering are undefined (`[1] + [2]` raises) while
  equality stays structural and `1 == 1.0` holds inside lists.
- `ZRange` is a lazy integer range that equals the list of its elements.
Integers, floats, strings, `nil` (None) and maps (dict with string keys) are Python's own.
Values enter from Python through `from_python` and leave through `to_python`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ZixirRuntimeError


class Bool:
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __bool__(self) -> bool:
        return self.value

    def __repr__(self) -> str:
        return "true" if self.value else "false"

    def __reduce__(self):
        return (from_bool, (self.value,))


TRUE = Bool(True)
FALSE = Bool(False)


def from_bool(value: bool) -> Bool:
    return TRUE if value else FALSE


class ZList(list):
    """A Zixir list: a Python list without `+`, `*` or ordering."""

    __slots__ = ()

    def _undefined(self, other):
        return NotImplemented

    __add__ = __radd__ = __iadd__ = _undefined
    __mul__ = __rmul__ = __imul__ = _undefined
    __lt__ = __le__ = __gt__ = __ge__ = _undefined
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other):
        # Python's list equality takes an element as equal to itself, so `[n] == [n]` would
        # be true for NaN while `n == n` is false; equal lists holding a NaN are compared
        # element by element instead
        result = list.__eq__(self, other)
        if result is True and _holds_nan(self):
            return _deep_equal(self, other)
        return result

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __repr__(self) -> str:
        return to_literal(self)

    def __reduce__(self):
        return (ZList, (list(self),))


def _list_copy(xs: Any) -> ZList:
    """A new Zixir list with the elements of `xs` (the fallback of `adopt`)."""
    return ZList(list.copy(xs) if isinstance(xs, list) else list(xs))


def _measure_fresh(refs1: Callable[[Any], int]) -> int:
    """The reference count a list held by nothing but the argument slot has in `adopt(...)`;
    -1 (adopt always copies) unless a list held by a variable, a global or a cell counts more."""
    namespace: dict[str, Any] = {"refs1": refs1}
    exec(
        "def fresh():\n"
        "    return refs1([])\n"
        "def comprehension(n):\n"
        "    return refs1([i for i in range(n)])\n"
        "def local():\n"
        "    xs = []\n"
        "    return refs1(xs)\n"
        "def cell():\n"
        "    xs = []\n"
        "    def inner():\n"
        "        return refs1(xs)\n"
        "    return inner()\n"
        "gxs = []\n"
        "def from_global():\n"
        "    return refs1(gxs)\n",
        namespace)
    counts, held = set(), set()
    for _ in range(10):  # before and after the code is specialised
        counts |= {namespace["fresh"](), namespace["comprehension"](3)}
        held |= {namespace[name]() for name in ("local", "cell", "from_global")}
    if len(counts) != 1 or min(held) <= next(iter(counts)):
        return -1
    return counts.pop()


try:
    from . import _owned as _native
except ImportError:  # pragma: no cover - built by setup.py wherever a C compiler exists
    _native = None

#: `adopt(xs)`: the Zixir list for a just-built Python list `xs` (a display, comprehension,
#: slice or concatenation result passed straight in). When nothing else can hold `xs` it becomes
#: the Zixir list itself instead of being copied (native/owned_update.c); otherwise a copy.
adopt: Callable[[Any], ZList] = _list_copy
if _native is not None and _native.configure_adopt(ZList, _measure_fresh(_native.refs1)):
    adopt = _native.adopt

#: whether `xs[i]` on a Zixir list runs list's own indexing (native/owned_update.c): a list
#: subclass otherwise indexes through a generic method lookup, about 5x slower
FAST_INDEX: bool = _native is not None and _native.share_list_subscript(ZList)

def _deep_equal(a: Any, b: Any) -> bool:
    """Structural equality where no value is taken as equal to itself without comparing."""
    if type(a) is dict and type(b) is dict:
        return a.keys() == b.keys() and all(_deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _holds_nan(items: list) -> bool:
    for x in items:
        t = type(x)
        if t is float:
            if x != x:
                return True
        elif t is ZList or t is list:
            if _holds_nan(x):
                return True
        elif t is dict and _holds_nan(list(x.values())):
            return True
    return False


class ZRange:
    """`a..b`: the integers from a up to b (exclusive), produced lazily."""

    __slots__ = ("start", "stop", "step", "_range")

    def __init__(self, start: int, stop: int, step: int = 1) -> None:
        self.start, self.stop, self.step = start, stop, step
        self._range = range(start, stop, step)

    def __iter__(self):
        return iter(self._range)

    def __len__(self) -> int:
        try:
            return len(self._range)
        except OverflowError:
            raise ZixirRuntimeError("range too large: more elements than fit in memory") from None

    def __getitem__(self, index):
        return self._range[index]

    def __contains__(self, item) -> bool:
        return type(item) in (int, float) and item in self._range

    def __eq__(self, other) -> bool:
        if isinstance(other, ZRange):
            return self._range == other._range
        if isinstance(other, list):
            return len(other) == len(self._range) and all(
                a == b for a, b in zip(self._range, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def to_list(self) -> ZList:
        return ZList(self._range)

    def __repr__(self) -> str:
        return to_literal(self)

    def __reduce__(self):
        return (ZRange, (self.start, self.stop, self.step))


# ---- type names ----------------------------------------------------------------------------

def type_name(value: Any) -> str:
    """The Zixir name of a value's type, as `type_of` returns it."""
    t = type(value)
    if t is int:
        return "int"
    if t is float:
        return "float"
    if t is str:
        return "string"
    if t is Bool:
        return "bool"
    if value is None:
        return "nil"
    if isinstance(value, list):
        return "list"
    if t is dict:
        return "map"
    if t is ZRange:
        return "range"
    if callable(value):
        return "function"
    return getattr(t, "zixir_type", t.__name__)  # e.g. a task


def is_number(value: Any) -> bool:
    t = type(value)
    return t is int or t is float


def is_truthy(value: Any) -> bool:
    return value is not FALSE and value is not None


# ---- text ------------------------------------------------------------------------------------

def format_float(value: float) -> str:
    return repr(value)


_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def quote(text: str) -> str:
    out = []
    for i, ch in enumerate(text):
        esc = _STRING_ESCAPES.get(ch)
        if ch == "#" and text.startswith("#{", i):
            out.append("\\#")  # the literal reads back as text, not as an interpolation
        elif esc is not None:
            out.append(esc)
        elif not ch.isprintable():
            out.append(f"\\u{{{ord(ch):X}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def function_name(fn: Callable) -> str:
    name = getattr(fn, "zixir_name", None)
    if name:
        return name
    from .compiler import demangle

    return demangle(getattr(fn, "__name__", "fn"))


def to_text(value: Any) -> str:
    """`str(value)`: strings as themselves, everything else in literal syntax."""
    if type(value) is str:
        return value
    return to_literal(value)


def to_literal(value: Any, _depth: int = 0) -> str:
    """Zixir literal syntax for a value (strings quoted), as `zixir run` prints results."""
    if _depth > 200:
        return "..."
    t = type(value)
    if t is str:
        return quote(value)
    if t is int:
        return str(value)
    if t is float:
        return format_float(value)
    if t is Bool:
        return "true" if value.value else "false"
    if value is None:
        return "nil"
    if t is ZRange:
        return "[" + ", ".join(str(i) for i in value) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(to_literal(v, _depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{quote(str(k))}: {to_literal(v, _depth + 1)}"
                               for k, v in value.items()) + "}"
    if t is bool:  # a Python bool that leaked in: still print it the Zixir way
        return "true" if value else "false"
    if callable(value):
        return f"<fn {function_name(value)}>"
    return repr(value)  # e.g. a function that came back from another process


# ---- crossing the boundary -----------------------------------------------------------------

def to_python(value: Any) -> Any:
    """A Zixir value as plain Python: bool, list, dict; ranges become lists."""
    t = type(value)
    if t is int or t is float or t is str or value is None:
        return value
    if t is Bool:
        return value.value
    if t is ZList or t is list:
        out = []
        append = out.append
        for item in value:
            ti = type(item)
            if ti is float or ti is int or ti is str:
                append(item)
            else:
                append(to_python(item))
        return out
    if t is ZRange:
        return list(value)
    if t is dict:
        return {k: to_python(v) for k, v in value.items()}
    if callable(value):
        return PythonCallable(value)
    return value


class PythonCallable:
    """A Zixir function handed to Python: converts arguments in and the result out."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.__name__ = function_name(fn)

    def __call__(self, *args: Any) -> Any:
        from .session import call_function  # the evaluator owns stacks and error positions

        return to_python(call_function(self.fn, [from_python(a) for a in args]))

    def __repr__(self) -> str:
        return f"<fn {self.__name__}>"


def from_python(value: Any, _seen: int = 0) -> Any:
    """A Python value (from the embedding program, a worker or the store) as a Zixir value."""
    t = type(value)
    if t is int or t is float or t is str or value is None:
        return value
    if t is bool:
        return TRUE if value else FALSE
    if t is Bool or t is ZList or t is ZRange:
        return value
    if t is list or t is tuple:
        return ZList([from_python(v) for v in value])
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                if type(k) in (int, float, bool):
                    k = to_text(from_python(k))
                else:
                    raise ZixirRuntimeError(
                        f"cannot use a Python {type(k).__name__} as a map key")
            out[k] = from_python(v)
        return out
    if t is range:
        return ZRange(value.start, value.stop, value.step)
    if isinstance(value, PythonCallable):
        return value.fn
    mod = t.__module__
    if mod == "numpy":
        return _from_numpy(value)
    if isinstance(value, bool):
        return TRUE if value else FALSE
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ZList([from_python(v) for v in value])
    if isinstance(value, dict):
        return from_python(dict(value))
    if mod == "decimal" and t.__name__ == "Decimal":
        return float(value)  # the nearest float (docs/language.md: values from Python)
    if callable(value):
        return value
    raise ZixirRuntimeError(f"cannot convert a Python {t.__name__} to a Zixir value")


def _from_numpy(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.ndim == 1 and value.dtype.kind in "fiu":  # flat numbers: no per-element walk
            return ZList(value.tolist())
        return from_python(value.tolist())
    if isinstance(value, np.generic):
        return from_python(value.item())
    raise ZixirRuntimeError(f"cannot convert a numpy {type(value).__name__} to a Zixir value")
