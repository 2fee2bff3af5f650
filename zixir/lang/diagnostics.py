"""One diagnostics type for every stage and every front end.

The parser and the runtime raise `ZixirError`s, the checker returns lists of `Diagnostic`s;
the CLI, the REPL and the language server all show them through this module, so a message
looks the same wherever it appears.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass

from .errors import ZixirError, ZixirSyntaxError


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: str  # 'error' | 'warning'
    message: str
    line: int  # 1-based
    column: int  # 1-based, in characters
    end_line: int
    end_column: int  # exclusive
    filename: str | None = None
    source: str = "zixir"  # 'syntax', 'check' or 'runtime'

    @classmethod
    def from_error(cls, error: ZixirError) -> Diagnostic:
        line = error.line or 1
        column = error.column or 1
        end_line = error.end_line or line
        end_column = error.end_column or column + 1
        if (end_line, end_column) <= (line, column):
            end_line, end_column = line, column + 1
        kind = "syntax" if isinstance(error, ZixirSyntaxError) else "runtime"
        return cls("error", error.message, line, column, end_line, end_column, error.filename,
                   kind)


#: a source line longer than this many characters is shown as a window around the error
MAX_SHOWN = 160
_CONTEXT = 60  # characters shown on each side of the span in a window


def cells(text: str) -> int:
    """Terminal cells `text` takes: 2 for wide characters (CJK, most emoji), 0 for combining
    marks, 1 for the rest; so the caret stands under the span on screen."""
    total = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def format_diagnostic(diag: Diagnostic, source: str | None, filename: str | None = None) -> str:
    """`FILE:LINE:COL: error: MESSAGE`, then the source line and a caret under the span (a
    window of a very long line, with `...` where it is cut)."""
    name = diag.filename or filename or "<input>"
    out = [f"{name}:{diag.line}:{diag.column}: {diag.severity}: {diag.message}"]
    lines = source.splitlines() if source is not None else []
    if 1 <= diag.line <= len(lines):
        text = lines[diag.line - 1].expandtabs(1)
        start = min(max(diag.column - 1, 0), len(text))
        width = 1
        if diag.end_line == diag.line and diag.end_column > diag.column:
            width = diag.end_column - diag.column
        width = max(1, min(width, len(text) - start))
        before, span = text[:start], text[start:start + width]
        after = text[start + width:]
        if len(text) > MAX_SHOWN:
            if len(before) > _CONTEXT:
                before = "..." + before[-_CONTEXT:]
            if len(span) > MAX_SHOWN - 2 * _CONTEXT:
                span = span[:MAX_SHOWN - 2 * _CONTEXT]
                after = "..."
            elif len(after) > _CONTEXT:
                after = after[:_CONTEXT] + "..."
        out.append(f"  {before}{span}{after}")
        out.append("  " + " " * cells(before) + "^" * max(1, cells(span)))
    return "\n".join(out)


def _shown(path: str) -> str:
    """A file name as short as it can be said: relative to the working directory if inside."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return relative if not relative.startswith("..") else path


def format_error(error: ZixirError, source: str | None, filename: str | None = None,
                 max_frames: int = 60) -> str:
    """A runtime or syntax error as the CLI prints it, with the Zixir call chain."""
    text = format_diagnostic(Diagnostic.from_error(error), source, filename)
    chain = [f for f in error.call_chain if f.function != "<top level>"]
    if not chain:
        return text
    lines = ["call chain (most recent call last):"]
    # a chain through imported files names the file of every frame; one file names none
    main_file = os.path.abspath(error.filename or filename or "")
    files = {os.path.abspath(f.filename) if f.filename else main_file
             for f in error.call_chain if f.line}
    name_files = bool(files - {main_file})
    for frame in error.call_chain[:max_frames]:
        if frame.line == 0:  # a marker left where a runaway chain was shortened
            lines.append(f"  {frame.function}")
            continue
        where = f"line {frame.line}, column {frame.column}"
        if name_files:
            where = f"{_shown(frame.filename or main_file)} {where}"
        lines.append(f"  in {frame.function} at {where}")
    if len(error.call_chain) > max_frames:
        lines.append(f"  ... {len(error.call_chain) - max_frames} more calls ...")
    return text + "\n" + "\n".join(lines)
