"""`format_source`: the canonical layout, and that it never changes what a program means.

Every corpus program and example must format to a program with the same syntax tree (positions
aside), the same value and the same comments, and formatting must be idempotent; a hypothesis
test does the same for mutated corpus programs (moved whitespace, blank lines, new comments).
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from zixir.lang import ast as A
from zixir.lang.errors import ZixirError, ZixirSyntaxError
from zixir.lang.formatter import WIDTH, format_source, quote
from zixir.lang.lexer import tokenize_with_comments
from zixir.lang.parser import parse
from zixir.lang.session import Session
from zixir.lang.values import to_literal

ROOT = Path(__file__).resolve().parent.parent.parent
CASES = [json.loads(line) for line in (ROOT / "tests" / "cases.jsonl").read_text(
    encoding="utf-8").splitlines() if line.strip()]
EXAMPLES = sorted((ROOT / "examples").glob("*.zx"))
_POSITIONS = {"line", "column", "end_line", "end_column", "source", "filename"}


def dump(node):
    """The syntax tree without positions, comparable with `==`."""
    if isinstance(node, A.Node):
        return (type(node).__name__,) + tuple(
            (name, dump(getattr(node, name))) for name in node.__slots__
            if name not in _POSITIONS)
    if isinstance(node, (list, tuple)):
        return [dump(item) for item in node]
    if isinstance(node, float):
        return ("float", repr(node))  # keeps -0.0 apart from 0.0
    return node


def comments_of(source: str) -> Counter:
    return Counter(c.text for c in tokenize_with_comments(source)[1])


def parses(source: str) -> bool:
    try:
        parse(source)
    except ZixirError:
        return False
    return True


def fmt(source: str) -> str:
    return format_source(textwrap.dedent(source))


def assert_formats(source: str, expected: str) -> None:
    expected = textwrap.dedent(expected)
    assert fmt(source) == expected
    assert format_source(expected) == expected


def assert_equivalent(source: str) -> str:
    """Format `source` and check the result against it; return the result."""
    out = format_source(source)
    assert format_source(out) == out, "formatting is not idempotent"
    assert dump(parse(out)) == dump(parse(source)), "formatting changed the syntax tree"
    assert comments_of(out) == comments_of(source), "formatting lost or changed a comment"
    return out


# ---- layout ---------------------------------------------------------------------------------


def test_spaces_around_operators_after_commas_and_map_colons():
    assert_formats("let  x=[1,2 ,3]\nlet m={a:1,\"b c\":x*2}\n( x,y )=>x+y\n",
                   'let x = [1, 2, 3]\nlet m = {a: 1, "b c": x * 2}\n(x, y) => x + y\n')


def test_trailing_commas_dropped_on_one_line():
    assert_formats("let xs = [1, 2,]\nf(a, b,)\n{k: 1,}\n", "let xs = [1, 2]\nf(a, b)\n{k: 1}\n")


def test_brace_blocks_one_statement_per_line_with_two_space_indent():
    assert_formats("fn f(x) {\n let y = x\n y * 2 }\nif x {\n1 } else { 2 }\n", """\
        fn f(x) {
          let y = x
          y * 2
        }

        if x {
          1
        } else { 2 }
        """)


def test_one_line_brace_blocks_stay_on_one_line():
    assert_formats("fn f(x) {   let y = x;y * 2 }\nif x {1} else {  2 }\nfn g() { 1 }\n", """\
        fn f(x) { let y = x; y * 2 }
        if x { 1 } else { 2 }
        fn g() { 1 }
        """)
    long = "fn f(x) { " + " + ".join(["x"] * 40) + " }\n"
    assert fmt(long).count("\n") > 1  # too long for one line: one statement per line
    assert fmt("fn f(x) { x # why\n}\n") == "fn f(x) {\n  x # why\n}\n"
    assert fmt("fn f() {\n  a() ;b()\n  c()\n}\n") == "fn f() {\n  a(); b()\n  c()\n}\n"
    assert fmt("match x { 1 => a, 2 => b }\n") == "match x {\n  1 => a,\n  2 => b,\n}\n"


def test_written_layouts_of_collections_pipes_and_arms_are_kept():
    source = textwrap.dedent("""\
        let m = {
          a: 1, # first
          # about b
          b: 2,
        }
        let xs = [
          1,
          2,
        ]
        let total = xs
          |> map(x => x * 2)
          |> sum()
        let k = match total {
          1 -> "one"
          _ -> "many"
        }
        """)
    assert fmt(source) == source
    assert fmt("let m = {a: 1,\n  b: 2}\n") == "let m = {a: 1, b: 2}\n"  # no trailing comma


def test_colon_blocks_stay_colon_blocks():
    assert_formats("fn f(x):\n      let y = x\n      y\nfn g(x):   x * 2\n", """\
        fn f(x):
          let y = x
          y

        fn g(x): x * 2
        """)


def test_a_colon_body_too_long_for_its_line_is_indented():
    long_call = "compute(" + "a" * 86 + ")"  # 95 columns: fits indented, not after the header
    out = fmt(f"fn f(x): {long_call}\n")
    assert out == f"fn f(x):\n  {long_call}\n"
    assert len(f"fn f(x): {long_call}") > WIDTH


def test_if_forms_keep_their_syntax():
    assert_formats("let a = if x then 1 else 2\nlet b = if x: 1 else: 2\nif x:\n  1\nelse:\n  2\n",
                   "let a = if x then 1 else 2\nlet b = if x: 1 else: 2\nif x:\n  1\nelse:\n  2\n")
    assert_formats("if a { 1 } else if b { 2 } else { 3 }\n",
                   "if a { 1 } else if b { 2 } else { 3 }\n")
    assert_formats("if a {\n 1 } else if b { 2 } else {\n3 }\n", """\
        if a {
          1
        } else if b { 2 } else {
          3
        }
        """)


def test_match_arms_one_per_line_with_their_arrows_and_commas():
    assert_formats("match x { 1 -> \"one\", [a, ...r] if a > 0 => a, _ => nil }\n", """\
        match x {
          1 -> "one",
          [a, ...r] if a > 0 => a,
          _ => nil,
        }
        """)
    assert_formats("match x:\n    {k: v} -> v\n    _ -> 0\n",
                   'match x:\n  {"k": v} -> v\n  _ -> 0\n')
    assert_formats("match x {\n  1 => 2\n  _ => 3\n}\n", "match x {\n  1 => 2\n  _ => 3\n}\n")


def test_long_lists_break_one_element_per_line_with_a_trailing_comma():
    items = ", ".join(f'"item number {i}"' for i in range(8))
    out = fmt(f"let xs = [{items}]\n")
    assert out == "let xs = [\n" + "".join(
        f'  "item number {i}",\n' for i in range(8)) + "]\n"
    assert all(len(line) <= WIDTH for line in out.splitlines())


def test_long_calls_and_maps_break_too():
    args = ", ".join(f"value_{i}" for i in range(14))
    out = fmt(f"let r = compute({args})\n")
    assert out.startswith("let r = compute(\n  value_0,\n") and out.endswith("  value_13,\n)\n")
    entries = ", ".join(f"key_{i}: {i * 1000}" for i in range(12))
    out = fmt(f"let m = {{{entries}}}\n")
    assert out.startswith("let m = {\n  key_0: 0,\n") and out.endswith("  key_11: 11000,\n}\n")


def test_last_argument_that_needs_lines_hugs_the_call():
    assert_formats("let ys = map(xs, fn(x) {\n x + 1 })\n", """\
        let ys = map(xs, fn(x) {
          x + 1
        })
        """)


def test_pipes_keep_their_lines_and_break_before_the_pipe_when_too_long():
    assert_formats("xs\n  |> map(f)\n  |> sum()\n", "xs\n  |> map(f)\n  |> sum()\n")
    assert_formats("xs   |> map(f) |>  sum()\n", "xs |> map(f) |> sum()\n")
    stages = "".join(f" |> transform_number_{i}(argument)" for i in range(4))
    out = fmt(f"let total = values{stages}\n")
    assert out == "let total = values\n" + "".join(
        f"  |> transform_number_{i}(argument)\n" for i in range(4))


def test_pipes_keep_their_shape():
    assert_formats("a |> f\na |> f()\na |> f(b)\na |> engine.list_sum()\n",
                   "a |> f\na |> f()\na |> f(b)\na |> engine.list_sum()\n")
    assert fmt("f(a, b)\n") == "f(a, b)\n"


def test_long_operator_chains_break_after_the_operator():
    terms = " + ".join(f"measurement_{i}" for i in range(10))
    out = fmt(f"let total = {terms}\n")
    assert out == "let total = measurement_0 +\n" + "".join(
        f"  measurement_{i} +\n" for i in range(1, 9)) + "  measurement_9\n"


def test_parentheses_only_where_precedence_needs_them():
    assert_formats("((a + b)) * (c)\n(a * b) + c\na - (b - c)\n(a - b) - c\n-(a + b)\n",
                   "(a + b) * c\na * b + c\na - (b - c)\na - b - c\n-(a + b)\n")
    assert_formats("(if a: 1 else: 2) + 3\n(fn(x): x)(1)\n(-5).abs\n",
                   "(if a: 1 else: 2) + 3\n(fn(x): x)(1)\n(-5).abs\n")


def test_a_comparison_inside_a_comparison_keeps_its_parentheses():
    """Comparisons do not chain: without them `(a < b) == c` would read as a chain."""
    assert_formats("(s.score >= 0.5) == s.label\n(1 < 2) < 3\na == (b != c)\n((a < b)) == c\n"
                   "(a + 1) < (b * 2)\n",
                   "(s.score >= 0.5) == s.label\n(1 < 2) < 3\na == (b != c)\n(a < b) == c\n"
                   "a + 1 < b * 2\n")
    long = "x" * 40
    out = format_source(f"({long}_left < {long}_right) == {long}_expected\n")
    assert out == f"({long}_left < {long}_right) ==\n  {long}_expected\n", out


def test_operator_spellings_are_kept():
    assert_formats("!a && b || not c\n", "!a && b || not c\n")


def test_numbers_keep_their_spelling():
    assert_formats("[0x1F, 0o17, 0b101, 1_000, 2.5e-3, 1E3, 007, -0x10]\n",
                   "[0x1F, 0o17, 0b101, 1_000, 2.5e-3, 1E3, 007, -0x10]\n")


def test_strings_keep_their_spelling():
    """Escapes (`\\u{41}`) and raw newlines are the user's choice: a string prints as written."""
    written = '"a\nb\t\\u{41}\\u{7}\\\\ \\"q\\" \\0 \\#{x}"\n'
    assert fmt(written) == written
    assert fmt('let s =   "line one\nline two"\n') == 'let s = "line one\nline two"\n'
    assert quote("\u200b\r") == '"\\u{200B}\\r"'
    assert quote("#{x} #") == '"\\#{x} #"'


