"""Semantic tokens: what each word of a document is, for the editor's colours.

    lexer tokens + comments ──┬── keyword / string / number / operator / comment (from the lexer)
                              └── identifier ──> the checker's resolution of that name:
                                    function, parameter, variable, type, namespace;
                                    built-ins and engine ops with the defaultLibrary modifier

Keywords come from the lexer's token kinds and built-ins from the checker's resolution (which
reads the built-in and engine-op registries), so new keywords or built-ins of the language are
coloured without a change here. Positions are the language's; the server encodes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from zixir.lang import ast as A
from zixir.lang import checker
from zixir.lang.errors import ZixirError
from zixir.lang.lexer import STRING_KINDS, tokenize_with_comments

from . import registry
from .analysis import Analysis

TOKEN_TYPES = ["namespace", "type", "function", "parameter", "variable", "property", "keyword",
               "string", "number", "comment", "operator"]
TOKEN_MODIFIERS = ["declaration", "defaultLibrary"]

_PUNCTUATION = frozenset("( ) [ ] { } , ; : .".split())
_VARIABLE_KINDS = {"let", "for", "comprehension", "pattern", "unresolved"}


@dataclass(frozen=True, slots=True)
class SemanticToken:
    line: int  # 1-based
    column: int  # 1-based, in characters
    length: int  # in characters, on one line
    type: str
    modifiers: tuple[str, ...] = ()


def tokens(analysis: Analysis) -> list[SemanticToken]:
    """Every classified token of the document, in order; [] when the lexer cannot read it."""
    try:
        lexed, comments = tokenize_with_comments(analysis.source, analysis.path)
    except ZixirError:
        return []
    resolved: dict[tuple[int, int], checker.Definition] = {}
    declared: dict[tuple[int, int], checker.Definition] = {}
    if analysis.checked is not None:
        for node, definition in analysis.checked.resolution.items():
            resolved[(node.line, node.column)] = definition
        for definition in analysis.checked.definitions:
            span = analysis.name_span(definition)
            if span is not None:
                declared.setdefault((span.line, span.column), definition)
    members = {(m.span.line, m.span.column) for m in analysis.members}

    out: list[SemanticToken] = []
    for index, token in enumerate(lexed):
        if token.kind == "eof" or token.end_line != token.line:
            continue  # the protocol's tokens are on one line
        length = token.end_column - token.column
        kind = _lexical(token)
        modifiers: tuple[str, ...] = ()
        if kind is None and token.kind == "ident":
            before = lexed[index - 1] if index > 0 else None
            after = lexed[index + 1] if index + 1 < len(lexed) else None
            kind, modifiers = _identifier(token, before, after, resolved, declared, members)
        if kind is not None:
            out.append(SemanticToken(token.line, token.column, length, kind, modifiers))
    for comment in comments:
        out.append(SemanticToken(comment.line, comment.column, len(comment.text), "comment"))
    out.sort(key=lambda t: (t.line, t.column))
    return out


def _lexical(token) -> str | None:
    if token.kind == "keyword":
        return "keyword"
    if token.kind in STRING_KINDS:
        return "string"
    if token.kind in ("int", "float"):
        return "number"
    if token.kind == "op" and token.text not in _PUNCTUATION:
        return "operator"
    return None


def _identifier(token, before, after, resolved, declared,
                members) -> tuple[str | None, tuple[str, ...]]:
    at = (token.line, token.column)
    if token.text == "as" and before is not None and before.kind == "string":
        return "keyword", ()  # import "file" as name: a keyword only there
    if at in members:
        return "function", ("defaultLibrary",)
    followed_by_dot = after is not None and after.is_op(".")
    definition = resolved.get(at)
    if token.text in registry.NAMESPACES and followed_by_dot and (
            definition is None or definition.kind in ("unresolved", "builtin", "engine")):
        return "namespace", ("defaultLibrary",)
    if definition is not None:
        return _of_definition(definition), _library(definition)
    definition = declared.get(at)
    if definition is not None:
        return _of_definition(definition), ("declaration",)
    if before is not None and before.is_op("."):
        return "property", ()
    if token.text in checker.BASIC_TYPES:
        return "type", ("defaultLibrary",)
    return "variable", ()


def _library(definition: checker.Definition) -> tuple[str, ...]:
    return ("defaultLibrary",) if definition.kind in ("builtin", "engine") else ()


def _of_definition(definition: checker.Definition) -> str:
    kind = definition.kind
    if kind in ("function", "builtin", "engine"):
        return "function"
    if kind == "parameter":
        return "parameter"
    if kind == "type":
        return "type"
    if kind == "import":
        node = definition.node
        if isinstance(node, A.Import) and node.alias is not None:
            return "namespace"
        return "function" if isinstance(definition.imported_type, checker.FnType) else "variable"
    return "variable"


def encode(found: list[SemanticToken], to_units) -> list[int]:
    """The protocol's relative encoding: 5 integers per token. `to_units(line, column)` gives
    the column of a 1-based position in the client's code units."""
    data: list[int] = []
    previous_line, previous_start = 0, 0
    for token in found:
        line = token.line - 1
        start = to_units(token.line, token.column)
        end = to_units(token.line, token.column + token.length)
        if end <= start:
            continue
        delta_line = line - previous_line
        delta_start = start - previous_start if delta_line == 0 else start
        bits = 0
        for modifier in token.modifiers:
            bits |= 1 << TOKEN_MODIFIERS.index(modifier)
        data += [delta_line, delta_start, end - start, TOKEN_TYPES.index(token.type), bits]
        previous_line, previous_start = line, start
    return data
