"""Run-time meaning of Zixir programs (LANGUAGE.md sections 2 to 5), beyond the corpus."""

from __future__ import annotations

import math
import textwrap

import pytest
from lang_helpers import fails, run, same

from zixir.lang.errors import ZixirError, ZixirRuntimeError, ZixirSyntaxError
from zixir.lang.session import Session


def check(source: str, expected) -> None:
    value = run(source)
    assert same(value, expected), f"{source!r}: got {value!r}, expected {expected!r}"


def program(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


# ---- integers and floats -------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("2 + 3", 5),
    ("2 + 3.0", 5.0),
    ("2.5 - 0.5", 2.0),
    ("7 - 10", -3),
    ("4 * 2", 8),
    ("4 * 2.0", 8.0),
    ("6 / 3", 2.0),
    ("7 / 2", 3.5),
    ("-7 / 2", -3.5),
    ("1.0 / 4", 0.25),
    ("7 % 3", 1),
    ("-7 % 3", 2),
    ("7 % -3", -2),
    ("-7 % -3", -1),
    ("7.5 % 2", 1.5),
    ("-7.5 % 2", 0.5),
    ("7 % 2.5", 2.0),
    ("0 % 5", 0),
    ("2 * 99999999999999999999", 199999999999999999998),
    ("99999999999999999999 - 99999999999999999998", 1),
    ("0.1 + 0.2", 0.1 + 0.2),
    ("1e308 * 10", math.inf),
])
def test_int_and_float_arithmetic(source, expected):
    check(source, expected)


@pytest.mark.parametrize("source", [
    "1 / 0", "1 / 0.0", "1.0 / 0", "0 / 0", "1 % 0", "1 % 0.0", "2.5 % 0",
    "let z = 0\n5 / z", "let x = 5\nx /= 0", "fn f(d): 10 % d\nf(0)",
])
def test_division_by_zero(source):
    err = fails(source, ZixirRuntimeError)
    assert "Division by zero" in err.message


def test_slash_always_gives_float():
    for source in ("10 / 5", "0 / 1", "-4 / 2", "99999999999999999998 / 2"):
        assert type(run(source)) is float, source


@pytest.mark.parametrize("source, expected", [
    ('"n = " + 5', "n = 5"),
    ('5 + " apples"', "5 apples"),
    ('"x" + 2.5', "x2.5"),
    ('"x" + 18.0', "x18.0"),
    ('"" + (0.1 + 0.2)', "0.30000000000000004"),
    ('"" + 1e100', "1e+100"),
    ('"v: " + nil', "v: nil"),
    ('"v: " + true', "v: true"),
    ('false + "!"', "false!"),
    ('"l: " + [1, "a", nil]', 'l: [1, "a", nil]'),
    ('"m: " + {"k": 1}', 'm: {"k": 1}'),
    ('"r: " + (0..3)', "r: [0, 1, 2]"),
    ('1 + 2 + "x"', "3x"),
    ('"x" + 1 + 2', "x12"),
    ('"a" + "b" + "c"', "abc"),
])
def test_string_plus_converts_the_other_side(source, expected):
    check(source, expected)


@pytest.mark.parametrize("source", [
    '"a" * 3', '3 * "a"', '"a" - "b"', '"a" / 2', '"%d" % 5', "[1] + [2]", "[1] * 2",
    "true + 1", "1 + false", "nil + 1", "nil - nil", '{"a": 1} + {"b": 2}', "true * 2",
    "[1] - [1]", "{} * 2", "(0..2) + (0..2)",
])
def test_invalid_binary_operation(source):
    err = fails(source, ZixirRuntimeError)
    assert "Invalid binary operation" in err.message


@pytest.mark.parametrize("source", ['-"a"', "-nil", "-true", "-[1]", '-{"a": 1}'])
def test_invalid_unary_operation(source):
    err = fails(source, ZixirRuntimeError)
    assert "Invalid unary operation" in err.message


@pytest.mark.parametrize("source, expected", [
    ("!0", False), ("!nil", True), ("!false", True), ('!""', False), ("![]", False),
    ("not 5", False), ("not nil", True), ("!{}", False),
])
def test_not_returns_boolean_from_truthiness(source, expected):
    check(source, expected)


# ---- comparisons and equality -------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("1 < 2.5", True),
    ("2.5 <= 2", False),
    ('"a" < "b"', True),
    ('"B" < "a"', True),
    ('"abc" < "abd"', True),
    ('"" < "a"', True),
    ('"b" >= "b"', True),
    ("-1 > -2", True),
    ("99999999999999999999 > 1e3", True),
])
def test_ordering_on_numbers_and_strings(source, expected):
    check(source, expected)


@pytest.mark.parametrize("source", [
    '1 < "a"', '"a" >= 1', "[1] < [2]", "nil < 1", "true < false", "{} < {}", "nil <= nil",
    "(0..1) < (0..2)", "true > 0",
])
def test_ordering_on_anything_else_is_invalid(source):
    err = fails(source, ZixirRuntimeError)
    assert "Invalid binary operation" in err.message