def test_interpolation_and_power_layout():
    assert fmt('let s = "t: #{ a+1 } and #{f( 1,2 )}\\#{no}"\n') == (
        'let s = "t: #{a + 1} and #{f(1, 2)}\\#{no}"\n')
    assert fmt('"#{ {a: 1}.a }"\n') == '"#{{a: 1}.a}"\n'
    assert fmt("-2**2\n") == "-2 ** 2\n"
    assert fmt("(-2) ** 2 ** -1\n") == "(-2) ** 2 ** -1\n"
    assert fmt("(2 ** 3) ** 2\n") == "(2 ** 3) ** 2\n"
    assert fmt("-(a ** b)\n") == "-a ** b\n"
    assert fmt("(-a) ** b\n") == "(-a) ** b\n"
    assert fmt("(a * b) ** 2\n") == "(a * b) ** 2\n"


def test_blank_lines_at_most_one_and_always_around_multi_line_functions():
    assert_formats("let a = 1\n\n\n\nlet b = 2\nlet c = 3\nfn f(): 1\nfn g(): 2\n",
                   "let a = 1\n\nlet b = 2\nlet c = 3\nfn f(): 1\nfn g(): 2\n")
    assert_formats("let c = 3\nfn f():\n  1\nfn g(): 2\n",
                   "let c = 3\n\nfn f():\n  1\n\nfn g(): 2\n")


