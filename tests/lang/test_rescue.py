"""Handling errors (LANGUAGE.md section 10): `try`/`rescue`, `raise`, `attempt`, rule by rule,
and the choices docs/language.md records where the specification is silent. Runtime faults
provoked for real through a `Runtime` are in tests/runtime/test_rescue_faults.py."""

from __future__ import annotations

import pytest
from lang_helpers import fails, run, same

from zixir.lang.checker import check
from zixir.lang.errors import (
    CallTimeout,
    Frame,
    PythonError,
    RaisedError,
    ZixirRuntimeError,
    ZixirSyntaxError,
)
from zixir.lang.rescue import error_map
from zixir.lang.session import Session


def value(source: str, expected) -> None:
    got = run(source)
    assert same(got, expected), f"{source!r}: got {got!r}, expected {expected!r}"


# ---- the value of `try` ---------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "try { 1 + 1 } rescue e { 0 }",
    "try: 1 + 1 rescue e: 0",
    "try:\n  let a = 1\n  a + 1\nrescue e:\n  0",
    "let r = try:\n  2\nrescue e:\n  0\nr",
    "try { 2 }\nrescue e { 0 }",
    "fn f() {\n  try:\n    2\n  rescue e:\n    0\n}\nf()",
])
def test_value_of_try_when_nothing_fails(source):
    value(source, 2)


@pytest.mark.parametrize("source", [
    "try { 1 / 0 } rescue e { 7 }",
    "try: 1 / 0 rescue e: 7",
    "try:\n  let a = 0\n  1 / a\nrescue e:\n  let b = 7\n  b",
    "let r = try:\n  [][0]\nrescue e:\n  7\nr",
    "fn f() { try: undefined_thing rescue e: 7 }\nf()",
])
def test_value_of_the_rescue_block(source):
    value(source, 7)


def test_empty_blocks_are_nil_and_try_is_an_expression():
    value("try { } rescue e { 1 }", None)
    value("try { 1 / 0 } rescue e { }", None)
    value("[try: 1 rescue e: 2, try: 1 / 0 rescue e: 2] |> map(x => x * 10)", [10, 20])
    value("let f = x => try: 10 / x rescue e: -1\n[f(2), f(0)]", [5.0, -1])


def test_effects_before_the_failure_stay_done():
    value("let log = []\ntry { log = append(log, 1); 1 / 0; log = append(log, 2) } "
          "rescue e { log = append(log, \"r\") }\nlog", [1, "r"])


# ---- clauses, guards and propagation ----------------------------------------------------------

GUARDED = """
fn classify(f) {
  try { f() }
  rescue e if e.type == "Timeout" { "timeout" }
  rescue e if contains(e.message, "zero") { "zero" }
  rescue e { "other: " + e.type }
}
[classify(() => raise("Timeout", "slow")), classify(() => 1 / 0), classify(() => [][1]),
 classify(() => "fine")]
"""


def test_guards_are_tried_in_order():
    value(GUARDED, ["timeout", "zero", "other: RuntimeError", "fine"])


def test_first_applying_clause_wins():
    value("try { 1 / 0 } rescue a if true { 1 } rescue b if true { 2 } rescue c { 3 }", 1)
    value("try { 1 / 0 } rescue a if false { 1 } rescue b { 2 } rescue c { 3 }", 2)
    value("try { 1 / 0 } rescue a if nil { 1 } rescue b if 0 { 2 }", 2)  # 0 is truthy


def test_guard_sees_the_name_and_the_enclosing_scope():
    value('let wanted = "RuntimeError"\n'
          'try { 1 / 0 } rescue e if e.type == wanted and e.line == 2 { "yes" } rescue e { "no" }',
          "yes")


def test_error_goes_on_unchanged_when_no_clause_applies():
    source = "fn f() {\n  1 / 0\n}\ntry { f() } rescue e if false { 1 }"
    err = fails(source, ZixirRuntimeError)
    plain = fails("fn f() {\n  1 / 0\n}\nf()", ZixirRuntimeError)
    assert type(err) is type(plain)
    assert (err.message, err.line, err.column) == (plain.message, plain.line, plain.column) == (
        "Division by zero", 2, 3)
    assert [f.function for f in err.call_chain] == ["<top level>", "f"]
    raised = fails('try { raise("Quota", "full") } rescue e if e.type == "Other" { 1 }',
                   RaisedError)
    assert (raised.error_type, raised.detail, raised.column) == ("Quota", "full", 7)


