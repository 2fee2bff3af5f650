"""Error messages, positions and call chains (LANGUAGE.md section 8)."""

from __future__ import annotations

import textwrap
import warnings

import pytest
from lang_helpers import fails, run

from zixir.lang.errors import Frame, ZixirError, ZixirRuntimeError, ZixirSyntaxError
from zixir.lang.session import Session


def program(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


# ---- syntax errors: wording and position ---------------------------------------------------------
# (source, message prefix, line, column); an error at the end of input is reported at the
# unclosed bracket or, when nothing is open, at the last token.

SYNTAX_ERRORS = [
    # Expected expression
    ("1 +", "Expected expression", 1, 3),
    ("let x =", "Expected expression", 1, 7),
    ("let x = )", "Expected expression", 1, 9),
    ("* 2", "Expected expression", 1, 1),
    ("if true:", "Expected expression", 1, 8),
    ("let a = 1\nlet b = a *", "Expected expression", 2, 11),
    ("f(1, ,)", "Expected expression", 1, 6),
    ("let x = 1 +\n\n", "Expected expression", 1, 11),
    ("if true { 1 } else", "Expected expression", 1, 15),
    ("()", "Expected expression", 1, 2),
    # Expected identifier after 'let'
    ("let", "Expected identifier after 'let'", 1, 1),
    ("let 5 = 3", "Expected identifier after 'let'", 1, 5),
    ("let = 5", "Expected identifier after 'let'", 1, 5),
    ("x = 1\nlet if = 2", "Expected identifier after 'let'", 2, 5),
    # Expected '='
    ("let x 5", "Expected '='", 1, 7),
    ("let x", "Expected '='", 1, 5),
    ("let x: Int 5", "Expected '='", 1, 12),
    ("type T Int", "Expected '='", 1, 8),
    # Expected 'in'
    ("for x [1]: 1", "Expected 'in'", 1, 7),
    ("for x", "Expected 'in'", 1, 5),
    ("[x for x]", "Expected 'in'", 1, 9),
    ("for x of [1] { x }", "Expected 'in'", 1, 7),
    # Expected ')'
    ("(1 + 2", "Expected ')'", 1, 1),
    ("let x = (1 + 2", "Expected ')'", 1, 9),
    ("foo(1, 2", "Expected ')'", 1, 4),
    ("(1, 2)", "Expected ')'", 1, 3),
    ("fn f(a, b", "Expected ')'", 1, 5),
    ("(1 + (2", "Expected ')'", 1, 6),
    ("let y = 1\n  print(y", "Expected ')'", 2, 8),
    ("f(1 2)", "Expected ')'", 1, 5),
    # Expected ']'
    ("[1, 2", "Expected ']'", 1, 1),
    ("let x = [1, 2,", "Expected ']'", 1, 9),
    ("[1 2]", "Expected ']'", 1, 4),
    ("let xs = [1]\nxs[0", "Expected ']'", 2, 3),
    ("[x for x in xs", "Expected ']'", 1, 1),
    ("foo(1, [2, 3", "Expected ']'", 1, 8),
    # Expected '}'
    ('{"a": 1', "Expected '}'", 1, 1),
    ("if true {", "Expected '}'", 1, 9),
    ("fn f() {\n  1", "Expected '}'", 1, 8),
    ("match x {", "Expected '}'", 1, 9),
    ('{"a": 1 "b": 2}', "Expected '}'", 1, 9),
    ("if true { 1 } else {", "Expected '}'", 1, 20),
    ("while true {\n  if x {", "Expected '}'", 2, 8),
    ("match 1 { 1 => 2", "Expected '}'", 1, 9),
    ("match 1 {\n  1 => 2", "Expected '}'", 1, 9),
    # Expected ':'
    ("{a 1}", "Expected ':'", 1, 4),
    ('{"a"}', "Expected ':'", 1, 5),
    ('let m = {"a": 1, "b" 2}', "Expected ':'", 1, 22),
    # Expected '=>'
    ("match 1 { 1 2 }", "Expected '=>'", 1, 13),
    ("match 1 { 1 }", "Expected '=>'", 1, 13),
    ("match 1 {\n  1 = 2\n}", "Expected '=>'", 2, 5),
    # Unexpected character
    ("let x = 4 @ 5", "Unexpected character '@'", 1, 11),
    ("let x = 1\nlet y = $", "Unexpected character '$'", 2, 9),
    ("\tlet x = @", "Unexpected character '@'", 1, 10),
    ("let é = 1 ~", "Unexpected character '~'", 1, 11),
    ("`", "Unexpected character '`'", 1, 1),
    # Unexpected 'TOKEN'
    ("1 2", "Unexpected '2'", 1, 3),
    ("[1, 2]]", "Unexpected ']'", 1, 7),
    ("let a = 1 let b = 2", "Unexpected 'let'", 1, 11),
    ("fn f() { 1 } 2", "Unexpected '2'", 1, 14),
    ("if true { 1 } else { 2 } }", "Unexpected '}'", 1, 26),
    ("x = 1\ny = 2 )", "Unexpected ')'", 2, 7),
    # Unterminated string
    ('"abc', "Unterminated string", 1, 1),
    ('let s = "abc\ndef', "Unterminated string", 1, 9),
    ('x = 1\n  "ab', "Unterminated string", 2, 3),
    ('let é = "ab', "Unterminated string", 1, 9),
    ('"ab\\', "Unterminated string", 1, 1),
    ('print("a", "b)', "Unterminated string", 1, 12),
]


@pytest.mark.parametrize("source, prefix, line, column", SYNTAX_ERRORS,
                         ids=[repr(c[0]) for c in SYNTAX_ERRORS])
def test_syntax_error(source, prefix, line, column):
    err = fails(source, ZixirSyntaxError)
    assert err.message.startswith(prefix), err.message
    assert (err.line, err.column) == (line, column), (err.message, err.line, err.column)
    assert f"line {line}, column {column}" in str(err)
    assert err.call_chain == ()


def test_syntax_error_is_a_zixir_error_not_a_python_one():
    err = fails("let x = (", ZixirSyntaxError)
    assert isinstance(err, ZixirError)
    assert not isinstance(err, SyntaxError)


def test_syntax_error_reported_before_anything_runs(capsys):
    fails('println("ran")\nlet x = (', ZixirSyntaxError)
    assert capsys.readouterr().out == ""


# ---- runtime errors: wording, position, call chain ----------------------------------------------

RUNTIME_ERRORS = [
    ("let a = 1\nlet b = a +   undefined_var", "Undefined variable: undefined_var", 2, 15),
    ("x + 5", "Undefined variable: x", 1, 1),
    ("let a = 1\n  nonexistent(1, 2)", "Undefined function: nonexistent", 2, 3),
    ("fn f(a, b): a\nf(1)", "Function f expects 2 arguments, got 1", 2, 1),
    ("fn f(): 1\nf(1, 2, 3)", "Function f expects 0 arguments, got 3", 2, 1),
    ("let g = (a) => a\ng(1, 2)", "Function g expects 1 arguments, got 2", 2, 1),
    ("let x = 5\nx(1)", "Not a function", 2, 1),
    ("let xs = [1, 2]\nlet m = 3\n  xs[5]", "Index out of range", 3, 3),
    ('let m = {"a": 1}\n\nm["b"]', "Key not found", 3, 1),
    ("let q = 0\nlet r = 10 / q", "Division by zero", 2, 9),
    ('1 + "a" * 2', "Invalid binary operation", 1, 5),
    ('let s = "a"\n-s', "Invalid unary operation", 2, 1),
    ("match 5 {\n  1 => 2\n}", "No matching clause found", 1, 1),
    ("for x in 5 { x }", "For loop requires a list", 1, 10),
    ("while 1 { 2 }", "While loop condition must be boolean", 1, 7),
    ("let z = 1\nz = 1\nw = 2", "Undefined variable: w", 3, 1),
]


@pytest.mark.parametrize("source, prefix, line, column", RUNTIME_ERRORS,
                         ids=[repr(c[0]) for c in RUNTIME_ERRORS])
def test_runtime_error(source, prefix, line, column):
    err = fails(source, ZixirRuntimeError)
    assert err.message.startswith(prefix), err.message
    assert (err.line, err.column) == (line, column), (err.message, err.line, err.column)
    assert f"line {line}, column {column}" in str(err)
    assert err.message in str(err)


def names(err: ZixirError) -> list[str]:
    return [frame.function for frame in err.call_chain]


def test_call_chain_lists_zixir_functions_outermost_first():
    err = fails(program("""
        fn inner(x) {
          x / 0
        }
        fn outer(y) {
          let z = y + 1
          inner(z)
        }
        outer(1)
    """), ZixirRuntimeError)
    assert err.message == "Division by zero"
    assert (err.line, err.column) == (2, 3)
    assert names(err)[-2:] == ["outer", "inner"]
    assert all(isinstance(frame, Frame) for frame in err.call_chain)
    # every frame says where that function was executing: outer at its call of inner
    by_name = {frame.function: frame for frame in err.call_chain}
    assert (by_name["outer"].line, by_name["outer"].column) == (6, 3)
    assert (by_name["inner"].line, by_name["inner"].column) == (2, 3)
    # the outermost frame is the top level, at the call of outer
    assert (err.call_chain[0].line, err.call_chain[0].column) == (8, 1)


def test_call_chain_of_undefined_function_deep_inside():
    err = fails("fn g() { h() }\nfn h() { nope(1) }\ng()", ZixirRuntimeError)
    assert err.message.startswith("Undefined function: nope")
    assert (err.line, err.column) == (2, 10)
    assert names(err)[-2:] == ["g", "h"]


def test_call_chain_through_a_builtin_callback():
    err = fails("fn bad(x): x / 0\nmap([1], bad)", ZixirRuntimeError)
    assert err.message == "Division by zero"
    assert (err.line, err.column) == (1, 12)
    assert names(err)[-1] == "bad"


def test_call_chain_of_recursive_function_repeats_it():
    err = fails("fn rec(n) { if n == 0 { [1][3] } else { rec(n - 1) } }\nrec(3)",
                ZixirRuntimeError)
    assert "Index out of range" in err.message
    assert names(err).count("rec") == 4


def test_top_level_error_has_short_chain():
    err = fails("let a = 1\na / 0", ZixirRuntimeError)
    assert len(err.call_chain) <= 1
    assert (err.line, err.column) == (2, 1)


def test_builtin_error_is_positioned_at_the_call():
    err = fails("let xs = [1]\n  len(5)", ZixirRuntimeError)
    assert err.message.startswith("len")
    assert (err.line, err.column) == (2, 3)


def test_engine_errors_name_the_op():
    err = fails("engine.list_sum(5)", ZixirRuntimeError)
    assert "list_sum" in err.message
    err = fails("engine.nope_op([1.0])", ZixirRuntimeError)
    assert "unknown engine op: nope_op" in err.message
    err = fails("let a = [1.0]\nengine.vec_add(a, [1.0, 2.0])", ZixirRuntimeError)
    assert "length" in err.message
    assert err.line == 2


def test_runtime_error_in_a_later_evaluation_of_a_session():
    session = Session()
    session.eval("fn f(x): x / 0")
    with pytest.raises(ZixirRuntimeError) as info:
        session.eval("\n\nf(1)")
    assert info.value.message == "Division by zero"
    assert names(info.value)[-1] == "f"


def test_str_of_error_has_message_and_position():
    err = fails("let a = 1\n\n  a()", ZixirRuntimeError)
    text = str(err)
    assert err.message in text
    assert "line 3, column 3" in text


def test_errors_carry_no_python_cause_chain_to_the_user():
    err = fails("1 / 0", ZixirRuntimeError)
    assert isinstance(err, ZixirError)
    assert not isinstance(err, ZeroDivisionError)


@pytest.mark.parametrize("source", ['"abc"["x"]', "5[0]", "[1][1.0]", "nil(1)", '"s"(1)',
                                    "1(2)", "[1, 2](0)"])
def test_no_python_warnings_leak_from_generated_code(source):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ZixirRuntimeError):
            run(source)
    leaked = [w for w in caught if issubclass(w.category, SyntaxWarning)]
    assert leaked == [], [str(w.message) for w in leaked]


