"""The example scripts: each runs through `Session().run_file` (calling its `fn main`), and its
value and printed output are checked against results computed here in Python."""

from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from zixir.lang.session import Session

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples"


def run_example(name: str):
    return Session().run_file(str(EXAMPLES / name), call_main=True)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def text_of(value) -> str:
    """Zixir's text for a float, int or bool (as print shows it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


# ---- hello -----------------------------------------------------------------------------------------

HELLO = ('let sum = engine.list_sum([1.0, 2.0, 3.0])\n'
         'let n = engine.string_count("hello")\n'
         'sum + n\n')


def test_hello_is_the_documented_program():
    assert (EXAMPLES / "hello.zx").read_text(encoding="utf-8") == HELLO


def test_hello_value():
    value = run_example("hello.zx")
    expected = sum([1.0, 2.0, 3.0]) + len(b"hello")
    assert type(value) is float and value == expected


@pytest.mark.timeout(120)
def test_cli_module_runs_hello():
    result = subprocess.run([sys.executable, "-m", "zixir", "run", "examples/hello.zx"],
                            cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "11.0"


@pytest.mark.timeout(120)
def test_console_script_runs_hello():
    script = shutil.which("zixir")
    if script is None or Path(script).resolve().parent != Path(sys.executable).resolve().parent:
        script = shutil.which("zixir", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the zixir console script is not installed in this environment")
    result = subprocess.run([script, "run", "examples/hello.zx"], cwd=ROOT, capture_output=True,
                            text=True, timeout=110)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "11.0"


@pytest.mark.timeout(120)
def test_cli_prints_program_output_before_the_value():
    result = subprocess.run([sys.executable, "-m", "zixir", "run", "examples/statistics.zx"],
                            cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "engine and code agree: true" in lines
    assert lines[-1].startswith("{") and '"histogram"' in lines[-1]


# ---- statistics --------------------------------------------------------------------------------------

DATA = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0, 3.5, 6.5]


def test_statistics(capsys):
    source = (EXAMPLES / "statistics.zx").read_text(encoding="utf-8")
    assert "[" + ", ".join(map(repr, DATA)) + "]" in source
    value = run_example("statistics.zx")
    assert close(value["mean"], statistics.fmean(DATA))
    assert close(value["variance"], statistics.pvariance(DATA))
    assert close(value["std"], statistics.pstdev(DATA))
    assert value["median"] == statistics.median(DATA)
    assert value["agree"] is True
    assert value["sorted"] is True
    starts = [2.0 + i * 2.0 for i in range(4)]
    counts = [sum(1 for x in DATA if s <= x < s + 2.0) for s in starts]
    assert value["histogram"] == counts
    out = capsys.readouterr().out.splitlines()
    assert f"n        = {len(DATA)}" in out
    assert f"median   = {text_of(statistics.median(DATA))}" in out
    assert "engine and code agree: true" in out
    for start, count in zip(starts, counts, strict=True):
        assert f"[{text_of(start)}, {text_of(start + 2.0)}) {'#' * count}" in out


# ---- text --------------------------------------------------------------------------------------------

TEXT = ("the quick brown fox jumps over the lazy dog\n"
        "and the dog sleeps while the quick fox runs")
PHRASES = ["A man, a plan, a canal: Panama", "Never odd or even", "Zixir is fun",
           "Was it a car or a cat I saw?"]


def is_palindrome(phrase: str) -> bool:
    letters = [c for c in phrase.lower() if "a" <= c <= "z"]
    return bool(letters) and letters == letters[::-1]


def test_text(capsys):
    source = (EXAMPLES / "text.zx").read_text(encoding="utf-8")
    assert f'"{TEXT}"' in source
    for phrase in PHRASES:
        assert f'"{phrase}"' in source
    value = run_example("text.zx")
    counts = Counter(TEXT.split())
    assert value["counts"] == dict(counts)
    assert list(value["counts"]) == list(dict.fromkeys(TEXT.split()))
    assert value["distinct"] == len(counts)
    top_word, top_count = counts.most_common(1)[0]
    assert value["top"] == [top_word, top_count]
    assert value["long_words"] == sorted(w for w in counts if len(w) >= 5)
    palindromes = [p for p in PHRASES if is_palindrome(p)]
    assert value["palindromes"] == palindromes
    assert value["title"] == "the quick brown fox".title()
    out = capsys.readouterr().out.splitlines()
    assert f"words: {len(TEXT.split())} distinct: {len(counts)}" in out
    assert f"most common: {top_word} x{top_count}" in out
    assert [line for line in out if line.startswith("palindrome:")] == [
        f"palindrome: {p}" for p in palindromes]
    assert "The Quick Brown Fox" in out


# ---- recursion --------------------------------------------------------------------------------------

def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def ackermann(m: int, n: int) -> int:
    if m == 0:
        return n + 1
    if n == 0:
        return ackermann(m - 1, 1)
    return ackermann(m - 1, ackermann(m, n - 1))


def hanoi(n: int, src: str, dst: str, via: str) -> list[list[str]]:
    if n == 0:
        return []
    return hanoi(n - 1, src, via, dst) + [[src, dst]] + hanoi(n - 1, via, dst, src)


@pytest.mark.timeout(120)
def test_recursion(capsys):
    value = run_example("recursion.zx")
    assert value["fibs"] == [fib(i) for i in range(15)]
    assert value["fib20"] == fib(20)
    assert value["fib90"] == fib(90)
    assert value["ackermann"] == [ackermann(1, 5), ackermann(2, 3), ackermann(3, 3)]
    moves = hanoi(10, "A", "C", "B")
    assert value["hanoi_moves"] == len(moves) == 2**10 - 1
    assert value["hanoi_start"] == moves[:3]
    assert value["odd"] is (10001 % 2 == 1)
    assert value["depth"] == 50000
    assert value["digits"] == sum(int(d) for d in str(fib(90)))
    out = capsys.readouterr().out.splitlines()
    assert f"fib(90) = {fib(90)}" in out
    assert f"ackermann(2, 3) = {ackermann(2, 3)}" in out
    assert "10001 is even: false" in out
    assert "depth: 50000" in out


# ---- patterns ----------------------------------------------------------------------------------------

def test_patterns(capsys):
    value = run_example("patterns.zx")
    assert value["descriptions"] == [
        "nothing",
        "an empty list",
        "just a",
        "starts 1, 2 (+2)",
        "Ada, adult",
        "Tim, minor or unknown age",
        "negative -4",
        "zero",
        "something else: 2.5",
    ]
    assert value["points"] == ["origin", "on the y axis", "on the x axis", "on the diagonal",
                               "somewhere"]
    assert value["total"] == sum(range(1, 11))
    x, y = 5, 4
    assert value["value"] == x * (3 + y) - -2
    assert value["shown"] == "let x = 5 in ((x * (3 + y)) - -2)"
    assert value["simplified"] == "y"
    assert value["same_value"] is True
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["nothing", "an empty list"]
    assert f"let x = 5 in ((x * (3 + y)) - -2) = {x * (3 + y) + 2}" in out
    assert "((0 * z) + (1 * (y + 0))) => y" in out


# ---- closures ----------------------------------------------------------------------------------------

def make_counter(start: int):
    state = {"n": start}

    def next_() -> int:
        state["n"] += 1
        return state["n"]

    def reset() -> int:
        state["n"] = start
        return start

    return next_, reset, lambda: state["n"]


def test_closures(capsys):
    value = run_example("closures.zx")
    a_next, a_reset, a_peek = make_counter(0)
    b_next, _b_reset, b_peek = make_counter(100)
    a_next()
    a_next()
    b_next()
    peeks = (a_peek(), b_peek())
    assert value["counters"] == [a_next(), b_next(), a_reset(), a_next()]
    inc, double = (lambda v: v + 1), (lambda v: v * 2)
    assert value["composed"] == [double(inc(5)), inc(double(5))]
    assert value["adders"] == [10 + n for n in range(1, 4)]
    assert value["pipeline"] == str(double(inc(4)) - 3)
    inputs = [3, 4, 3, 3, 4, 5]
    assert value["squares"] == [v * v for v in inputs]
    assert value["calls"] == len(set(inputs))
    assert value["evens_squared"] == sum(v * v for v in range(1, 11) if v % 2 == 0)
    out = capsys.readouterr().out.splitlines()
    assert f"a: {peeks[0]} b: {peeks[1]}" in out
    assert f"compose: {double(inc(5))} {inc(double(5))}" in out
    assert f"real calls: {len(set(inputs))}" in out[-2]


# ---- every example -------------------------------------------------------------------------------

ALL = sorted(p.name for p in EXAMPLES.glob("*.zx"))
# examples that call Python libraries or start agents need the worker runtime; the others run
# in a bare session
PURE = [name for name in ALL
        if not any(needs in (EXAMPLES / name).read_text(encoding="utf-8")
                   for needs in ('python "', "agent.start("))]


def test_the_examples_are_all_here():
    assert {"hello.zx", "statistics.zx", "text.zx", "recursion.zx", "patterns.zx",
            "closures.zx"} <= set(ALL)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", PURE)
def test_example_runs_and_has_a_value(name):
    assert run_example(name) is not None


@pytest.mark.parametrize("name", [n for n in ALL if n != "hello.zx"])
def test_example_defines_main(name):
    source = (EXAMPLES / name).read_text(encoding="utf-8")
    assert "\nfn main()" in source
    # without calling main the program's value is the main function itself
    assert callable(Session().run_file(str(EXAMPLES / name), call_main=False))


# ---- evaluate: permanent failures reported beside the successes -----------------------------------

@pytest.mark.timeout(120)
def test_evaluate_reports_successes_and_failures():
    """`zixir run` with the default configuration: `grader.py` beside the script is callable,
    and every input is accounted for although three of them always fail."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        import grader
    finally:
        sys.path.remove(str(EXAMPLES))
    inputs = ["hello", "world", "", "zixir", "r2d2", "evaluation", "42", "pipeline"]
    expected_lines, scored, failed, reasons = [], [], [], []
    for text in inputs:
        try:
            value = grader.score(text)
        except (ValueError, TypeError) as exc:
            failed.append(text)
            reasons.append(type(exc).__name__)
            expected_lines.append(f'failed "{text}" - grader.score raised '
                                  f"{type(exc).__name__}: {exc}")
        else:
            scored.append(value)
            expected_lines.append(f"ok     {text} {text_of(value)}")
    expected_lines.append(f"{len(scored)} of {len(inputs)} scored, {len(failed)} failed")
    result = subprocess.run([sys.executable, "-m", "zixir", "run", "--json",
                             str(EXAMPLES / "evaluate.zx")], cwd=ROOT, capture_output=True,
                            text=True, timeout=110)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:-1] == expected_lines
    assert json.loads(lines[-1]) == {"scored": len(scored), "failed": failed,
                                     "mean": round(sum(scored) / len(scored), 3),
                                     "reasons": reasons}
    assert len(failed) == 3 and len(scored) == 5
