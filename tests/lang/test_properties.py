"""Property tests: no input breaks the language implementation, and arithmetic follows Zixir's
rules.

Malformed input (random text, token soups, mutated corpus programs) is parsed and compiled in
this process, where any exception other than `ZixirError` fails the test and the hypothesis
deadline catches a parser that takes too long. Whatever parses is then run in a separate,
long-lived child process with a time limit: a mutated program may legitimately loop forever, and
a child can be killed where a thread cannot. A child that dies, or an evaluation that ends in a
Python exception or an "Internal error", fails the test.
"""

from __future__ import annotations

import json
import math
import operator
import re
import select
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zixir.lang.errors import ZixirError, ZixirRuntimeError
from zixir.lang.session import Session

EVAL_SECONDS = 3.0

CORPUS = [json.loads(line) for line in
          (Path(__file__).parent.parent / "cases.jsonl").read_text(encoding="utf-8").splitlines()
          if line.strip()]
PROGRAMS = [case["source"] for case in CORPUS if "needs" not in case and case["source"].strip()]
PROGRAMS += [
    "fn f(x):\n  if x > 0:\n    let y = x\n    y * 2\n  else:\n    0\nf(3)",
    'match [1, {"a": 2}] {\n  [x, {"a": y}] if x < y => x + y\n  [_, ...rest] -> rest\n}',
    "let fs = [(() => i) for i in 0..3 if i != 1]\nfs |> map(f => f()) |> sum()",
    'fn main() {\n  let m = {a: 1, "b": [1, 2,],}\n  m.b[-1] + m.a\n}\nmain()',
    "let s = \"a\\u{1F600}\\n\"\nlet t = 0\nwhile t < 3 { t += 1; if t == 2 { continue } }\ns + t",
    'let r = try:\n  1 / 0\nrescue e if e.type == "X":\n  1\nrescue e:\n  e.message\nr',
    "for i in 0..3 { try { if i == 1 { raise(\"T\", \"m\") }; i } rescue e { break } }",
    'fn f() { try: return [1][5] rescue err: raise(err) }\nattempt(f).error.type',
]

PROGRAMS += [path.read_text(encoding="utf-8")
             for path in sorted((Path(__file__).parent.parent.parent / "examples").glob("*.zx"))]

CHILD = r"""
import io, json, resource, sys, traceback
# a mutated program may build something enormous: let it fail with MemoryError, not the machine
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
from zixir.lang.errors import ZixirError
from zixir.lang.session import Session
out = sys.stdout
for line in sys.stdin:
    source = json.loads(line)
    sys.stdout = io.StringIO()
    try:
        Session().eval(source)
        reply = {"kind": "ok"}
    except ZixirError as exc:
        reply = {"kind": "error", "type": type(exc).__name__, "message": exc.message}
    except BaseException as exc:
        reply = {"kind": "crash", "type": type(exc).__name__, "detail": traceback.format_exc()}
    finally:
        sys.stdout = out
    out.write(json.dumps(reply) + "\n")
    out.flush()
"""


class Evaluator:
    """A child process that evaluates programs one at a time; killed and restarted on timeout."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.timeouts = 0
        self._start()

    def _start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, bufsize=1)
        warm = self._ask("1", 60.0)
        assert warm == {"kind": "ok"}, warm

    def _ask(self, source: str, seconds: float) -> dict | None:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(source) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], seconds)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        if not line:
            return {"kind": "crash", "type": f"child exited with {self.proc.wait()}",
                    "detail": ""}
        return json.loads(line)

    def evaluate(self, source: str) -> dict | None:
        """The child's reply, or None when the program ran out of time."""
        reply = self._ask(source, EVAL_SECONDS)
        if reply is None or reply["kind"] == "crash":
            self.close()
            self._start()
        if reply is None:
            self.timeouts += 1
        return reply

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream:
                    stream.close()
            self.proc = None


@pytest.fixture(scope="module")
def evaluator():
    ev = Evaluator()
    yield ev
    ev.close()


