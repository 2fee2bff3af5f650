"""Values crossing between Python and Zixir through a real runtime: what a library returns
(sets, Decimal, numpy string arrays) and Zixir functions returned to Python, which are
callables; errors of the persistent session's functions after fresh evaluations."""

from __future__ import annotations

import gc
import textwrap

import pytest

import zixir
from zixir import Runtime, ZixirError, ZixirRuntimeError

LIBRARY = textwrap.dedent('''
    import decimal

    import numpy as np


    def a_set():
        return {3, 1, 2}


    def a_frozenset():
        return frozenset(["b", "a"])


    def a_mixed_set():
        return {1, "a"}


    def a_decimal():
        return decimal.Decimal("1.25")


    def strings():
        return np.array(["x", "yz"])


    def string_grid():
        return np.array([["a", "b"], ["c", "d"]])


    def an_object():
        return object()


    def call_twice(f, x):
        return f(f(x))
''')


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pyvalues")
    (directory / "valuelib.py").write_text(LIBRARY, encoding="utf-8")
    with Runtime(workers=1, paths=[str(directory)], log_level="off") as rt:
        yield rt


@pytest.mark.parametrize("function, expected", [
    ("a_set", [1, 2, 3]),
    ("a_frozenset", ["a", "b"]),
    ("a_decimal", 1.25),
    ("strings", ["x", "yz"]),
    ("string_grid", [["a", "b"], ["c", "d"]]),
])
def test_library_values_become_zixir_values(runtime, function, expected):
    source = f'let v = python "valuelib" "{function}" ()\n[v, type_of(v)]'
    value, kind = runtime.eval(source)
    assert value == expected
    assert kind == ("float" if function == "a_decimal" else "list")


def test_a_set_the_program_can_use(runtime):
    assert runtime.eval('sum(python "valuelib" "a_set" ())') == 6
    assert sorted(runtime.eval('python "valuelib" "a_mixed_set" ()'), key=str) == [1, "a"]


def test_a_value_without_a_zixir_form_is_not_blamed_on_the_function(runtime):
    with pytest.raises(ZixirRuntimeError) as info:
        runtime.eval('python "valuelib" "an_object" ()')
    err = info.value
    assert type(err) is ZixirRuntimeError  # not a PythonError: the function did not raise
    assert "cannot be returned to zixir" in err.message and "object" in err.message
    assert err.line == 1


def test_zixir_eval_returns_a_callable():
    double = zixir.eval("x => x * 2")
    assert callable(double)
    assert double(21) == 42
    assert double(1.5) == 3.0
    assert double.__name__ == "<lambda>"


def test_functions_close_over_the_persistent_session(runtime):
    runtime.eval("let base = 10")
    add = runtime.eval("fn add(x) { x + base }\nadd")
    assert add(5) == 15
    runtime.eval("base = 100")
    assert add(5) == 105
    pair = runtime.eval("[x => [x], {f: (a, b) => {sum: a + b}}]")
    assert pair[0](1) == [1]
    assert pair[1]["f"](3, 4) == {"sum": 7}


def test_calling_errors_are_typed(runtime):
    add = runtime.eval("fn add2(x) { x + 1 }\nadd2")
    with pytest.raises(ZixirRuntimeError) as info:
        add(1, 2)
    assert info.value.message == "Function add2 expects 1 arguments, got 2"
    failing = runtime.eval("x => 1 / x")
    with pytest.raises(ZixirRuntimeError) as info:
        failing(0)
    assert info.value.message == "Division by zero" and info.value.line == 1


def test_names_lists_the_sessions_bindings(runtime):
    runtime.eval("let my_total = 1\nfn my_helper(x) { x }")
    assert {"my_total", "my_helper"} <= set(runtime.names())
    assert "len" not in runtime.names()  # built-ins are not the session's


def test_an_argument_without_a_zixir_form_is_named(runtime):
    keep = runtime.eval("fn keep(x) { x }\nkeep")
    with pytest.raises(ZixirRuntimeError) as info:
        keep([1, {"f": print}])
    assert info.value.message.startswith(
        "cannot pass argument 1 of keep to Zixir: <built-in function print> is not a value")
    assert keep([1, {"f": (2, 3)}]) == [1, {"f": [2, 3]}]


def test_collected_functions_are_released_in_the_router(runtime):
    fns = [runtime.eval(f"x => x + {i}") for i in range(5)]
    assert [f(1) for f in fns] == [1, 2, 3, 4, 5]
    del fns
    gc.collect()
    runtime.eval("nil")  # the next request carries the releases
    assert runtime._released_functions == []


def test_a_function_outlives_nothing_after_close(tmp_path):
    with Runtime(workers=1, log_level="off") as rt:
        f = rt.eval("x => x")
        assert f(7) == 7
    with pytest.raises(ZixirError, match="runtime is closed"):
        f(1)


def test_a_fresh_evaluation_does_not_mix_up_the_persistent_sessions_programs(runtime):
    """An error in a function of the persistent session, raised after fresh evaluations
    compiled programs of their own, is translated with the function's own program."""
    runtime.eval("fn minus_true(x) { x - true }")
    for _ in range(3):
        assert runtime.eval("let y = [1, 2, 3]\ny[0] + 1", fresh=True) == 2
    assert zixir.eval("let z = 2\nz * 3") == 6
    with pytest.raises(ZixirRuntimeError) as info:
        runtime.eval("minus_true(1)")
    assert info.value.message == "Invalid binary operation: int - bool"
    assert (info.value.line, info.value.column) == (1, 20)