def test_nested_try():
    value("try { try { 1 / 0 } rescue e { [][0] } } rescue outer { outer.message }",
          "Index out of range: 0 (length 0)")
    value("try { try { 1 / 0 } rescue e if false { 1 } } rescue outer { outer.message }",
          "Division by zero")
    value("try:\n  try:\n    1 / 0\n  rescue e:\n    raise(\"inner\")\nrescue e2:\n  e2.message",
          "inner")
    value("try { try { 1 / 0 } rescue e { e.type } } rescue e { \"not here\" }", "RuntimeError")


def test_a_later_rescue_on_a_new_line_belongs_to_the_try_it_lines_up_with():
    source = ("try:\n  try:\n    1 / 0\n  rescue e if false:\n    1\nrescue e:\n  \"outer\"")
    value(source, "outer")
    source = ("try:\n  try:\n    1 / 0\n  rescue e if false:\n    1\n  rescue e:\n    \"inner\"\n"
              "rescue e:\n  \"outer\"")
    value(source, "inner")


def test_an_error_in_a_guard_or_a_rescue_body_goes_outward():
    err = fails("try { 1 / 0 } rescue e if e.missing { 1 } rescue e { 2 }", ZixirRuntimeError)
    assert err.message == 'Key not found: "missing"'
    err = fails("try { 1 / 0 } rescue e { [][3] } rescue e { 2 }", ZixirRuntimeError)
    assert err.message.startswith("Index out of range")
    value("try { try { 1 / 0 } rescue e { raise(\"again\") } } rescue e { e.message }", "again")


def test_the_name_exists_only_inside_its_clause():
    value('let e = "outer"\ntry { 1 / 0 } rescue e { e.type }\ne', "outer")
    value('let e = "outer"\nlet r = try { 1 / 0 } rescue e { e.type }\n[r, e]',
          ["RuntimeError", "outer"])
    assert fails("try { 1 / 0 } rescue e { 1 }\ne").message == "Undefined variable: e"
    assert fails("fn f() { try { 1 / 0 } rescue err { 1 }; err }\nf()").message == \
        "Undefined variable: err"


def test_bindings_inside_try_and_rescue_blocks_stay_there_and_assignments_reach_out():
    value("let x = 1\ntry { let x = 2; x } rescue e { 0 }\nx", 1)
    value("let x = 1\ntry { x = 2 } rescue e { 0 }\nx", 2)
    value("let x = 1\ntry { 1 / 0 } rescue e { x = 3 }\nx", 3)


def test_closures_capture_the_error():
    value("let f = try { 1 / 0 } rescue e { () => e.message }\nf()", "Division by zero")
    value("let fs = []\nfor i in 0..3 { try { raise(str(i)) } rescue e { fs = append(fs, () => "
          "e.message) } }\nmap(fs, f => f())", ["0", "1", "2"])


# ---- break, continue, return pass through ------------------------------------------------------

def test_break_in_a_rescue_inside_a_loop():
    value("let seen = []\nfor x in [1, 2, 0, 4] {\n  try { seen = append(seen, 10 / x) }\n"
          "  rescue e { break }\n}\nseen", [10.0, 5.0])


def test_break_and_continue_inside_try_are_not_errors():
    value("let n = 0\nwhile true { try { n += 1; if n == 3 { break } } rescue e { n = -100 } }\n"
          "n", 3)
    value("let out = []\nfor x in 0..5 { try { if x % 2 == 0 { continue }; out = append(out, x) }"
          " rescue e { out = [] } }\nout", [1, 3])
    value("let out = []\nfor x in 0..4 { try { 1 / (x - 2) } rescue e { continue }; "
          "out = append(out, x) }\nout", [0, 1, 3])


def test_return_from_inside_try_in_a_function():
    value("fn f(x) {\n  try {\n    if x > 0 { return \"early\" }\n    1 / 0\n  } rescue e {\n"
          "    return \"rescued\"\n  }\n  \"late\"\n}\n[f(1), f(0)]", ["early", "rescued"])
    value("fn first_ok(xs) {\n  for x in xs {\n    try: return 10 / x rescue e: continue\n  }\n"
          "  nil\n}\n[first_ok([0, 0, 5]), first_ok([0])]", [2.0, None])


