"""What the extension contributes besides the language server: snippets, the `$zixir` problem
matcher, the `[zixir]` editor defaults and the icon. Each is checked against the part of zixir
it must agree with (the parser, the CLI's error lines, the formatter), and in the packaged .vsix.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from zixir.lang import formatter
from zixir.lang.parser import parse

EXTENSION_DIR = Path(__file__).resolve().parents[2] / ".vscode"
MANIFEST = json.loads((EXTENSION_DIR / "package.json").read_text("utf-8"))
CONTRIBUTES = MANIFEST["contributes"]
SNIPPETS = json.loads((EXTENSION_DIR / "snippets" / "zixir.json").read_text("utf-8"))
VSIX = EXTENSION_DIR / "zixir.vsix"
PLACEHOLDER = re.compile(r"\$\{\d+:([^}]*)\}|\$\{\d+\}|\$\d+")
# The language constructs the snippets must cover (LANGUAGE.md sections 4, 5, 6 and 10).
REQUIRED = {"fn", "if", "ifelse", "match", "for", "while", "let", "import", "python", "try"}


def expand(body: list[str]) -> str:
    """A snippet as VS Code inserts it when every placeholder keeps its default."""
    return PLACEHOLDER.sub(lambda m: m.group(1) or "", "\n".join(body))


def test_snippets_cover_the_language_constructs() -> None:
    prefixes = {snippet["prefix"] for snippet in SNIPPETS.values()}
    assert REQUIRED <= prefixes, REQUIRED - prefixes
    assert CONTRIBUTES["snippets"] == [{"language": "zixir", "path": "./snippets/zixir.json"}]
    for name, snippet in SNIPPETS.items():
        assert snippet["description"], name
        assert "$0" in "".join(snippet["body"]) or "${0" in "".join(snippet["body"]), name


@pytest.mark.parametrize("name", sorted(n for n, s in SNIPPETS.items() if s["prefix"] != "try"))
def test_snippet_expands_to_code_that_parses(name: str) -> None:
    source = expand(SNIPPETS[name]["body"])
    program = parse(source, "snippet.zx")
    assert program.body, source


def test_try_snippet_has_the_try_rescue_shape() -> None:
    # `try BLOCK rescue NAME BLOCK` (LANGUAGE.md section 10)
    (snippet,) = [s for s in SNIPPETS.values() if s["prefix"] == "try"]
    assert re.fullmatch(r"try \{\n  nil\n\} rescue e \{\n  e\.message\n\}", expand(snippet["body"]))


def _matcher_regexp() -> re.Pattern[str]:
    (pattern,) = CONTRIBUTES["problemPatterns"]
    (matcher,) = CONTRIBUTES["problemMatchers"]
    assert matcher["name"] == "zixir" and matcher["pattern"] == "$" + pattern["name"]
    assert pattern["file"] == 1 and pattern["line"] == 2 and pattern["column"] == 3
    assert pattern["severity"] == 4 and pattern["message"] == 5
    return re.compile(pattern["regexp"])


def _zixir(*args: str, cwd: Path) -> str:
    result = subprocess.run([sys.executable, "-m", "zixir", *args], cwd=cwd, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    return result.stderr


def test_problem_matcher_reads_zixir_check_output(tmp_path: Path) -> None:
    (tmp_path / "bad.zx").write_text("let a = 1\nlet b = (a +\n")
    (tmp_path / "undefined.zx").write_text("let a = 1\nlet b = missing + a\n")
    stderr = _zixir("check", "bad.zx", "undefined.zx", cwd=tmp_path)
    regexp = _matcher_regexp()
    found = [m.groups() for line in stderr.splitlines() if (m := regexp.match(line))]
    assert ("bad.zx", "2", "12", "error", "Expected expression") in found, stderr
    assert ("undefined.zx", "2", "9", "error", "Undefined variable: missing") in found, stderr
    assert len(found) == 2, stderr  # the source lines and carets are not problems


def test_problem_matcher_reads_zixir_run_errors(tmp_path: Path) -> None:
    (tmp_path / "fails.zx").write_text("fn f(x) {\n  x / 0\n}\nlet n = 1\nf(n)\n")
    stderr = _zixir("run", "fails.zx", cwd=tmp_path)
    found = [m.groups() for line in stderr.splitlines() if (m := _matcher_regexp().match(line))]
    assert len(found) == 1, stderr
    file, line, column, severity, message = found[0]
    assert file.endswith("fails.zx") and (line, column) == ("2", "3"), stderr
    assert severity == "error" and message == "Division by zero", stderr


def test_problem_matcher_file_location_resolves_relative_paths() -> None:
    (matcher,) = CONTRIBUTES["problemMatchers"]
    assert matcher["owner"] == "zixir"
    assert matcher["fileLocation"] == ["autoDetect", "${workspaceFolder}"]


def test_editor_defaults_match_zixir_fmt() -> None:
    defaults = CONTRIBUTES["configurationDefaults"]["[zixir]"]
    assert defaults["editor.tabSize"] == formatter.STEP
    assert defaults["editor.insertSpaces"] is True
    assert defaults["editor.detectIndentation"] is False
    assert defaults["editor.rulers"] == [formatter.WIDTH]
    assert defaults["files.insertFinalNewline"] is True
    assert defaults["files.trimTrailingWhitespace"] is True
    publisher_and_name = f"{MANIFEST['publisher']}.{MANIFEST['name']}"
    assert defaults["editor.defaultFormatter"] == publisher_and_name


def test_zixir_fmt_output_keeps_the_editor_defaults() -> None:
    formatted = formatter.format_source("fn f(a,b){\nlet c=a+b\nif c>1 {c} else {0}}\n")
    lines = formatted.splitlines()
    indents = {len(line) - len(line.lstrip(" ")) for line in lines if line.strip()}
    assert indents <= {0, formatter.STEP, 2 * formatter.STEP}
    assert formatter.STEP in indents
    assert "\t" not in formatted and formatted.endswith("\n")
    assert all(line == line.rstrip() for line in lines)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_icon_is_a_square_png_in_the_package() -> None:
    icon = MANIFEST["icon"]
    data = (EXTENSION_DIR / icon).read_bytes()
    width, height = _png_size(data)
    assert width == height >= 128
    if VSIX.exists():
        with zipfile.ZipFile(VSIX) as archive:
            assert archive.read(f"extension/{icon}") == data
            assert archive.read("extension/snippets/zixir.json") == (
                EXTENSION_DIR / "snippets" / "zixir.json").read_bytes()