def assert_handled(source: str, evaluator: Evaluator) -> None:
    """Parse and compile here, run in the child: only `ZixirError`s, never a crash."""
    try:
        Session().compile(source, None)
    except ZixirError as exc:
        assert exc.line is not None and exc.column is not None, (source, exc.message)
        assert not exc.message.startswith("Program too complex"), (source, exc.message)
        return
    reply = evaluator.evaluate(source)
    if reply is None:
        return  # still running after the time limit: a loop in the program, not a hang of ours
    assert reply["kind"] != "crash", (source, reply)
    if reply["kind"] == "error":
        assert not reply["message"].startswith("Internal error"), (source, reply)


SLOW_OK = settings(deadline=timedelta(seconds=EVAL_SECONDS * 4),
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---- random text ---------------------------------------------------------------------------------

ZIXIR_CHARS = list("abcfnxyz_019 \n\t\r()[]{},.:;=+-*/%<>!&|\"\\#@$'`~^?") + [
    "é", "λ", "😀", "\u00a0", "\u2028", "\x00", "\ufeff"]


@pytest.mark.timeout(120)
@settings(SLOW_OK, max_examples=250)
@given(st.text(st.sampled_from(ZIXIR_CHARS) | st.characters(), max_size=60))
def test_random_text(evaluator, source):
    assert_handled(source, evaluator)


# ---- token soups ---------------------------------------------------------------------------------

TOKENS = (
    "let fn if then else match for in while break continue return true false nil and or not "
    "type import pub python try rescue raise attempt engine memory main print map x y f _ ... .. . |> || && == != <= >= "
    "=> -> += -= *= /= + - * / % < > = ! ( ) [ ] { } , : ; 0 1 2.5 1e3 0x1F 007 \"s\" \"\" "
    "\"a\\n\" Int [Int] list_sum"
).split()
SEPARATORS = [" ", " ", " ", "", "\n", "\n  ", "\n    ", "; "]


@pytest.mark.timeout(120)
@settings(SLOW_OK, max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(TOKENS), st.sampled_from(SEPARATORS)), max_size=30))
def test_token_soup(evaluator, pieces):
    source = "".join(token + sep for token, sep in pieces)
    assert_handled(source, evaluator)


# ---- mutations of valid programs -------------------------------------------------------------------

PIECE = re.compile(r'\s+|"(?:\\.|[^"\\])*"?|[A-Za-z_]\w*|\d[\w.]*|\.\.\.|\.\.|\|>|=>|->|'
                   r'[=!<>+\-*/]=|&&|\|\||.', re.S)
INSERTIONS = ["(", ")", "[", "]", "{", "}", ",", ":", ";", "=", "=>", "->", ".", "..", "...",
              "|>", "\n", "\n  ", "\n\t", "    ", '"', "\\", "#", "//", "-", "!", "if ", "else ",
              "fn ", "match ", "for ", "in ", "while ", "return ", "let ", "break", "continue",
              "then ", "type ", "import ", "pub ", "python ", "nil", "0", "_", "try ", "rescue ",
              "rescue e ", "raise("]


def split_pieces(source: str) -> list[str]:
    pieces = PIECE.findall(source)
    assert "".join(pieces) == source
    return pieces


@st.composite
def mutated_programs(draw):
    source = draw(st.sampled_from(PROGRAMS))
    for _ in range(draw(st.integers(1, 3))):
        pieces = split_pieces(source) or [""]
        kind = draw(st.sampled_from(["delete_char", "dup_char", "swap_chars", "insert",
                                     "delete_token", "dup_token", "swap_tokens", "indent"]))
        if kind.endswith("char") or kind.endswith("chars") or kind in ("insert", "indent"):
            if not source:
                source = draw(st.sampled_from(INSERTIONS))
                continue
            i = draw(st.integers(0, len(source) - 1))
            if kind == "delete_char":
                source = source[:i] + source[i + 1:]
            elif kind == "dup_char":
                source = source[:i] + source[i] + source[i:]
            elif kind == "swap_chars" and i + 1 < len(source):
                source = source[:i] + source[i + 1] + source[i] + source[i + 2:]
            elif kind == "insert":
                source = source[:i] + draw(st.sampled_from(INSERTIONS)) + source[i:]
            elif kind == "indent":
                line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
                start = draw(st.sampled_from(line_starts))
                source = source[:start] + draw(st.sampled_from([" ", "  ", "\t", "      "])) + \
                    source[start:]
        else:
            i = draw(st.integers(0, len(pieces) - 1))
            if kind == "delete_token":
                del pieces[i]
            elif kind == "dup_token":
                pieces.insert(i, pieces[i])
            else:
                j = draw(st.integers(0, len(pieces) - 1))
                pieces[i], pieces[j] = pieces[j], pieces[i]
            source = "".join(pieces)
    return source


