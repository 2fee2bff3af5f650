"""Completing names, for the REPL (Tab) and the Jupyter kernel (`complete_request`).

The candidates are the built-in functions, the keywords and the names the session has bound
at its top level; the word completed is the identifier that ends at the cursor.
"""

from __future__ import annotations

from collections.abc import Iterable


def word_start(code: str, cursor: int) -> int:
    """Where the identifier that ends at `cursor` starts (`cursor` itself if none does)."""
    start = cursor
    while start > 0 and (code[start - 1].isalnum() or code[start - 1] == "_"):
        start -= 1
    return start


def complete(code: str, cursor: int, names: Iterable[str]) -> tuple[list[str], int]:
    """The names (built-ins, keywords, `names`) that complete the identifier before
    `cursor`, sorted, and where that identifier starts."""
    from .builtins import BUILTINS
    from .lexer import KEYWORDS

    start = word_start(code, cursor)
    prefix = code[start:cursor]
    if start < cursor and code[start].isdigit():
        return [], start  # a number, not a name
    candidates = set(BUILTINS) | set(KEYWORDS) | set(names)
    return sorted(n for n in candidates if n.startswith(prefix) and n != prefix), start