def test_return_at_top_level_inside_try_ends_the_program():
    value("try { return 5 } rescue e { 0 }\n6", 5)


def test_try_in_a_loop_keeps_going_after_failures():
    value("let ok = 0\nlet bad = 0\nfor x in [1, 0, 2, 0, 3] {\n"
          "  try { 6 / x; ok += 1 } rescue e { bad += 1 }\n}\n[ok, bad]", [3, 2])


# ---- raise -----------------------------------------------------------------------------------

def test_raise_a_message():
    err = fails('fn check(x) {\n  if x < 0 { raise("negative") }\n  x\n}\ncheck(-1)', RaisedError)
    assert err.message == "Error: negative"
    assert (err.error_type, err.detail) == ("Error", "negative")
    assert (err.line, err.column) == (2, 14)
    assert [(f.function, f.line) for f in err.call_chain] == [("<top level>", 5), ("check", 2)]
    value('try { raise("negative") } rescue e { [e.type, e.message, e.line, e.column] }',
          ["Error", "negative", 1, 7])


def test_raise_a_type_and_a_message():
    err = fails('\n  raise("Quota", "over " + 3)', RaisedError)
    assert (err.message, err.line, err.column) == ("Quota: over 3", 2, 3)
    value('try { raise("Quota", "full") } rescue e { [e.type, e.message] }', ["Quota", "full"])


def test_reraise_keeps_type_message_and_position():
    source = ("fn inner() {\n  [1, 2][9]\n}\nlet seen = nil\n"
              "let again = try { try { inner() } rescue e { seen = e; raise(e) } } rescue e { e }\n"
              "[seen, again]")
    seen, again = run(source)
    assert seen == again
    assert (seen["type"], seen["line"], seen["column"]) == ("RuntimeError", 2, 3)
    err = fails("fn inner() {\n  [1, 2][9]\n}\ntry { inner() } rescue e { raise(e) }",
                ZixirRuntimeError)
    assert type(err) is ZixirRuntimeError
    assert (err.message, err.line, err.column) == ("Index out of range: 9 (length 2)", 2, 3)
    assert [f.function for f in err.call_chain] == ["<top level>", "inner"]


def test_reraise_of_a_raised_error_and_of_a_changed_map():
    err = fails('try { raise("Quota", "full") } rescue e { raise(e) }', RaisedError)
    assert (err.error_type, err.detail, err.column) == ("Quota", "full", 7)
    err = fails('try { 1 / 0 } rescue e { raise(put(e, "message", "no division")) }',
                ZixirRuntimeError)
    assert (err.message, err.column) == ("no division", 7)


def test_reraise_rebuilds_runtime_fault_classes():
    err = fails('raise({"type": "CallTimeout", "message": "slow", "line": 1, "column": 2, '
                '"call_chain": ["f (line 1, column 2)", "... 3 more calls ..."]})', CallTimeout)
    assert (err.message, err.line, err.column) == ("slow", 1, 2)
    assert err.call_chain == (Frame("f", 1, 2), Frame("... 3 more calls ...", 0, 0))
    err = fails('raise({"type": "PythonError", "message": "m raised KeyError: 1", '
                '"python_type": "KeyError"})', PythonError)
    assert err.exc_type == "KeyError"


def test_raise_arguments_are_checked():
    assert fails("raise(5)").message == \
        "raise: expected a message string or an error map, got int"
    assert fails('raise({"message": "m"})').message.startswith(
        "raise: an error map needs string 'type' and 'message'")
    assert fails("raise()").message == "Function raise expects 1 to 2 arguments, got 0"