@pytest.mark.parametrize("source, expected", [
    ("1 == 1.0", True),
    ("[1] == [1.0]", True),
    ("[1, [2, 3]] == [1.0, [2.0, 3]]", True),
    ('{"a": [1]} == {"a": [1.0]}', True),
    ('{"a": 1, "b": 2} == {"b": 2, "a": 1}', True),
    ('{"a": 1} == {"a": 1, "b": 2}', False),
    ('{"a": 1} != {"a": 2}', True),
    ("true == 1", False),
    ("false == 0", False),
    ("1 == true", False),
    ("[true] == [1]", False),
    ("nil == false", False),
    ("nil == nil", True),
    ('1 == "1"', False),
    ('"a" == "a"', True),
    ("[] == []", True),
    ("{} == {}", True),
    ("[] == {}", False),
    ("0..3 == [0, 1, 2]", True),
    ("0..3 == 0..3", True),
    ("[1, 2] != [1, 2, 3]", True),
    ("fn f(): 1\nf == f", True),
    ("0.1 + 0.2 == 0.3", False),
    ("-0.0 == 0", True),
])
def test_structural_equality(source, expected):
    check(source, expected)


# ---- truthiness ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, truthy", [
    ("false", False), ("nil", False), ("true", True), ("0", True), ("0.0", True), ('""', True),
    ("[]", True), ("{}", True), ("0..0", True), ("x => x", True), ('"false"', True),
])
def test_truthiness(value, truthy):
    expected = "t" if truthy else "f"
    check(f'if {value}: "t" else: "f"', expected)
    check(f'let v = {value}\nif v {{ "t" }} else {{ "f" }}', expected)
    check(f"bool({value})", truthy)


@pytest.mark.parametrize("source, expected", [
    ('nil or "x"', "x"),
    ("0 or 1", 0),
    ('"" || "d"', ""),
    ("false or nil", None),
    ("1 and nil", None),
    ("[] and 2", 2),
    ("nil and undefined_name", None),
    ("true or undefined_name", True),
    ("false && (1 / 0)", False),
    ("1 || (1 / 0)", 1),
])
def test_logical_operators_short_circuit_and_return_operand(source, expected):
    check(source, expected)


def test_logical_operator_evaluates_right_side_when_needed():
    fails("false || undefined_name", ZixirRuntimeError)
    fails("true && (1 / 0)", ZixirRuntimeError)


# ---- indexing and fields -----------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("let xs = [1, 2, 3]\nxs[0]", 1),
    ("let xs = [1, 2, 3]\nxs[-1]", 3),
    ("let xs = [1, 2, 3]\nxs[-3]", 1),
    ('let m = {"a": 1, "b c": 2}\nm["b c"]', 2),
    ('let m = {"a": {"b": [5, 6]}}\nm["a"]["b"][1]', 6),
    ('"hello"[1]', "e"),
    ('"hello"[-1]', "o"),
    ('"héllo"[1]', "é"),
    ("(0..10)[3]", 3),
    ("(0..10)[-1]", 9),
    ("let i = 1\n[10, 20, 30][i + 1]", 30),
])
def test_indexing(source, expected):
    check(source, expected)


@pytest.mark.parametrize("source, fragment", [
    ("let xs = [1, 2, 3]\nxs[3]", "out of range"),
    ("let xs = [1, 2, 3]\nxs[-4]", "out of range"),
    ("[][0]", "out of range"),
    ('"abc"[3]', "out of range"),
    ('let m = {"a": 1}\nm["b"]', "b"),
    ('{"a": 1}["zzz"]', "zzz"),
    ("let xs = [1]\nxs[1.0]", "integer"),
    ('let s = "abc"\ns["x"]', "integer"),
    ("let n = 5\nn[0]", "int"),
    ("let n = nil\nn[0]", "nil"),
])
def test_indexing_errors(source, fragment):
    err = fails(source, ZixirRuntimeError)
    assert fragment.lower() in err.message.lower()


@pytest.mark.parametrize("source, expected", [
    ("[1, 2, 3].length", 3),
    ("[].length", 0),
    ('"héllo".length', 5),
    ('"".length', 0),
    ('{"a": 1, "b": 2}.length', 2),
    ("(0..4).length", 4),
    ('let p = {"name": "zx", "age": 3}\np.age + 1', 4),
    ('let p = {"in": {"deep": {"er": 9}}}\np.in.deep.er', 9),
    ('fn mk(): {"x": 1}\nmk().x', 1),
    ('let p = {"if": 1, "match": 2}\np.if + p.match', 3),
])
def test_fields(source, expected):
    check(source, expected)


@pytest.mark.parametrize("source", [
    'let p = {"a": 1}\np.b',
    "let n = 5\nn.foo",
    '"abc".foo',
    "[1].first",
    "nil.x",
])
def test_field_errors(source):
    fails(source, ZixirRuntimeError)


def test_missing_field_error_names_the_key():
    err = fails('let p = {"a": 1}\np.missing_key', ZixirRuntimeError)
    assert "missing_key" in err.message


