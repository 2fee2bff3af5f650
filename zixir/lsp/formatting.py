"""Formatting for the editor: the whole document, or the statements covering a range.

    source ──lang/formatter.format_source──> canonical text (2-space levels, as `zixir fmt`)
           ──reindent(tab_size, insert_spaces)──> the editor's indentation

The layout is decided once, by the formatter, at its own indentation step; the editor's
options only re-express each level of indentation (N spaces or a tab per level), so the
formatter stays the single authority on layout. Lines that begin inside a string literal are
never touched. A range is widened to the top-level statements it touches, and only their text is
replaced: the rest of the document is left exactly as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from zixir.lang.errors import ZixirError
from zixir.lang.formatter import STEP, format_source
from zixir.lang.lexer import STRING_KINDS, tokenize
from zixir.lang.parser import parse


@dataclass(frozen=True)
class Replacement:
    """Replace from (line, column) to (end_line, end_column), 1-based characters, with text."""

    line: int
    column: int
    end_line: int
    end_column: int
    text: str


def _string_lines(text: str) -> set[int]:
    """Lines (1-based) that begin inside a string literal."""
    inside: set[int] = set()
    for token in tokenize(text):
        if token.kind in STRING_KINDS and token.end_line > token.line:
            inside.update(range(token.line + 1, token.end_line + 1))
    return inside


def reindent(text: str, tab_size: int = STEP, insert_spaces: bool = True) -> str:
    """`text` (laid out by the formatter) with each indentation level as the editor wants."""
    if insert_spaces and tab_size == STEP:
        return text
    unit = " " * max(tab_size, 1) if insert_spaces else "\t"
    keep = _string_lines(text)
    out = []
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.lstrip(" ")
        if number in keep or not stripped:
            out.append(line)
            continue
        levels, rest = divmod(len(line) - len(stripped), STEP)
        out.append(unit * levels + " " * rest + stripped)
    return "\n".join(out)


def format_document(source: str, tab_size: int = STEP, insert_spaces: bool = True,
                    path: str | None = None) -> str | None:
    """The formatted document, or None when it does not parse (a broken file is left alone)."""
    try:
        return reindent(format_source(source, path), tab_size, insert_spaces)
    except ZixirError:
        return None


def format_range(source: str, first_line: int, last_line: int, tab_size: int = STEP,
                 insert_spaces: bool = True, path: str | None = None) -> Replacement | None:
    """The replacement of the top-level statements that touch lines first_line..last_line
    (1-based) by their formatted text; None when nothing changes or the file does not parse."""
    try:
        program = parse(source, path)
        formatted = reindent(format_source(source, path), tab_size, insert_spaces)
        laid_out = parse(formatted, path)
    except ZixirError:
        return None
    old, new = program.body, laid_out.body
    if len(old) != len(new):  # the formatter keeps statements one for one; be safe anyway
        return None
    chosen = [i for i, stmt in enumerate(old)
              if stmt.line <= last_line and stmt.end_line >= first_line]
    if not chosen:
        return None
    first, last = old[chosen[0]], old[chosen[-1]]
    text = _slice(formatted, new[chosen[0]], new[chosen[-1]])
    if text == _slice(source, first, last):
        return None
    return Replacement(first.line, first.column, last.end_line, last.end_column, text)


def _slice(text: str, first, last) -> str:
    lines = text.split("\n")
    if first.line == last.end_line:
        return lines[first.line - 1][first.column - 1:last.end_column - 1]
    head = lines[first.line - 1][first.column - 1:]
    middle = lines[first.line:last.end_line - 1]
    tail = lines[last.end_line - 1][:last.end_column - 1]
    return "\n".join([head, *middle, tail])
