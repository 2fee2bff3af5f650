"""The editor features, computed from an `Analysis` in the language's positions.

Each function takes an analysis and a 1-based (line, column) and returns plain data; the
server turns it into protocol types. Completion also works on a document that does not parse:
it reads the context from the text before the cursor and takes the names in scope from the
last version of the document that did parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zixir.lang import ast as A

from . import registry
from .analysis import Analysis
from .resolve import Span, Symbol
from .types import type_text

IDENTIFIER = re.compile(r"[^\W\d]\w*\Z")


# ---- completion ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # keyword builtin engine memory function variable parameter type module namespace
    detail: str = ""
    doc: str = ""
    insert: str | None = None


def completions(current: Analysis, line: int, column: int,
                fallback: Analysis | None = None) -> list[Completion]:
    lines = current.source.split("\n")
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    before = text[:max(column - 1, 0)]
    if _in_string_or_comment(before):
        return []
    member = re.search(r"(?<![\w.])([^\W\d]\w*)\s*\.\s*(\w*)$", before)
    if member:
        return _members(member.group(1), current, fallback, line, column)
    if re.search(r"\.\s*\w*$", before):  # a field of some value: only what every value has
        return [Completion("length", "field", "Int", "Elements of a list or map, characters "
                           "of a string.")]
    return _names(current, fallback, line, column)


def _members(owner: str, current: Analysis, fallback: Analysis | None, line: int,
             column: int) -> list[Completion]:
    source = current if current.resolution is not None else fallback
    bound = source.resolution.visible_at(line, column) if source and source.resolution else {}
    symbol = bound.get(owner)
    if symbol is not None and symbol.kind == "module" and isinstance(symbol.node, A.Import):
        from .analysis import ImportReader

        if source.path:
            return [Completion(name, kind, "", f"from {symbol.node.path}")
                    for name, kind, *_ in ImportReader(source.path).exports(symbol.node.path)]
        return []
    if owner == "engine":
        return [Completion(op.name, "engine", op.signature, op.doc)
                for op in registry.engine_ops().values()]
    if owner == "memory":
        return [Completion(m.name, "memory", m.signature, m.doc)
                for m in registry.MEMORY_MEMBERS.values()]
    return [Completion("length", "field", "Int", "Elements of a list or map, characters of a "
                       "string.")]


def _names(current: Analysis, fallback: Analysis | None, line: int,
           column: int) -> list[Completion]:
    items: dict[str, Completion] = {}
    source = current if current.resolution is not None else fallback
    if source is not None and source.resolution is not None:
        for name, symbol in source.resolution.visible_at(line, column).items():
            items[name] = Completion(name, symbol.kind, describe(source, symbol))
    if current.resolution is None:  # the text does not parse: take what it seems to declare
        for name in _declared_names(current.source):
            items.setdefault(name, Completion(name, "variable"))
    for name, builtin in registry.builtins().items():
        items.setdefault(name, Completion(name, "builtin", builtin.signature, builtin.doc))
    for name, op in registry.engine_ops().items():
        items.setdefault(name, Completion(name, "engine", op.signature, op.doc))
    for namespace, doc in (("engine", "Native numeric and string kernels: engine.OP(args)."),
                           ("memory", "The durable key/value store: memory.put/get/delete/keys.")):
        if namespace not in items:
            items[namespace] = Completion(namespace, "namespace", namespace, doc)
    for keyword in registry.keywords():
        items.setdefault(keyword, Completion(keyword, "keyword"))
    return list(items.values())


_DECLARATION = re.compile(r"(?:\blet\s+|\bfn\s+|\bfor\s+|\btype\s+)([^\W\d]\w*)")


def _declared_names(source: str) -> list[str]:
    return [m.group(1) for m in _DECLARATION.finditer(source)
            if m.group(1) not in registry.keywords()]


def _in_string_or_comment(before: str) -> bool:
    in_string = False
    i = 0
    while i < len(before):
        ch = before[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "#" or before.startswith("//", i):
            return True
        i += 1
    return in_string


# ---- hover -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HoverInfo:
    code: str  # shown as Zixir code
    doc: str
    span: Span


def hover(analysis: Analysis, line: int, column: int) -> HoverInfo | None:
    resolution = analysis.resolution
    if resolution is None:
        return None
    found = resolution.symbol_at(line, column)
    if found is not None:
        symbol, span = found
        return HoverInfo(describe(analysis, symbol), _symbol_doc(symbol), span)
    occurrence = resolution.occurrence_at(line, column)
    if occurrence is None:
        return None
    if occurrence.kind == "builtin":
        builtin = registry.builtins().get(occurrence.name)
        if builtin is not None:
            return HoverInfo(builtin.signature, builtin.doc, occurrence.span)
    elif occurrence.kind == "engine":
        op = registry.engine_ops().get(occurrence.name)
        if op is not None:
            return HoverInfo(f"engine.{op.signature}", op.doc, occurrence.span)
        return HoverInfo(f"engine.{occurrence.name}", "Unknown engine op.", occurrence.span)
    elif occurrence.kind == "memory":
        member = registry.MEMORY_MEMBERS.get(occurrence.name)
        if member is not None:
            return HoverInfo(member.signature, member.doc, occurrence.span)
    return None


def describe(analysis: Analysis, symbol: Symbol) -> str:
    """One line of Zixir: how the symbol is declared, with its annotated or inferred type."""
    types = analysis.types
    node = symbol.node
    if isinstance(node, A.FnDef):
        if types is not None:
            return types.signature(node)
        return f"fn {node.name}(" + ", ".join(p.name for p in node.params) + ")"
    if isinstance(node, A.TypeAlias):
        return f"type {node.name} = {type_text(node.type)}"
    if isinstance(node, A.Import):
        return f'import "{node.path}" as {symbol.name}' if node.alias else f'import "{node.path}"'
    type_ = types.symbol_type(symbol) if types is not None else "Any"
    if symbol.kind == "parameter":
        return f"(parameter) {symbol.name}: {type_}"
    if symbol.kind == "import":
        return f"{symbol.name}  (from {symbol.path})"
    if isinstance(node, A.Let):
        return f"{'pub ' if node.public else ''}let {symbol.name}: {type_}"
    return f"{symbol.name}: {type_}"


def _symbol_doc(symbol: Symbol) -> str:
    if symbol.path is not None:
        return f"Defined in {symbol.path}."
    where = "top level" if symbol.toplevel else "local"
    return f"{where} {symbol.kind}, defined at line {symbol.span.line}"


# ---- navigation ------------------------------------------------------------------------------

def definition(analysis: Analysis, line: int, column: int) -> tuple[str | None, Span] | None:
    """(path of another file or None for this one, span of the definition's name)."""
    if analysis.resolution is None:
        return None
    found = analysis.resolution.symbol_at(line, column)
    if found is None:
        return None
    symbol = found[0]
    return symbol.path, symbol.span


def references(analysis: Analysis, line: int, column: int,
               include_declaration: bool = True) -> list[Span]:
    if analysis.resolution is None:
        return []
    found = analysis.resolution.symbol_at(line, column)
    if found is None or found[0].path is not None:
        return []
    symbol = found[0]
    spans = [ref.span for ref in symbol.references]
    if include_declaration:
        spans.insert(0, symbol.span)
    return sorted(set(spans))


class RenameError(ValueError):
    pass


def rename_target(analysis: Analysis, line: int, column: int) -> tuple[Symbol, Span] | None:
    """The renameable symbol at the position (a definition of this file), with the name's span."""
    if analysis.resolution is None:
        return None
    found = analysis.resolution.symbol_at(line, column)
    if found is None or found[0].path is not None:
        return None
    return found


def rename(analysis: Analysis, line: int, column: int, new_name: str) -> list[Span]:
    """Every span to replace with `new_name`; RenameError when that cannot be done."""
    if not IDENTIFIER.match(new_name) or new_name in registry.keywords():
        raise RenameError(f"'{new_name}' is not a valid Zixir name")
    if new_name in ("engine", "memory"):
        raise RenameError(f"'{new_name}' always means the {new_name} namespace when called")
    target = rename_target(analysis, line, column)
    if target is None:
        raise RenameError("nothing to rename here: only names defined in this file can be "
                          "renamed")
    symbol = target[0]
    if isinstance(symbol.node, A.Import) and not symbol.node.alias:
        raise RenameError("names imported without 'as' are defined in another file")
    return sorted({symbol.span, *(ref.span for ref in symbol.references)})


# ---- document symbols -----------------------------------------------------------------------

@dataclass
class OutlineItem:
    name: str
    kind: str  # function variable type module
    detail: str
    span: Span
    selection: Span
    children: list[OutlineItem]


def outline(analysis: Analysis) -> list[OutlineItem]:
    if analysis.program is None or analysis.resolution is None:
        return []
    by_node = {id(s.node): s for s in analysis.resolution.symbols if s.path is None}
    return _outline(analysis, analysis.program.body, by_node)


def _outline(analysis: Analysis, body: list, by_node: dict) -> list[OutlineItem]:
    items: list[OutlineItem] = []
    for stmt in body:
        symbol = by_node.get(id(stmt))
        if isinstance(stmt, A.FnDef) and symbol is not None:
            children = _outline(analysis, stmt.body.body, by_node) if isinstance(
                stmt.body, A.Block) else []
            items.append(OutlineItem(stmt.name, "function", describe(analysis, symbol),
                                     Span.of(stmt), symbol.span, children))
        elif isinstance(stmt, A.Let) and symbol is not None:
            children = []
            if isinstance(stmt.value, A.Lambda) and isinstance(stmt.value.body, A.Block):
                children = _outline(analysis, stmt.value.body.body, by_node)
            kind = "function" if isinstance(stmt.value, A.Lambda) else "variable"
            items.append(OutlineItem(stmt.name, kind, describe(analysis, symbol),
                                     Span.of(stmt), symbol.span, children))
        elif isinstance(stmt, A.TypeAlias) and symbol is not None:
            items.append(OutlineItem(stmt.name, "type", describe(analysis, symbol),
                                     Span.of(stmt), symbol.span, []))
        elif isinstance(stmt, A.Import) and symbol is not None:
            items.append(OutlineItem(symbol.name, "module", describe(analysis, symbol),
                                     Span.of(stmt), symbol.span, []))
    return items