# ---- let, blocks and assignment ----------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ('let x = 1\nlet x = "s"\nx', "s"),
    ("let x = 1\nlet x = x + 1\nlet x = x * 10\nx", 20),
    ("let x = 1\nif true { let x = 2 }\nx", 1),
    ("let x = 1\nif true { let x = 2; x = 3 }\nx", 1),
    ("let x = 1\nif true { let y = 2; x = y }\nx", 2),
    ("let x = 1\nif true:\n  let x = 2\n  x = 5\nx", 1),
    ("let x = 1\nfn f() { let x = 2; x }\n[f(), x]", [2, 1]),
    ("let x = 1\nlet y = if true { let x = 10; x + 1 } else { 0 }\n[x, y]", [1, 11]),
    ("let x = 1\nmatch 5 { x => x }\nx", 1),
    ("let x = 1\nfor x in [7, 8] { x }\nx", 1),
    ("let x = 1\nlet y = [x for x in [7, 8]]\n[x, y]", [1, [7, 8]]),
])
def test_let_shadowing_and_block_scope(source, expected):
    check(source, expected)


@pytest.mark.parametrize("source", [
    "if true { let inner = 1 }\ninner",
    "for i in [1] { let inner = 5 }\ninner",
    "let i = 0\nwhile i < 1 { let inner = 5; i += 1 }\ninner",
    "fn f() { let local = 1 }\nf()\nlocal",
    "for i in [1, 2] { i }\ni",
    "[x for x in [1, 2]]\nx",
    "match [1] { [z] => z }\nz",
    "fn f(param) { param }\nf(1)\nparam",
])
def test_bindings_stay_inside_their_block(source):
    err = fails(source, ZixirRuntimeError)
    assert "Undefined variable" in err.message


@pytest.mark.parametrize("source, expected", [
    ("let x = 1\nx = 5\nx", 5),
    ("let x = 1\nif true { x = 3 }\nx", 3),
    ("let x = 1\nif true:\n  if true:\n    x = 4\nx", 4),
    ("let t = 0\nfor i in 1..4 { t = t + i }\nt", 6),
    ("let t = 0\nlet i = 0\nwhile i < 4 { i += 1; t += i }\nt", 10),
    ("let g = 0\nfn bump() { g += 1 }\nbump()\nbump()\ng", 2),
    ("let x = 1\nlet f = fn() { x = x + 10 }\nf()\nf()\nx", 21),
    ("fn outer() {\n  let n = 0\n  fn inner() { fn deeper() { n += 5 }; deeper() }\n  inner()\n"
     "  inner()\n  n\n}\nouter()", 10),
    ("let x = 10\nx += 5\nx -= 3\nx *= 2\nx /= 4\nx", 6.0),
    ("let x = 6\nx /= 4\nx", 1.5),
    ("let x = 2\nx -= 5\nx *= 3\nx", -9),
    ('let s = "a"\ns += "b"\ns += 1\ns', "ab1"),
    ("let x = 1\nmatch 1 { 1 => { x = 9 } }\nx", 9),
])
def test_assignment_reaches_outward(source, expected):
    check(source, expected)


@pytest.mark.parametrize("source", ["y = 5", "y += 1", "y -= 1", "y *= 2", "y /= 2",
                                    "fn f() { q = 1 }\nf()", "if true { w = 1 }"])
def test_assignment_to_undefined_name(source):
    err = fails(source, ZixirRuntimeError)
    assert "Undefined variable" in err.message


def test_assignment_to_undefined_names_the_variable():
    err = fails("let a = 1\nnot_there = 2", ZixirRuntimeError)
    assert "Undefined variable: not_there" in err.message


def test_assignment_target_must_be_a_name():
    fails("let xs = [1]\nxs[0] = 2", ZixirSyntaxError)
    fails("1 = 2", ZixirSyntaxError)


# ---- functions and closures ----------------------------------------------------------------------

def test_counter_closure_mutates_captured_variable():
    check(program("""
        fn counter() {
          let n = 0
          fn() { n += 1; n }
        }
        let c = counter()
        let d = counter()
        c(); c()
        [c(), d(), c(), d()]
    """), [3, 1, 4, 2])


def test_make_adder():
    check(program("""
        fn make_adder(n) { x => x + n }
        let add5 = make_adder(5)
        let add10 = make_adder(10)
        [add5(1), add10(1), make_adder(-1)(1)]
    """), [6, 11, 0])


def test_closures_see_later_assignments_of_captured_variables():
    check(program("""
        let base = 1
        let f = () => base * 10
        base = 4
        f()
    """), 40)


def test_closure_over_loop_variable_captures_each_iteration_in_a_function():
    check(program("""
        fn make() {
          let fs = []
          for i in 0..3 { fs = append(fs, () => i) }
          map(fs, f => f())
        }
        make()
    """), [0, 1, 2])


def test_closure_over_loop_variable_captures_each_iteration_at_top_level():
    # each iteration's variable is its own binding (it exists only inside the loop), so a
    # closure made in iteration i sees i; the top level must behave as a function body does
    check(program("""
        let fs = []
        for i in 0..3 { fs = append(fs, () => i) }
        map(fs, f => f())
    """), [0, 1, 2])


def test_closure_over_comprehension_variable_captures_each_element():
    check("let fs = [(() => i) for i in 0..3]\nmap(fs, f => f())", [0, 1, 2])
    check("fn mk() { [(() => i) for i in 0..3] }\nmap(mk(), f => f())", [0, 1, 2])