def test_uncaught_raise_prints_like_any_runtime_error(tmp_path, capsys):
    from zixir.cli import main

    script = tmp_path / "fail.zx"
    script.write_text('fn check(x) {\n  if x < 0 { raise("ValueError", "negative: " + x) }\n'
                      '  x\n}\ncheck(-2)\n', encoding="utf-8")
    assert main(["run", str(script)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{script}:2:14: error: ValueError: negative: -2\n"), err
    assert "in check at line 2, column 14" in err


# ---- attempt ------------------------------------------------------------------------------------

def test_attempt_success_and_failure():
    value("attempt(() => 41 + 1)", {"ok": True, "value": 42})
    value("attempt(() => nil)", {"ok": True, "value": None})
    result = run("attempt(() => 1 / 0)")
    assert list(result) == ["ok", "error"] and result["ok"] is False
    assert result["error"]["type"] == "RuntimeError"
    assert result["error"]["message"] == "Division by zero"
    assert (result["error"]["line"], result["error"]["column"]) == (1, 15)


def test_attempt_needs_a_function_of_no_parameters():
    assert fails("attempt(5)").message == "attempt: expected a function, got int"
    assert "takes 1 argument" in fails("attempt(x => x)").message


def test_attempt_in_pmap_keeps_every_result():
    source = ("fn score(x) { if x % 3 == 0 { raise(\"Bad\", \"no \" + x) }; x * 10 }\n"
              "let results = pmap(1..8, x => attempt(() => score(x)))\n"
              "[filter(results, r => r.ok) |> map(r => r.value),"
              " filter(results, r => !r.ok) |> map(r => r.error.message)]")
    expected = [[10, 20, 40, 50, 70], ["no 3", "no 6"]]
    value(source, expected)
    threaded = Session(services=_Parallel())
    assert same(threaded.eval(source), expected)


def test_errors_raised_inside_pmap_are_rescuable_where_pmap_surfaces_them():
    source = "try { pmap([1, 0, 2, 0], x => 1 / x) } rescue e { [e.message, e.column] }"
    value(source, ["Division by zero", 31])
    assert same(Session(services=_Parallel()).eval(source), ["Division by zero", 31])


class _Parallel:
    """Services with no runtime behind them but a parallelism: pmap runs on threads."""

    parallelism = 4

    def __getattr__(self, name):
        raise AttributeError(name)


# ---- the error map ------------------------------------------------------------------------------

def test_error_map_fields():
    source = ("fn f(x) {\n  x + nil\n}\nfn g() { f(1) }\n"
              "try { g() } rescue e { e }")
    e = run(source)
    assert list(e) == ["type", "message", "line", "column", "call_chain"]
    assert e["type"] == "RuntimeError"
    assert e["message"] == "Invalid binary operation: int + nil"
    assert (e["line"], e["column"]) == (2, 3)
    assert e["call_chain"] == ["<top level> (line 5, column 7)", "g (line 4, column 10)",
                               "f (line 2, column 3)"]


def test_call_chain_includes_the_calls_around_the_try():
    source = ("fn risky() { [][0] }\n"
              "fn guarded() { try { risky() } rescue e { e.call_chain } }\n"
              "fn outer() { guarded() }\nouter()")
    value(source, ["<top level> (line 4, column 1)", "outer (line 3, column 14)",
                   "guarded (line 2, column 22)", "risky (line 1, column 14)"])


def test_python_errors_carry_python_type():
    err = PythonError("json.loads raised ValueError: bad", exc_type="ValueError")
    err.at(3, 4)
    m = error_map(err)
    assert m["type"] == "PythonError" and m["python_type"] == "ValueError"
    assert m["message"] == "json.loads raised ValueError: bad"
    assert "python_type" not in run("try { 1 / 0 } rescue e { e }")


def test_every_runtime_fault_class_has_its_own_type():
    from zixir.lang import errors

    names = ["WorkerCrashed", "CallTimeout", "CircuitOpen", "PolicyDenied", "Overloaded",
             "RestartLimitExceeded", "RouterCrashed", "ProtocolError", "PythonError"]
    for name in names:
        assert error_map(getattr(errors, name)("m"))["type"] == name
    assert error_map(ZixirRuntimeError("m"))["type"] == "RuntimeError"
    assert error_map(RaisedError("Mine", "m"))["type"] == "Mine"
    faults = [cls for cls in vars(errors).values() if isinstance(cls, type)
              and issubclass(cls, ZixirRuntimeError) and cls not in (ZixirRuntimeError,
                                                                     RaisedError)]
    assert set(names) <= {cls.__name__ for cls in faults}
    types = [_map_type_of(cls) for cls in faults]
    assert types == [cls.__name__ for cls in faults]  # every fault class, one type each


def _map_type_of(cls) -> str:
    err = cls.__new__(cls)
    ZixirRuntimeError.__init__(err, "m")
    return error_map(err)["type"]


def test_str_of_the_error_map_is_its_literal_text():
    value('try { raise("boom") } rescue e { str(e) }',
          '{"type": "Error", "message": "boom", "line": 1, "column": 7, '
          '"call_chain": ["<top level> (line 1, column 7)"]}')


def test_runtime_errors_of_every_kind_are_rescued():
    for source, message in [
        ("nope", "Undefined variable: nope"),
        ("nope()", "Undefined function: nope"),
        ('1 + [1]', "Invalid binary operation: int + list"),
        ('{"a": 1}["b"]', 'Key not found: "b"'),
        ("len(5)", "len: expected"),
        ("5(1)", "Not a function"),
        ("match 3 { 1 => 1 }", "No matching clause found"),
        ("fn f(n) { f(n + 1) }\nf(0)", "Stack overflow"),
    ]:
        got = run(f"try {{ {source} }} rescue e {{ [e.type, e.message] }}")
        assert got[0] == "RuntimeError" and got[1].startswith(message), (source, got)


# ---- syntax errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("source, message, line, column", [
    ("try { 1 }", "Expected 'rescue' after the 'try' body", 1, 9),
    ("try { 1 }\n2", "Expected 'rescue' after the 'try' body, found '2'", 2, 1),
    ("try { 1 } rescue { 2 }", "Expected identifier after 'rescue', found '{'", 1, 18),
    ("try { 1 } rescue 5 { 2 }", "Expected identifier after 'rescue', found '5'", 1, 18),
    ("try { 1 } rescue e", "Expected ':' or '{' before the 'rescue' body", 1, 18),
    ("try { 1 } rescue e 2", "Expected ':' or '{' before the 'rescue' body, found '2'", 1, 20),
    ("try 1 rescue e { 2 }", "Expected ':' or '{' before the 'try' body, found '1'", 1, 5),
    ("try", "Expected ':' or '{' before the 'try' body", 1, 1),
    ("try { 1 } rescue e if { 2 }", "Expected map key", 1, 25),
    ("try { 1 } rescue e if: 2", "Expected expression, found ':'", 1, 22),
    ("try { 1 } rescue e if true", "Expected ':' or '{' before the 'rescue' body", 1, 23),
    ("try { 1 rescue e { 2 }", "Unexpected 'rescue'", 1, 9),
    ("rescue e { 1 }", "Unexpected 'rescue': it must follow the body of a 'try'", 1, 1),
    ("let x = 1 rescue e { 2 }", "Unexpected 'rescue'", 1, 11),
    ("try:\n1\nrescue e: 2", "Expected an indented block", 2, 1),
    ("try: rescue e: 2", "Unexpected 'rescue'", 1, 6),
    ("let try = 1", "Expected identifier after 'let', found 'try'", 1, 5),
    ("fn f(rescue) { 1 }", "Expected parameter name, found 'rescue'", 1, 6),
])
def test_malformed_try(source, message, line, column):
    with pytest.raises(ZixirSyntaxError) as info:
        Session().eval(source)
    err = info.value
    assert err.message.startswith(message), err.message
    assert (err.line, err.column) == (line, column), (err.line, err.column)


