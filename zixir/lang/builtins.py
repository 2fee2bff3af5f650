"""The built-in functions, as a registry: name -> implementation, signature, one-line doc.

The same registry feeds the interpreter (each session's builtins namespace), the checker (arity)
and the language server (completion and hover). Implementations take and return Zixir values
and raise `ZixirRuntimeError` naming themselves for bad arguments; the interpreter adds the
position of the call.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import OutputClosed, ZixirRuntimeError
from .values import (
    FALSE,
    TRUE,
    Bool,
    ZList,
    ZRange,
    adopt,
    from_bool,
    is_number,
    is_truthy,
    to_text,
    type_name,
)


@dataclass(frozen=True)
class Builtin:
    name: str
    fn: Callable[..., Any]
    signature: str
    doc: str
    min_args: int
    max_args: int | None  # None: any number


BUILTINS: dict[str, Builtin] = {}


def builtin(signature: str, doc: str, min_args: int, max_args: int | None = -1):
    """Register a built-in; `max_args` -1 means "same as min_args"."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        name = signature.split("(", 1)[0]
        fn.zixir_name = name  # type: ignore[attr-defined]
        BUILTINS[name] = Builtin(name, fn, signature, doc, min_args,
                                 min_args if max_args == -1 else max_args)
        return fn

    return register


def fail(name: str, message: str) -> ZixirRuntimeError:
    return ZixirRuntimeError(f"{name}: {message}")


# ---- calling Zixir functions from builtins ------------------------------------------------

#: C versions of built-ins (zixir/lang/fastpath.py) -> their registry entry: they have no
#: `__code__` to read an arity from
_NATIVE: dict[Any, Builtin] = {}


def register_native(fn: Any, entry: Builtin) -> None:
    """Record that `fn` is a C version of the built-in `entry` (for `arity`)."""
    _NATIVE[fn] = entry


def arity(fn: Any) -> tuple[int, int | None]:
    """(minimum, maximum or None) positional arguments `fn` accepts, as far as is known."""
    code = getattr(fn, "__code__", None)
    if code is None:
        entry = _NATIVE.get(fn) if getattr(fn, "__hash__", None) is not None else None
        if entry is not None:
            return entry.min_args, entry.max_args
        return 0, None
    n = code.co_argcount
    if hasattr(fn, "__func__"):  # a bound method: `self` is already given
        n -= 1
    defaults = len(getattr(fn, "__defaults__", None) or ())
    if code.co_flags & 0x04:  # *args
        return n - defaults, None
    return n - defaults, n


def check_function(who: str, fn: Any, nargs: int) -> None:
    """Before calling a Zixir function from a builtin: is it one, and does it take `nargs`?"""
    if not callable(fn) or type(fn) in (ZList, dict, ZRange, Bool):
        raise fail(who, f"expected a function, got {type_name(fn)}")
    low, high = arity(fn)
    if nargs < low or (high is not None and nargs > high):
        from .values import function_name

        raise fail(who, f"the function {function_name(fn)} takes {_count(low, high)}, but "
                        f"{who} passes {nargs}")


def _count(low: int, high: int | None) -> str:
    if high == low:
        return f"{low} argument{'s' if low != 1 else ''}"
    if high is None:
        return f"at least {low} arguments"
    return f"{low} to {high} arguments"


def _sequence(who: str, xs: Any) -> Any:
    t = type(xs)
    if t is ZList or t is ZRange or t is list:
        return xs
    raise fail(who, f"expected a list, got {type_name(xs)}")


_list_add = list.__add__  # the elements of two lists (subclasses too) as a new plain list


def _plain_copy(xs: Any) -> list:
    """The elements of a list or range as a new plain Python list (C speed for lists)."""
    return list.copy(xs) if isinstance(xs, list) else list(xs)


def _string(who: str, s: Any, what: str = "a string") -> str:
    if type(s) is not str:
        raise fail(who, f"expected {what}, got {type_name(s)}")
    return s


def _number(who: str, x: Any) -> int | float:
    if not is_number(x):
        raise fail(who, f"expected a number, got {type_name(x)}")
    return x


def _int(who: str, x: Any) -> int:
    if type(x) is not int:
        raise fail(who, f"expected an integer, got {type_name(x)}")
    return x


# ---- output --------------------------------------------------------------------------------

def _write(text: str) -> None:
    out = sys.stdout
    try:
        out.write(text)
        out.flush()
    except BrokenPipeError:
        silence_stdout()
        raise OutputClosed("standard output was closed") from None


def silence_stdout() -> None:
    """After the reader of standard output went away: send what is still buffered, and all
    later output, to /dev/null, so that exiting does not fail on a flush."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


@builtin("print(...values)", "Write the values separated by spaces (strings without quotes).", 0,
         None)
def builtin_print(*values: Any) -> None:
    _write(" ".join(to_text(v) for v in values))
    return None


@builtin("println(...values)", "Write the values separated by spaces, then a newline.", 0, None)
def builtin_println(*values: Any) -> None:
    _write(" ".join(to_text(v) for v in values) + "\n")
    return None


# ---- collections ---------------------------------------------------------------------------

@builtin("len(x) -> Int", "Number of elements of a list, range or map, or characters of a string.",
         1)
def builtin_len(x: Any) -> int:
    t = type(x)
    if t is ZList or t is str or t is dict or t is ZRange or t is list:
        return len(x)
    raise fail("len", f"expected a list, string, map or range, got {type_name(x)}")


@builtin("range(start, stop?, step?) -> [Int]",
         "The integers from start (default 0) up to stop, exclusive; range(n) is 0..n.", 1, 3)
def builtin_range(start: Any, stop: Any = None, step: Any = 1) -> ZRange:
    if stop is None:
        start, stop = 0, start
    for value in (start, stop, step):
        _int("range", value)
    if step == 0:
        raise fail("range", "step must not be 0")
    return ZRange(start, stop, step)


@builtin("map(xs, f) -> List", "A new list with f applied to every element of xs.", 2)
def builtin_map(xs: Any, f: Any) -> ZList:
    _sequence("map", xs)
    check_function("map", f, 1)
    return adopt([f(x) for x in xs])


@builtin("filter(xs, f) -> List", "The elements of xs for which f returns a truthy value.", 2)
def builtin_filter(xs: Any, f: Any) -> ZList:
    _sequence("filter", xs)
    check_function("filter", f, 1)
    return adopt([x for x in xs if is_truthy(f(x))])


@builtin("reduce(xs, f, init) -> Any",
         "Fold xs from the left: f(acc, x) for every element, starting from init.", 3)
def builtin_reduce(xs: Any, f: Any, init: Any) -> Any:
    _sequence("reduce", xs)
    check_function("reduce", f, 2)
    acc = init
    for x in xs:
        acc = f(acc, x)
    return acc


@builtin("sum(xs) -> Number", "Sum of a list of numbers (an integer if all are integers).", 1)
def builtin_sum(xs: Any) -> int | float:
    _sequence("sum", xs)
    try:
        return sum(xs)
    except TypeError:
        bad = next(x for x in xs if not is_number(x))
        raise fail("sum", f"expected a list of numbers, found {type_name(bad)}") from None


def _extreme(name: str, pick: Callable, args: tuple) -> Any:
    if len(args) == 1 and type(args[0]) in (ZList, ZRange, list):
        items = args[0]
        if len(items) == 0:
            raise fail(name, "empty list")
    else:
        items = args
    try:
        return pick(items)
    except TypeError:
        kinds = sorted({type_name(v) for v in items})
        raise fail(name, f"cannot compare {' and '.join(kinds)}") from None


@builtin("min(xs) | min(a, b, ...)", "Smallest element of a list, or smallest argument.", 1, None)
def builtin_min(first: Any, *rest: Any) -> Any:
    return _extreme("min", min, (first, *rest))


@builtin("max(xs) | max(a, b, ...)", "Largest element of a list, or largest argument.", 1, None)
def builtin_max(first: Any, *rest: Any) -> Any:
    return _extreme("max", max, (first, *rest))


@builtin("keys(m) -> [String]", "The keys of a map, in insertion order.", 1)
def builtin_keys(m: Any) -> ZList:
    if type(m) is not dict:
        raise fail("keys", f"expected a map, got {type_name(m)}")
    return adopt(list(m))


@builtin("values(m) -> List", "The values of a map, in insertion order.", 1)
def builtin_values(m: Any) -> ZList:
    if type(m) is not dict:
        raise fail("values", f"expected a map, got {type_name(m)}")
    return adopt(list(m.values()))


@builtin("get(coll, key, default?) -> Any",
         "m[key] or xs[index], or default (nil) when the key or index is missing.", 2, 3)
def builtin_get(coll: Any, key: Any, default: Any = None) -> Any:
    t = type(coll)
    if t is dict:
        if type(key) is not str:
            return default
        return coll.get(key, default)
    if t is ZList or t is ZRange or t is str or t is list:
        if type(key) is not int:
            raise fail("get", f"index must be an integer, got {type_name(key)}")
        if -len(coll) <= key < len(coll):
            return coll[key]
        return default
    raise fail("get", f"expected a map, list or string, got {type_name(coll)}")


@builtin("put(m, key, value) -> Map", "A new map with key set to value.", 3)
def builtin_put(m: Any, key: Any, value: Any) -> dict:
    if type(m) is not dict:
        raise fail("put", f"expected a map, got {type_name(m)}")
    out = dict(m)
    out[_string("put", key, "a string key")] = value
    return out


@builtin("remove(m, key) -> Map", "A new map without key.", 2)
def builtin_remove(m: Any, key: Any) -> dict:
    if type(m) is not dict:
        raise fail("remove", f"expected a map, got {type_name(m)}")
    out = dict(m)
    out.pop(key, None)
    return out


@builtin("append(xs, x) -> List", "A new list: xs followed by x.", 2)
def builtin_append(xs: Any, x: Any) -> ZList:
    out = adopt(_plain_copy(_sequence("append", xs)))
    out.append(x)
    return out


@builtin("concat(a, b) -> List | String", "Two lists (or two strings) joined into a new one.", 2)
def builtin_concat(a: Any, b: Any) -> Any:
    if type(a) is ZList and type(b) is ZList:  # the common case first
        return adopt(_list_add(a, b))
    if type(a) is str and type(b) is str:
        return a + b
    if type(a) in (ZList, ZRange, list) and type(b) in (ZList, ZRange, list):
        return adopt(_list_add(_plain_copy(a), _plain_copy(b)))
    raise fail("concat", f"expected two lists or two strings, got {type_name(a)} and "
                         f"{type_name(b)}")


@builtin("join(xs, sep?) -> String", "The elements of xs as text, separated by sep (default \"\").",
         1, 2)
def builtin_join(xs: Any, sep: Any = "") -> str:
    _sequence("join", xs)
    return _string("join", sep, "a string separator").join(to_text(x) for x in xs)


@builtin("split(s, sep?) -> [String]",
         "Split a string at sep; without sep, at runs of whitespace; with \"\", into characters.",
         1, 2)
def builtin_split(s: Any, sep: Any = None) -> ZList:
    _string("split", s)
    if sep is None:
        return adopt(s.split())
    _string("split", sep, "a string separator")
    if sep == "":
        return adopt(list(s))
    return adopt(s.split(sep))


@builtin("contains(coll, x) -> Bool",
         "Whether a list has an element equal to x, a string contains x, or a map has key x.", 2)
def builtin_contains(coll: Any, x: Any) -> Bool:
    t = type(coll)
    if t is str:
        return from_bool(_string("contains", x, "a string to look for") in coll)
    if t is dict:
        return from_bool(type(x) is str and x in coll)
    if t is ZList or t is ZRange or t is list:
        return from_bool(any(item == x for item in coll))
    raise fail("contains", f"expected a list, string or map, got {type_name(coll)}")


@builtin("index_of(coll, x) -> Int",
         "Position of the first element equal to x (or of substring x), -1 if absent.", 2)
def builtin_index_of(coll: Any, x: Any) -> int:
    if type(coll) is str:
        return coll.find(_string("index_of", x, "a string to look for"))
    for i, item in enumerate(_sequence("index_of", coll)):
        if item == x:
            return i
    return -1


@builtin("sort(xs, f?) -> List",
         "A new list in ascending order (numbers or strings); with a one-parameter f, ordered "
         "by f(x); with a two-parameter f (a comparator), a before b when f(a, b) < 0.", 1, 2)
def builtin_sort(xs: Any, f: Any = None) -> ZList:
    _sequence("sort", xs)
    key = f
    if f is not None:
        if not callable(f) or type(f) in (ZList, dict, ZRange, Bool):
            raise fail("sort", f"expected a function, got {type_name(f)}")
        low, high = arity(f)
        if low <= 2 and (high is None or high >= 2) and low != 1:
            key = functools.cmp_to_key(_comparator(f))
        else:
            check_function("sort", f, 1)
    try:
        return adopt(sorted(xs, key=key))
    except TypeError:
        kinds = sorted({type_name(f(v) if key is f and f else v) for v in xs})
        raise fail("sort", f"cannot compare {' and '.join(kinds)}") from None


def _comparator(f: Any) -> Callable[[Any, Any], int]:
    def compare(a: Any, b: Any) -> int:
        result = f(a, b)
        if not is_number(result):
            raise fail("sort", f"the comparator must return a number (negative: a first), got "
                               f"{type_name(result)}")
        return -1 if result < 0 else 1 if result > 0 else 0

    return compare


@builtin("reverse(xs) -> List | String", "A list (or string) in reverse order.", 1)
def builtin_reverse(xs: Any) -> Any:
    if type(xs) is str:
        return xs[::-1]
    return adopt(_plain_copy(_sequence("reverse", xs))[::-1])


@builtin("slice(xs, start, stop?) -> List | String",
         "Elements (or characters) from start up to stop (exclusive); negatives count from the "
         "end.", 2, 3)
def builtin_slice(xs: Any, start: Any, stop: Any = None) -> Any:
    if type(start) is not int:
        _int("slice", start)
    if stop is not None and type(stop) is not int:
        _int("slice", stop)
    t = type(xs)
    if t is str:
        return xs[start:stop]
    if t is ZList or t is list:
        return adopt(xs[start:stop])
    return adopt(list(_sequence("slice", xs))[start:stop])


@builtin("zip(a, b, ...) -> [[Any]]",
         "Lists [a[i], b[i], ...] of the i-th elements of every list, as long as the shortest.",
         1, None)
def builtin_zip(first: Any, *rest: Any) -> ZList:
    lists = (first, *rest)
    for xs in lists:
        _sequence("zip", xs)
    return ZList(ZList(items) for items in zip(*lists, strict=False))



def _index(who: str, xs: Any, i: Any, inclusive_end: bool = False) -> int:
    """A position of `xs` (negative counts from the end); out of range is an error."""
    _int(who, i)
    n = len(xs)
    at = i + n if i < 0 else i
    if not 0 <= at < n + (1 if inclusive_end else 0):
        raise fail(who, f"index {i} out of range for a list of length {n}")
    return at


@builtin("remove_at(xs, i) -> List",
         "A new list without the element at position i (negative counts from the end).", 2)
def builtin_remove_at(xs: Any, i: Any) -> ZList:
    out = ZList(_sequence("remove_at", xs))
    del out[_index("remove_at", out, i)]
    return out


@builtin("insert_at(xs, i, x) -> List",
         "A new list with x inserted before position i (len(xs) appends; negative counts from "
         "the end).", 3)
def builtin_insert_at(xs: Any, i: Any, x: Any) -> ZList:
    out = ZList(_sequence("insert_at", xs))
    out.insert(_index("insert_at", out, i, inclusive_end=True), x)
    return out


@builtin("flat_map(xs, f) -> List", "The lists f(x) of every element, joined into one list.", 2)
def builtin_flat_map(xs: Any, f: Any) -> ZList:
    _sequence("flat_map", xs)
    check_function("flat_map", f, 1)
    out = ZList()
    for x in xs:
        part = f(x)
        if type(part) not in (ZList, ZRange, list):
            raise fail("flat_map", f"the function must return a list, got {type_name(part)}")
        out.extend(part)
    return out


@builtin("group_by(xs, f) -> Map",
         "A map from each key f(x) (as text) to the elements with that key, in order.", 2)
def builtin_group_by(xs: Any, f: Any) -> dict:
    _sequence("group_by", xs)
    check_function("group_by", f, 1)
    groups: dict[str, ZList] = {}
    for x in xs:
        groups.setdefault(to_text(f(x)), ZList()).append(x)
    return groups


@builtin("uniq(xs) -> List", "The elements of xs without repeats (first occurrences, in order).",
         1)
def builtin_uniq(xs: Any) -> ZList:
    out = ZList()
    seen: set[Any] = set()
    for x in _sequence("uniq", xs):
        try:
            if x in seen:
                continue
            seen.add(x)
        except TypeError:  # lists and maps: compared one by one
            if any(x == y for y in out):
                continue
        out.append(x)
    return out


def _count_arg(who: str, n: Any) -> int:
    if _int(who, n) < 0:
        raise fail(who, f"expected a count of 0 or more, got {n}")
    return n


@builtin("take(xs, n) -> List | String", "The first n elements (or characters).", 2)
def builtin_take(xs: Any, n: Any) -> Any:
    n = _count_arg("take", n)
    return xs[:n] if type(xs) is str else ZList(list(_sequence("take", xs))[:n])


@builtin("drop(xs, n) -> List | String", "Everything after the first n elements (or characters).",
         2)
def builtin_drop(xs: Any, n: Any) -> Any:
    n = _count_arg("drop", n)
    return xs[n:] if type(xs) is str else ZList(list(_sequence("drop", xs))[n:])


@builtin("chunk(xs, n) -> [List]",
         "xs cut into lists of n elements (the last one may be shorter).", 2)
def builtin_chunk(xs: Any, n: Any) -> ZList:
    items = list(_sequence("chunk", xs))
    if _int("chunk", n) < 1:
        raise fail("chunk", f"expected a chunk size of 1 or more, got {n}")
    return ZList(ZList(items[i:i + n]) for i in range(0, len(items), n))


@builtin("enumerate(xs) -> [[Any]]", "Pairs [index, element] for every element.", 1)
def builtin_enumerate(xs: Any) -> ZList:
    return ZList(ZList(pair) for pair in enumerate(_sequence("enumerate", xs)))


@builtin("first(xs) -> Any", "The first element, or nil for an empty list.", 1)
def builtin_first(xs: Any) -> Any:
    xs = _sequence("first", xs)
    return xs[0] if len(xs) else None


@builtin("last(xs) -> Any", "The last element, or nil for an empty list.", 1)
def builtin_last(xs: Any) -> Any:
    xs = _sequence("last", xs)
    return xs[-1] if len(xs) else None


@builtin("any(xs, f?) -> Bool", "Whether some element (or f of it) is truthy.", 1, 2)
def builtin_any(xs: Any, f: Any = None) -> Bool:
    _sequence("any", xs)
    if f is not None:
        check_function("any", f, 1)
    return from_bool(any(is_truthy(f(x) if f else x) for x in xs))


@builtin("all(xs, f?) -> Bool", "Whether every element (or f of it) is truthy.", 1, 2)
def builtin_all(xs: Any, f: Any = None) -> Bool:
    _sequence("all", xs)
    if f is not None:
        check_function("all", f, 1)
    return from_bool(all(is_truthy(f(x) if f else x) for x in xs))


# ---- strings ---------------------------------------------------------------------------------

@builtin("upper(s) -> String", "The string in upper case.", 1)
def builtin_upper(s: Any) -> str:
    return _string("upper", s).upper()


@builtin("lower(s) -> String", "The string in lower case.", 1)
def builtin_lower(s: Any) -> str:
    return _string("lower", s).lower()


@builtin("trim(s) -> String", "The string without leading and trailing whitespace.", 1)
def builtin_trim(s: Any) -> str:
    return _string("trim", s).strip()


@builtin("replace(s, old, new) -> String", "The string with every occurrence of old replaced.", 3)
def builtin_replace(s: Any, old: Any, new: Any) -> str:
    return _string("replace", s).replace(_string("replace", old), _string("replace", new))


@builtin("starts_with(s, prefix) -> Bool", "Whether the string starts with prefix.", 2)
def builtin_starts_with(s: Any, prefix: Any) -> Bool:
    return from_bool(_string("starts_with", s).startswith(_string("starts_with", prefix)))


@builtin("ends_with(s, suffix) -> Bool", "Whether the string ends with suffix.", 2)
def builtin_ends_with(s: Any, suffix: Any) -> Bool:
    return from_bool(_string("ends_with", s).endswith(_string("ends_with", suffix)))


# ---- numbers ---------------------------------------------------------------------------------

@builtin("abs(x) -> Number", "Absolute value.", 1)
def builtin_abs(x: Any) -> int | float:
    return abs(_number("abs", x))


@builtin("sqrt(x) -> Float", "Square root of a non-negative number.", 1)
def builtin_sqrt(x: Any) -> float:
    x = _number("sqrt", x)
    if x < 0:
        raise fail("sqrt", f"square root of a negative number ({to_text(x)})")
    try:
        return math.sqrt(x)
    except OverflowError:
        raise fail("sqrt", "number too large") from None


def _to_int(name: str, value: float, how: Callable[[float], int]) -> int:
    if type(value) is int:
        return value
    if not math.isfinite(value):
        raise fail(name, f"cannot convert {to_text(value)} to an integer")
    return how(value)


@builtin("floor(x) -> Int", "Largest integer not greater than x.", 1)
def builtin_floor(x: Any) -> int:
    return _to_int("floor", _number("floor", x), math.floor)


@builtin("ceil(x) -> Int", "Smallest integer not less than x.", 1)
def builtin_ceil(x: Any) -> int:
    return _to_int("ceil", _number("ceil", x), math.ceil)


@builtin("round(x, digits?) -> Int | Float",
         "x rounded half to even: an integer, or a float with `digits` decimals.", 1, 2)
def builtin_round(x: Any, digits: Any = None) -> int | float:
    x = _number("round", x)
    if digits is None:
        return _to_int("round", x, round)
    return float(round(x, _int("round", digits)))


@builtin("pow(x, y) -> Number", "x raised to the power y.", 2)
def builtin_pow(x: Any, y: Any) -> int | float:
    x, y = _number("pow", x), _number("pow", y)
    try:
        if type(x) is int and type(y) is int and y >= 0:
            if abs(x) > 1 and y > 100_000:
                raise fail("pow", "result too large")
            return x**y
        result = float(x) ** float(y)
    except ZeroDivisionError:
        raise ZixirRuntimeError("Division by zero") from None
    except OverflowError:
        raise fail("pow", "result too large") from None
    if isinstance(result, complex):
        raise fail("pow", "result is not a real number")
    return result


@builtin("exp(x) -> Float", "e raised to the power x.", 1)
def builtin_exp(x: Any) -> float:
    try:
        return math.exp(_number("exp", x))
    except OverflowError:
        raise fail("exp", "result too large") from None


@builtin("log(x, base?) -> Float", "Natural logarithm of x (or logarithm in base).", 1, 2)
def builtin_log(x: Any, base: Any = None) -> float:
    x = _number("log", x)
    if x <= 0:
        raise fail("log", f"logarithm of a non-positive number ({to_text(x)})")
    if base is None:
        return math.log(x)
    base = _number("log", base)
    if base <= 0 or base == 1:
        raise fail("log", f"invalid base {to_text(base)}")
    return math.log(x, base)


def _truncated_division(who: str, a: Any, b: Any) -> tuple[int, int]:
    _int(who, a)
    _int(who, b)
    if b == 0:
        raise ZixirRuntimeError("Division by zero")
    q = abs(a) // abs(b)
    if (a < 0) != (b < 0):
        q = -q
    return q, a - b * q


@builtin("div(a, b) -> Int",
         "Integer division of two integers, rounding toward zero (div(-7, 2) is -3).", 2)
def builtin_div(a: Any, b: Any) -> int:
    return _truncated_division("div", a, b)[0]


@builtin("rem(a, b) -> Int",
         "Remainder of div(a, b): it has the sign of a (rem(-7, 2) is -1); `%` has the sign "
         "of b.", 2)
def builtin_rem(a: Any, b: Any) -> int:
    return _truncated_division("rem", a, b)[1]


@builtin("format(x, spec) -> String",
         "x formatted by Python's format-spec mini-language: format(3.14159, \".2f\") is "
         "\"3.14\", format(42, \">5\") is \"   42\"; other values are formatted as their text.",
         2)
def builtin_format(x: Any, spec: Any) -> str:
    _string("format", spec, "a format spec string")
    value = x if type(x) in (int, float, str) else to_text(x)
    try:
        return format(value, spec)
    except (ValueError, TypeError) as e:
        raise fail("format", f"invalid format spec {spec!r} for {type_name(x)} ({e})") from None


# ---- conversions -------------------------------------------------------------------------------

@builtin("str(x) -> String", "x as text: strings as they are, other values in literal syntax.", 1)
def builtin_str(x: Any) -> str:
    t = type(x)
    if t is str:
        return x
    if t is int or t is float:  # the common case, without the general walk
        return repr(x)
    return to_text(x)


_PREFIXED = re.compile(r"[+-]?0[xXoObB]")


@builtin("int(x, base?) -> Int",
         "x as an integer: truncates floats, parses strings (0x1F, 0o17 and 0b101 too; with "
         "base, digits in that base).", 1, 2)
def builtin_int(x: Any, base: Any = None) -> int:
    t = type(x)
    if base is not None:
        _int("int", base)
        if not (2 <= base <= 36):
            raise fail("int", f"base must be between 2 and 36, got {base}")
        text = _string("int", x, "a string when a base is given")
        try:
            return int(text.strip(), base)
        except ValueError:
            raise fail("int", f"cannot convert {x!r} to an integer in base {base}") from None
    if t is int:
        return x
    if t is float:
        return _to_int("int", x, int)
    if t is Bool:
        return 1 if x is TRUE else 0
    if t is str:
        text = x.strip()
        try:
            return int(text, 0) if _PREFIXED.match(text) else int(text, 10)
        except ValueError:
            raise fail("int", f"cannot convert {x!r} to an integer") from None
    raise fail("int", f"cannot convert {type_name(x)} to an integer")


@builtin("float(x) -> Float", "x as a float: converts integers, parses strings.", 1)
def builtin_float(x: Any) -> float:
    t = type(x)
    if t is float:
        return x
    if t is int:
        try:
            return float(x)
        except OverflowError:
            raise fail("float", "integer too large for a float") from None
    if t is Bool:
        return 1.0 if x is TRUE else 0.0
    if t is str:
        try:
            return float(x.strip())
        except ValueError:
            raise fail("float", f"cannot convert {x!r} to a float") from None
    raise fail("float", f"cannot convert {type_name(x)} to a float")


@builtin("bool(x) -> Bool", "Truthiness of x: only false and nil are false.", 1)
def builtin_bool(x: Any) -> Bool:
    return TRUE if is_truthy(x) else FALSE


@builtin("type_of(x) -> String",
         "Type name: int, float, string, bool, nil, list, map, range or function.", 1)
def builtin_type_of(x: Any) -> str:
    return type_name(x)


# ---- errors (LANGUAGE.md section 10; the details live in `rescue`) -------------------------

@builtin("raise(error_or_type, message?) -> Never",
         "Raise an error: raise(message) (type \"Error\"), raise(type, message), or raise(e) "
         "to raise a rescued error map again unchanged.", 1, 2)
def builtin_raise(first: Any, message: Any = NotImplemented) -> Any:
    from .rescue import raise_error

    if message is NotImplemented:
        raise raise_error(first)
    raise raise_error(first, message)


@builtin("attempt(f) -> Map",
         "Call the zero-parameter f: {ok: true, value: v}, or {ok: false, error: e} with the "
         "error map e if it raised.", 1)
def builtin_attempt(f: Any) -> dict:
    from .rescue import attempt

    check_function("attempt", f, 0)
    return attempt(f)


# ---- tasks (LANGUAGE.md section 9; the details live in `tasks`) -----------------------------

@builtin("spawn(f) -> Task",
         "Run the zero-parameter f concurrently; a task for await. A task waiting for a Python "
         "call lets the others run. A program ends when all its tasks have.", 1)
def builtin_spawn(f: Any) -> Any:
    from .tasks import spawn

    return spawn(f)


@builtin("await(task, seconds?) -> Any",
         "Wait for a task: its value, or its error raised again (with the task's position and "
         "call chain). With seconds: TaskTimeout \"Task timed out after N seconds\" if it has "
         "not finished by then (it goes on running).", 1, 2)
def builtin_await(task: Any, seconds: Any = None) -> Any:
    from .tasks import await_task

    return await_task(task, seconds)


@builtin("await_all(tasks) -> List",
         "Wait for every task of the list: their values in order; if some failed, the error "
         "of the first failing one (by position), raised once all have finished.", 1)
def builtin_await_all(tasks: Any) -> ZList:
    from .tasks import await_all

    return await_all(tasks)


# `pmap` needs the runtime's parallelism: each session binds its own.
PMAP_SIGNATURE = "pmap(xs, f, n?) -> List"
PMAP_DOC = ("Parallel map: f applied to every element concurrently, at most n at a time "
            "(default: the number of workers); results in order, the first error by position "
            "raised after all finished. Python calls inside run on different workers; with "
            "async Python functions n may be in the thousands.")


@builtin(PMAP_SIGNATURE, PMAP_DOC, 2, 3)
def builtin_pmap(xs: Any, f: Any, n: Any = None) -> ZList:
    """Without a session: one element at a time."""
    from .tasks import pmap

    return pmap(xs, f, n, 1)


# ---- scripts: arguments and standard input ---------------------------------------------------

@builtin("args() -> [String]",
         "The command-line arguments after the script's name (`zixir run f.zx a b`: [\"a\", "
         "\"b\"]).", 0)
def builtin_args() -> ZList:
    """No arguments outside `zixir run`; a session running a script binds its own."""
    return ZList()


@builtin("read_line(prompt?) -> String | Nil",
         "The next line of standard input without its line break (after writing prompt), or nil "
         "at the end of the input.", 0, 1)
def builtin_read_line(prompt: Any = None) -> str | None:
    if prompt is not None:
        _write(_string("read_line", prompt, "a prompt string"))
    try:
        line = sys.stdin.readline() if sys.stdin is not None else ""
    except (OSError, ValueError) as e:
        raise fail("read_line", f"standard input cannot be read ({e})") from None
    if not line:
        return None
    return line[:-1] if line.endswith("\n") else line


# ---- files (confined: see `files`; each session binds its own) ------------------------------

def _files() -> Any:
    from .files import FileAccess

    return FileAccess()


@builtin("read_file(path) -> String", "The whole text of a UTF-8 file.", 1)
def builtin_read_file(path: Any) -> str:
    return _files().read_file(path)


@builtin("read_lines(path) -> [String]", "The lines of a UTF-8 file, without line breaks.", 1)
def builtin_read_lines(path: Any) -> ZList:
    return _files().read_lines(path)


@builtin("write_file(path, text) -> Nil", "Replace the file's content with text (UTF-8).", 2)
def builtin_write_file(path: Any, text: Any) -> None:
    return _files().write_file(path, text)


@builtin("append_file(path, text) -> Nil", "Add text at the end of the file (created if absent).",
         2)
def builtin_append_file(path: Any, text: Any) -> None:
    return _files().append_file(path, text)


@builtin("list_dir(path?) -> [String]", "The names in a directory (default \".\"), sorted.", 0, 1)
def builtin_list_dir(path: Any = ".") -> ZList:
    return _files().list_dir(path)


@builtin("exists(path) -> Bool", "Whether a file or directory exists at path.", 1)
def builtin_exists(path: Any) -> Bool:
    return _files().exists(path)


FILE_FUNCTIONS = ("read_file", "read_lines", "write_file", "append_file", "list_dir", "exists")


# ---- the workflow namespace (`workflow.X(...)`, LANGUAGE.md section 9) -----------------------


@dataclass(frozen=True)
class Member:
    """A member of a namespace such as `workflow`: implemented by each session (it needs the
    memory store), documented here for the parser, the checker and the language server."""

    name: str
    signature: str
    doc: str
    min_args: int
    max_args: int


WORKFLOW_MEMBERS: dict[str, Member] = {
    m.name: m
    for m in (
        Member("run", "workflow.run(name: String, key?: String, f) -> Any",
               "Call f(run) as the durable run (name, key = \"default\"): an unfinished run "
               "resumes, a finished one returns its stored result without running.", 2, 3),
        Member("step", "workflow.step(run, name: String, g, options?) -> Any",
               "Run the zero-parameter g once per run; its result is stored before it returns. "
               "Options: retries, timeout (seconds).", 3, 4),
        Member("map", "workflow.map(run, name: String, xs, g, options?) -> List",
               "pmap with a checkpoint per element (index and hash of the element). Options: "
               "retries, timeout, concurrency.", 4, 5),
        Member("dag", "workflow.dag(run, steps: [Map]) -> Map",
               "Run steps {name, after: [names], run: deps => ...} once their dependencies are "
               "done, independent ones in parallel; a map of every step's result.", 2, 2),
        Member("approval", "workflow.approval(run, name: String, message?: String) -> String",
               "Wait for a person: ends the run as waiting until `zixir workflow approve`; "
               "then the reviewer's note.", 2, 3),
    )
}

# ---- the agent namespace (`agent.X(...)`, LANGUAGE.md section 9) ----------------------------

AGENT_MEMBERS: dict[str, Member] = {
    m.name: m
    for m in (
        Member("start", "agent.start(name: String, module: String, cls: String, args?: List, "
               "options?: Map) -> String",
               "Start module.cls(*args) as the agent name, in a supervised process of its own. "
               "Options: kwargs (map), restart (\"permanent\", \"transient\", \"temporary\"), "
               "checkpoint (\"call\", N calls, \"never\"). Returns the name.", 3, 5),
        Member("call", "agent.call(name: String, method: String, args?: List) -> Any",
               "Call a method of the agent, after the calls that arrived before (one at a time); "
               "a call made while it restarts waits for it.", 2, 3),
        Member("stop", "agent.stop(name: String) -> Bool",
               "Stop the agent (a call in flight fails); whether it was running.", 1, 1),
        Member("list", "agent.list() -> [Map]",
               "Every agent: {name, class, pid, status, restarts, calls, last_error}; status is "
               "running, restarting, failed or stopped.", 0, 0),
        Member("status", "agent.status(name: String) -> Map",
               "One agent as agent.list() shows it.", 1, 1),
    )
}