def test_closure_over_let_inside_loop_body():
    check(program("""
        let fs = []
        for i in 0..3 { let j = i * 10; fs = append(fs, () => j) }
        map(fs, f => f())
    """), [0, 10, 20])


@pytest.mark.parametrize("source, expected", [
    ("let f = fn(x): x * 2\nf(4)", 8),
    ("let f = fn(x: Int) -> Int: x * 2\nf(4)", 8),
    ("let f = fn(x) { let y = x; y * 3 }\nf(4)", 12),
    ("let f = x => x * 2\nf(4)", 8),
    ("let f = (a, b) => a + b\nf(1, 2)", 3),
    ("let f = (a) => a - 1\nf(1)", 0),
    ("let h = () => 1\nh()", 1),
    ("let g = x => { return x * 2; 0 }\ng(4)", 8),
    ("let k = x => y => x - y\nk(10)(3)", 7),
    ("(x => x + 1)(1)", 2),
    ("(fn(x): x + 1)(1)", 2),
    ("map([1, 2], fn(x) { x * x })", [1, 4]),
    ("map([1, 2], str)", ["1", "2"]),
    ("let f = len\nf([1, 2])", 2),
    ("let ops = [x => x + 1, x => x * 2]\nops[1](5)", 10),
    ("fn apply(f, x): f(x)\napply(x => x * 3, 3)", 9),
    ("1 |> fn(x): x + 1", 2),
])
def test_lambdas(source, expected):
    check(source, expected)


def test_lambda_is_a_value():
    assert callable(run("(a, b) => a + b"))
    check("type_of(x => x)", "function")
    check("fn f(): 1\ntype_of(f)", "function")


def test_top_level_functions_refer_to_each_other_in_any_order():
    check(program("""
        fn a(n) { if n == 0 { "a" } else { b(n - 1) } }
        fn b(n) { if n == 0 { "b" } else { a(n - 1) } }
        [a(3), a(4)]
    """), ["b", "a"])


def test_function_sees_global_defined_later():
    check("fn f(): late * 2\nlet late = 21\nf()", 42)


def test_fn_definition_value_is_the_function():
    assert callable(run("fn f(x): x"))


def test_types_are_not_converted_at_run_time():
    check('fn f(x: Int) -> Int: x\nf("s")', "s")
    check("fn f(x: Float) -> Float: x\nf(2)", 2)


@pytest.mark.timeout(60)
def test_recursion_depth_50000():
    check("fn s(n): if n == 0: 0 else: 1 + s(n - 1)\ns(50000)", 50000)


@pytest.mark.timeout(60)
def test_deep_recursion_with_block_bodies_and_closures():
    check(program("""
        fn count(n) {
          if n == 0 { return 0 }
          let f = () => 1
          f() + count(n - 1)
        }
        count(50000)
    """), 50000)


@pytest.mark.timeout(60)
def test_deep_mutual_recursion():
    check(program("""
        fn ev(n): if n == 0: true else: od(n - 1)
        fn od(n): if n == 0: false else: ev(n - 1)
        ev(50000)
    """), True)


@pytest.mark.timeout(120)
def test_infinite_recursion_is_a_clear_error_and_the_session_survives():
    session = Session()
    with pytest.raises(ZixirRuntimeError) as info:
        session.eval("fn f(n): f(n + 1)\nf(0)")
    message = info.value.message.lower()
    assert "recursion" in message or "stack" in message
    assert info.value.line == 1
    assert session.eval("f") is not None
    assert session.eval("1 + 1") == 2


# ---- return, break, continue ----------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("fn f() { return 1; 2 }\nf()", 1),
    ("fn f() { return }\nf()", None),
    ("fn f(x) { if x > 0 { return \"pos\" }\n\"other\" }\n[f(1), f(-1)]", ["pos", "other"]),
    ("fn f(xs) {\n  for x in xs { if x == 3 { return x * 100 } }\n  -1\n}\n[f([1, 3]), f([1])]",
     [300, -1]),
    ("fn f() {\n  for i in 0..5 {\n    for j in 0..5 {\n      if i * j == 6 { return [i, j] }\n"
     "    }\n  }\n  nil\n}\nf()", [2, 3]),
    ("fn f() {\n  let i = 0\n  while true { i += 1; if i == 7 { return i } }\n}\nf()", 7),
    ("fn f():\n  for x in [5, 6]:\n    return x\n  0\nf()", 5),
    ("return 5\n6", 5),
    ("let x = 1\nreturn x + 1\nx = 100", 2),
    ("fn f() { [1, 2] |> map(x => { return x * 10 }) }\nf()", [10, 20]),
])
def test_return(source, expected):
    check(source, expected)


def test_return_at_top_level_stops_the_program(capsys):
    check('println("before")\nreturn 1\nprintln("after")', 1)
    assert capsys.readouterr().out == "before\n"


