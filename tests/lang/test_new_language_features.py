"""String interpolation, `**`, integer division, scripts (`args()`, stdin, `read_line`) and the
confined file built-ins, as users meet them: through `zixir run`/`zixir check` in a
subprocess and through a session. Each test pins a choice documented in docs/language.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lang_helpers import fails, run

from zixir.lang.errors import FileAccessDenied, ZixirRuntimeError, ZixirSyntaxError
from zixir.lang.lexer import tokenize


def zixir(*args: str, stdin: str | None = None, cwd: Path | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zixir", *args], input=stdin, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


# ---- string interpolation ----------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ('let n = 41\n"total: #{n + 1}"', "total: 42"),
    ('"#{1}#{2}"', "12"),
    ('"a #{"b"} c"', "a b c"),  # strings without quotes, as str() gives them
    ('"#{[1, "x", nil]} #{ {k: true} }"', '[1, "x", nil] {"k": true}'),
    ('"#{2.0} #{true} #{nil}"', "2.0 true nil"),
    ('"#{ {a: {b: 3}}.a.b }"', "3"),  # braces inside the expression nest
    ('"outer #{"inner #{1 + 1}"}"', "outer inner 2"),
    ('"\\#{not} \\#"', "#{not} #"),
    ('"# alone {x}"', "# alone {x}"),
    ('"#{if true then "y" else "n"}"', "y"),
    ('let xs = [1, 2]\n"#{xs |> map(x => x * 10)}"', "[10, 20]"),
    ('"#{\n  1 +\n  2\n}"', "3"),  # newlines inside #{ } mean nothing
    ('fn f(x) { "<#{x}>" }\nf("a") + f(1)', "<a><1>"),
])
def test_interpolation(source, expected):
    assert run(source) == expected


def test_interpolation_evaluates_left_to_right():
    source = ('let log = []\nfn note(x) {\n  log = append(log, x)\n  x\n}\n'
              '"#{note(1)}#{note(2)}#{note(3)}"\nlog')
    assert run(source) == [1, 2, 3]


def test_interpolation_tokens_keep_true_positions():
    kinds = [(t.kind, t.text, t.column) for t in tokenize('"a#{n}b"')][:-1]
    assert kinds == [("template_start", "a", 1), ("ident", "n", 5),
                     ("template_end", "b", 6)]


@pytest.mark.parametrize("source, message, column", [
    ('"a #{}"', "Expected an expression inside '#{}'", 6),
    ('"a #{1 2}"', "Expected '}' to close '#{', found '2'", 8),
    ('"a #{1 +}"', "Expected expression, found '}'", 9),
    ('"a #{(1} b #{2}"', "Expected ')', found '}'", 8),
    ('"a #{1', "Unterminated string interpolation: expected '}'", 4),
    ('"a #{1} b', "Unterminated string", 7),
    # the missing `}`: the closing quote opens a string inside the interpolation
    ('"v: #{x"', "Unterminated string interpolation: expected '}' (the '\"' at line 1, "
     "column 8 starts a string inside it)", 5),
    ('match "x" { "#{1}" => 1 }', "Invalid pattern", 13),
    ('{"k#{1}": 1}', "Expected map key", 2),
])
def test_interpolation_syntax_errors(source, message, column):
    err = fails(source, ZixirSyntaxError)
    assert message in err.message and err.column == column, (err.message, err.column)


def test_error_inside_interpolation_points_into_it():
    err = fails('let s = "a"\nprintln("v: #{s - 1}")', ZixirRuntimeError)
    assert (err.message, err.line, err.column) == ("Invalid binary operation: string - int",
                                                   2, 15)


# ---- ** and integer division -------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("2 ** 10", 1024), ("-2 ** 2", -4), ("(-2) ** 2", 4), ("2 ** 3 ** 2", 512),
    ("2 ** -1", 0.5), ("2.0 ** 3", 8.0), ("4 ** 0.5", 2.0), ("10 ** 30", 10**30),
    ("0 ** 0", 1), ("2 * 3 ** 2", 18), ("-2 ** -2", -0.25), ("let x = 3\nx ** 2 + 1", 10),
])
def test_power(source, expected):
    value = run(source)
    assert value == expected and type(value) is type(expected), (source, value)


@pytest.mark.parametrize("source, message", [
    ('"a" ** 2', "Invalid binary operation: string ** int"),
    ("nil ** 2", "Invalid binary operation: nil ** int"),
    ("0 ** -1", "Division by zero"),
    ("(-8) ** 0.5", "is not a real number"),
    ("10 ** 10 ** 10", "result too large"),
])
def test_power_errors(source, message):
    assert message in fails(source, ZixirRuntimeError).message


def test_double_slash_is_a_comment_and_check_says_so(tmp_path):
    program = tmp_path / "d.zx"
    program.write_text("let n = 7 // 2\nprintln(n, div(7, 2))\n", encoding="utf-8")
    ran = zixir("run", str(program))
    assert ran.stdout == "7 3\n"
    checked = zixir("check", str(program))
    assert checked.returncode == 0, checked.stderr  # a warning, not an error
    assert f"{program}:1:11: warning: '//' starts a comment" in checked.stderr
    assert "div(a, b)" in checked.stderr


# ---- scripts ------------------------------------------------------------------------------------

def test_args_and_options_after_the_file(tmp_path):
    program = tmp_path / "a.zx"
    program.write_text('args()\n', encoding="utf-8")
    result = zixir("run", str(program), "one", "--json", "two words", "--", "-x", "--stats")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["one", "two words", "-x", "--stats"]
    refused = zixir("run", str(program), "one", "-v")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.splitlines()[-1] == (
        "zixir run: error: unrecognized arguments: -v (the program's arguments that start "
        "with '-' go after '--': zixir run FILE -- ARG ...)")


def test_read_line_reads_standard_input(tmp_path):
    program = tmp_path / "r.zx"
    program.write_text('let total = 0\nlet line = read_line("? ")\nwhile line != nil {\n'
                       '  total += int(line)\n  line = read_line()\n}\n'
                       'println(" total: #{total}")\n', encoding="utf-8")
    result = zixir("run", str(program), stdin="1\n2\n39")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "?  total: 42\n"


def test_run_and_check_read_the_program_from_stdin(tmp_path):
    result = zixir("run", "-", "x", stdin='println("from stdin #{args()}")\n', cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, 'from stdin ["x"]\n')
    bad = zixir("run", "-", stdin="let x = 1 +\n", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("<stdin>:"), bad.stderr
    assert "let x = 1 +" in bad.stderr  # the source line comes from stdin too
    checked = zixir("check", "-", stdin='"a" - 1\n')
    assert checked.returncode == 1
    assert checked.stderr.startswith("<stdin>:1:1: error: Invalid binary operation")
    assert zixir("check", "-", stdin="1 + 1\n").stdout == "<stdin>: ok\n"


def test_directory_as_the_program_is_a_clear_usage_error(tmp_path):
    for command in ("run", "check"):
        result = zixir(command, str(tmp_path))
        assert result.returncode == 2
        assert result.stderr == f"zixir: error: {tmp_path} is a directory, not a Zixir file\n"


# ---- files ---------------------------------------------------------------------------------------

def test_file_builtins_in_the_working_and_script_directories(tmp_path):
    work, scripts = tmp_path / "work", tmp_path / "scripts"
    work.mkdir()
    scripts.mkdir()
    (scripts / "data.txt").write_text("alpha\nbeta\n", encoding="utf-8")
    (scripts / "f.zx").write_text(
        'let here = "' + str(scripts) + '"\n'
        'let lines = read_lines(here + "/data.txt")\n'
        'write_file("out.txt", "#{len(lines)} lines\\n")\n'
        'append_file("out.txt", "done\\n")\n'
        '[read_file("out.txt"), exists("out.txt"), exists("missing"), list_dir(".")]\n',
        encoding="utf-8")
    result = zixir("run", str(scripts / "f.zx"), "--json", cwd=work)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["2 lines\ndone\n", True, False, ["out.txt"]]
    assert (work / "out.txt").read_text(encoding="utf-8") == "2 lines\ndone\n"


def test_files_outside_are_refused_with_a_typed_error(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    (work / "link").symlink_to(outside / "secret.txt")  # a link does not open a way out
    program = work / "p.zx"
    program.write_text(
        'let r = attempt(() => read_file("link"))\n'
        'println(r.error.type)\n'
        'read_file("../outside/secret.txt")\n', encoding="utf-8")
    result = zixir("run", str(program), cwd=work)
    assert result.returncode == 1
    assert result.stdout == "FileAccessDenied\n"
    assert f"{program}:3:1: error: read_file: access to '../outside/secret.txt' is refused" \
        in result.stderr
    assert "zixir.toml [policy] files" in result.stderr


def test_zixir_toml_policy_files_opens_more_directories(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "x.txt").write_text("shared text", encoding="utf-8")
    project = tmp_path / "project"
    project.mkdir()
    (project / "zixir.toml").write_text('[policy]\nfiles = ["../shared"]\n', encoding="utf-8")
    (project / "p.zx").write_text(f'read_file("{shared}/x.txt")\n', encoding="utf-8")
    result = zixir("run", str(project / "p.zx"), cwd=project)
    assert (result.returncode, result.stdout) == (0, '"shared text"\n'), result.stderr
    (project / "zixir.toml").write_text("[policy]\nfiles = [1]\n", encoding="utf-8")
    bad = zixir("run", str(project / "p.zx"), cwd=project)
    assert bad.returncode != 0 and "[policy] files: must be a path" in bad.stderr


def test_file_access_through_the_python_api(tmp_path, monkeypatch):
    from zixir.lang.session import Session

    monkeypatch.chdir(tmp_path)
    session = Session()
    session.eval('write_file("n.txt", "5")')
    assert session.eval('int(read_file("n.txt")) ** 2') == 25
    with pytest.raises(FileAccessDenied) as info:
        session.eval('write_file("/tmp/../tmp/escape.txt", "x")')
    assert info.value.line == 1 and "refused" in info.value.message
    session.allow_files([str(tmp_path.parent)])
    assert session.eval(f'exists("{tmp_path.parent}")') is True