@pytest.mark.timeout(180)
@settings(SLOW_OK, max_examples=400)
@given(mutated_programs())
def test_mutated_corpus_programs(evaluator, source):
    assert_handled(source, evaluator)


def test_unmutated_corpus_programs_are_handled(evaluator):
    for source in PROGRAMS:
        assert_handled(source, evaluator)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("source", [
    "(" * 5000, "[" * 5000, "{" * 5000, "-" * 5000 + "1", "!" * 5000 + "1",
    "fn f(): " * 2000 + "1", "if true: " * 2000 + "1", "[" + "1, " * 50000 + "]",
    "0" + " |> str" * 5000,
    "x => " * 3000 + "x", "match 1 { _ => " * 1000 + "1" + " }" * 1000,
    "[" * 300 + "]" * 300, "(" * 300 + "1" + ")" * 300,
    '"' + "a" * 100000, "# comment\n" * 20000, "let x = 1\n" * 5000 + "x",
])
def test_pathological_inputs(source):
    try:
        Session().eval(source)
    except ZixirError as exc:
        assert exc.line is not None


@pytest.mark.timeout(20)
def test_long_operator_chains():
    # generated code easily holds a sum of thousands of terms; it must neither exhaust the
    # compiler's stack nor take time quadratic in its length
    assert Session().eval("1" + " + 1" * 10000) == 10001
    assert Session().eval('"a"' + ' + "a"' * 10000) == "a" * 10001


# ---- arithmetic against a Python model of Zixir's rules -----------------------------------------

LEVEL = {"+": 6, "-": 6, "*": 7, "/": 7, "%": 7}


class Failed(Exception):
    """The model says Zixir must raise an error here."""


class Unspecified(Exception):
    """A float overflowed to infinity: IEEE, and beyond what the model pins down."""


def zixir_div(a, b):
    if b == 0:
        raise Failed("Division by zero")
    return a / b  # always a float, even for two integers


def zixir_mod(a, b):
    if b == 0:
        raise Failed("Division by zero")
    return a % b  # the sign of the divisor, as Python


OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": zixir_div, "%": zixir_mod}


def model(tree):
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind == "neg":
        return -model(tree[1])
    left, right = model(tree[2]), model(tree[3])
    try:
        result = OPS[tree[1]](left, right)
    except OverflowError as exc:
        raise Failed(str(exc)) from None
    if isinstance(result, float) and not math.isfinite(result):
        raise Unspecified
    return result


def render(tree, parens: bool) -> str:
    """Zixir source with only the parentheses precedence needs (or with all of them)."""
    kind = tree[0]
    if kind == "num":
        text = repr(tree[1])
        return f"({text})" if parens or text.startswith("-") else text
    if kind == "neg":
        operand = tree[1]
        inner = render(operand, parens)
        if operand[0] == "bin" and not parens:
            inner = f"({inner})"
        return f"-{inner}"
    op, left, right = tree[1], tree[2], tree[3]
    left_text, right_text = render(left, parens), render(right, parens)
    if not parens and left[0] == "bin" and LEVEL[left[1]] < LEVEL[op]:
        left_text = f"({left_text})"
    if not parens and right[0] == "bin" and LEVEL[right[1]] <= LEVEL[op]:
        right_text = f"({right_text})"
    text = f"{left_text} {op} {right_text}"
    return f"({text})" if parens else text


