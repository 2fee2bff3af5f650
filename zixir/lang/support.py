"""Helpers that compiled Zixir code calls: the slow paths of operators and the checks Python's
own operators do not make. Fast paths are inlined by the compiler; these run only when the
types call for it (string concatenation, a `%` on a string, a field lookup, a failed match).
"""

from __future__ import annotations

from typing import Any

from .errors import ZixirRuntimeError
from .values import FALSE, TRUE, Bool, ZList, ZRange, is_number, to_text, type_name

#: an integer power whose result would pass this many bits is refused rather than computed
#: (a typo such as `10 ** 10 ** 10` would otherwise run for hours and fill the memory)
MAX_POWER_BITS = 10_000_000


def invalid_binary(op: str, left: Any, right: Any) -> ZixirRuntimeError:
    return ZixirRuntimeError(
        f"Invalid binary operation: {type_name(left)} {op} {type_name(right)}")


def add(left: Any, right: Any) -> Any:
    """`+` after Python's own `+` raised: concatenation with a string on either side."""
    if type(left) is str:
        if type(right) is Bool or right is None or isinstance(right, (int, float, list, dict,
                                                                         ZRange, str)):
            return left + to_text(right)
    elif type(right) is str:
        if type(left) is Bool or left is None or isinstance(left, (int, float, list, dict,
                                                                   ZRange)):
            return to_text(left) + right
    if (type(left) in (int, float)) and (type(right) in (int, float)):
        return left + right  # only reachable on float overflow of a huge int: let it raise
    raise invalid_binary("+", left, right)


def check_mul(left: Any, right: Any) -> None:
    """Reached when an operand of `*` is a string: Python would repeat it, Zixir rejects it."""
    raise invalid_binary("*", left, right)


def check_mod(left: Any, right: Any) -> None:
    """Reached when the left operand of `%` is a string: Python would format it."""
    raise invalid_binary("%", left, right)


def iterate(value: Any):
    t = type(value)
    if t is ZList or t is list:
        return value
    if t is ZRange:
        return value._range
    if t is dict:
        return list(value)
    raise ZixirRuntimeError(f"For loop requires a list, range or map, got {type_name(value)}")


def while_condition(value: Any) -> bool:
    if value is TRUE:
        return True
    if value is FALSE:
        return False
    raise ZixirRuntimeError(f"While loop condition must be boolean, got {type_name(value)}")


def field(target: Any, name: str) -> Any:
    t = type(target)
    if t is dict:
        try:
            return target[name]
        except KeyError:
            if name == "length":
                return len(target)
            raise ZixirRuntimeError(f'Key not found: "{name}"') from None
    if name == "length" and (t is str or t is ZList or t is ZRange or t is list):
        return len(target)
    raise ZixirRuntimeError(f"Unknown field '{name}' on {type_name(target)}")


def is_list(value: Any) -> bool:
    t = type(value)
    return t is ZList or t is ZRange or t is list


def rest_of(value: Any, start: int) -> ZList:
    return ZList(list(value)[start:])


def no_match(value: Any) -> ZixirRuntimeError:
    text = to_text(value) if type(value) is not str else repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return ZixirRuntimeError(f"No matching clause found for {text}")


def make_range(start: Any, stop: Any) -> ZRange:
    if type(start) is not int or type(stop) is not int:
        raise ZixirRuntimeError(
            f"Invalid binary operation: range needs two integers, got {type_name(start)} .. "
            f"{type_name(stop)}")
    return ZRange(start, stop)


def power(base: Any, exponent: Any) -> Any:
    """`base ** exponent`: an integer when both are integers and the exponent is not negative
    (as in Python), otherwise a float; never a complex number."""
    if not (is_number(base) and is_number(exponent)):
        raise invalid_binary("**", base, exponent)
    if type(base) is int and type(exponent) is int and exponent >= 0:
        if abs(base) > 1 and exponent * base.bit_length() > MAX_POWER_BITS:
            raise ZixirRuntimeError("Invalid binary operation: int ** int result too large")
        return base**exponent
    try:
        result = float(base) ** float(exponent)
    except ZeroDivisionError:
        raise ZixirRuntimeError("Division by zero") from None
    except OverflowError:
        raise ZixirRuntimeError("Invalid binary operation: ** result too large for a float") \
            from None
    if isinstance(result, complex):
        raise ZixirRuntimeError(
            f"Invalid binary operation: {to_text(base)} ** {to_text(exponent)} is not a real "
            f"number")
    return result
