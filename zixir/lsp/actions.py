"""Quick fixes for the checker's "Undefined function/variable: NAME" diagnostics.

    diagnostic ──NAME──┬── names in scope there + built-ins + engine ops, by edit distance
                       │      ──> "Change to 'NAME2'" (replace the name)
                       └── `pub` NAME in a .zx file of the same folder or the workspace
                              ──> 'Import "path.zx"' (one line after the last import)

Each fix names the diagnostic it fixes, so the editor shows it on that squiggle.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from zixir.lang import ast as A

from .analysis import Analysis
from .workspace_index import top_level, zx_files

UNDEFINED = re.compile(r"Undefined (?:function|variable): ([^\W\d]\w*)")
MAX_SUGGESTIONS = 3


@dataclass(frozen=True, slots=True)
class Fix:
    title: str
    line: int  # where to write new_text: 1-based, end exclusive
    column: int
    end_line: int
    end_column: int
    new_text: str
    preferred: bool = False


def undefined_name(message: str) -> str | None:
    found = UNDEFINED.search(message)
    return found.group(1) if found else None


def distance(a: str, b: str) -> int:
    """Levenshtein distance, with a swap of two neighbours counting as one edit."""
    previous2: list[int] | None = None
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if previous2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def similar_names(analysis: Analysis, name: str, line: int, column: int) -> list[str]:
    if analysis.checked is None:
        return []
    limit = max(1, min(3, len(name) // 3))
    scored = []
    for candidate, _kind, _type in analysis.checked.names_in_scope(line, column):
        if candidate == name:
            continue
        d = distance(name.lower(), candidate.lower())
        if d <= limit:
            scored.append((d, candidate))
    return [candidate for _, candidate in sorted(scored)[:MAX_SUGGESTIONS]]


def did_you_mean(analysis: Analysis, name: str, line: int, column: int, end_line: int,
                 end_column: int) -> list[Fix]:
    return [Fix(f"Change to '{candidate}'", line, column, end_line, end_column, candidate,
                preferred=(i == 0))
            for i, candidate in enumerate(similar_names(analysis, name, line, column))]


def add_import(analysis: Analysis, name: str, roots: list[str]) -> list[Fix]:
    """An import of each .zx file (same folder first, then the workspace) with `pub name`."""
    if not analysis.path:
        return []
    here = os.path.dirname(os.path.abspath(analysis.path))
    me = os.path.normpath(os.path.abspath(analysis.path))
    already = set()
    if analysis.program is not None:
        already = {os.path.normpath(os.path.join(here, stmt.path))
                   for stmt in analysis.program.body if isinstance(stmt, A.Import)}
    line = _import_line(analysis)
    fixes: list[Fix] = []
    for path in zx_files([here, *roots]):
        if path == me or path in already:
            continue
        if any(t.name == name and t.public for t in top_level(path)):
            relative = os.path.relpath(path, here).replace(os.sep, "/")
            fixes.append(Fix(f'Import "{relative}" (it defines pub {name})', line, 1, line, 1,
                             f'import "{relative}"\n'))
        if len(fixes) >= MAX_SUGGESTIONS:
            break
    return fixes


def _import_line(analysis: Analysis) -> int:
    """The line before which a new import goes: after the last top-level import, else first."""
    last = 0
    if analysis.program is not None:
        for stmt in analysis.program.body:
            if isinstance(stmt, A.Import):
                last = max(last, stmt.end_line)
    else:
        for number, text in enumerate(analysis.source.split("\n"), start=1):
            if text.startswith("import "):
                last = number
    return last + 1