def test_an_empty_map_where_a_block_could_start_keeps_its_parens():
    assert_formats("let f = x => ({})\nmatch x { _ => ({}) }\n",
                   "let f = x => ({})\nmatch x {\n  _ => ({}),\n}\n")


def test_a_dangling_else_keeps_its_owner():
    source = "if a {\n if b: 1 } else: 2\n"
    out = assert_equivalent(source)
    assert out == "if a {\n  if b: 1\n} else: 2\n"
    assert assert_equivalent("if a { if b: 1 } else: 2\n") == "if a { if b: 1 } else: 2\n"


def test_try_rescue_layouts():
    assert_formats("try{f()}rescue   e{0}\n", "try { f() } rescue e { 0 }\n")
    assert_formats("try{\nf()}rescue   e{0\n}\n", """\
        try {
          f()
        } rescue e {
          0
        }
        """)
    assert_formats("let v = try:   f()   rescue e   if e.type==\"X\":  0\n",
                   'let v = try: f() rescue e if e.type == "X": 0\n')
    assert_formats("try:\n    f()\nrescue e if e.line>1:\n    1\nrescue other:\n  raise(other)\n",
                   """\
        try:
          f()
        rescue e if e.line > 1:
          1
        rescue other:
          raise(other)
        """)
    assert_formats("fn g() { try { return f() } rescue e { nil } }\n",
                   "fn g() { try { return f() } rescue e { nil } }\n")