def test_unfinished_try_is_incomplete_for_the_repl():
    for source in ("try {", "try { 1 }", "try { 1 } rescue e", "try:"):
        with pytest.raises(ZixirSyntaxError) as info:
            Session().eval(source)
        assert info.value.incomplete, source


# ---- the checker --------------------------------------------------------------------------------

def messages(source: str) -> list[tuple[str, int, int]]:
    return [(d.message, d.line, d.column) for d in check(source)]


def test_checker_knows_try_rescue():
    assert messages("try { 1 / 0 } rescue e { e.message }") == []
    assert messages("try { x } rescue e if y { z + e.line }") == [
        ("Undefined variable: x", 1, 7), ("Undefined variable: y", 1, 23),
        ("Undefined variable: z", 1, 27)]
    assert messages("try { 1 } rescue e { 2 }\ne") == [("Undefined variable: e", 2, 1)]
    assert messages("try { e } rescue e { 2 }") == [("Undefined variable: e", 1, 7)]
    assert messages("try { 1 } rescue a { 2 } rescue b { a }") == [
        ("Undefined variable: a", 1, 37)]
    assert messages("for x in [1] { try { break } rescue e { continue } }") == []
    assert messages("try { break } rescue e { 1 }") == [("'break' outside of a loop", 1, 7)]


