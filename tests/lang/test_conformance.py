"""Every case of the shared conformance corpus, evaluated through `zixir.eval`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import zixir

CASES = [json.loads(line) for line in
         (Path(__file__).parent.parent / "cases.jsonl").read_text(encoding="utf-8").splitlines()
         if line.strip()]


def same(actual, expected) -> bool:
    """Equality with the corpus rules: int is not float, bool is not a number."""
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, int):
        return type(actual) is int and actual == expected
    if isinstance(expected, float):
        return type(actual) is float and (
            actual == expected or math.isclose(actual, expected, rel_tol=1e-12))
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(same(a, e) for a, e in zip(actual, expected, strict=True)))
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and actual.keys() == expected.keys()
                and all(same(actual[k], v) for k, v in expected.items()))
    raise AssertionError(f"unexpected JSON value {expected!r}")


def _run(case):
    if "expect" in case:
        value = zixir.eval(case["source"])
        assert same(value, case["expect"]), f"got {value!r}, expected {case['expect']!r}"
    else:
        with pytest.raises(zixir.ZixirError) as info:
            zixir.eval(case["source"])
        assert case["error"].lower() in info.value.message.lower(), info.value.message


@pytest.mark.timeout(20)
@pytest.mark.parametrize("case", [c for c in CASES if "needs" not in c], ids=lambda c: c["id"])
def test_case(case):
    _run(case)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", [c for c in CASES if c.get("needs") == "python"],
                         ids=lambda c: c["id"])
def test_case_with_python(case):
    _run(case)
