"""The `zixir` command as a user runs it: output, error format, exit codes, the REPL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from zixir.cli import main
from zixir.repl import needs_more, run_repl


def run_cli(*args: str, stdin: str | None = None, timeout: float = 60):
    return subprocess.run([sys.executable, "-m", "zixir", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_run_prints_output_then_value(tmp_path):
    path = write(tmp_path, "p.zx", 'println("hello")\nprint("a", 1, nil)\n[1, 2.5, "x", {"k": true}]\n')
    result = run_cli("run", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == 'hello\na 1 nil\n[1, 2.5, "x", {"k": true}]\n'


def test_run_prints_nothing_for_nil_and_json_on_request(tmp_path):
    path = write(tmp_path, "p.zx", "let x = nil\nx\n")
    assert run_cli("run", path).stdout == ""
    path = write(tmp_path, "q.zx", '{"a": [1, 2.0], "b": true, "c": nil}')
    result = run_cli("run", path, "--json")
    assert json.loads(result.stdout) == {"a": [1, 2.0], "b": True, "c": None}


def test_run_prints_functions_by_their_zixir_names(tmp_path):
    path = write(tmp_path, "f.zx", "fn my_fn(x) { x }\n[my_fn, flat_map, engine.list_sum, x => x]\n")
    result = run_cli("run", path)
    assert result.stdout == "[<fn my_fn>, <fn flat_map>, <fn list_sum>, <fn <lambda>>]\n"


def test_run_calls_main_and_uses_its_value(tmp_path):
    path = write(tmp_path, "m.zx", "let base = 40\nfn main() {\n  base + 2\n}\n")
    result = run_cli("run", path)
    assert (result.returncode, result.stdout) == (0, "42\n")


def test_runtime_error_format_and_exit_code(tmp_path):
    source = 'fn inner(x) {\n  x * "no"\n}\nfn outer() { inner(3) }\nouter()\n'
    path = write(tmp_path, "bad.zx", source)
    result = run_cli("run", path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"{path}:2:3: error: Invalid binary operation: int * string"
    assert lines[1] == '    x * "no"'
    assert lines[2] == "    ^^^^^^^^"
    assert "in outer at line 4" in result.stderr and "in inner at line 2" in result.stderr


def test_syntax_error_format_and_exit_code(tmp_path):
    path = write(tmp_path, "syn.zx", "let x = 1\nlet y = (x + 2\n")
    result = run_cli("run", path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == f"{path}:2:9: error: Expected ')'"
    assert result.stderr.splitlines()[2] == "          ^"


def test_usage_errors_exit_2(tmp_path):
    assert run_cli("run", str(tmp_path / "missing.zx")).returncode == 2
    assert run_cli().returncode == 2
    assert run_cli("frobnicate").returncode == 2


def test_output_before_error_is_kept(tmp_path):
    path = write(tmp_path, "p.zx", 'println("before")\n1 / 0\n')
    result = run_cli("run", path)
    assert result.stdout == "before\n"
    assert "error: Division by zero" in result.stderr


def test_value_starts_on_its_own_line(tmp_path):
    path = write(tmp_path, "p.zx", 'print("no newline")\n7\n')
    result = run_cli("run", path)
    assert (result.returncode, result.stdout) == (0, "no newline\n7\n")


def test_main_reports_usage_errors_without_exiting(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.zx")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_repl_keeps_bindings_and_survives_errors(capsys):
    lines = iter(["let x = 5", "x * 2", "undefined_name + 1", "fn f(n):", "  let y = n + 1",
                  "  y * 2", "", "f(x)", "[1,", " 2]", '"multi', 'line"', ":quit", "never"])

    def read(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    assert run_repl(read_line=read) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["5", "10", "<fn f>", "12", "[1, 2]", '"multi\\nline"']
    assert "Undefined variable: undefined_name" in captured.err


def test_repl_over_a_pipe():
    result = run_cli("repl", stdin="let a = [1, 2, 3]\na |> map(x => x * x)\nsum(a)\n")
    assert result.returncode == 0
    assert result.stdout.splitlines() == ["[1, 2, 3]", "[1, 4, 9]", "6"]


def test_repl_shows_the_line_of_the_input_an_error_happened_in():
    result = run_cli("repl", stdin="fn g(x) { x / 0 }\nlet y = 1\ng(y)\n")
    assert result.stderr.splitlines()[:3] == [
        "<repl 1>:1:11: error: Division by zero", "  fn g(x) { x / 0 }", "            ^^^^^"]
    assert "in g at <repl 1> line 1, column 11" in result.stderr


@pytest.mark.parametrize(("text", "more"), [
    ("(1 +", True), ("[1, 2", True), ('"abc', True), ("fn f(x):", True),
    ("fn f(x):\n  x", True), ("fn f(x):\n  x\n", False), ("1 + 2", False), ("1 +* 2", False),
    ("if x { 1 }", False), ("match 1 {", True),
])
def test_repl_continuation_rule(text, more):
    assert needs_more(text) is more


def test_parallel_example_runs_on_workers():
    result = run_cli("run", str(Path(__file__).parents[2] / "examples" / "parallel.zx"),
                     timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "true"  # pmap and map computed the same results
    assert lines[0].startswith("map:") and "speedup:" in lines[0]


def test_memory_persists_between_runs(tmp_path):
    path = write(tmp_path, "count.zx",
                 'memory.put("runs", memory.get("runs", 0) + 1)\nmemory.get("runs")\n')
    store = str(tmp_path / "store" / "memory.sqlite3")
    outputs = [run_cli("run", path, "--memory", store).stdout for _ in range(3)]
    assert outputs == ["1\n", "2\n", "3\n"]
    assert run_cli("run", path, "--memory", str(tmp_path / "other.sqlite3")).stdout == "1\n"


def test_repl_keeps_the_file_layout_of_else_and_unfinished_output():
    """`}` then `else {` on the next line works as in a file; output without a final newline
    is ended before the next value or prompt writes over it."""
    script = ('let x = 3\nif x > 2 {\n  "big"\n}\nelse {\n  "small"\n}\n'
              'if x > 5 {\n  1\n}\nprint("abc")\ntry {\n  1 / 0\n}\nrescue e {\n  e.message\n}\n'
              'print("no newline")\n7\n')
    result = run_cli("repl", stdin=script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['3', '"big"', "abc", '"Division by zero"', "no newline",
                                          "7"]
    assert result.stderr == ""


@pytest.mark.parametrize(("text", "more"), [
    ("if x {\n  1\n}", True), ("try {\n  f()\n}", True), ("let v = if c {\n  1\n}", True),
    ("if x { 1 }", False), ("fn f() {\n  1\n}", False), ("[\n1\n]", False),
])
def test_repl_waits_for_a_possible_else(text, more):
    from zixir.repl import may_continue

    assert may_continue(text) is more


def test_run_and_check_agree_on_paths_exit_codes_and_columns(tmp_path):
    cases = {"b.zx": "let x = 1\nbreak\n", "i.zx": 'let x = 1\nimport "nothere.zx"\n',
             "e.zx": "let x = 1\nlet y = engine.nope(1)\n"}
    for name, source in cases.items():
        write(tmp_path, name, source)
        ran = subprocess.run([sys.executable, "-m", "zixir", "run", name], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        checked = subprocess.run([sys.executable, "-m", "zixir", "check", name], cwd=tmp_path,
                                 capture_output=True, text=True, timeout=60)
        assert ran.returncode == checked.returncode, (name, ran.stderr, checked.stderr)
        assert ran.stderr.splitlines()[:3] == checked.stderr.splitlines()[:3]
        assert ran.stderr.startswith(f"{name}:2:")
    assert ran.stderr.startswith("e.zx:2:16: error: unknown engine op: nope")


def test_fmt_says_why_a_file_cannot_be_formatted(tmp_path):
    result = run_cli("fmt", str(tmp_path / "nope.zx"), str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"zixir: error: no such file: {tmp_path / 'nope.zx'}",
        f"zixir: error: {tmp_path} is a directory, not a Zixir file"]


def test_memory_directory_is_a_usage_error(tmp_path):
    path = write(tmp_path, "p.zx", "1\n")
    result = run_cli("run", path, "--memory", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == (f"zixir: error: --memory needs a file path (the store is one "
                             f"SQLite file), but {tmp_path} is a directory\n")


def test_json_output_is_valid_json_for_nan_and_infinity(tmp_path):
    path = write(tmp_path, "n.zx", "let big = 1e308 * 10\n[big, -big, big - big, 1.5]\n")
    result = run_cli("run", path, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout, parse_constant=lambda c: pytest.fail(c)) == [
        "Infinity", "-Infinity", "NaN", 1.5]


def test_closed_output_stops_quietly(tmp_path):
    path = write(tmp_path, "many.zx", "for i in 0..200000 { println(i) }\n")
    proc = subprocess.Popen([sys.executable, "-m", "zixir", "run", path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    _, err = proc.communicate(timeout=60)
    assert first == b"0\n"
    assert proc.returncode == 141
    assert err == b""