def test_a_try_as_an_operand_gets_parentheses():
    out = assert_equivalent("let x = (try: f() rescue e: 0) + 1\n")
    assert out == "let x = (try: f() rescue e: 0) + 1\n"


def test_an_inner_try_keeps_its_rescues_and_the_outer_one_its_own():
    source = "try {\n  try: a() rescue e: b()\n} rescue e2: c()\n"
    out = assert_equivalent(source)
    assert "try: a() rescue e: b()" in out
    source = "try:\n  try: a() rescue e: b()\nrescue e2: c()\n"
    assert_equivalent(source)
    source = "if x { try: a() rescue e: if y: 1 } else: 2\n"
    assert_equivalent(source)


TRY_COMMENTED = """\
let r = try:
  risky() # may fail
  # still in the body
rescue e if e.type == "CallTimeout": # slow
  retry()
# before the last clause
rescue e:
  0 // give up
"""


def test_comments_around_rescue_clauses_stay():
    out = assert_equivalent(TRY_COMMENTED)
    assert "risky() # may fail" in out and "retry()" in out
    assert format_source(out) == out


# ---- comments ---------------------------------------------------------------------------------

COMMENTED = """\
# header

// a second style
let x = 1  # about x
fn f(a) {
  # leads the let
  let z = a + 1 // about z


  z * 2
  # ends the block
}
match x {
  1 => "one" # the one
  # before the rest
  _ => "other"
}
"""


def test_comments_stay_with_their_lines():
    assert format_source(COMMENTED) == """\
# header

// a second style
let x = 1 # about x

fn f(a) {
  # leads the let
  let z = a + 1 // about z

  z * 2
  # ends the block
}

match x {
  1 => "one" # the one
  # before the rest
  _ => "other"
}
"""


def test_comments_inside_collections_stay_inside():
    out = assert_equivalent("let y = [1, # one\n  2]\nlet z = 3\n")
    assert out == "let y = [\n  1, # one\n  2,\n]\nlet z = 3\n"


def test_comments_inside_other_expressions_move_before_their_statement():
    out = assert_equivalent("let y = f(1 + # one\n  2)\nlet z = 3\n")
    assert out == "# one\nlet y = f(1 + 2)\nlet z = 3\n"


def test_comments_in_indented_blocks_never_swallow_code():
    source = "let m = map(xs, fn(x):\n  x # c1\n  # c2\n)\nif a:\n  1 # t1\nelse:\n  2\n"
    out = assert_equivalent(source)
    assert "if a:\n  1 # t1\nelse:\n  2\n" in out


# ---- errors -------------------------------------------------------------------------------------


def test_syntax_error_raises_and_changes_nothing():
    with pytest.raises(ZixirSyntaxError) as info:
        format_source("let x = (1 +\n")
    assert info.value.line == 1


# ---- the corpus ---------------------------------------------------------------------------------


def _parsing_cases():
    return [c for c in CASES if parses(c["source"])]


