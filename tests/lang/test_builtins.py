"""Every built-in function of the registry: normal use, and each error it documents."""

from __future__ import annotations

import io
import math
import sys

import pytest
from lang_helpers import run
from lang_helpers import same as _same

from zixir.lang.builtins import BUILTINS
from zixir.lang.errors import ZixirError, ZixirRuntimeError


@pytest.fixture(autouse=True)
def _in_empty_directory(tmp_path, monkeypatch):
    """The file built-ins work in the working directory: each case gets an empty one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def same(actual, expected) -> bool:
    return _same(actual, expected, key_order=True)


# name -> [(source, expected value)]
USES: dict[str, list[tuple[str, object]]] = {
    "print": [("print(1)", None)],
    "println": [("println()", None)],
    "len": [
        ("len([1, 2, 3])", 3), ('len("héllo")', 5), ('len({"a": 1, "b": 2})', 2),
        ("len(0..10)", 10), ("len([])", 0), ('len("")', 0), ("len(range(2, 7))", 5),
    ],
    "range": [
        ("range(3)", [0, 1, 2]), ("range(2, 5)", [2, 3, 4]), ("range(0, 10, 3)", [0, 3, 6, 9]),
        ("range(5, 0, -2)", [5, 3, 1]), ("range(0)", []), ("range(-2)", []),
        ("range(3) == 0..3", True), ("range(1, 4) == 1..4", True),
    ],
    "map": [
        ("map([1, 2, 3], x => x * 2)", [2, 4, 6]), ("map([], x => x)", []),
        ("map(0..3, x => x * x)", [0, 1, 4]), ("map([1, 2], str)", ["1", "2"]),
        ('map({"a": 1}.length |> range, x => x)', [0]),
        ("[1, 2] |> map(fn(x) { x + 1 })", [2, 3]),
    ],
    "filter": [
        ("filter(0..10, x => x % 3 == 0)", [0, 3, 6, 9]),
        ('filter([1, nil, false, 0, ""], x => x)', [1, 0, ""]),
        ("filter([], x => true)", []), ("[5, 6] |> filter(x => x > 5)", [6]),
    ],
    "reduce": [
        ("reduce([1, 2, 3], (acc, x) => acc * 10 + x, 0)", 123),
        ("reduce([], (a, x) => a + x, 7)", 7),
        ('reduce(["a", "b"], (acc, x) => acc + x, ">")', ">ab"),
        ("0..5 |> reduce((a, x) => a + x, 0)", 10),
    ],
    "sum": [
        ("sum([1, 2, 3])", 6), ("sum([])", 0), ("sum([1, 2.5])", 3.5), ("sum(0..5)", 10),
        ("sum([0.1, 0.2])", 0.1 + 0.2), ("[1, 2] |> sum()", 3),
    ],
    "min": [
        ("min([3, 1, 2])", 1), ("min(3, 1, 2)", 1), ("min([2.5, 3])", 2.5),
        ('min(["b", "a"])', "a"), ("min(7)", 7), ("min(5..9)", 5), ("min(1, 1.0)", 1),
    ],
    "max": [
        ("max([3, 1, 2])", 3), ("max(3, 1, 2)", 3), ('max(["b", "a"])', "b"),
        ("max([1, 2.5])", 2.5), ("max(5..9)", 8),
    ],
    "keys": [('keys({"b": 1, "a": 2})', ["b", "a"]), ("keys({})", [])],
    "values": [('values({"b": 1, "a": [2]})', [1, [2]]), ("values({})", [])],
    "get": [
        ('get({"a": 1}, "a")', 1), ('get({"a": 1}, "z")', None), ('get({"a": 1}, "z", 0)', 0),
        ('get({"a": nil}, "a", 5)', None), ("get([1, 2], 5, \"d\")", "d"), ("get([1, 2], -1)", 2),
        ("get([1, 2], 0)", 1), ('get("abc", 1)', "b"), ('get("abc", 9, "?")', "?"),
        ('get({"a": 1}, 1, "no")', "no"), ("get(0..5, 2)", 2),
    ],
    "put": [
        ('put({"a": 1}, "b", 2)', {"a": 1, "b": 2}), ('put({"a": 1}, "a", 9)', {"a": 9}),
        ('let m = {"a": 1}\nlet n = put(m, "b", 2)\n[m, n]', [{"a": 1}, {"a": 1, "b": 2}]),
    ],
    "remove": [
        ('remove({"a": 1, "b": 2}, "a")', {"b": 2}), ('remove({"a": 1}, "z")', {"a": 1}),
        ('let m = {"a": 1}\nlet n = remove(m, "a")\n[m, n]', [{"a": 1}, {}]),
    ],
    "append": [
        ("append([1], 2)", [1, 2]), ("append([], [1])", [[1]]), ("append(0..2, 9)", [0, 1, 9]),
        ("let xs = [1]\nlet ys = append(xs, 2)\n[xs, ys]", [[1], [1, 2]]),
    ],
    "concat": [
        ("concat([1], [2, 3])", [1, 2, 3]), ('concat("a", "b")', "ab"), ("concat([], [])", []),
        ("concat(0..2, [5])", [0, 1, 5]),
        ("let a = [1]\nlet b = concat(a, [2])\n[a, b]", [[1], [1, 2]]),
    ],
    "join": [
        ('join([1, "a", 2.5], "-")', "1-a-2.5"), ('join(["a", "b"])', "ab"),
        ('join([], ",")', ""), ('join([nil, true, [1]], " ")', "nil true [1]"),
        ('join(0..3, ",")', "0,1,2"), ('["x", "y"] |> join(", ")', "x, y"),
    ],
    "split": [
        ('split("a,b,,c", ",")', ["a", "b", "", "c"]), ('split("  a  b ")', ["a", "b"]),
        ('split("abc", "")', ["a", "b", "c"]), ('split("", ",")', [""]),
        ('split("a--b", "--")', ["a", "b"]), ('split("x\\ty\\nz")', ["x", "y", "z"]),
    ],
    "contains": [
        ("contains([1, 2], 2.0)", True), ("contains([1, 2], 3)", False),
        ('contains("hello", "ell")', True), ('contains("hello", "z")', False),
        ('contains({"a": 1}, "a")', True), ('contains({"a": 1}, "b")', False),
        ("contains([[1]], [1])", True), ("contains([true], 1)", False), ("contains(0..5, 4)", True),
    ],
    "index_of": [
        ("index_of([5, 6, 7], 6)", 1), ("index_of([5, 6], 9)", -1), ('index_of("hello", "l")', 2),
        ('index_of("hello", "z")', -1), ("index_of([1, 2], 2.0)", 1),
    ],
    "sort": [
        ("sort([3, 1, 2])", [1, 2, 3]), ('sort(["b", "a", "c"])', ["a", "b", "c"]),
        ("sort([2.5, 1, 2])", [1, 2, 2.5]), ("sort([])", []),
        ("sort([3, 1, 2], x => -x)", [3, 2, 1]),
        ('sort(["bb", "a", "cc", "d"], s => s.length)', ["a", "d", "bb", "cc"]),
        ("let xs = [2, 1]\nlet ys = sort(xs)\n[xs, ys]", [[2, 1], [1, 2]]),
        ("sort([3, 1, 2], (a, b) => b - a)", [3, 2, 1]),
        ('sort(["bb", "a", "ccc"], (a, b) => len(a) - len(b))', ["a", "bb", "ccc"]),
        ("sort([[2, 1], [1, 2], [1, 1]], (a, b) => if a[0] == b[0] then a[1] - b[1] else "
         "a[0] - b[0])", [[1, 1], [1, 2], [2, 1]]),
        ("sort([1.5, 1.2], (a, b) => a - b)", [1.2, 1.5]),
    ],
    "reverse": [
        ("reverse([1, 2, 3])", [3, 2, 1]), ('reverse("abc")', "cba"), ("reverse([])", []),
        ("reverse(0..3)", [2, 1, 0]), ("let xs = [1, 2]\nreverse(xs)\nxs", [1, 2]),
    ],
    "slice": [
        ("slice([1, 2, 3, 4], 1, 3)", [2, 3]), ("slice([1, 2, 3], 1)", [2, 3]),
        ("slice([1, 2, 3], -2)", [2, 3]), ('slice("hello", 1, -1)', "ell"),
        ("slice([1], 5)", []), ("slice(0..5, 3)", [3, 4]),
    ],
    "zip": [
        ('zip([1, 2, 3], ["a", "b"])', [[1, "a"], [2, "b"]]), ("zip([], [1])", []),
        ("zip(0..2, 5..7)", [[0, 5], [1, 6]]),
        ('zip([1, 2], ["a", "b"], [true, false])', [[1, "a", True], [2, "b", False]]),
        ("zip([1, 2])", [[1], [2]]), ("zip([1], [2], [3], [])", []),
    ],
    "enumerate": [
        ('enumerate(["a", "b"])', [[0, "a"], [1, "b"]]), ("enumerate([])", []),
    ],
    "first": [("first([4, 5])", 4), ("first([])", None), ("first(3..6)", 3)],
    "last": [("last([4, 5])", 5), ("last([])", None), ("last(3..6)", 5)],
    "any": [
        ("any([nil, false, 0])", True), ("any([nil, false])", False), ("any([])", False),
        ("any([1, 2, 3], x => x > 2)", True), ("any([1, 2], x => x > 5)", False),
    ],
    "all": [
        ("all([1, 0, \"\"])", True), ("all([1, nil])", False), ("all([])", True),
        ("all([1, 2], x => x > 0)", True), ("all([1, -2], x => x > 0)", False),
    ],
    "upper": [('upper("abc")', "ABC"), ('upper("héllo")', "HÉLLO"), ('upper("")', "")],
    "lower": [('lower("ABC")', "abc"), ('lower("MiXeD 1")', "mixed 1")],
    "trim": [('trim("  a b \\n")', "a b"), ('trim("x")', "x"), ('trim("   ")', "")],
    "replace": [
        ('replace("a-b-c", "-", "+")', "a+b+c"), ('replace("aaa", "a", "")', ""),
        ('replace("abc", "z", "y")', "abc"),
    ],
    "starts_with": [('starts_with("hello", "he")', True), ('starts_with("hello", "lo")', False),
                    ('starts_with("a", "")', True)],
    "ends_with": [('ends_with("hello", "lo")', True), ('ends_with("hello", "he")', False)],
    "abs": [("abs(-3)", 3), ("abs(-2.5)", 2.5), ("abs(4)", 4), ("abs(0)", 0),
            ("abs(-100000000000000000000)", 100000000000000000000)],
    "sqrt": [("sqrt(16)", 4.0), ("sqrt(2.25)", 1.5), ("sqrt(0)", 0.0), ("sqrt(2)", math.sqrt(2))],
    "floor": [("floor(2.7)", 2), ("floor(-2.5)", -3), ("floor(5)", 5), ("floor(-0.5)", -1)],
    "ceil": [("ceil(2.1)", 3), ("ceil(-2.5)", -2), ("ceil(5)", 5)],
    "round": [
        ("round(2.4)", 2), ("round(2.6)", 3), ("round(2.5)", 2), ("round(3.5)", 4),
        ("round(-2.5)", -2), ("round(7)", 7), ("round(2.675, 2)", 2.67), ("round(1.25, 1)", 1.2),
        ("round(1234, -2)", 1200.0), ("round(5, 1)", 5.0),
    ],
    "pow": [
        ("pow(2, 10)", 1024), ("pow(2, -1)", 0.5), ("pow(2.0, 3)", 8.0), ("pow(9, 0.5)", 3.0),
        ("pow(0, 0)", 1), ("pow(-2, 3)", -8), ("pow(10, 30)", 10**30),
    ],
    "exp": [("exp(0)", 1.0), ("exp(1)", math.e), ("exp(-1000)", 0.0)],
    "log": [("log(1)", 0.0), ("log(8, 2)", 3.0), ("log(100, 10)", 2.0), ("log(math_e)", 1.0)],
    "str": [
        ('str("s")', "s"), ("str(nil)", "nil"), ("str(1.0)", "1.0"), ("str(true)", "true"),
        ('str([1, "a", nil])', '[1, "a", nil]'), ('str({"a": "b", "c": [1.5]})',
                                                   '{"a": "b", "c": [1.5]}'),
        ("str(0.1 + 0.2)", "0.30000000000000004"), ("str(1e100)", "1e+100"),
        ("str(18.0)", "18.0"), ("str(-7)", "-7"), ("str(0..3)", "[0, 1, 2]"),
        ('str(["q\\"x"])', '["q\\"x"]'), ("str([])", "[]"), ("str({})", "{}"),
    ],
    "int": [
        ('int("42")', 42), ('int(" 7 ")', 7), ('int("-3")', -3), ("int(3.9)", 3),
        ("int(-3.9)", -3), ("int(5)", 5), ("int(1e20)", 100000000000000000000),
        ('int("0x1F")', 31), ('int("0o17")', 15), ('int("-0b101")', -5), ('int("007")', 7),
        ('int("1_000")', 1000), ('int("ff", 16)', 255), ('int("0x1f", 16)', 31),
        ('int("z", 36)', 35), ('int("-101", 2)', -5),
    ],
    "float": [
        ('float("2.5")', 2.5), ("float(3)", 3.0), ("float(2.5)", 2.5), ('float(" 1e3 ")', 1000.0),
        ('float("-0.5")', -0.5),
    ],
    "bool": [
        ("bool(0)", True), ("bool(nil)", False), ("bool(false)", False), ('bool("")', True),
        ("bool([])", True), ("bool(true)", True),
    ],
    "type_of": [
        ("type_of(1)", "int"), ("type_of(1.0)", "float"), ('type_of("s")', "string"),
        ("type_of(true)", "bool"), ("type_of(nil)", "nil"), ("type_of([])", "list"),
        ("type_of({})", "map"), ("type_of(0..1)", "range"), ("type_of(x => x)", "function"),
        ("type_of(len)", "function"), ("fn f(): 1\ntype_of(f)", "function"),
    ],
    "pmap": [
        ("pmap([1, 2, 3], x => x * x)", [1, 4, 9]), ("pmap([], x => x)", []),
        ("pmap(0..3, str)", ["0", "1", "2"]), ("[1, 2] |> pmap(x => x + 1)", [2, 3]),
        ("pmap(0..5, x => x * 2, 2)", [0, 2, 4, 6, 8]), ("pmap([1, 2], x => -x, 100)", [-1, -2]),
    ],
    "spawn": [("type_of(spawn(() => 1))", "task"), ("str(spawn(() => 1))", "<task <lambda> running>"),
              ("fn f() { 7 }\nlet t = spawn(f)\nawait(t)\nstr(t)", "<task f done>")],
    "await": [("await(spawn(() => 1 + 1))", 2), ("await(spawn(() => 5), 10)", 5),
              ("let t = spawn(() => await(spawn(() => 3)) * 2)\nawait(t)", 6)],
    "await_all": [("await_all(map(0..4, i => spawn(() => i * 10)))", [0, 10, 20, 30]),
                  ("await_all([])", [])],
    "raise": [
        ('try { raise("no") } rescue e { [e.type, e.message] }', ["Error", "no"]),
        ('try { raise("Quota", "full") } rescue e { [e.type, e.message] }', ["Quota", "full"]),
        ("try { try { 1 / 0 } rescue e { raise(e) } } rescue e { e.message }",
         "Division by zero"),
    ],
    "remove_at": [("remove_at([1, 2, 3], 0)", [2, 3]), ("remove_at([1, 2, 3], -1)", [1, 2]),
                  ("remove_at(0..3, 1)", [0, 2])],
    "insert_at": [("insert_at([1, 3], 1, 2)", [1, 2, 3]), ("insert_at([1], 1, 2)", [1, 2]),
                  ("insert_at([], 0, 9)", [9]), ("insert_at([1, 2], -1, 0)", [1, 0, 2])],
    "flat_map": [("flat_map([1, 2], x => [x, x])", [1, 1, 2, 2]), ("flat_map([], x => [x])", []),
                 ("flat_map([1, 3], x => 0..x)", [0, 0, 1, 2])],
    "group_by": [("group_by([1, 2, 3], x => x % 2)", {"1": [1, 3], "0": [2]}),
                 ('group_by(["ab", "c", "de"], len)', {"2": ["ab", "de"], "1": ["c"]}),
                 ("group_by([], x => x)", {})],
    "uniq": [("uniq([3, 1, 3, 2, 1])", [3, 1, 2]), ("uniq([1, 1.0, true])", [1, True]),
             ("uniq([[1], [1], {a: 1}, {a: 1}])", [[1], {"a": 1}]), ("uniq([])", [])],
    "take": [("take([1, 2, 3], 2)", [1, 2]), ("take([1], 5)", [1]), ('take("hello", 2)', "he"),
             ("take(0..10, 0)", [])],
    "drop": [("drop([1, 2, 3], 2)", [3]), ("drop([1], 5)", []), ('drop("hello", 3)', "lo")],
    "chunk": [("chunk([1, 2, 3, 4, 5], 2)", [[1, 2], [3, 4], [5]]), ("chunk([], 3)", []),
              ("chunk(0..4, 4)", [[0, 1, 2, 3]])],
    "div": [("div(7, 2)", 3), ("div(-7, 2)", -3), ("div(7, -2)", -3), ("div(-7, -2)", 3),
            ("div(10 ** 30, 10 ** 29)", 10)],
    "rem": [("rem(7, 2)", 1), ("rem(-7, 2)", -1), ("rem(7, -2)", 1),
            ("div(-7, 2) * 2 + rem(-7, 2)", -7)],
    "format": [('format(3.14159, ".2f")', "3.14"), ('format(42, ">5")', "   42"),
               ('format(1234567, ",")', "1,234,567"), ('format("ab", "*^6")', "**ab**"),
               ('format(255, "x")', "ff"), ('format(0.5, ".0%")', "50%"),
               ('format([1], ">4")', " [1]"), ('format(nil, "")', "nil")],
    "args": [("args()", [])],
    "read_line": [("read_line()", None)],
    "read_file": [('write_file("a.txt", "hé\\n"); read_file("a.txt")', "hé\n")],
    "read_lines": [('write_file("a.txt", "x\\ny\\n"); read_lines("a.txt")', ["x", "y"])],
    "write_file": [('write_file("a.txt", "1")', None),
                   ('write_file("a.txt", "1"); write_file("a.txt", "2"); read_file("a.txt")',
                    "2")],
    "append_file": [('append_file("a.txt", "1"); append_file("a.txt", "2"); read_file("a.txt")',
                     "12")],
    "list_dir": [('write_file("b", ""); write_file("a", ""); list_dir(".")', ["a", "b"]),
                 ("list_dir()", [])],
    "exists": [('exists("a.txt")', False), ('write_file("a.txt", ""); exists("a.txt")', True),
               ('exists(".")', True)],
    "attempt": [
        ("attempt(() => 1)", {"ok": True, "value": 1}),
        ("attempt(() => 1 / 0).error.message", "Division by zero"),
        ("attempt(() => 1 / 0).ok", False),
    ],
}

# name -> [(source, fragment of the message)]
ERRORS: dict[str, list[tuple[str, str]]] = {
    "len": [("len(nil)", "len"), ("len(5)", "len")],
    "range": [("range(1.5)", "range"), ("range(0, 5, 0)", "step"), ('range("a")', "range"),
              ("range(0, 2.0)", "range")],
    "map": [("map([1], 5)", "function"), ("map(5, str)", "list"),
            ("map([1, 2], (a, b) => a)", "map"), ('map("abc", upper)', "list")],
    "filter": [("filter([1], nil)", "function"), ("filter(nil, x => x)", "list"),
               ("filter([1], (a, b) => a)", "filter")],
    "reduce": [("reduce([1], x => x, 0)", "reduce"), ("reduce(1, (a, x) => a, 0)", "list"),
               ("reduce([1], 3, 0)", "function")],
    "sum": [('sum(["a"])', "sum"), ("sum(5)", "sum"), ("sum([1, nil])", "sum")],
    "min": [("min([])", "min"), ("min([1, \"a\"])", "min"), ("min(nil, 1)", "min")],
    "max": [("max([])", "max"), ("max([1, \"a\"])", "max")],
    "keys": [("keys([1])", "keys"), ("keys(nil)", "keys")],
    "values": [("values([1])", "values")],
    "get": [("get(5, 1)", "get"), ('get([1], "a")', "get"), ("get(nil, 0)", "get")],
    "put": [("put([1], \"a\", 1)", "put"), ('put({}, 1, 2)', "put")],
    "remove": [('remove([1], "a")', "remove")],
    "append": [("append(5, 1)", "append"), ('append("ab", "c")', "append")],
    "concat": [('concat([1], "b")', "concat"), ("concat(1, 2)", "concat")],
    "join": [('join("ab", ",")', "join"), ("join([1], 5)", "join")],
    "split": [('split(5, ",")', "split"), ('split("a", 1)', "split")],
    "contains": [("contains(5, 1)", "contains"), ('contains("abc", 1)', "contains")],
    "index_of": [("index_of(5, 1)", "index_of"), ('index_of("abc", 1)', "index_of")],
    "sort": [("sort([1, 2], (a, b) => a < b)", "the comparator must return a number"),
             ("sort([1], (a, b, c) => 0)", "sort"),
             ('sort([1, "a"])', "sort"), ("sort(5)", "sort"), ("sort([1], 5)", "sort"),
             ("sort([[1], [2]])", "sort")],
    "reverse": [("reverse(5)", "reverse"), ("reverse(nil)", "reverse")],
    "slice": [("slice([1], 1.5)", "slice"), ("slice(5, 0)", "slice"), ('slice([1], 0, "x")',
                                                                        "slice")],
    "zip": [("zip(1, [1])", "zip"), ("zip([1], nil)", "zip")],
    "enumerate": [("enumerate(5)", "enumerate")],
    "first": [("first(5)", "first")],
    "last": [("last(\"ab\")", "last")],
    "any": [("any(5)", "any"), ("any([1], 5)", "any")],
    "all": [("all(5)", "all"), ("all([1], 5)", "all")],
    "upper": [("upper(5)", "upper")],
    "lower": [("lower(nil)", "lower")],
    "trim": [("trim([1])", "trim")],
    "replace": [('replace("a", 1, "b")', "replace"), ('replace(1, "a", "b")', "replace")],
    "starts_with": [('starts_with(1, "a")', "starts_with")],
    "ends_with": [('ends_with("a", nil)', "ends_with")],
    "abs": [('abs("x")', "abs"), ("abs(nil)", "abs"), ("abs(true)", "abs")],
    "sqrt": [("sqrt(-1)", "sqrt"), ('sqrt("4")', "sqrt")],
    "floor": [('floor("2")', "floor"), ("floor(1e308 * 10)", "floor")],
    "ceil": [("ceil(nil)", "ceil")],
    "round": [('round("1")', "round"), ("round(1.5, 1.5)", "round")],
    "pow": [("pow(0, -1)", "Division by zero"), ("pow(-8, 0.5)", "pow"),
            ("pow(10, 1000000)", "pow"), ('pow("2", 2)', "pow")],
    "exp": [("exp(1000)", "exp"), ('exp("1")', "exp")],
    "log": [("log(0)", "log"), ("log(-1)", "log"), ("log(8, 1)", "log"), ("log(8, 0)", "log"),
            ('log("e")', "log")],
    "int": [('int("0x")', "int"), ('int("12", 1)', "base must be between 2 and 36"),
            ('int("9", 8)', "in base 8"), ("int(5, 10)", "a string when a base"),
            ('int("1", 2.0)', "integer"),
            ('int("abc")', "int"), ('int("4.5")', "int"), ("int(nil)", "int"),
            ("int([1])", "int"), ("int(1e308 * 10)", "int")],
    "float": [('float("abc")', "float"), ("float([1])", "float"), ("float(nil)", "float"),
              ("float(10 * 10" + "0" * 400 + ")", "float")],
    "pmap": [("pmap(5, x => x)", "pmap"), ("pmap([1], 5)", "pmap"),
             ("pmap([1], x => x, 0)", "pmap: n must be a positive integer, got 0"),
             ('pmap([1], x => x, "2")', "pmap: n must be a positive integer, got string"),
             ("pmap([1, 0], x => 1 / x)", "Division by zero")],
    "raise": [('raise("stop")', "Error: stop"), ('raise("Quota", "full")', "Quota: full"),
              ("raise(5)", "raise: expected a message string or an error map, got int"),
              ('raise(1, "m")', "raise: the error type must be a string"),
              ('raise("T", 2)', "raise: the message must be a string"),
              ('raise({"type": "T"})', "raise: an error map needs string 'type' and 'message'")],
    "remove_at": [("remove_at([1], 1)", "out of range"), ("remove_at([], 0)", "out of range"),
                  ('remove_at([1], "0")', "integer"), ("remove_at(5, 0)", "list")],
    "insert_at": [("insert_at([1], 2, 0)", "out of range"), ("insert_at(nil, 0, 1)", "list")],
    "flat_map": [("flat_map([1], x => x)", "must return a list"), ("flat_map(1, x => [x])", "list"),
                 ("flat_map([1], (a, b) => [a])", "flat_map")],
    "group_by": [("group_by(5, x => x)", "list"), ("group_by([1], 5)", "function")],
    "uniq": [("uniq(5)", "list")],
    "take": [("take([1], -1)", "0 or more"), ("take(5, 1)", "list"), ('take([1], "a")', "integer")],
    "drop": [("drop([1], -1)", "0 or more"), ("drop(nil, 1)", "list")],
    "chunk": [("chunk([1], 0)", "1 or more"), ("chunk(5, 1)", "list")],
    "div": [("div(1, 0)", "Division by zero"), ("div(1.5, 1)", "div: expected an integer"),
            ('div(1, "2")', "div: expected an integer")],
    "rem": [("rem(1, 0)", "Division by zero"), ("rem(1, 2.0)", "rem: expected an integer")],
    "format": [('format(1, "q")', "format: invalid format spec"), ("format(1, 2)", "format"),
               ('format("a", ".2f")', "format: invalid format spec")],
    "read_line": [("read_line(5)", "prompt")],
    "read_file": [('read_file("/etc/hostname")', "refused"), ('read_file("no.txt")', "no such"),
                  ("read_file(5)", "path"), ('read_file(".")', "directory")],
    "read_lines": [('read_lines("../x")', "refused")],
    "write_file": [('write_file("/tmp/../etc/x", "a")', "refused"),
                   ('write_file("a.txt", 5)', "string")],
    "append_file": [('append_file("/x", "a")', "refused")],
    "list_dir": [('list_dir("/")', "refused"), ('list_dir("nope")', "no such")],
    "exists": [('exists("/")', "refused"), ("exists(nil)", "path")],
    "attempt": [("attempt(5)", "attempt: expected a function"),
                ("attempt(x => x)", "attempt: the function")],
    "spawn": [("spawn(5)", "spawn: expected a function"), ("spawn(x => x)", "spawn: the function")],
    "await": [("await(5)", "await: expected a task, got int"),
              ("await(spawn(() => 1), -1)", "await: seconds"),
              ('await(spawn(() => 1), "2")', "await: seconds"),
              ("await(spawn(() => 1 / 0))", "Division by zero")],
    "await_all": [("await_all(5)", "await_all: expected a list of tasks, got int"),
                  ("await_all([1])", "await_all: expected a task, got int"),
                  ("await_all([spawn(() => 1), spawn(() => [][3])])", "Index out of range")],
}


def _cases(table):
    return [pytest.param(name, source, value, id=f"{name}:{source}")
            for name, rows in table.items() for source, value in rows]


@pytest.mark.parametrize("name, source, expected", _cases(USES))
def test_builtin_use(name, source, expected):
    assert name in BUILTINS
    source = source.replace("math_e", repr(math.e))
    value = run(source)
    if isinstance(expected, float) and type(value) is float:
        assert math.isclose(value, expected, rel_tol=1e-12, abs_tol=1e-300), (source, value)
    else:
        assert same(value, expected), f"{source}: got {value!r}, expected {expected!r}"


@pytest.mark.parametrize("name, source, fragment", _cases(ERRORS))
def test_builtin_error(name, source, fragment):
    with pytest.raises(ZixirRuntimeError) as info:
        run(source)
    assert fragment.lower() in info.value.message.lower(), info.value.message
    assert info.value.line is not None


def test_every_builtin_is_covered():
    assert set(BUILTINS) <= set(USES), sorted(set(BUILTINS) - set(USES))
    without_errors = {name for name, b in BUILTINS.items()
                      if b.min_args > 0 and name not in ERRORS}
    # functions that accept any value have no argument error beyond their arity
    assert without_errors <= {"str", "bool", "type_of"}, sorted(without_errors)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_arity(name):
    entry = BUILTINS[name]
    counts = []
    if entry.min_args > 0:
        counts.append(entry.min_args - 1)
    if entry.max_args is not None:
        counts.append(entry.max_args + 1)
    for count in counts:
        args = ", ".join(["[1]"] * count)
        with pytest.raises(ZixirRuntimeError) as info:
            run(f"{name}({args})")
        assert info.value.message.startswith(f"Function {name} expects"), info.value.message
        assert info.value.message.endswith(f"got {count}"), info.value.message


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtins_are_values(name):
    assert run(f"type_of({name})") == "function"
    assert run(f"let f = {name}\nf == {name}") is True


def test_builtins_can_be_shadowed():
    assert run("let len = 5\nlen + 1") == 6
    assert run("fn upper(s): \"mine\"\nupper(\"x\")") == "mine"
    assert run("let sum = 10\n[1, 2] |> map(x => x + sum)") == [11, 12]
    # shadowing in one session does not leak into another
    assert run('len("ab")') == 2


# ---- print and println -----------------------------------------------------------------------------

def test_print_writes_values_separated_by_spaces(capsys):
    assert run('print("a", 1, 2.0, nil, true, [1, "x"], {"k": "v"})') is None
    assert capsys.readouterr().out == 'a 1 2.0 nil true [1, "x"] {"k": "v"}'


def test_println_adds_a_newline(capsys):
    run('println("x")\nprintln()\nprintln(1, "two", 3.5)')
    assert capsys.readouterr().out == "x\n\n1 two 3.5\n"


def test_print_shows_strings_without_quotes_only_at_top_level(capsys):
    run('print("say \\"hi\\"", ["s"])')
    assert capsys.readouterr().out == 'say "hi" ["s"]'


def test_print_writes_floats_as_python_repr(capsys):
    run("println(0.1 + 0.2, 1e100, 18.0, 1 / 3, -0.0)")
    expected = " ".join(repr(x) for x in (0.1 + 0.2, 1e100, 18.0, 1 / 3, -0.0)) + "\n"
    assert capsys.readouterr().out == expected


def test_print_ranges_as_lists(capsys):
    run("println(0..3)")
    assert capsys.readouterr().out == "[0, 1, 2]\n"


def test_print_output_appears_in_program_order(capsys):
    run('for i in 0..3 { print(i) }\nprintln("!")')
    assert capsys.readouterr().out == "012!\n"


def test_print_returns_nil_in_expressions():
    assert run('let r = println("x")\nr == nil') is True


def test_pmap_errors_are_zixir_errors():
    with pytest.raises(ZixirError):
        run("pmap([1, 2], x => undefined_thing)")