@pytest.mark.parametrize("source, expected", [
    ("let out = []\nfor i in 0..3 {\n  for j in 0..3 {\n    if j == 1 { continue }\n"
     "    if i == 2 { break }\n    out = append(out, [i, j])\n  }\n}\nout",
     [[0, 0], [0, 2], [1, 0], [1, 2]]),
    ("let i = 0\nwhile true {\n  i += 1\n  if i >= 5 { break }\n}\ni", 5),
    ("let i = 0\nlet s = 0\nwhile i < 10 {\n  i += 1\n  if i % 2 == 0 { continue }\n  s += i\n}\ns",
     25),
    ("let n = 0\nfor x in 0..100 { if x == 4 { break }; n += 1 }\nn", 4),
    ("let n = 0\nfor x in 0..10 { if x < 8 { continue }; n += x }\nn", 17),
    ("let hits = 0\nfor a in 0..3 {\n  let b = 0\n  while true {\n    b += 1\n"
     "    if b > a { break }\n    hits += 1\n  }\n}\nhits", 3),
])
def test_break_and_continue(source, expected):
    check(source, expected)


@pytest.mark.parametrize("source", ["break", "continue", "fn f() { break }\nf()",
                                    "for x in [1] { fn g() { continue } }"])
def test_break_outside_loop_is_rejected(source):
    fails(source, ZixirError)


# ---- if ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("if true: 1 else: 2", 1),
    ("if false: 1 else: 2", 2),
    ("if true { 1 } else { 2 }", 1),
    ("if true then 1 else 2", 1),
    ("if false then 1 else 2", 2),
    ("if false then 1", None),
    ("if false: 1", None),
    ("if false { 1 }", None),
    ("if false: 1 else if false: 2 else: 3", 3),
    ("if false { 1 } else if true { 2 } else { 3 }", 2),
    ("if false then 1 else if true then 2 else 3", 2),
    ("let x = 7\nlet size = if x > 5 { \"big\" } else { \"small\" }\nsize", "big"),
    ("1 + (if true then 2 else 3)", 3),
    ("[if true: 1 else: 2, if false: 1 else: 2]", [1, 2]),
    ("fn f(a): a\nf(if 0 { \"t\" } else { \"f\" })", "t"),
    ("fn sign(x) {\n  if x > 0 {\n    1\n  } else if x < 0 {\n    -1\n  } else {\n    0\n  }\n}\n"
     "[sign(5), sign(-5), sign(0)]", [1, -1, 0]),
    ("if true {\n  let a = 1\n  let b = 2\n  a + b\n}", 3),
    ("if nil { 1 } else { }", None),
])
def test_if_forms(source, expected):
    check(source, expected)


def test_if_only_evaluates_the_chosen_branch():
    check("if true { 1 } else { undefined_thing }", 1)
    check("if false { 1 / 0 } else { 2 }", 2)


# ---- match ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    # literals
    ('match 5 { 5 => "five", _ => "other" }', "five"),
    ('match "s" { "s" => 1, _ => 2 }', 1),
    ('match -1 { -1 => "neg", _ => "other" }', "neg"),
    ('match -2.5 { -2.5 => "yes", _ => "no" }', "yes"),
    ('match nil { nil => "nil", _ => "other" }', "nil"),
    ('match false { nil => "nil", false => "false" }', "false"),
    ('match 1.0 { 1 => "one", _ => "other" }', "one"),
    ('match 1 { 1.0 => "one", _ => "other" }', "one"),
    ('match true { 1 => "one", _ => "other" }', "other"),
    ('match 0 { false => "f", nil => "n", _ => "other" }', "other"),
    # wildcard and names
    ('match 42 { 1 => "one", _ => "other" }', "other"),
    ("match 5 { n => n * 2 }", 10),
    ("let n = 1\nmatch 5 { n => n * 2 }", 10),
    # lists
    ("match [] { [] => \"empty\", _ => \"no\" }", "empty"),
    ("match [1, 2] { [a] => a, [a, b] => a * b }", 2),
    ("match [1, 2] { [1, 2, 3] => \"three\", [1, 2] => \"two\" }", "two"),
    ("match [1, 2, 3] { [a, ...rest] => rest, _ => 0 }", [2, 3]),
    ("match [1, 2] { [a, b, ...rest] => rest, _ => \"short\" }", []),
    ("match [1] { [a, b, ...rest] => rest, _ => \"short\" }", "short"),
    ("match [1] { [...all] => all }", [1]),
    ("match [7, 8] { [1, x] => x, [7, x] => x + 100 }", 108),
    ("match 1 { [] => \"list\", _ => \"not list\" }", "not list"),
    ('match "abc" { [a, ...r] => "list", _ => "str" }', "str"),
    ("match 0..3 { [a, b, c] => a + b + c }", 3),
    # nested
    ("match [[1, 2], 3] { [[a, b], c] => a + b + c }", 6),
    ('match {"k": {"n": [1, 2]}} { {"k": {"n": [_, y]}} => y }', 2),
    ('match [{"t": "add", "v": [1, 2]}] { [{"t": "add", "v": [a, b]}] => a + b }', 3),
    # maps: at least the listed keys
    ('match {"a": 1, "b": 2} { {"a": x} => x, _ => 0 }', 1),
    ('match {"b": 2} { {"a": x} => x, _ => "nokey" }', "nokey"),
    ('match {"a": 1} { {"a": 2} => "two", {"a": 1} => "one" }', "one"),
    ('match {"a": 1, "b": 2} { {a: x, b: y} => x + y }', 3),
    ('match [1] { {"a": x} => "map", _ => "not map" }', "not map"),
    ('match {"a": nil} { {"a": nil} => "has nil", _ => "no" }', "has nil"),
    # guards
    ("match 5 { n if n > 3 => n * 10, _ => 0 }", 50),
    ("match 2 { n if n > 3 => n * 10, _ => 0 }", 0),
    ('match [1, 2] { [x, y] if x < y => "asc", _ => "other" }', "asc"),
    ('match [2, 1] { [x, y] if x < y => "asc", _ => "other" }', "other"),
    ('match [3, 3] { [a, b] if a == b => "pair", _ => "no" }', "pair"),
    ('match {"n": 7} { {"n": n} if n % 2 == 1 => "odd", _ => "even" }', "odd"),
    # comparison patterns are guards evaluated in the enclosing scope
    ('let x = 5\nmatch x { x == 5 => "five", _ => "other" }', "five"),
    ('let x = 2\nmatch 99 { x < 3 => "guard true", _ => "no" }', "guard true"),
    ('let x = 9\nmatch 1 { x < 3 => "small", _ => "big" }', "big"),
    # arrows, separators, bodies
    ('match 5 {\n  5 -> "five",\n  _ -> "other"\n}', "five"),
    ('match 2 {\n  1 => "one"\n  2 => "two"\n  _ => "many"\n}', "two"),
    ('match 2 { 1 => "a", 2 => "b", }', "b"),
    ("match 1 {\n  1 => {\n    let y = 10\n    y * 2\n  },\n  _ => 0\n}", 20),
    ('match 5:\n  1 => "one"\n  5 => "five"\n  _ => "other"', "five"),
    ("fn f(x):\n  match x:\n    [a, b] -> a + b\n    _ -> 0\n[f([2, 3]), f(1)]", [5, 0]),
    ("match 1 + 1 { 2 => \"two\", _ => \"no\" }", "two"),
    ("let r = match 3 { 3 => 30, _ => 0 } + 1\nr", 31),
])
def test_match(source, expected):
    check(source, expected)