numbers = st.one_of(
    st.integers(-20, 20),
    st.integers(-(10**30), 10**30),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.0, -0.0, 1, -1, 0.5, 2.5, 1e-9]),
).map(lambda n: ("num", n))

trees = st.recursive(
    numbers,
    lambda sub: st.one_of(
        st.tuples(st.just("bin"), st.sampled_from(sorted(OPS)), sub, sub),
        st.tuples(st.just("neg"), sub),
    ),
    max_leaves=10,
)


def same_number(actual, expected) -> bool:
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, float):
        return actual == expected or math.isclose(actual, expected, rel_tol=1e-12, abs_tol=0)
    return actual == expected


@pytest.mark.timeout(60)
@settings(max_examples=400, deadline=timedelta(seconds=5))
@given(trees, st.booleans())
def test_arithmetic_matches_model(tree, parens):
    source = render(tree, parens)
    try:
        expected = model(tree)
    except Unspecified:
        return
    except Failed:
        with pytest.raises(ZixirRuntimeError):
            Session().eval(source)
        return
    actual = Session().eval(source)
    assert same_number(actual, expected), f"{source} = {actual!r}, expected {expected!r}"


@pytest.mark.timeout(60)
@settings(max_examples=200, deadline=timedelta(seconds=5))
@given(trees, st.sampled_from(["\n", "\n   ", "  # note\n"]))
def test_arithmetic_across_lines_inside_parentheses(tree, newline):
    source = render(tree, True).replace(" ", newline + " ", 3)
    try:
        expected = model(tree)
    except (Failed, Unspecified):
        return
    assert same_number(Session().eval(source), expected), source


# ---- literals round-trip -------------------------------------------------------------------------

@settings(max_examples=200, deadline=timedelta(seconds=5))
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_is_python_repr(x):
    assert Session().eval(f"str({x!r})") == repr(x)
    assert Session().eval(f'"" + {x!r}') == repr(x)


@settings(max_examples=200, deadline=timedelta(seconds=5))
@given(st.integers(0, 10**40), st.sampled_from(["dec", "hex", "oct", "bin", "under", "zeros"]))
def test_integer_literal_forms(n, form):
    text = {
        "dec": str(n), "hex": hex(n), "oct": oct(n), "bin": bin(n),
        "under": f"{n:_}", "zeros": "00" + str(n),
    }[form]
    value = Session().eval(text)
    assert type(value) is int and value == n, text


# `#` escaped too: `#{` in a literal starts an interpolation
ESCAPE = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0",
          "#": "\\#"}


@settings(max_examples=200, deadline=timedelta(seconds=5))
@given(st.text(max_size=40), st.booleans())
def test_string_literal_round_trip(text, unicode_escapes):
    def escape(ch: str) -> str:
        if unicode_escapes and ord(ch) > 127:
            return f"\\u{{{ord(ch):X}}}"
        return ESCAPE.get(ch, ch)

    literal = '"' + "".join(escape(ch) for ch in text) + '"'
    assert Session().eval(literal) == text
    assert Session().eval(f"{literal}.length") == len(text)


# ---- values round-trip through literal syntax ----------------------------------------------------

def literal(value) -> str:
    """Zixir literal syntax for a plain Python value, written independently of the implementation."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = repr(value)
        return f"({text})" if text.startswith("-") else text
    if isinstance(value, str):
        return '"' + "".join(ESCAPE.get(ch, ch) for ch in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"


def same_value(actual, expected) -> bool:
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(
            same_value(a, e) for a, e in zip(actual, expected, strict=True))
    if isinstance(expected, dict):
        return list(actual) == list(expected) and all(
            same_value(actual[k], v) for k, v in expected.items())
    return actual == expected


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**25), 10**25)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=timedelta(seconds=5))
@given(values)
def test_values_round_trip_through_literals_and_str(value):
    source = literal(value)
    assert same_value(Session().eval(source), value), source
    if isinstance(value, (list, dict)):
        # str of a collection is literal syntax: reading it back gives the same value
        text = Session().eval(f"str({source})")
        assert same_value(Session().eval(text), value), text
    assert Session().eval(f"{source} == {source}") is True
