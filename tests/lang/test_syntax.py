"""Lexical rules, newline and offside rules, separators, trailing commas and precedence
(LANGUAGE.md sections 1, 3 and 4), beyond what the conformance corpus pins down."""

from __future__ import annotations

import pytest
from lang_helpers import fails, run, same

from zixir.lang.errors import ZixirRuntimeError, ZixirSyntaxError
from zixir.lang.parser import parse


def check(source: str, expected) -> None:
    value = run(source)
    assert same(value, expected), f"{source!r}: got {value!r}, expected {expected!r}"


# ---- comments ------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("1 + 2 # three", 3),
    ("1 + 2 // three", 3),
    ("// only a comment", None),
    ("# first\n// second\n5", 5),
    ("let x = 1 // the x\nx # done", 1),
    ('"a // b"', "a // b"),
    ('"a # b"', "a # b"),
    ("10 / 2 // halves", 5.0),
    ("1 +  # operator, then a comment\n 2", 3),
    ("[1, # one\n 2 // two\n]", [1, 2]),
])
def test_comments(source, expected):
    check(source, expected)


# ---- numbers -------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("42", 42),
    ("0", 0),
    ("0x1F", 31),
    ("0xff", 255),
    ("0XAB", 0xAB),
    ("0o17", 15),
    ("0b101", 5),
    ("0B11", 3),
    ("1_000", 1000),
    ("1_000_000", 10**6),
    ("0b1010_1010", 0b10101010),
    ("007", 7),
    ("000", 0),
    ("1e3", 1000.0),
    ("1E3", 1000.0),
    ("2.5e-3", 0.0025),
    ("2.5e+2", 250.0),
    ("3.14", 3.14),
    ("1_000.5", 1000.5),
    ("0.5", 0.5),
    ("99999999999999999999999999", 99999999999999999999999999),
    ("0x1F + 0o17 + 0b101", 31 + 15 + 5),
    ("-5", -5),
    ("- 5", -5),
    ("-0x10", -16),
])
def test_number_literals(source, expected):
    check(source, expected)


def test_integer_literals_are_ints_and_exponents_are_floats():
    assert type(run("1000")) is int
    assert type(run("1e3")) is float
    assert type(run("007")) is int


@pytest.mark.parametrize("source, expected", [
    ("1..5", [1, 2, 3, 4]),
    ("0..0", []),
    ("5..1", []),
    ("1..3 == [1, 2]", True),
    ("let a = 2\na..5", [2, 3, 4]),
    ("-2..1", [-2, -1, 0]),
    ("(1..4).length", 3),
])
def test_dot_dot_is_a_range_not_a_float(source, expected):
    check(source, expected)


@pytest.mark.parametrize("source", ["0x", "0b2", "0o9", "1e", "1e+", "12abc", "1__0", "0xZ"])
def test_malformed_numbers_are_syntax_errors(source):
    fails(source, ZixirSyntaxError)


def test_float_needs_digits_after_the_dot():
    # `1.` is not a float: the dot starts a field access and the name is missing
    fails("1.", ZixirSyntaxError)
    # `1.length` is a field access on an integer, not a float literal
    fails("1.length", ZixirRuntimeError)


# ---- strings -------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    (r'"a\nb"', "a\nb"),
    (r'"a\tb"', "a\tb"),
    (r'"a\rb"', "a\rb"),
    (r'"a\0b"', "a\0b"),
    (r'"a\\b"', "a\\b"),
    (r'"a\"b"', 'a"b'),
    (r'"\u{1F600}"', "\U0001F600"),
    (r'"\u{48}\u{69}"', "Hi"),
    (r'"\u{e9}"', "é"),
    (r'"\u{10FFFF}"', "\U0010FFFF"),
    ('"line1\nline2"', "line1\nline2"),
    ('"  indented\n    kept"', "  indented\n    kept"),
    ('""', ""),
    ('"ünïcødé 😀"', "ünïcødé 😀"),
    (r'"\\n"', "\\n"),
])
def test_string_literals_and_escapes(source, expected):
    check(source, expected)


