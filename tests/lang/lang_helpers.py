"""Helpers shared by the language tests: evaluate in a fresh session, expect an error, and
compare values telling int from float from bool."""

from __future__ import annotations

import math

import pytest

from zixir.lang.errors import ZixirError
from zixir.lang.session import Session


def run(source: str):
    return Session().eval(source)


def fails(source: str, cls: type[ZixirError] = ZixirError) -> ZixirError:
    with pytest.raises(cls) as info:
        run(source)
    return info.value


def same(actual, expected, *, key_order: bool = False) -> bool:
    """Equality that tells int from float from bool, recursively (NaN equals NaN); with
    `key_order`, maps must also list their keys in the same order."""
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(
            same(a, e, key_order=key_order) for a, e in zip(actual, expected, strict=True))
    if isinstance(expected, dict):
        keys_match = (list(actual) == list(expected)) if key_order else (
            actual.keys() == expected.keys())
        return keys_match and all(
            same(actual[k], v, key_order=key_order) for k, v in expected.items())
    if isinstance(expected, float) and math.isnan(expected):
        return math.isnan(actual)
    return actual == expected