@pytest.mark.parametrize("source, fragment", [
    ("nil(1)", "Not a function"),
    ('"s"(1)', "Not a function"),
    ("[1, 2](0)", "Not a function"),
    ("let m = {}\nm(1)", "Not a function"),
])
def test_calling_a_non_function(source, fragment):
    err = fails(source, ZixirRuntimeError)
    assert err.message.startswith(fragment)


def test_enormous_range_leaving_the_program_is_a_zixir_error():
    # a range becomes a list when it leaves the program; one this long cannot
    with pytest.raises(ZixirError):
        run("1..23456789012345678901234567890")


def test_length_of_enormous_range_is_a_zixir_error():
    fails("let r = 0..100000000000000000000\nr.length", ZixirRuntimeError)
    check_value = run("let r = 0..100000000000000000000\nr[5]")
    assert check_value == 5


def test_sessions_never_mix_up_their_programs():
    """Each session counts its own programs; the error translator must still find the right
    one (an error in an earlier function after another session compiled a program)."""
    from zixir.lang.session import Session

    first = Session()
    first.eval("fn f(x) { x - true }")
    Session().eval("let y = [1, 2, 3]\ny[0] + 1")
    with pytest.raises(ZixirRuntimeError) as info:
        first.eval("f(1)")
    assert info.value.message == "Invalid binary operation: int - bool"
    assert (info.value.line, info.value.column) == (1, 11)