@pytest.mark.parametrize("case", _parsing_cases(), ids=lambda c: c["id"])
def test_corpus_program_formats_to_the_same_program(case):
    out = assert_equivalent(case["source"])
    if "expect" in case and "needs" not in case:
        assert to_literal(Session().eval(out)) == to_literal(Session().eval(case["source"]))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_formats_to_the_same_program(path, tmp_path, capsys):
    source = path.read_text(encoding="utf-8")
    out = assert_equivalent(source)
    assert max(len(line) for line in out.splitlines()) <= WIDTH or '"' in max(
        out.splitlines(), key=len)
    if 'python "' in source or "agent.start(" in source:  # needs the worker runtime
        return
    formatted = tmp_path / path.name
    formatted.write_text(out, encoding="utf-8")
    before = Session().run_file(str(path), call_main=True)
    printed_before = capsys.readouterr().out
    after = Session().run_file(str(formatted), call_main=True)
    assert to_literal(after) == to_literal(before)
    assert capsys.readouterr().out == printed_before


# ---- properties ---------------------------------------------------------------------------------

TRY_SOURCES = [
    TRY_COMMENTED,
    "let v = try: f() rescue e: 0\nv",
    "fn g(xs) {\n  for x in xs {\n    try {\n      h(x)\n    } rescue e if e.type == \"A\" {\n"
    "      break\n    } rescue e {\n      continue\n    }\n  }\n}\n",
    "try:\n  try:\n    1 / 0\n  rescue e if false:\n    1\nrescue e:\n  e.message\n",
    "let r = attempt(() => try { raise(\"T\", \"m\") } rescue e { raise(e) })\nr.ok\n",
]
SOURCES = [c["source"] for c in _parsing_cases()] + [
    p.read_text(encoding="utf-8") for p in EXAMPLES] + TRY_SOURCES


@st.composite
def mutated_programs(draw) -> str:
    """A corpus program with whitespace moved, blank lines added and comments added."""
    lines = draw(st.sampled_from(SOURCES)).split("\n")
    out = []
    for line in lines:
        edit = draw(st.sampled_from(["keep", "keep", "blank", "comment", "own", "spaces"]))
        if edit == "blank":
            out.extend(["", line])
        elif edit == "comment":
            out.append(line + draw(st.sampled_from(["  # note", " // why", "#x"])))
        elif edit == "own":
            out.extend([draw(st.sampled_from(["# own", "  // own line"])), line])
        elif edit == "spaces":
            out.append(line.replace(", ", ",").replace(" = ", "=").rstrip() + "   ")
        else:
            out.append(line)
    return "\n".join(out)


@settings(max_examples=300, deadline=timedelta(seconds=10),  # a loaded machine is slow
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.one_of(st.sampled_from(SOURCES), mutated_programs()))
def test_formatting_is_idempotent_and_preserves_meaning(source):
    assume(parses(source))
    out = assert_equivalent(source)
    assert not any(line != line.rstrip() for line in out.splitlines())


# ---- the command line ---------------------------------------------------------------------------


def test_cli_fmt_rewrites_checks_and_reads_stdin(tmp_path, capsys, monkeypatch):
    import io

    from zixir.cli import main

    messy, tidy = tmp_path / "messy.zx", tmp_path / "tidy.zx"
    messy.write_text("let x=1\n", encoding="utf-8")
    tidy.write_text("let x = 1\n", encoding="utf-8")
    assert main(["fmt", "--check", str(messy), str(tidy)]) == 1
    assert capsys.readouterr().out.splitlines() == [str(messy)]
    assert messy.read_text(encoding="utf-8") == "let x=1\n"
    assert main(["fmt", str(messy), str(tidy)]) == 0
    assert messy.read_text(encoding="utf-8") == "let x = 1\n"
    assert main(["fmt", "--check", str(messy)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("f( 1 )"))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == "f(1)\n"


def test_cli_fmt_leaves_a_broken_file_alone_and_exits_2(tmp_path, capsys):
    from zixir.cli import main

    broken = tmp_path / "broken.zx"
    broken.write_text("let x  = (\n", encoding="utf-8")
    assert main(["fmt", str(broken)]) == 2
    assert capsys.readouterr().err.startswith(f"{broken}:1:10: error: Expected expression")
    assert broken.read_text(encoding="utf-8") == "let x  = (\n"