def test_checker_knows_raise_and_attempt():
    assert messages('raise("a")\nraise("T", "m")\nattempt(() => 1)') == []
    assert messages("raise()\nraise(1, 2, 3)\nattempt()") == [
        ("Function raise expects 1 to 2 arguments, got 0", 1, 1),
        ("Function raise expects 1 to 2 arguments, got 3", 2, 1),
        ("Function attempt expects 1 arguments, got 0", 3, 1)]


def test_checker_types_of_try():
    assert messages('let n: Int = try { 1 } rescue e { 2 }') == []
    found = messages('let s: String = try { 1 } rescue e { 2 }')
    assert len(found) == 1 and "String" in found[0][0], found
    # raise never returns: it does not widen the type of an `if`
    found = messages('fn f(x) -> Int { if x { 1 } else { raise("no") } }\nlet s: String = f(1)')
    assert len(found) == 1 and "String" in found[0][0], found


# ---- more documented choices --------------------------------------------------------------------

def test_an_interrupt_is_never_rescued():
    session = Session()

    def interrupt():
        raise KeyboardInterrupt

    session.builtins["u_interrupt"] = interrupt
    with pytest.raises(KeyboardInterrupt):
        session.eval("try { interrupt() } rescue e { 1 }")
    with pytest.raises(KeyboardInterrupt):
        session.eval("attempt(interrupt)")


def test_on_one_line_rescue_clauses_go_to_the_innermost_try():
    with pytest.raises(ZixirSyntaxError) as info:
        Session().eval('try: try: 1 / 0 rescue e: "inner" rescue e2: "second"')
    assert info.value.message.startswith("Expected 'rescue'")
    value('try { try: 1 / 0 rescue e if false: "inner" } rescue e2: "outer"', "outer")
    value('try: 1 / 0 rescue e if false: 1 rescue e2: "second"', "second")


def test_a_reraised_error_is_reported_in_the_file_that_raises_it(tmp_path):
    (tmp_path / "lib.zx").write_text('pub fn risky() {\n  raise("Lib", "failed")\n}\n',
                                     encoding="utf-8")
    main = tmp_path / "main.zx"
    main.write_text('import "lib.zx"\nlet e = try { risky() } rescue e { e }\n'
                    '[e.type, e.line, e.column]\n', encoding="utf-8")
    assert Session().run_file(str(main)) == ["Lib", 2, 3]
    main.write_text('import "lib.zx"\ntry { risky() } rescue e { raise(e) }\n',
                    encoding="utf-8")
    with pytest.raises(RaisedError) as info:
        Session().run_file(str(main))
    err = info.value
    assert (err.error_type, err.line, err.column) == ("Lib", 2, 3)
    assert err.filename == str(main)
    main.write_text('import "lib.zx"\nrisky()\n', encoding="utf-8")
    with pytest.raises(RaisedError) as info:
        Session().run_file(str(main))
    assert info.value.filename == str(tmp_path / "lib.zx")


def test_the_value_of_each_try_form_inside_other_expressions():
    value("[try: 10 / x rescue e: 0 for x in [1, 0, 2]]", [10.0, 0, 5.0])
    value("[x for x in [1, 0, 2] if try: 10 / x > 1 rescue e: false]", [1, 2])
    value('match 0 { 0 => try: [][1] rescue e: "m", _ => 1 }', "m")
    value("let n = 0\nwhile try { n < 3 } rescue e { false } { n += 1 }\nn", 3)
    value("let e = 5\ntry { 1 / 0 } rescue e { e = 6 }\ne", 5)
    value("fn f(n) {\n  if n == 0 { raise(\"bottom\") }\n"
          "  try { f(n - 1) } rescue e if n == 3 { len(e.call_chain) }\n}\nf(5)", 7)


def test_the_repl_waits_for_the_rescue_of_an_unfinished_try():
    from zixir.repl import needs_more

    assert needs_more("try { risky() }") is True
    assert needs_more("try:\n  risky()") is True
    assert needs_more("try { risky() }\nrescue e { 0 }") is False
    assert needs_more("try { risky() } rescue e") is True
