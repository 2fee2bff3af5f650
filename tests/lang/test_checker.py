"""The static checker: every rule reports exactly what it should, where it should, and valid
programs (the whole successful conformance corpus, the examples) get no errors at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zixir.lang import checker
from zixir.lang.checker import analyze, check, check_program, names_in_scope
from zixir.lang.errors import ZixirError
from zixir.lang.parser import parse
from zixir.lang.session import Session

ROOT = Path(__file__).parent.parent.parent
CASES = [json.loads(line) for line in
         (ROOT / "tests" / "cases.jsonl").read_text(encoding="utf-8").splitlines()
         if line.strip()]
EXAMPLES = sorted((ROOT / "examples").glob("*.zx"))


@pytest.fixture(autouse=True)
def checker_bugs_are_loud(monkeypatch):
    monkeypatch.setattr(checker, "RAISE_INTERNAL_ERRORS", True)


def errors(source: str, filename: str | None = None) -> list[tuple[str, int, int]]:
    return [(d.message, d.line, d.column) for d in check(source, filename)
            if d.severity == "error"]


def only_error(source: str, filename: str | None = None) -> tuple[str, int, int]:
    found = errors(source, filename)
    assert len(found) == 1, found
    return found[0]


# ---- valid programs get no errors -----------------------------------------------------------


@pytest.mark.parametrize("case", [c for c in CASES if "expect" in c], ids=lambda c: c["id"])
def test_successful_corpus_case_has_no_errors(case):
    assert errors(case["source"]) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_has_no_errors(path):
    assert errors(path.read_text(encoding="utf-8"), str(path)) == []


STATIC_ERRORS = ("undefined variable", "undefined function", "expects", "not a function",
                 "unknown engine op")


@pytest.mark.parametrize(
    "case", [c for c in CASES if "error" in c and c["error"]
             and c["error"].lower().startswith(STATIC_ERRORS)], ids=lambda c: c["id"])
def test_corpus_static_error_is_found_without_running(case):
    messages = [m.lower() for m, _, _ in errors(case["source"])]
    assert any(case["error"].lower() in m for m in messages), messages


@pytest.mark.parametrize("source", [
    "10 / 0",
    "[1, 2][5]",
    '{"a": 1}["b"]',
    "engine.list_sum(5)",
    "engine.dot_product([1.0], [1.0, 2.0])",
    "match 3 { 1 => 1 }",
])
def test_program_failing_only_at_run_time_is_not_reported(source):
    assert check(source) == []


@pytest.mark.parametrize("source, message", [
    ('"a" * 3', "Invalid binary operation: string * int"),
    ('"a" - 1', "Invalid binary operation: string - int"),
    ('("a" + 1) - 2', "Invalid binary operation: string - int"),
    ("true + 1", "Invalid binary operation: bool + int"),
    ("[1] + [2]", "Invalid binary operation: list + list"),
    ('1 < "a"', "Invalid binary operation: int < string"),
    ('"a" ** 2', "Invalid binary operation: string ** int"),
    ("1.5 .. 3", "range needs two integers"),
    ("for x in 5: x", "For loop requires a list, range or map, got int"),
    ('for x in "abc": x', "For loop requires a list, range or map, got string"),
    ("while 1 { 2 }", "While loop condition must be boolean, got int"),
    ("upper(5)", "upper: expected a string, got int"),
    ('sqrt("x")', "sqrt: expected a number, got string"),
    ("div(1.5, 2)", "div: expected an integer, got float"),
    ("map([1], (a, b) => a)", "map: the function <lambda> takes 2 arguments, but map passes 1"),
    ("reduce([1], x => x, 0)", "reduce: the function <lambda> takes 1 argument, but reduce "
                               "passes 2"),
    ("fn f(a, b) { a }\nfilter([1], f)", "filter: the function f takes 2 arguments"),
    ("map([1], 5)", "map: expected a function, got int"),
])
def test_provably_wrong_operands_are_reported(source, message):
    """What always fails when it runs, as the runtime would word it (`zixir check` and the
    editor agree with `zixir run`)."""
    found = [(d.severity, d.message) for d in check(source)]
    assert any(severity == "error" and message in text for severity, text in found), found
    with pytest.raises(ZixirError) as info:
        Session().eval(source)
    assert message.split(":")[0] in info.value.message


@pytest.mark.parametrize("source, message, column", [
    ("read_file(5)", "read_file: expected a path string, got int", 11),
    ("exists(nil)", "exists: expected a path string, got nil", 8),
    ('write_file("a.txt", 2)', "write_file: expected a string to write, got int", 21),
    ('append_file(1, "x")', "append_file: expected a path string, got int", 13),
    ("read_line(5)", "read_line: expected a prompt string, got int", 11),
    ("format(1, 2)", "format: expected a format spec string, got int", 11),
    ('take([1], "a")', "take: expected an integer, got string", 11),
    ("drop([1], len([1]) / 2)", "drop: expected an integer, got float", 11),
    ("chunk([1], true)", "chunk: expected an integer, got bool", 12),
])
def test_argument_kinds_of_file_format_and_slicing_builtins(source, message, column, tmp_path,
                                                            monkeypatch):
    """Worded exactly as the built-in words it when the program runs."""
    (error,) = [(d.message, d.column) for d in check(source) if d.severity == "error"]
    assert error == (message, column)
    monkeypatch.chdir(tmp_path)  # a run must not touch files even if the check were wrong
    with pytest.raises(ZixirError) as info:
        Session().eval(source)
    assert info.value.message == message


@pytest.mark.parametrize("source", [
    "let x = 1\nx + 1", '"a" + 1', '"a" + [1]', "1 + 2.5", '"a" < "b"', "2 ** 0.5",
    "for x in {a: 1}: x", "for x in 0..3: x", "while true { break }", "upper(str(5))",
    "map([1], x => x)", "reduce([1], (a, x) => a + x, 0)", "map([1], str)", "abs(-1)",
    "let f = x => x\nmap([1], f)", 'let x = 7 // 2', "sort([1], (a, b) => a - b)",
    'let x = 1\nexists("f#{x}.txt")', "fn p(s) { read_file(s) }", 'format(2, ">3")',
    'take("ab", len("a"))', "fn c(xs, n) { chunk(xs, n) }",
])
def test_valid_operands_are_not_reported(source):
    assert [d for d in check(source) if d.severity == "error"] == []


def test_double_slash_after_an_operand_warns():
    (warning,) = check("let n = 7 // 2\nn")
    assert warning.severity == "warning"
    assert "'//' starts a comment" in warning.message and "div(a, b)" in warning.message
    assert (warning.line, warning.column, warning.end_column) == (1, 11, 13)
    for quiet in ("let n = 7 // seven\nn", "let n = 7 // the number of days\nn",
                  "// 7 // 2\n1", "let s = \"a // 2\"\ns", "f(1)  # // 2\nfn f(x) { x }"):
        assert check(quiet) == [], quiet
    assert any(d.severity == "warning" for d in check("let y = f(x) // (2 + 1)\nfn f(x) { x }"))


@pytest.mark.parametrize("order", ["forward", "backward"])
def test_long_chains_of_definitions_are_checked_without_overflow(order):
    count = 3000
    if order == "forward":
        body = "fn f0() { 1 }\n" + "".join(f"fn f{i}() {{ f{i - 1}() }}\n" for i in range(1, count))
    else:
        body = "".join(f"fn f{i}() {{ f{i + 1}() }}\n" for i in range(count)) + \
            f"fn f{count}() {{ 1 }}\n"
    line = body.count("\n") + 1
    assert errors(body + "f0(1)") == [("Function f0 expects 0 arguments, got 1", line, 1)]


# ---- syntax errors ---------------------------------------------------------------------------


def test_syntax_error_is_one_diagnostic_at_its_position():
    [diag] = check("let x = (1 + 2", "prog.zx")
    assert (diag.message, diag.line, diag.column) == ("Expected ')'", 1, 9)
    assert diag.source == "syntax" and diag.filename == "prog.zx"


def test_check_never_raises_and_reports_its_own_failure(monkeypatch, tmp_path):
    def broken(self):
        raise RuntimeError("bug")

    monkeypatch.setattr(checker._Resolver, "run", broken)
    with pytest.raises(RuntimeError):
        check("1")
    monkeypatch.setattr(checker, "RAISE_INTERNAL_ERRORS", False)
    for found in (check("x", "f.zx"), check_program(parse("x", "f.zx"))):
        (diag,) = found
        assert diag.severity == "error" and diag.filename == "f.zx"
        assert diag.message == ("internal error in the checker (RuntimeError: bug); the "
                                "program was not checked")


def test_zixir_check_exits_1_when_the_checker_fails(tmp_path):
    """Through the command: a checker bug is not an "ok"."""
    import subprocess
    import sys

    program = tmp_path / "p.zx"
    program.write_text("1 + 1\n", encoding="utf-8")
    code = ("import sys\nfrom zixir.lang import checker\n"
            "def broken(self):\n    raise RuntimeError('bug')\n"
            "checker._Resolver.run = broken\nfrom zixir.cli import main\n"
            f"sys.exit(main(['check', {str(program)!r}]))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "ok" not in result.stdout
    assert "internal error in the checker (RuntimeError: bug)" in result.stderr


def test_syntax_errors_in_imported_files_are_reported(tmp_path):
    (tmp_path / "lib.zx").write_text("pub fn f(x) {\n  x +\n", encoding="utf-8")
    main = tmp_path / "main.zx"
    for source in ('import "lib.zx"\n1\n', 'import "lib.zx" as lib\n1\n'):
        (diag,) = check(source, str(main))
        assert (diag.severity, diag.line, diag.column) == ("error", 1, 1)
        assert diag.message.startswith("import: syntax error in lib.zx at line"), diag.message


# ---- undefined names -------------------------------------------------------------------------


def test_undefined_variable_and_function_are_worded_as_at_run_time():
    assert errors("let a = 1\nb + a\nnope(a)") == [
        ("Undefined variable: b", 2, 1), ("Undefined function: nope", 3, 1)]


def test_diagnostic_spans_the_name():
    [diag] = check("let total = 1\ntotl + 1")
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (2, 1, 2, 5)
    assert diag.source == "check" and diag.severity == "error"


def test_top_level_name_must_be_defined_before_top_level_code_uses_it():
    assert only_error("print(y)\nlet y = 1") == ("Undefined variable: y", 1, 7)


def test_function_may_read_a_global_defined_later():
    assert errors("fn g() { y + z() }\nlet y = 7\nfn z() { 1 }\ng()") == []
    assert errors("fn g() { y }\ng()\nlet y = 7") == []  # only the run finds this one


def test_let_reads_the_outer_binding_of_its_own_name():
    assert errors("let x = 1\nif true { let x = x + 1; x }") == []
    assert only_error("let x = x + 1") == ("Undefined variable: x", 1, 9)


def test_block_bindings_stay_in_their_block():
    assert only_error("if true { let q = 1 }\nq") == ("Undefined variable: q", 2, 1)
    # a top-level block is not the top level: functions do not see it either
    assert only_error("if true { let q = 1 }\nfn g() { q }") == ("Undefined variable: q", 2, 10)


def test_loop_comprehension_and_pattern_variables_live_inside():
    assert only_error("for i in [1] { i }\ni") == ("Undefined variable: i", 2, 1)
    assert only_error("[x * 2 for x in [1] if x > 0]\nx") == ("Undefined variable: x", 2, 1)
    source = "match [1, 2] {\n  [a, ...rest] => a + len(rest),\n  _ => a\n}"
    assert only_error(source) == ("Undefined variable: a", 3, 8)


def test_map_and_nested_patterns_bind():
    assert errors('match {"k": [1, 2]} { {"k": [h, ...t]} if h > 0 => h + len(t), _ => 0 }') \
        == []


def test_comparison_pattern_reads_the_enclosing_scope():
    assert errors("let y = 2\nmatch 5 { y == 2 => 1, _ => 0 }") == []
    assert only_error("match 5 { w == 2 => 1, _ => 0 }") == ("Undefined variable: w", 1, 11)


def test_nested_function_does_not_see_a_later_let_of_its_enclosing_block():
    source = "fn outer() {\n  fn inner() { z }\n  let z = 1\n  inner()\n}"
    assert only_error(source) == ("Undefined variable: z", 2, 16)


def test_recursive_lambda_works_through_a_global_only():
    assert errors("let f = fn(n) { if n == 0 { 0 } else { f(n - 1) } }\nf(3)") == []
    source = "fn o() {\n  let f = fn(n) { if n == 0 { 0 } else { f(n - 1) } }\n  f(3)\n}"
    assert only_error(source) == ("Undefined function: f", 2, 42)


def test_functions_of_a_block_see_each_other():
    source = "fn o() {\n  fn even(n) { if n == 0 { true } else { odd(n - 1) } }\n" \
             "  fn odd(n) { if n == 0 { false } else { even(n - 1) } }\n  even(4)\n}"
    assert errors(source) == []


def test_assignment_needs_an_existing_binding():
    assert only_error("x = 5") == ("Undefined variable: x", 1, 1)
    assert errors("let x = 1\nfn f() { x = 2 }\nx += 3") == []


def test_builtins_and_bare_engine_ops_are_defined_and_can_be_shadowed():
    assert errors("let xs = [1.0, 2.0]\nxs |> list_sum()\nmap(xs, str)\nlen(xs)") == []
    assert only_error("let len = 3\nlen([1])") == ("Not a function: int (len)", 2, 1)


def test_engine_and_memory_are_names_unless_followed_by_a_dot():
    assert errors("let engine = 1\nengine + engine.list_sum([1.0])") == []
    assert only_error("engine + 1") == ("Undefined variable: engine", 1, 1)


# ---- arity -----------------------------------------------------------------------------------


def test_user_function_arity():
    assert only_error("fn f(a, b) { a + b }\nf(1)") == (
        "Function f expects 2 arguments, got 1", 2, 1)
    assert only_error("fn f(a) { a }\nlet y = 1\ny |> f(2)") == (
        "Function f expects 1 arguments, got 2", 3, 1)


def test_function_bound_by_let_arity():
    assert only_error("let f = fn(a, b): a + b\nf(1)") == (
        "Function f expects 2 arguments, got 1", 2, 1)
    assert only_error("let g = x => x\nlet h = g\nh()") == (
        "Function h expects 1 arguments, got 0", 3, 1)
    assert only_error("(fn(x): x)(1, 2)") == ("Function <lambda> expects 1 arguments, got 2",
                                               1, 2)


def test_builtin_arity_uses_the_registry():
    assert only_error("len([1], 2)") == ("Function len expects 1 arguments, got 2", 1, 1)
    assert only_error("range(1, 2, 3, 4)") == ("Function range expects 1 to 3 arguments, got 4",
                                               1, 1)
    assert only_error("min()") == ("Function min expects at least 1 arguments, got 0", 1, 1)
    assert errors("print()\nprint(1, 2, 3)\nrange(3)\nrange(1, 3)") == []


def test_engine_op_arity_names_the_op():
    assert only_error("engine.list_sum()") == ("engine.list_sum expects 1 argument, got 0", 1, 1)
    assert only_error("engine.dot_product([1.0])") == (
        "engine.dot_product expects 2 arguments, got 1", 1, 1)
    assert only_error("engine.vec_scale([1.0], 2, 3)") == (
        "engine.vec_scale expects 1 to 2 arguments, got 3", 1, 1)
    assert only_error("let xs = [1.0]\nxs |> list_sum(2)") == (
        "engine.list_sum expects 1 argument, got 2", 2, 1)
    assert errors("engine.vec_scale([1.0])\nengine.vec_scale([1.0], 2)") == []


def test_memory_op_arity():
    assert only_error('memory.put("k")') == ("memory.put expects 2 to 3 arguments, got 1",
                                                1, 1)
    assert only_error('memory.get("k", 1, 2)') == ("memory.get expects 1 to 2 arguments, got 3",
                                                   1, 1)
    assert errors('memory.get("k")\nmemory.keys()\nmemory.delete("k")') == []


def test_arity_is_not_checked_when_the_callee_may_change():
    assert errors("fn f(a) { a }\nf = fn(a, b) { a + b }\nf(1, 2)") == []
    # two top-level definitions: a function sees whichever ran last before it was called
    assert errors("fn f(a) { a }\nfn g() { f(1, 2) }\nlet f = fn(a, b) { a }\ng()") == []
    # a builtin name defined later at the top level: called before, it is the builtin
    assert errors("fn g() { len([1]) }\nprint(g())\nlet len = fn(a, b) { 0 }") == []


def test_assigning_a_builtin_name_rebinds_the_global():
    assert errors("len = fn(a, b) { a + b }\nlen(1, 2)") == []
    assert errors('fn setup() { str = fn() { "x" } }\nsetup()\nstr()') == []


def test_name_bound_to_an_engine_op_reports_arity_as_the_op():
    assert only_error("let s = engine.list_sum\ns()") == (
        "engine.list_sum expects 1 argument, got 0", 2, 1)
    assert only_error("let v = vec_add\nv([1.0])") == (
        "engine.vec_add expects 2 arguments, got 1", 2, 1)


def test_top_level_fn_statement_binds_its_name_again_when_it_runs():
    assert errors("let f = 5\nfn f() { 5 }\n[f(), 1]") == []
    assert only_error("fn f() { 1 }\nf()\nlet f = 2\nf()") == ("Not a function: int (f)", 4, 1)


# ---- engine ops ----------------------------------------------------------------------------


def test_unknown_engine_op_is_reported_at_the_op():
    assert only_error("engine.foo([1.0])") == ("unknown engine op: foo", 1, 8)
    [diag] = check("let x = engine . nope")
    assert (diag.message, diag.line, diag.column, diag.end_column) == (
        "unknown engine op: nope", 1, 18, 22)


# ---- calling non-functions -------------------------------------------------------------------


@pytest.mark.parametrize("source, expected", [
    ('let s = "a"\ns()', ("Not a function: string (s)", 2, 1)),
    ("let xs = [1]\nxs(0)", ("Not a function: list (xs)", 2, 1)),
    ("let m = {a: 1}\nm(0)", ("Not a function: map (m)", 2, 1)),
    ("let n = nil\nn()", ("Not a function: nil (n)", 2, 1)),
    ("let b = 1 < 2\nb()", ("Not a function: bool (b)", 2, 1)),
    ("5(1)", ("Not a function: int", 1, 1)),
    ('"s"()', ("Not a function: string", 1, 1)),
    ("fn f(g: Int) { g(1) }", ("Not a function: int (g)", 1, 16)),
    ('let m = {k: 1}\nm.k()', ("Not a function: int (k)", 2, 1)),
])
def test_calling_a_value_that_is_provably_not_a_function(source, expected):
    assert only_error(source) == expected


def test_calling_a_name_that_may_hold_a_function_is_not_reported():
    assert errors("let f = 5\nf = fn() { 1 }\nf()") == []
    assert errors("fn apply(g, x) { g(x) }\napply(str, 1)") == []
    assert errors("let fs = [str]\nfs[0](1)") == []


# ---- annotated types -----------------------------------------------------------------------


def test_let_annotation_mismatch_is_reported_at_the_value():
    assert only_error('let x: Int = "a"') == (
        "Type mismatch: expected Int, got String (let x)", 1, 14)
    assert only_error("let x: Int = 1.5") == (
        "Type mismatch: expected Int, got Float (let x)", 1, 14)


def test_int_is_a_float_and_any_takes_anything():
    assert errors("let x: Float = 1\nlet y: Any = nil\nlet z: [Float] = [1, 2.5]") == []


def test_compound_annotations_and_aliases():
    assert only_error("type Row = [Int]\nlet r: Row = [1, 2.5]") == (
        "Type mismatch: expected [Int], got [Float] (let r)", 2, 14)
    assert only_error('let m: {Int} = {a: "x"}') == (
        "Type mismatch: expected {Int}, got {String} (let m)", 1, 16)
    assert only_error("let f: (Int, Int) -> Int = fn(a) { a }") == (
        "Type mismatch: expected (Int, Int) -> Int, got (Any) -> Any (let f)", 1, 28)
    assert errors("let f: (Int) -> Int = fn(a) { a }\nlet e: [Int] = []\nlet m: {Int} = {}") \
        == []


def test_unknown_type_name():
    assert only_error("fn f(x: Integer) { x }") == ("Unknown type: Integer", 1, 9)
    assert errors("let x: Later = 1\ntype Later = Int") == []  # aliases hold file-wide


def test_recursive_alias_does_not_loop():
    assert errors("type T = [T]\nlet x: T = [[]]") == []


def test_argument_mismatch_is_reported_at_the_argument():
    assert only_error('fn f(a: Int, b: String) { a }\nf(1, 2)') == (
        "Type mismatch: expected String, got Int (argument 2 of f)", 2, 6)
    assert errors("fn f(a: Float) { a }\nf(1)\nf(2.5)\nlet n = 1\nf(n)") == []


def test_function_typed_parameter_is_held_to_its_arity():
    source = "fn apply(g: (Int) -> Int, x: Int) -> Int { g(x, 1) }"
    assert only_error(source) == ("Function g expects 1 arguments, got 2", 1, 44)


def test_result_mismatch_is_reported_at_each_offending_branch():
    source = 'fn f(x: Int) -> Int {\n  if x > 0 { return "pos" }\n  if x == 0 { 0 } else { 1.5 }\n}'
    assert errors(source) == [
        ("Type mismatch: expected Int, got String (result of f)", 2, 14),
        ("Type mismatch: expected Int, got Float (result of f)", 3, 26),
    ]
    assert only_error("fn f() -> Int {}") == (
        "Type mismatch: expected Int, got Nil (result of f)", 1, 15)
    assert only_error("let g = fn(x) -> String: 1") == (
        "Type mismatch: expected String, got Int (result of <lambda>)", 1, 26)
    assert errors("let g = fn(x) -> String: x + 1") == []  # x may be a string


def test_result_of_obviously_typed_expressions():
    assert errors("fn f(a: Int, b: Int) -> Int: a + b") == []
    assert errors("fn f(a: Int) -> Float: a / 2") == []
    assert only_error("fn f(a: Int) -> Int: a / 2") == (
        "Type mismatch: expected Int, got Float (result of f)", 1, 22)
    assert only_error("fn f(a) -> String: len(a)") == (
        "Type mismatch: expected String, got Int (result of f)", 1, 20)
    assert errors("fn f(a) -> String: a + 1") == []  # a may be a string


def test_assignment_to_annotated_variable():
    assert only_error('let n: Int = 0\nn = "x"') == (
        "Type mismatch: expected Int, got String (assignment to n)", 2, 5)
    assert errors("let n: Float = 0\nn += 1.5") == []


def test_annotation_checks_follow_inferred_function_results():
    source = 'fn name() { "zixir" }\nlet n: Int = name()'
    assert only_error(source) == ("Type mismatch: expected Int, got String (let n)", 2, 14)


# ---- loops, imports, returns -------------------------------------------------------------------


def test_break_and_continue_outside_a_loop():
    assert only_error("break") == ("'break' outside of a loop", 1, 1)
    assert only_error("while true { fn f() { continue } }") == (
        "'continue' outside of a loop", 1, 23)
    assert only_error("for i in [1] { [break for j in [1]] }") == (
        "'break' outside of a loop", 1, 17)
    assert errors("for i in [1] { if i > 0 { break } else { continue } }\n"
                  "while true { break }") == []


def test_import_only_at_top_level(tmp_path):
    (tmp_path / "lib.zx").write_text("pub fn twice(x) { x * 2 }\n", encoding="utf-8")
    main = str(tmp_path / "main.zx")
    assert only_error('fn f() { import "lib.zx" }', main) == (
        "'import' is only allowed at the top level of a file", 1, 10)
    assert errors('import "lib.zx"\ntwice(2)', main) == []


def test_top_level_return_is_fine():
    assert errors("return 5\nlet x = 1") == []


def test_imported_names_are_defined_and_checked(tmp_path):
    (tmp_path / "lib.zx").write_text(
        "pub fn twice(x: Int) -> Int { x * 2 }\npub let k = 3\nfn hidden() { 1 }\n",
        encoding="utf-8")
    main = str(tmp_path / "main.zx")
    assert errors('import "lib.zx"\ntwice(k)\nfn f() { twice(1) }', main) == []
    assert errors('import "lib.zx"\nhidden()', main) == [("Undefined function: hidden", 2, 1)]
    assert errors('import "lib.zx"\ntwice(1, 2)', main) == [
        ("Function twice expects 1 arguments, got 2", 2, 1)]
    assert errors('import "lib.zx" as lib\nlib.twice(2)', main) == []


def test_missing_import_is_an_error(tmp_path):
    main = str(tmp_path / "main.zx")
    [(message, line, column)] = errors('import "nowhere.zx"', main)
    assert message.startswith("import: cannot find") and message.endswith("nowhere.zx")
    assert (line, column) == (1, 1)


def test_unknown_exports_silence_undefined_names(tmp_path):
    (tmp_path / "broken.zx").write_text("pub fn (", encoding="utf-8")
    main = str(tmp_path / "main.zx")
    broken = ("import: syntax error in broken.zx at line 1, column 5: Expected 'let' or 'fn' "
              "after 'pub'")
    assert errors('import "broken.zx"\nanything(1)', main) == [(broken, 1, 1)]
    assert errors('anything(1)\nimport "broken.zx"', main) == [
        ("Undefined function: anything", 1, 1), (broken, 2, 1)]
    assert errors('import "lib.zx"\nanything(1)') == []  # no file name: exports unknown


# ---- warnings --------------------------------------------------------------------------------


def test_let_shadowing_a_parameter_is_a_warning():
    [diag] = check("fn f(a) { let a = 2; a }")
    assert (diag.severity, diag.message, diag.line, diag.column) == (
        "warning", "'let a' shadows the parameter a", 1, 15)
    assert check("fn f(a) { if true { let a = 2 }; a }") == []


# ---- the analysis the language server uses ------------------------------------------------


SOURCE = """\
let base = 10
fn add(a: Int, b: Int) -> Int { a + b + base }
let xs = [1.5, 2.5]
fn total(ys) {
  let acc = 0
  for y in ys { acc = acc + y }
  acc
}
let shown = match xs { [first, ...rest] => first, _ => 0.0 }
add(1, 2)
"""


def at(analysis, line, column):
    d = analysis.definition_at(line, column)
    assert d is not None, (line, column)
    return d


def test_definition_at_a_use_and_at_the_definition_itself():
    analysis = analyze(parse(SOURCE))
    base = at(analysis, 2, 41)  # `base` inside add
    assert (base.name, base.kind, base.span) == ("base", "let", (1, 5, 1, 9))
    assert at(analysis, 1, 6) is base
    assert at(analysis, 2, 44) is base  # just past the name
    param = at(analysis, 2, 33)
    assert (param.kind, param.span) == ("parameter", (2, 8, 2, 9))
    loop_var = at(analysis, 6, 29)
    assert (loop_var.kind, loop_var.span) == ("for", (6, 7, 6, 8))
    first = at(analysis, 9, 44)
    assert (first.kind, first.span) == ("pattern", (9, 25, 9, 30))
    assert at(analysis, 9, 36).span == (9, 35, 9, 39)  # ...rest: the name only
    assert analysis.definition_at(4, 1) is None  # the `fn` keyword


def test_references_include_reads_and_writes_in_order():
    analysis = analyze(parse(SOURCE))
    acc = at(analysis, 5, 7)
    assert [(n.line, n.column) for n in analysis.references(acc)] == [(6, 17), (6, 23), (7, 3)]
    add = at(analysis, 10, 1)
    assert add.kind == "function" and add.span == (2, 4, 2, 7)
    assert [(n.line, n.column) for n in analysis.references(add)] == [(10, 1)]


def test_references_follow_shadowing():
    analysis = analyze(parse("let x = 1\nif true { let x = x + 1; x }\nx"))
    outer, inner = at(analysis, 1, 5), at(analysis, 2, 15)
    assert outer is not inner
    assert [(n.line, n.column) for n in analysis.references(outer)] == [(2, 19), (3, 1)]
    assert [(n.line, n.column) for n in analysis.references(inner)] == [(2, 26)]


def test_global_read_by_an_earlier_function_refers_to_the_later_definition():
    analysis = analyze(parse("fn g() { y }\nlet y = 7"))
    y = at(analysis, 2, 5)
    assert at(analysis, 1, 10) is y
    assert [(n.line, n.column) for n in analysis.references(y)] == [(1, 10)]


def test_builtins_engine_ops_and_unresolved_names_have_definitions():
    analysis = analyze(parse("len([1])\nlist_sum([1.0])\nnope + nope"))
    assert (at(analysis, 1, 1).kind, at(analysis, 2, 1).kind) == ("builtin", "engine")
    unresolved = at(analysis, 3, 1)
    assert unresolved.kind == "unresolved" and unresolved.span is None
    assert len(analysis.references(unresolved)) == 2


def test_type_alias_names_resolve():
    analysis = analyze(parse("type Vec = [Float]\nfn norm(v: Vec) -> Float { 0.0 }"))
    alias = at(analysis, 2, 12)
    assert (alias.kind, alias.span) == ("type", (1, 6, 1, 9))
    assert analysis.type_of(alias) == "[Float]"
    assert analysis.type_of(at(analysis, 2, 4)) == "([Float]) -> Float"


def test_types_of_definitions():
    analysis = analyze(parse(SOURCE))
    assert analysis.type_of(at(analysis, 2, 4)) == "(Int, Int) -> Int"
    assert analysis.type_of(at(analysis, 1, 5)) == "Int"
    assert analysis.type_of(at(analysis, 3, 5)) == "[Float]"
    assert analysis.type_of(at(analysis, 4, 4)) == "(Any) -> Any"
    assert analysis.type_of(at(analysis, 9, 5)) == "Float"
    assert analysis.type_of(at(analysis, 2, 8)) == "Int"  # annotated parameter
    assert analysis.type_of(at(analysis, 6, 7)) == "Any"  # element of an unknown list


def test_inferred_types_of_functions_and_variables():
    analysis = analyze(parse(
        'fn greet(name) { "hi " + name }\n'
        "fn fact(n: Int) { if n <= 1 { 1 } else { n * fact(n - 1) } }\n"
        "let count = 0\ncount += 1\n"
        "let mixed = 0\nmixed = 0.5\n"
        "let changes = 0\nchanges = \"s\"\n"
        "let m = {a: 1, b: 2}\n"
        "let sq = [x * x for x in [1, 2]]\n"))
    types = {d.name: analysis.type_of(d) for d in analysis.definitions if d.toplevel}
    assert types == {
        "greet": "(Any) -> String", "fact": "(Int) -> Int", "count": "Int", "mixed": "Float",
        "changes": "Any", "m": "{Int}", "sq": "[Int]"}


def test_symbols_are_the_top_level_functions_and_variables():
    symbols = analyze(parse(SOURCE)).symbols
    assert [(s.name, s.kind, s.type) for s in symbols] == [
        ("base", "let", "Int"), ("add", "function", "(Int, Int) -> Int"),
        ("xs", "let", "[Float]"), ("total", "function", "(Any) -> Any"),
        ("shown", "let", "Float")]
    assert symbols[1].span == (2, 4, 2, 7) and symbols[1].full_span[:2] == (2, 1)


def test_names_in_scope_inside_a_function():
    program = parse(SOURCE)
    visible = {name: (kind, t) for name, kind, t in names_in_scope(program, 6, 20)}
    assert visible["acc"] == ("let", "Any")  # acc + y, and y is unknown
    assert visible["y"] == ("for", "Any")
    assert visible["ys"] == ("parameter", "Any")
    assert visible["shown"] == ("let", "Float")  # every top-level name, whatever its place
    assert visible["len"][0] == "builtin" and visible["list_sum"][0] == "engine"
    assert "a" not in visible
    assert visible["first"][0] == "builtin"  # the pattern binding `first` is out of scope


def test_names_in_scope_at_top_level_follow_order_and_shadowing():
    program = parse("let x = 1\nlet len = 2\nif true {\n  let x = \"s\"\n  x\n}\nlet z = 3\n")
    inner = {name: (kind, t) for name, kind, t in names_in_scope(program, 5, 3)}
    assert inner["x"] == ("let", "String")
    assert inner["len"] == ("let", "Int")
    assert "z" not in inner
    after = {name: t for name, _, t in names_in_scope(program, 7, 10)}
    assert after["x"] == "Int" and after["z"] == "Int"


def test_definitions_are_listed_in_source_order():
    analysis = analyze(parse("fn f(a) { let b = a; b }\nlet c = 1\nfor d in [c] { d }"))
    assert [d.name for d in analysis.definitions] == ["f", "a", "b", "c", "d"]


# ---- tasks (spawn, await, await_all, pmap) ------------------------------------------------------

@pytest.mark.parametrize("source, message", [
    ("spawn(x => x)", "spawn: the function takes 1 argument, but spawn passes 0"),
    ("spawn(5)", "spawn: expected a function, got int"),
    ("spawn(() => 1, 2)", "Function spawn expects 1 arguments, got 2"),
    ("await(5)", "await: expected a task, got int"),
    ('await(spawn(() => 1), "3")', "await: seconds must be a number of seconds, got string"),
    ("await()", "Function await expects 1 to 2 arguments, got 0"),
    ("await_all([1, 2])", "await_all: expected a task, got int"),
    ("await_all(7)", "await_all: expected a list of tasks, got int"),
    ("pmap([1], (a, b) => a)", "pmap: the function takes 2 arguments, but pmap passes 1"),
    ("pmap([1], x => x, 1.5)", "pmap: n must be a positive integer, got float"),
    ("pmap([1], x => x, 2, 3)", "Function pmap expects 2 to 3 arguments, got 4"),
    ("let y: Int = spawn(() => 1)", "Type mismatch: expected Int, got Task (let y)"),
])
def test_task_builtins_are_checked(source, message):
    assert only_error(source)[0] == message


def test_valid_task_programs_have_no_errors():
    assert errors("""
fn work() { 1 }
let t = spawn(work)
let a = await(t, 2.5)
let b = await_all([t, spawn(() => 2)])
let c = pmap([1, 2], x => x + 1, 100)
let d = await_all(map([1, 2], i => spawn(() => i)))
fn spawn_all(xs) { map(xs, x => spawn(() => x)) }
await_all(spawn_all([1]))
""") == []
    # a user function of the same name is not the built-in
    assert errors("fn spawn(a, b) { a + b }\nspawn(1, 2)") == []
def test_python_calls_the_policy_refuses_are_warned_about(tmp_path):
    program = tmp_path / "p.zx"
    source = 'python "os" "getcwd" ()\npython "math" "sqrt" (2.0)\npython "mylib" "f" ()\n'
    (tmp_path / "mylib.py").write_text("def f():\n    return 1\n", encoding="utf-8")
    (warning,) = check(source, str(program))
    assert (warning.severity, warning.line) == ("warning", 1)
    assert warning.message.startswith('python "os" "getcwd" is not allowed')
    assert "--allow os.getcwd" in warning.message
    (tmp_path / "zixir.toml").write_text('[policy]\nallow = ["os.getcwd"]\n', encoding="utf-8")
    assert check(source, str(program)) == []