def test_programs_of_plain_code_do_not_accumulate():
    import gc

    from zixir.lang.session import _PROGRAMS, Session

    session = Session()
    session.eval("fn keep(x) { x / 0 }")
    gc.collect()
    before = len(_PROGRAMS)
    for i in range(300):
        session.eval(f"let v{i} = {i} * 2")
    gc.collect()
    assert len(_PROGRAMS) <= before + 1
    with pytest.raises(ZixirRuntimeError) as info:  # the function's program is kept
        session.eval("keep(1)")
    assert info.value.message == "Division by zero" and info.value.column == 14


@pytest.mark.parametrize("source, message", [
    ('("a" + 1) - 2', "Invalid binary operation: string - int"),
    ("let f = () => [1]\nf() * f()", "Invalid binary operation: list * list"),
    ('(1 + 2) < ("a" + "b")', "Invalid binary operation: int < string"),
    ('engine.list_sum("a")', "engine.list_sum: expected a list of numbers (xs is string)"),
    ("engine.list_sum([1, nil])", "(xs[1] is nil)"),
])
def test_messages_name_types_as_type_of_does(source, message):
    assert message in fails(source, ZixirRuntimeError).message


def test_caret_counts_terminal_cells():
    from zixir.lang.diagnostics import cells, format_error

    source = 'let s = "日本語😀"; s - 1'
    err = fails(source, ZixirRuntimeError)
    shown = format_error(err, source, "f.zx").splitlines()
    caret = shown[2]
    assert caret.index("^") == cells('  let s = "日本語😀"; ') == 22  # 4 wide characters
    assert caret.strip() == "^^^^^"
    assert cells("e\u0301") == 1 and cells("日") == 2