def test_raw_newline_in_string_does_not_end_the_statement():
    check('let s = "a\nb"\ns.length', 3)


@pytest.mark.parametrize("source", [
    '"abc',
    'let s = "abc\n1 + 2',
    '"abc\\"',
    '"',
    '"a" + "b',
])
def test_unterminated_string(source):
    err = fails(source, ZixirSyntaxError)
    assert "Unterminated string" in err.message


@pytest.mark.parametrize("source", [
    r'"\q"', r'"\x41"', r'"\u{}"', r'"\u41"', r'"\u{110000}"', r'"\u{D800}"',
    r'"\u{GG}"', r'"\u{1234567}"',
])
def test_invalid_escapes_are_syntax_errors(source):
    fails(source, ZixirSyntaxError)


# ---- identifiers and keywords -----------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("let café = 3\ncafé * 2", 6),
    ("let 名前 = 1\n名前 + 1", 2),
    ("let _ok = 1\n_ok", 1),
    ("let a1_b2 = 7\na1_b2", 7),
    ("let __ = 2\n__", 2),
    ("let engine = 1\nengine + 1", 2),
    ("let memory = 5\nmemory * 2", 10),
    ("let letter = 1\nlet iffy = 2\nletter + iffy", 3),
    ("let fnord = 4\nfnord", 4),
])
def test_identifiers(source, expected):
    check(source, expected)


KEYWORDS = ("let fn if then else match for in while break continue return true false nil and or "
            "not type import pub python").split()


@pytest.mark.parametrize("word", KEYWORDS)
def test_keywords_are_not_identifiers(word):
    err = fails(f"let {word} = 1", ZixirSyntaxError)
    assert "Expected identifier after 'let'" in err.message


def test_identifier_cannot_start_with_digit():
    fails("let 1x = 2", ZixirSyntaxError)


# ---- unknown characters ------------------------------------------------------------------------

@pytest.mark.parametrize("ch", ["@", "$", "`", "~", "^", "?", "'", "\\", "&", "|", "€", "\x01"])
def test_unknown_character(ch):
    err = fails(f"let x = 1 {ch} 2", ZixirSyntaxError)
    assert err.message.startswith("Unexpected character")
    assert (err.line, err.column) == (1, 11)


def test_unknown_character_names_the_character():
    err = fails("let x = 4 @ 5", ZixirSyntaxError)
    assert "Unexpected character '@'" in err.message


def test_unknown_character_inside_string_or_comment_is_fine():
    check('"@$`~^?" # @$`~^?', "@$`~^?")


# ---- newlines ------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    # inside brackets and map literals
    ("let x = [1,\n2,\n3]\nx", [1, 2, 3]),
    ("let x = [\n  1\n  ,\n  2\n]\nx", [1, 2]),
    ("let x = (1\n+ 2)\nx", 3),
    ("let x = (1\n- 2)\nx", -1),
    ("let m = {\n  \"a\": 1,\n  b:\n    2\n}\nm", {"a": 1, "b": 2}),
    ("fn f(a, b): a - b\nf(\n  10\n  ,\n  3\n)", 7),
    ("fn f(\n  a,\n  b\n): a * b\nf(2, 3)", 6),
    ("let xs = [10, 20]\nxs[\n  1\n]", 20),
    # after a binary operator
    ("let x = 1 +\n  2\nx", 3),
    ("let x = 2 *\n3 -\n1\nx", 5),
    ("let ok = true and\n  false\nok", False),
    ("let ok = false ||\n  true\nok", True),
    ("let b = 1 ==\n  1\nb", True),
    ("let r = 1..\n4\nr", [1, 2, 3]),
    ("let s = 1 |>\n  str\ns", "1"),
    # after `,`, `=`, `=>`, `->`, `(`, `[`
    ("let x =\n  5\nx", 5),
    ("let f = x =>\n  x + 1\nf(2)", 3),
    ("fn f(x) ->\n  Int: x + 1\nf(1)", 2),
    ("match 1 {\n  1 =>\n    \"one\"\n  _ => \"other\"\n}", "one"),
    ("match 1 {\n  1 ->\n    \"one\"\n  _ -> \"other\"\n}", "one"),
    ("let x = 3\nx +=\n  4\nx", 7),
    # the next line starts with `else`, `|>` or `.`
    ("if false { 1 }\nelse { 2 }", 2),
    ("let r = if false: 1\nelse: 2\nr", 2),
    ("[1, 2, 3]\n  |> map(x => x * 2)\n  |> sum()", 12),
    ("let v = 1\n  |> str\nv", "1"),
    ("let m = {\"a\": {\"b\": 3}}\nm\n  .a\n  .b", 3),
    ("let xs = [1, 2, 3]\nxs\n  .length", 3),
])
def test_statement_continues(source, expected):
    check(source, expected)