def test_match_empty_map_pattern_matches_any_map():
    # a map pattern matches a map with at least the listed keys: `{}` lists none
    check('match {"a": 1} { {} => "any map" }', "any map")
    check('match [1] { {} => "map", _ => "not map" }', "not map")


def test_match_arm_bindings_live_only_in_their_arm():
    err = fails("match [1, 2] { [a, b] => a }\nb", ZixirRuntimeError)
    assert "Undefined variable: b" in err.message
    check("let a = 100\nmatch [1] { [a] => a }\na", 100)


def test_match_arms_are_tried_in_order_and_only_one_body_runs(capsys):
    check('match 1 { 1 => println("first"), _ => println("second") }', None)
    assert capsys.readouterr().out == "first\n"


@pytest.mark.parametrize("source", [
    'match 5 { 1 => "a" }',
    "match [1, 2] { [a] => a }",
    'match {"b": 1} { {"a": x} => x }',
    "match 2 { n if n > 5 => n }",
    "fn f(x) { match x { 0 => 1 } }\nf(3)",
])
def test_no_matching_clause(source):
    err = fails(source, ZixirRuntimeError)
    assert "No matching clause found" in err.message


# ---- for, while ------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("for x in [1, 2, 3] { x * 10 }", 30),
    ("for x in 0..4 { x }", 3),
    ('for k in {"a": 1, "b": 2} { k }', "b"),
    ('let ks = []\nfor k in {"a": 1, "b": 2} { ks = append(ks, k) }\nks', ["a", "b"]),
    ("for x in [] { x }", None),
    ("for x in 0..0 { 1 }", None),
    ("let t = 0\nfor x in range(4) { t += x }\nt", 6),
    ("while false { 1 }", None),
    ("let i = 0\nwhile i < 3 { i += 1; i * 100 }", 300),
    ("let c = 0\nwhile c < 3 { c += 1 }", 3),
    ("let t = 0\nfor row in [[1, 2], [3]] { for v in row { t += v } }\nt", 6),
])
def test_loops_and_their_values(source, expected):
    check(source, expected)


@pytest.mark.parametrize("source", ["for x in 5: x", 'for c in "abc" { c }', "for x in nil { x }",
                                    "for x in true { x }", "[x for x in 5]"])
def test_for_requires_a_list(source):
    err = fails(source, ZixirRuntimeError)
    assert "For loop requires a list" in err.message


@pytest.mark.parametrize("source", ["while 1 { 2 }", "while nil { 1 }", 'while "s" { 1 }',
                                    "while [] { 1 }", "let i = 0\nwhile i { i += 1 }",
                                    "let i = 0\nwhile i < 2 { i += 1 }\nwhile i { 1 }"])
def test_while_condition_must_be_boolean(source):
    err = fails(source, ZixirRuntimeError)
    assert "While loop condition must be boolean" in err.message


