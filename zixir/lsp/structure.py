"""The shape of a document: folding ranges, and links on `import "..."` paths.

    syntax tree ──> blocks, multi-line lists / maps / calls / matches ──> folds (region)
    comments    ──> runs of whole-line comments                       ──> folds (comment)
    top level   ──> runs of imports                                   ──> folds (imports)
    tokens      ──> `import` + string                                 ──> links to the file

A fold ends on the line before a closing bracket that starts its line, so `}` stays visible.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from zixir.lang import ast as A
from zixir.lang.errors import ZixirError
from zixir.lang.lexer import tokenize_with_comments

from .analysis import Analysis, Span

_FOLDED = (A.Block, A.ListLit, A.MapLit, A.Call, A.EngineCall, A.MemoryCall, A.AgentCall,
           A.PythonCall, A.Match, A.If)


@dataclass(frozen=True, slots=True, order=True)
class Fold:
    line: int  # 1-based, both inclusive
    end_line: int
    kind: str  # region comment imports


def folds(analysis: Analysis) -> list[Fold]:
    lines = analysis.source.split("\n")
    by_start: dict[int, Fold] = {}

    def add(fold: Fold) -> None:
        if fold.end_line > fold.line and (fold.line not in by_start
                                          or by_start[fold.line].end_line < fold.end_line):
            by_start[fold.line] = fold

    program = analysis.program
    if program is not None:
        for node in A.walk(program):
            if isinstance(node, _FOLDED) and node.end_line > node.line:
                end = node.end_line
                last = lines[end - 1].lstrip() if end - 1 < len(lines) else ""
                if last[:1] in ("}", "]", ")"):
                    end -= 1
                add(Fold(node.line, end, "region"))
        run: list[A.Import] = []
        for stmt in [*program.body, None]:
            if isinstance(stmt, A.Import):
                run.append(stmt)
                continue
            if len(run) > 1:
                add(Fold(run[0].line, run[-1].end_line, "imports"))
            run = []
    try:
        _, comments = tokenize_with_comments(analysis.source, analysis.path)
    except ZixirError:
        comments = []
    start = previous = None
    for comment in [c for c in comments if c.own_line] + [None]:
        if comment is not None and previous is not None and comment.line == previous + 1:
            previous = comment.line
            continue
        if start is not None and previous > start:
            add(Fold(start, previous, "comment"))
        if comment is not None:
            start = previous = comment.line
    return sorted(by_start.values())


@dataclass(frozen=True, slots=True)
class Link:
    span: Span  # the string literal, quotes included
    target: str  # absolute path of an existing file


def links(analysis: Analysis) -> list[Link]:
    if not analysis.path:
        return []
    try:
        tokens, _ = tokenize_with_comments(analysis.source, analysis.path)
    except ZixirError:
        return []
    base = os.path.dirname(os.path.abspath(analysis.path))
    out = []
    for keyword, literal in zip(tokens, tokens[1:], strict=False):
        if keyword.is_keyword("import") and literal.kind == "string":
            target = os.path.normpath(os.path.join(base, str(literal.value)))
            if os.path.isfile(target):
                out.append(Link(Span(literal.line, literal.column, literal.end_line,
                                     literal.end_column), target))
    return out