@pytest.mark.parametrize("source, expected", [
    # a line starting with `-`, `[` or `(` starts a new statement
    ("let a = 5\n-1", -1),
    ("let a = 5\na\n-1", -1),
    ("let a = 5\nlet b = a\n-1\nb", 5),
    ("let xs = [10, 20]\nlet y = xs\n[0]\ny", [10, 20]),
    ("let xs = [10, 20]\nxs\n[0]", [0]),
    ("fn g(x): x * 2\nlet a = g\n(5)", 5),
    ("fn g(x): x * 2\nlet a = g\n(5)\na(1)", 2),
    ("let v = 3\n(v + 1) * 2", 8),
    # a plain newline ends a statement
    ("1\n2\n3", 3),
    ("let x = 1\nlet y = 2\nx", 1),
])
def test_statement_ends(source, expected):
    check(source, expected)


@pytest.mark.parametrize("source", [
    "let x = 1\n  + 2",       # `+` starting a line is not a continuation
    "let ok = true\n  and false",
    "let a = 1\n, 2",
    "1 2",
    "let a = 1 let b = 2",
])
def test_no_continuation_is_an_error(source):
    fails(source, ZixirSyntaxError)


# ---- `;` ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("1; 2; 3", 3),
    ("let a = 1; let b = 2; a + b", 3),
    ("let a = 1;", 1),
    (";;;", None),
    (";1;;2;", 2),
    ("if true { let a = 1; a + 1 } else { 0 }", 2),
    ("fn f(x) { let y = x; y * 2 }\nf(4)", 8),
    ("let xs = [1, 2, 3]; let t = 0; for x in xs { t += x }; t", 6),
    ("fn f():\n  let a = 1; let b = 2\n  a + b\nf()", 3),
])
def test_semicolons(source, expected):
    check(source, expected)


# ---- offside rule -------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("fn f(x):\n  let y = x * 2\n  y + 1\nf(3)", 7),
    ("fn f(x):\n    let y = x\n    y\nf(9)", 9),
    ("fn f(x):\n\tlet y = x\n\ty + 1\nf(1)", 2),
    # nested blocks, dedent ends the inner one
    ("fn f(x):\n  if x > 0:\n    let y = x\n    y * 2\n  else:\n    0\nf(3)", 6),
    ("fn f(x):\n  if x > 0:\n    let y = x\n    y * 2\n  else:\n    0\nf(-3)", 0),
    ("fn f(x):\n  let r = 0\n  if x > 0:\n    r = 1\n  r + 10\nf(5)", 11),
    ("fn f(x):\n  let r = 0\n  if x > 0:\n    r = 1\n  r + 10\nf(-5)", 10),
    ("fn f(n):\n  let acc = 0\n  for i in 0..n:\n    acc += i\n  acc\nf(5)", 10),
    ("fn f(n):\n  let acc = 0\n  for i in 0..n:\n    if i == 3:\n      break\n    acc += i\n  acc\n"
     "f(10)", 3),
    # `else` aligned with its `if`
    ("if false:\n  1\nelse:\n  2", 2),
    ("fn f(x):\n  let r = if x > 0:\n    1\n  else:\n    2\n  r\nf(-3)", 2),
    ("if false:\n  1\nelse if true:\n  2\nelse:\n  3", 2),
    # a block ends at the end of input, and a dedent to the top level
    ("let t = 0\nfor i in [1, 2]:\n  t += i\nt", 3),
    ("let t = 0\nwhile t < 5:\n  t += 2\nt", 6),
    # blank lines and comments inside an indented block
    ("fn f():\n  let a = 1\n\n  # comment\n  a + 1\nf()", 2),
    # indented match form
    ("fn f(x):\n  match x:\n    [a, b] -> a + b\n    _ -> 0\nf([2, 3])", 5),
    # a single expression after `:` on the same line
    ("fn f(x): x + 1\nf(1)", 2),
    ("for x in [1, 2]: x", 2),
])
def test_offside_blocks(source, expected):
    check(source, expected)