def test_while_condition_checked_on_every_iteration():
    err = fails("let c = true\nlet n = 0\nwhile c { n += 1; if n == 3 { c = 1 } }",
                ZixirRuntimeError)
    assert "While loop condition must be boolean" in err.message


# ---- comprehensions ----------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("[x * x for x in [1, 2, 3]]", [1, 4, 9]),
    ("[x * 2 for x in 0..5 if x % 2 == 0]", [0, 4, 8]),
    ('[k for k in {"a": 1, "b": 2}]', ["a", "b"]),
    ("[x for x in []]", []),
    ("[x for x in [1, 2] if false]", []),
    ("let n = 10\n[x + n for x in [1, 2] if x > n - 10]", [11, 12]),
    ("[[y for y in 0..x] for x in 1..4]", [[0], [0, 1], [0, 1, 2]]),
    ("[str(x) for x in [1, nil, true]]", ["1", "nil", "true"]),
    ("fn f(xs): [x + 1 for x in xs if x != 2]\nf([1, 2, 3])", [2, 4]),
    ("let x = 99\n[x for x in [1, 2, 3]]\nx", 99),
    ("[\n  x * 10\n  for x in [1, 2]\n  if x > 1\n]", [20]),
])
def test_comprehensions(source, expected):
    check(source, expected)


# ---- pipes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("fn add(a, b): a + b\n3 |> add(4)", 7),
    ("fn sub(a, b): a - b\n3 |> sub(4)", -1),
    ("fn inc(a): a + 1\n3 |> inc", 4),
    ("fn inc(a): a + 1\n3 |> inc()", 4),
    ("[1, 2, 3] |> map(x => x * 2) |> sum()", 12),
    ("[3, 1, 2] |> sort |> reverse", [3, 2, 1]),
    ("[1, 2, 3, 4] |> filter(x => x % 2 == 0) |> map(str) |> join(\"+\")", "2+4"),
    ("[1.0, 2.0] |> list_sum()", 3.0),
    ("[1.0, 2.0] |> engine.list_sum()", 3.0),
    ("let f = x => x * 3\n2 |> f", 6),
    ("2 |> (x => x * 5)", 10),
    ('"a,b" |> split(",") |> len', 2),
    ("0..4 |> reduce((a, x) => a + x, 0)", 6),
])
def test_pipes(source, expected):
    check(source, expected)


# ---- program values, type aliases --------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("", None),
    ("let x = 5", 5),
    ("fn f(): 1\nf()", 1),
    ("type Point = {Float}", None),
    ("type Pair = [Int]", None),
    ("type F = (Int, Int) -> Int", None),
    ("type N = Int\nfn f(x: N) -> N: x + 1\nf(1)", 2),
    ("type Grid = [[Float]]\nlet g: Grid = [[1.0]]\ng", [[1.0]]),
    ("let x: Int = 3\nx", 3),
    ("let f: (Int) -> Int = x => x\nf(2)", 2),
    ("let m: {String} = {\"a\": \"b\"}\nm.a", "b"),
    ("let n: Nil = nil\nn", None),
    ("let a: Any = 1\na", 1),
])
def test_program_values_and_type_aliases(source, expected):
    check(source, expected)


def test_session_keeps_bindings_between_evaluations():
    session = Session()
    session.eval("let x = 40")
    session.eval("fn inc(a): a + 1")
    assert session.eval("inc(x) + 1") == 42


def test_ranges_become_lists_when_they_leave_the_program():
    value = run("0..3")
    assert type(value) is list and value == [0, 1, 2]
    nested = run('{"r": 1..3}')
    assert type(nested["r"]) is list and nested["r"] == [1, 2]


def test_values_leave_as_plain_python():
    value = run('[1, 2.0, "s", true, nil, {"k": [false]}]')
    assert same(value, [1, 2.0, "s", True, None, {"k": [False]}])


# ---- fn main and files -------------------------------------------------------------------------

def write(path, text: str) -> str:
    path.write_text(program(text), encoding="utf-8")
    return str(path)


def test_main_is_called_by_run_file(tmp_path, capsys):
    path = write(tmp_path / "prog.zx", """
        fn helper(x): x + 1
        fn main() {
          println("in main")
          helper(41)
        }
        println("top level")
        "top"
    """)
    assert Session().run_file(path, call_main=True) == 42
    assert capsys.readouterr().out == "top level\nin main\n"


def test_main_defined_before_globals_it_uses(tmp_path):
    path = write(tmp_path / "prog.zx", """
        fn main(): greeting + "!"
        let greeting = "hi"
    """)
    assert Session().run_file(path) == "hi!"


def test_main_not_called_without_call_main(tmp_path, capsys):
    path = write(tmp_path / "prog.zx", """
        fn main() { println("main ran"); 1 }
        "top"
    """)
    assert Session().run_file(path, call_main=False) == "top"
    assert capsys.readouterr().out == ""


def test_main_with_parameters_is_not_called(tmp_path):
    path = write(tmp_path / "prog.zx", """
        fn main(x) { 1 }
        "top"
    """)
    assert Session().run_file(path) == "top"


