"""One document, analysed: diagnostics, syntax tree, name resolution and types.

    source text ──parse──> Program ──resolve──> Resolution ──> TypeOracle
         │                   (or a ZixirSyntaxError)
         └──check──> [Diagnostic]   (the checker when present; the parser's error otherwise)

Everything here works in the language's positions (1-based lines and columns in characters);
the server converts them to the client's. Nothing here runs the program, and nothing here
raises: a document that cannot be parsed gives an `Analysis` with its syntax error and no tree.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from zixir.lang import ast as A
from zixir.lang.diagnostics import Diagnostic
from zixir.lang.errors import ZixirError
from zixir.lang.parser import parse

from . import registry
from .resolve import Resolution, Span, resolve
from .types import TypeOracle

log = logging.getLogger("zixir.lsp")


@dataclass
class Analysis:
    source: str
    path: str | None
    program: A.Program | None = None
    syntax_error: ZixirError | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    resolution: Resolution | None = None
    types: TypeOracle | None = None


def analyze(source: str, path: str | None = None) -> Analysis:
    """Parse, check and resolve `source` (the text of the file at `path`, if it has one)."""
    analysis = Analysis(source, path)
    try:
        analysis.program = parse(source, path)
    except ZixirError as error:
        analysis.syntax_error = error
    except Exception:  # a parser bug must not take the server down
        log.exception("parser failed on %s", path or "<document>")
    analysis.diagnostics = diagnostics(source, path, analysis)
    if analysis.program is not None:
        try:
            analysis.resolution = resolve(
                analysis.program,
                builtins=registry.builtins(),
                engine_ops=registry.engine_ops(),
                imports=ImportReader(path).exports if path else None,
            )
            analysis.types = TypeOracle(analysis.resolution, registry.builtins(),
                                        registry.engine_ops())
        except Exception:
            log.exception("name resolution failed on %s", path or "<document>")
    return analysis


def diagnostics(source: str, path: str | None, analysis: Analysis) -> list[Diagnostic]:
    """The checker's diagnostics, or the parser's syntax error when there is no checker."""
    check = registry.checker()
    if check is not None:
        try:
            return list(check(source, path))
        except ZixirError as error:
            return [Diagnostic.from_error(error)]
        except Exception:
            log.exception("checker failed on %s", path or "<document>")
    if analysis.syntax_error is not None:
        return [Diagnostic.from_error(analysis.syntax_error)]
    return []


class ImportReader:
    """The `pub` names of files imported with `import "path"` (relative to the importer)."""

    _cache: dict[str, tuple[float, list]] = {}

    def __init__(self, importer: str) -> None:
        self.base = os.path.dirname(os.path.abspath(importer))

    def exports(self, relative: str) -> list:
        target = os.path.normpath(os.path.join(self.base, relative))
        try:
            mtime = os.stat(target).st_mtime
        except OSError:
            return []
        cached = self._cache.get(target)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        found = []
        try:
            with open(target, encoding="utf-8") as handle:
                program = parse(handle.read(), target)
        except (OSError, UnicodeDecodeError, ZixirError):
            program = None
        except Exception:
            log.exception("parser failed on imported %s", target)
            program = None
        for stmt in program.body if program is not None else ():
            if isinstance(stmt, (A.Let, A.FnDef)) and stmt.public:
                kind = "function" if isinstance(stmt, A.FnDef) else "variable"
                node = stmt.name_node
                span = Span(node.line, node.column, node.line, node.column + len(stmt.name))
                found.append((stmt.name, kind, span, stmt, target))
        self._cache[target] = (mtime, found)
        return found
