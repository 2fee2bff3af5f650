"""The answers of docs/language.md to questions the language definition leaves open."""

from __future__ import annotations

import pytest

from zixir.lang.errors import ZixirRuntimeError, ZixirSyntaxError
from zixir.lang.session import Session


def run(source: str):
    return Session().eval(source)


def fails(source: str, error=ZixirRuntimeError) -> str:
    with pytest.raises(error) as info:
        run(source)
    return info.value.message


def test_closures_capture_each_iterations_binding():
    assert run("let fs = []\nfor i in 0..3 { fs = append(fs, () => i) }\nmap(fs, f => f())") \
        == [0, 1, 2]
    assert run("let fs = [() => x for x in [5, 6]]\nmap(fs, f => f())") == [5, 6]


def test_assigned_captures_stay_shared_with_the_loop():
    source = ("fn f() {\n  let total = 0\n  let add = nil\n  for i in 0..3 {\n"
              "    add = fn(n) { total = total + n }\n    add(i)\n  }\n  total\n}\nf()")
    assert run(source) == 3


def test_functions_are_defined_when_their_block_starts():
    assert run("let r = f(2)\nfn f(x) { x * 10 }\nr") == 20
    assert run("fn o() {\n  let r = g(2)\n  fn g(x) { x + 1 }\n  r\n}\no()") == 3
    assert run("fn a() { b() }\nfn b() { 2 }\na()") == 2


def test_inside_a_loop_a_function_exists_from_its_fn_line():
    assert fails("for i in 0..2 {\n  k()\n  fn k() { i }\n}") == "Undefined function: k"
    assert run("for i in 0..3 {\n  fn k() { i }\n  k()\n}") == 2


def test_let_bound_lambdas_recurse_only_at_top_level():
    assert run("let f = fn(n) { if n == 0: 0 else: n + f(n - 1) }\nf(4)") == 10
    assert fails("fn outer() {\n  let f = fn(n) { if n == 0: 0 else: f(n - 1) }\n  f(3)\n}\n"
                 "outer()") == "Undefined function: f"


@pytest.mark.parametrize("source", ["let xs = [1]\nxs[0] = 2", "let m = {a: 1}\nm.a = 2"])
def test_only_names_can_be_assigned(source):
    assert fails(source, ZixirSyntaxError).startswith("Invalid assignment target")


def test_ranges_equal_lists_and_have_their_own_type():
    assert run("[(0..3) == [0, 1, 2], [0, 1] == 0..2, type_of(0..3)]") == [True, True, "range"]


def test_comparisons_do_not_chain():
    assert fails("1 < 2 < 3") == "Invalid binary operation: bool < int"


def test_length_field_prefers_a_length_key():
    assert run('[{"length": 5}.length, {a: 1, b: 2}.length]') == [5, 2]


def test_duplicate_map_keys_keep_the_last():
    assert run("{a: 1, a: 2}") == {"a": 2}


def test_rounding_functions():
    assert run("[floor(2.7), ceil(2.1), round(2.5), round(3.5), round(2.675, 2)]") \
        == [2, 3, 2, 4, 2.67]
    assert [type(v) for v in run("[floor(2.7), round(1.25, 1)]")] == [int, float]


def test_conversions_accept_booleans_arithmetic_does_not():
    assert run("[int(true), float(false)]") == [1, 0.0]
    assert fails("true + 1").startswith("Invalid binary operation")


def test_loop_value_is_the_last_completed_body():
    assert run("for x in [1, 2, 3] { if x == 2 { break }\n x }") == 1
    assert run("while false { 1 }") is None


def test_break_inside_a_comprehension_is_a_syntax_error():
    assert "outside of a loop" in fails("for x in [1] { [break for y in [1]] }",
                                        ZixirSyntaxError)


def test_engine_op_without_call_is_a_function_value():
    assert run("map([[1.0, 2.0], [3.0]], engine.list_sum)") == [3.0, 3.0]


def test_python_values_convert_as_documented():
    from zixir.lang.values import from_python, to_python

    assert to_python(from_python((1, {2}, {3: True, False: None}))) \
        == [1, [2], {"3": True, "false": None}]
    with pytest.raises(ZixirRuntimeError, match="cannot convert a Python object"):
        from_python(object())


def test_pmap_keeps_order_and_raises_the_first_error_by_position():
    class Services:
        parallelism = 2

    session = Session(services=Services())
    assert session.eval("pmap(0..6, x => x * x)") == [0, 1, 4, 9, 16, 25]
    with pytest.raises(ZixirRuntimeError) as info:
        session.eval("pmap([1, 0, 2, 0], x => 10 / x)")
    assert info.value.message == "Division by zero"
