"""The `.zx` files of the workspace and their top-level names.

    workspace folders ──walk (bounded)──> .zx files ──parse (cached by mtime)──> TopLevel names

Used by workspace symbols (every top-level function and `let`) and by the quick fix that adds
an import (which file has a `pub` name). Open documents are read from the editor, not the
disk. Hidden folders and the usual dependency and build folders are skipped, and the walk
stops after MAX_FILES files, so a huge folder opened by mistake costs a bounded time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from zixir.lang import ast as A
from zixir.lang.errors import ZixirError
from zixir.lang.parser import parse

from .analysis import Span

log = logging.getLogger("zixir.lsp")

MAX_FILES = 2000
SKIPPED = frozenset({"node_modules", "__pycache__", "build", "dist", "target", "venv"})


@dataclass(frozen=True, slots=True)
class TopLevel:
    name: str
    kind: str  # function or variable
    public: bool
    span: Span  # the name
    path: str


_cache: dict[str, tuple[float, list[TopLevel]]] = {}


def zx_files(roots: Iterable[str]) -> list[str]:
    found: list[str] = []
    seen: set[str] = set()
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED)
            for name in sorted(files):
                if name.endswith(".zx"):
                    path = os.path.normpath(os.path.join(folder, name))
                    if path not in seen:
                        seen.add(path)
                        found.append(path)
                        if len(found) >= MAX_FILES:
                            return found
    return found


def top_level(path: str, source: str | None = None) -> list[TopLevel]:
    """The top-level functions and `let`s of a file (of `source` when it is open)."""
    if source is None:
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return []
        cached = _cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError):
            return []
        names = _names(text, path)
        _cache[path] = (mtime, names)
        return names
    return _names(source, path)


def _names(source: str, path: str) -> list[TopLevel]:
    try:
        program = parse(source, path)
    except ZixirError:
        return []
    except Exception:
        log.exception("parser failed on %s", path)
        return []
    out = []
    for stmt in program.body:
        if isinstance(stmt, (A.FnDef, A.Let)):
            kind = "function" if isinstance(stmt, A.FnDef) or isinstance(stmt.value, A.Lambda) \
                else "variable"
            out.append(TopLevel(stmt.name, kind, stmt.public, Span.of(stmt.name_node), path))
    return out


def workspace_names(roots: Iterable[str],
                    open_source: Callable[[str], str | None]) -> list[TopLevel]:
    """Every top-level name of the workspace; `open_source(path)` is the editor's text of an
    open file, or None."""
    out: list[TopLevel] = []
    for path in zx_files(roots):
        out.extend(top_level(path, open_source(path)))
    return out


def matches(query: str, name: str) -> bool:
    """The query's characters appear in the name in order (case-insensitive), as editors do."""
    query, name = query.lower(), name.lower()
    at = 0
    for ch in query:
        at = name.find(ch, at)
        if at == -1:
            return False
        at += 1
    return True