def test_a_very_long_line_is_shown_as_a_window():
    from zixir.lang.diagnostics import format_error

    source = "let x = [" + ", ".join(["1"] * 5000) + '] + "a" * 2'
    err = fails(source, ZixirRuntimeError)
    text = format_error(err, source, "f.zx")
    assert all(len(line) < 250 for line in text.splitlines()), [len(x) for x in text.split("\n")]
    line, caret = text.splitlines()[1:3]
    assert line.startswith("  ...") and line.endswith('"a" * 2')
    assert caret.strip() == "^" * 7 and line[caret.index("^"):].startswith('"a" * 2')


def test_call_chain_names_the_imported_file(tmp_path):
    from zixir.lang.diagnostics import format_error

    (tmp_path / "lib.zx").write_text("pub fn bad(x) {\n  x / 0\n}\n", encoding="utf-8")
    main = tmp_path / "main.zx"
    main.write_text('import "lib.zx"\nfn go() { bad(1) }\ngo()\n', encoding="utf-8")
    with pytest.raises(ZixirRuntimeError) as info:
        Session().run_file(str(main))
    err = info.value
    assert err.filename == str(tmp_path / "lib.zx")
    assert [f.filename for f in err.call_chain] == [str(main), str(main), str(tmp_path / "lib.zx")]
    text = format_error(err, None, str(main))
    chain = text.split("call chain (most recent call last):\n")[1].splitlines()
    assert [line.split(" at ")[0] for line in chain] == ["  in <top level>", "  in go", "  in bad"]
    assert chain[1].endswith("main.zx line 2, column 11")
    assert chain[2].endswith("lib.zx line 2, column 3")  # every frame names its file
    single = fails("fn f(x) { x / 0 }\nf(1)", ZixirRuntimeError)
    assert "in f at line 1, column 11" in format_error(single, None, "one.zx")  # one file: none


def test_pmap_error_chain_includes_the_callers():
    from zixir.lang.session import Session as S

    class Parallel:
        parallelism = 4

    session = S(services=Parallel())  # type: ignore[arg-type]
    source = ("fn work(x) { 1 / x }\nfn run_all() { pmap([1, 0, 2], x => work(x)) }\n"
              "run_all()")
    with pytest.raises(ZixirRuntimeError) as info:
        session.eval(source)
    names = [f.function for f in info.value.call_chain]
    assert names == ["<top level>", "run_all", "<lambda>", "work"], names
