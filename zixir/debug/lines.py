"""Where a Zixir program can stop: statements, their lines, and the scopes of bindings.

Compiled Zixir code reports Python line events at every change of line, and a statement's
instructions are spread over the lines its sub-expressions span (and over the span of the
enclosing function for compiler-made glue). So a line event is a *stop point* only when the
instruction that triggered it lies in a statement that starts on that line; breakpoints are
verified against the lines that have such stop points in the compiled code:

    source --parse--> statements (start, end)   --\
    source --compile--> code objects, positions ---+--> lines with stop points
                                                        (a breakpoint on any other line moves
                                                         to the next one, or is unverified)

The same index tells which block a binding belongs to (for showing only the variables in
scope at a position).
"""

from __future__ import annotations

import bisect
import os
import threading
from typing import Any

from ..lang import ast as A
from ..lang.compiler import CompilerState, compile_program
from ..lang.errors import ZixirError
from ..lang.parser import parse
from ..lang.session import code_positions

Pos = tuple[int, int]  # (line, column), 1-based

#: statements that run where they are written (a `fn` is defined at its block's start)
_NOT_STEPS = (A.FnDef, A.TypeAlias)


class SourceIndex:
    """The statements and blocks of one source text, for position queries."""

    def __init__(self, program: A.Program) -> None:
        self.statements: list[tuple[Pos, Pos]] = []
        self.blocks: list[tuple[Pos, Pos]] = []
        for node in A.walk(program):
            if isinstance(node, (A.Block, A.Program)):
                if isinstance(node, A.Block):
                    self.blocks.append(((node.line, node.column),
                                        (node.end_line, node.end_column)))
                for stmt in node.body:
                    if not isinstance(stmt, _NOT_STEPS):
                        self.statements.append(((stmt.line, stmt.column),
                                                (stmt.end_line, stmt.end_column)))
        self.statements.sort()
        self.blocks.sort()
        self._starts = [s for s, _ in self.statements]
        self._block_starts = [s for s, _ in self.blocks]

    def statement_at(self, start: Pos, end: Pos) -> tuple[Pos, Pos] | None:
        """The innermost statement containing the span start..end (statements nest, so it is
        the containing one that starts last)."""
        i = bisect.bisect_right(self._starts, start) - 1
        while i >= 0:
            if end <= self.statements[i][1]:
                return self.statements[i]
            i -= 1
        return None

    def block_end(self, pos: Pos) -> Pos | None:
        """The end of the innermost block containing `pos`; None at the top level."""
        i = bisect.bisect_right(self._block_starts, pos) - 1
        while i >= 0:
            start, end = self.blocks[i]
            if pos < end:
                return end
            i -= 1
        return None


def instruction_pos(code: Any, lasti: int) -> Pos | None:
    """The Zixir position (line, 1-based column) of the instruction at byte offset `lasti`."""
    span = instruction_span(code, lasti)
    return span[0] if span else None


def instruction_span(code: Any, lasti: int) -> tuple[Pos, Pos] | None:
    """The Zixir span (start, end; 1-based columns, end exclusive) of an instruction."""
    positions = code_positions(code)
    index = lasti // 2
    if 0 <= index < len(positions):
        return _span(positions[index])
    return None


def _span(position: tuple) -> tuple[Pos, Pos] | None:
    line, end_line, col, end_col = position
    if line is None or col is None:
        return None
    return ((line, col + 1), (end_line or line, (end_col if end_col is not None else col) + 1))


def is_step_code(code: Any) -> bool:
    """Code objects of Zixir functions, not of compiler glue (module code, comprehension
    bodies, per-iteration closure factories)."""
    name = code.co_name
    return not (name.startswith("<") or name.startswith("_mk"))


def code_objects(code: Any):
    """`code` and every code object nested in it."""
    stack = [code]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(c for c in current.co_consts if hasattr(c, "co_positions"))


def stop_lines(code: Any, index: SourceIndex) -> set[int]:
    """Lines of `code` (and nested functions) where a line event is a stop point."""
    lines: set[int] = set()
    for current in code_objects(code):
        if not is_step_code(current):
            continue
        for position in current.co_positions():
            span = _span(position)
            if span is None or span[0][0] in lines:
                continue
            stmt = index.statement_at(*span)
            if stmt is not None and stmt[0][0] == span[0][0]:
                lines.add(span[0][0])
    return lines


class BreakpointLines:
    """Lines with stop points per file, compiled on demand and cached by modification time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, list[int] | str]] = {}

    def lines(self, path: str) -> list[int] | str:
        """Sorted stop lines of the file, or the reason none can be known (a message)."""
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return f"cannot read {path}"
        with self._lock:
            cached = self._cache.get(path)
            if cached and cached[0] == mtime:
                return cached[1]
        result = _compile_lines(path)
        with self._lock:
            self._cache[path] = (mtime, result)
        return result

    def verify(self, path: str, line: int) -> tuple[int | None, str | None]:
        """(the line a breakpoint requested at `line` lands on, or None with a message)."""
        lines = self.lines(path)
        if isinstance(lines, str):
            return None, lines
        i = bisect.bisect_left(lines, line)
        if i == len(lines):
            return None, f"no Zixir code at or after line {line}"
        return lines[i], None


def _compile_lines(path: str) -> list[int] | str:
    try:
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read {path}: {exc}"
    try:
        program = parse(source, path)
        compiled = compile_program(program, CompilerState(exports_of=_exports_or_nothing), path)
    except ZixirError as exc:
        where = f"line {exc.line}: " if exc.line else ""
        return f"{where}{exc.message}"
    return sorted(stop_lines(compiled.code, SourceIndex(program)))


def _exports_or_nothing(path: str, node: A.Node) -> list[str]:
    """An imported file's exported names, for compiling the importing file standalone."""
    try:
        with open(path, encoding="utf-8") as handle:
            program = parse(handle.read(), path)
    except (OSError, UnicodeDecodeError, ZixirError):
        return []
    return [s.name for s in program.body if isinstance(s, (A.Let, A.FnDef)) and s.public]


_index_cache: dict[int, tuple[Any, SourceIndex]] = {}
_index_lock = threading.Lock()


def index_of(program: Any) -> SourceIndex | None:
    """The SourceIndex of a CompiledProgram (from the source the session compiled)."""
    key = id(program)
    with _index_lock:
        cached = _index_cache.get(key)
        if cached is not None and cached[0] is program:
            return cached[1]
    source = getattr(program, "source", None)
    if source is None:
        return None
    try:
        index = SourceIndex(parse(source, program.filename))
    except ZixirError:
        return None
    with _index_lock:
        _index_cache[key] = (program, index)
    return index