def test_nested_main_is_not_called(tmp_path):
    path = write(tmp_path / "prog.zx", """
        fn outer() { fn main() { 1 }; 2 }
        "top"
    """)
    assert Session().run_file(path) == "top"


def test_run_file_missing(tmp_path):
    with pytest.raises(ZixirError):
        Session().run_file(str(tmp_path / "nope.zx"))


# ---- import ------------------------------------------------------------------------------------

LIB = """
    pub let scale = 10
    let hidden = 5
    pub fn times(x): x * scale
    fn private_fn(): 1
    println("loading lib")
"""


def test_import_binds_pub_names(tmp_path, capsys):
    write(tmp_path / "lib.zx", LIB)
    main = write(tmp_path / "main.zx", """
        import "lib.zx"
        times(4) + scale
    """)
    assert Session().run_file(main) == 50
    assert capsys.readouterr().out == "loading lib\n"


def test_import_as_binds_under_a_name(tmp_path):
    write(tmp_path / "lib.zx", LIB)
    main = write(tmp_path / "main.zx", """
        import "lib.zx" as m
        m.times(2) + m.scale
    """)
    assert Session().run_file(main) == 30


@pytest.mark.parametrize("use", ["hidden", "private_fn()", "m.hidden", "m.private_fn()"])
def test_import_hides_names_without_pub(tmp_path, use):
    write(tmp_path / "lib.zx", LIB)
    alias = " as m" if use.startswith("m.") else ""
    main = write(tmp_path / "main.zx", f'import "lib.zx"{alias}\n{use}')
    with pytest.raises(ZixirRuntimeError):
        Session().run_file(main)


def test_import_runs_a_file_once(tmp_path, capsys):
    write(tmp_path / "lib.zx", LIB)
    main = write(tmp_path / "main.zx", """
        import "lib.zx"
        import "lib.zx" as again
        again.scale + scale
    """)
    assert Session().run_file(main) == 20
    assert capsys.readouterr().out.count("loading lib") == 1


def test_import_is_relative_to_the_importing_file(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    write(tmp_path / "pkg" / "sub" / "leaf.zx", "pub let leaf = 3")
    write(tmp_path / "pkg" / "mid.zx", """
        import "sub/leaf.zx"
        pub fn mid(): leaf * 2
    """)
    main = write(tmp_path / "main.zx", """
        import "pkg/mid.zx" as mid
        mid.mid() + 1
    """)
    assert Session().run_file(main) == 7


def test_imported_function_uses_its_own_globals(tmp_path):
    write(tmp_path / "lib.zx", """
        let secret = 7
        pub fn reveal(): secret
    """)
    main = write(tmp_path / "main.zx", """
        import "lib.zx"
        let secret = 1000
        reveal()
    """)
    assert Session().run_file(main) == 7


def test_missing_import_mentions_import(tmp_path):
    main = write(tmp_path / "main.zx", """
        import "nope.zx"
        1
    """)
    with pytest.raises(ZixirError) as info:
        Session().run_file(main)
    assert "import" in info.value.message.lower()
    assert info.value.line == 1


def test_import_needs_a_string(tmp_path):
    main = write(tmp_path / "main.zx", "import 42")
    with pytest.raises(ZixirSyntaxError) as info:
        Session().run_file(main)
    assert "import" in info.value.message.lower()


def test_import_of_a_file_with_a_syntax_error(tmp_path):
    write(tmp_path / "bad.zx", "pub let x = (1 +")
    main = write(tmp_path / "main.zx", 'import "bad.zx"\nx')
    with pytest.raises(ZixirSyntaxError):
        Session().run_file(main)


def test_pub_only_before_let_or_fn():
    fails("pub 1", ZixirSyntaxError)
    check("pub let x = 3\nx", 3)


# ---- the public API ----------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_public_eval_returns_plain_python_and_raises_zixir_errors():
    import zixir

    assert same(zixir.eval('let xs = [1, 2.5, "s", nil, true]\n{"xs": xs, "r": 0..2}'),
                {"xs": [1, 2.5, "s", None, True], "r": [0, 1]})
    with pytest.raises(zixir.ZixirRuntimeError) as info:
        zixir.eval("let a = 1\na / 0")
    assert info.value.message == "Division by zero"
    assert (info.value.line, info.value.column) == (2, 1)
    with pytest.raises(zixir.ZixirSyntaxError):
        zixir.eval("let = 1")
    # separate evaluations do not share bindings
    zixir.eval("let only_here = 1")
    with pytest.raises(zixir.ZixirRuntimeError):
        zixir.eval("only_here")


def test_namespace_names_are_reserved_only_for_calls():
    assert run('let memory = {"a": 1, "put": 2}\nlet workflow = {"run": 3}\n'
               "[memory.a, memory.put, workflow.run, memory.a + 1]") == [1, 2, 3, 2]


def test_nan_is_unequal_to_itself_inside_lists_too():
    source = ("let n = (1e308 * 10) - (1e308 * 10)\n"
              "[[n] == [n], n == n, [n] != [n], [[n]] == [[n]], [{a: n}] == [{a: n}], "
              "[1, [2.5]] == [1, [2.5]], [n, 1] == [n, 2]]")
    assert run(source) == [False, False, True, False, False, True, False]