def test_unexpected_indent():
    err = fails("fn f():\n  let a = 1\n    a\nf()", ZixirSyntaxError)
    assert "Unexpected indent" in err.message
    assert (err.line, err.column) == (3, 5)


def test_unexpected_indent_in_nested_block():
    err = fails("fn f(x):\n  if x:\n    1\n      2\n  3\nf(true)", ZixirSyntaxError)
    assert "Unexpected indent" in err.message
    assert err.line == 4


def test_colon_block_needs_indentation():
    fails("fn e():\n1", ZixirSyntaxError)
    fails("if true:\n1", ZixirSyntaxError)


# ---- trailing commas ------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("[1, 2,]", [1, 2]),
    ("[1,]", [1]),
    ('{"a": 1,}', {"a": 1}),
    ('{a: 1, b: 2,}', {"a": 1, "b": 2}),
    ("fn f(a, b,): a + b\nf(1, 2,)", 3),
    ("fn f(a: Int, b: Int,) -> Int: a * b\nf(3, 4,)", 12),
    ("let f = (a, b,) => a - b\nf(5, 1,)", 4),
    ("let f = fn(a,) { a }\nf(9,)", 9),
    ("match 2 { 1 => \"a\", 2 => \"b\", }", "b"),
    ("match [1, 2] { [a, b,] => a + b, }", 3),
    ('match {"k": 1} { {"k": v,} => v, }', 1),
    ("[\n  1,\n  2,\n]", [1, 2]),
    ("len([1, 2, 3],)", 3),
])
def test_trailing_commas(source, expected):
    check(source, expected)


@pytest.mark.parametrize("source", ["[1,,2]", "[,]", "f(,)", "{,}", "fn f(,): 1"])
def test_double_or_leading_commas_are_errors(source):
    fails(source, ZixirSyntaxError)


# ---- precedence and associativity --------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    # 1: pipe is the lowest
    ("1 + 2 |> str", "3"),
    ("true || false |> str", "true"),
    # 2 vs 3: `and` binds tighter than `or`
    ("true || false && false", True),
    ("false && false || true", True),
    ("true or false and false", True),
    ("false and false or true", True),
    ("nil or 1 and 2", 2),
    # 3 vs 4: comparison binds tighter than `and`
    ("nil && 1 == nil", None),
    ("1 == 1 and 2 == 2", True),
    ("0 || 1 == 2", 0),
    # 4 vs 5: range binds tighter than comparison
    ("0..3 == [0, 1, 2]", True),
    ("[0, 1] == 0..2", True),
    # 5 vs 6: additive binds tighter than range
    ("1 + 1..2 + 2", [2, 3]),
    ("0..2 * 2", [0, 1, 2, 3]),
    # 6 vs 7
    ("2 + 3 * 4", 14),
    ("10 - 4 / 2", 8.0),
    ("1 + 7 % 4", 4),
    ("(2 + 3) * 4", 20),
    # 7 vs 8: unary binds tighter than multiplicative
    ("-2 % 3", 1),
    ("-2 * 3", -6),
    ("let a = 2\n-a % 3", 1),
    ("!true == false", True),
    ("not true == false", True),
    ("not nil and 5", 5),
    ("-3 + 5", 2),
    # 8 vs 9: postfix binds tighter than unary
    ("-[1, 2][0]", -1),
    ('-"abc".length', -3),
    ("fn f(): false\n!f()", True),
    ("let m = {\"n\": 4}\n-m.n", -4),
    ("-(1..4).length", -3),
    # postfix on any expression, chained
    ("[[1, 2], [3, 4]][1][0]", 3),
    ("(x => x * 2)(21)", 42),
    ("fn mk(): x => [x, x]\nmk()(3)[1]", 3),
    ('{"a": [1, {"b": 5}]}.a[1].b', 5),
    ('"hey"[1]', "e"),
    # left associativity at every level
    ("10 - 3 - 2", 5),
    ("100 / 10 / 2", 5.0),
    ("17 % 7 * 2", 6),
    ("2 * 3 % 4", 2),
    ("1 == 1 == true", True),
    ("1 < 2 == true", True),
    ("2 == 2 != false", True),
    ("nil || false || 3", 3),
    ("1 && 2 && 3", 3),
    ("--5", 5),
    ("!!nil", False),
    ("- -2", 2),
])
def test_precedence(source, expected):
    check(source, expected)


def test_pipes_are_left_associative():
    check("fn inc(a): a + 1\nfn dbl(a): a * 2\n3 |> inc |> dbl |> inc", 9)
    check("fn sub(a, b): a - b\n10 |> sub(3) |> sub(2)", 5)


def test_comparisons_do_not_chain_like_python():
    # left-associative: (3 > 2) > 1 compares a boolean with a number
    err = fails("3 > 2 > 1", ZixirRuntimeError)
    assert "Invalid binary operation" in err.message


def test_range_is_non_associative_in_practice():
    # (1..2)..3 is a range on the left of `..`: not two integers
    fails("1..2..3", ZixirRuntimeError)


def test_power_operator_parses_right_associative_above_unary_minus():
    program = parse("-2 ** 3 ** 4")
    node = program.body[0].expr
    assert (type(node).__name__, node.op) == ("Unary", "-")
    power = node.operand
    assert (power.op, power.left.value, power.right.op) == ("**", 2, "**")
    fails("2 ** ", ZixirSyntaxError)
    fails("2 *** 3", ZixirSyntaxError)


# ---- blocks versus map literals ------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("{}", {}),
    ('{"a": 1}', {"a": 1}),
    ("if true { }", None),
    ("if true { } else { 5 }", None),
    ("fn e() {}\ne()", None),
    ("let f = fn(x) { }\nf(1)", None),
    ('if true { "k": 1 } else { 2 }', {"k": 1}),
    ("if true { k: 1 }", {"k": 1}),
    ("fn m() { a: 1 }\nm()", {"a": 1}),
    ("let f = () => { n: 2 }\nf()", {"n": 2}),
    ("let f = () => { 2 }\nf()", 2),
    ('match 1 { 1 => { "x": 1 } }', {"x": 1}),
    ("match 1 { 1 => { 7 } }", 7),
    ("let xs = [{}]\nxs[0]", {}),
    ("let t = 0\nfor x in [1] { t = x }\nt", 1),
    ("let t = 0\nwhile t < 1 { t += 1 }", 1),
])
def test_braces_open_blocks_or_maps(source, expected):
    check(source, expected)


def test_bare_brace_at_statement_start_is_a_map_literal():
    # `{` in expression position opens a map literal, so statements inside it are an error
    fails("{\n  let x = 2\n}", ZixirSyntaxError)


@pytest.mark.parametrize("source", [
    # `else` deeper than its `if` but shallower than the `if` body: aligned with nothing
    "fn f(x):\n  if x:\n    1\n   else:\n    2\nf(false)",
    # `else` aligned with the body of the `if`
    "if true:\n  1\n  else: 2",
    # `else` to the left of its `if`
    "fn f(x):\n  if x:\n    1\nelse:\n  2",
])
def test_misaligned_else(source):
    fails(source, ZixirSyntaxError)


@pytest.mark.parametrize("source", [
    # a dedent must return to the column of an enclosing block, as in Python
    "fn f():\n  1\n 2\nf()",
    "let t = 0\nfor i in [1, 2]:\n    t += i\n  t = 100\nt",
    "fn f(x):\n    if x:\n        1\n      2\nf(true)",
])
def test_dedent_to_no_enclosing_column(source):
    err = fails(source, ZixirSyntaxError)
    assert "indent" in err.message.lower()
