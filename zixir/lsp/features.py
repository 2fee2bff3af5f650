"""The editor features, computed from an `Analysis` in the language's positions.

Each function takes an analysis and a 1-based (line, column) and returns plain data; the
server turns it into protocol types. Completion also works on a document that does not parse:
it reads the context from the text before the cursor and takes the names in scope from the
last version of the document that did parse.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from zixir.lang import ast as A
from zixir.lang.parser import parse

from . import registry
from .analysis import LIBRARY_KINDS, Analysis, Span

IDENTIFIER = re.compile(r"[^\W\d]\w*\Z")
LENGTH_DOC = "Elements of a list or map, characters of a string."


# ---- completion ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Completion:
    label: str
    # keyword builtin engine memory function variable parameter import type namespace field
    kind: str
    detail: str = ""
    doc: str = ""


_USER_KINDS = {"let": "variable", "for": "variable", "comprehension": "variable",
               "pattern": "variable", "parameter": "parameter", "function": "function",
               "import": "import", "type": "type", "rescue": "variable"}


def completions(current: Analysis, line: int, column: int,
                fallback: Analysis | None = None) -> list[Completion]:
    lines = current.source.split("\n")
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    before = text[:max(column - 1, 0)]
    if _in_string_or_comment(before):
        return []
    member = re.search(r"(?<![\w.])([^\W\d]\w*)\s*\.\s*\w*$", before)
    if member:
        return _members(member.group(1), current, fallback, line, column)
    if re.search(r"\.\s*\w*$", before):  # a field of some value: only what every value has
        return [Completion("length", "field", "Int", LENGTH_DOC)]
    return _names(current, fallback, line, column)


def _members(owner: str, current: Analysis, fallback: Analysis | None, line: int,
             column: int) -> list[Completion]:
    if owner == "engine":
        return [Completion(op.name, "engine", op.signature, op.doc)
                for op in registry.engine_ops().values()]
    if owner in ("memory", "workflow", "agent"):
        return [Completion(m.name, "memory", m.signature, m.doc)
                for m in registry.namespace_members(owner).values()]
    module = _module_members(current, owner)
    if module is not None:
        return module
    return [Completion("length", "field", "Int", LENGTH_DOC)]


def _module_members(current: Analysis, alias: str) -> list[Completion] | None:
    """The `pub` names of the file imported `as alias` (read from the text: it may not parse)."""
    found = re.search(r'(?m)^\s*import\s+"([^"\n]+)"\s+as\s+' + re.escape(alias) + r"(?!\w)",
                      current.source)
    if found is None or not current.path:
        return None
    relative = found.group(1)
    path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(current.path)),
                                         relative))
    try:
        with open(path, encoding="utf-8") as handle:
            module = parse(handle.read(), path)
    except Exception:  # unreadable or broken: nothing to offer
        return []
    out = []
    for stmt in module.body:
        if isinstance(stmt, (A.Let, A.FnDef)) and stmt.public:
            kind = "function" if isinstance(stmt, A.FnDef) else "variable"
            out.append(Completion(stmt.name, kind, f'from "{relative}"'))
    return out


def _names(current: Analysis, fallback: Analysis | None, line: int,
           column: int) -> list[Completion]:
    items: dict[str, Completion] = {}
    source = current if current.checked is not None else fallback
    if source is not None and source.checked is not None:
        for name, kind, type_ in source.checked.names_in_scope(line, column):
            if kind in _USER_KINDS:
                items[name] = Completion(name, _USER_KINDS[kind], type_)
    if current.checked is None:  # the text does not parse: take what it seems to declare
        for name in _declared_names(current.source):
            items.setdefault(name, Completion(name, "variable"))
    for name, builtin in registry.builtins().items():
        items.setdefault(name, Completion(name, "builtin", builtin.signature, builtin.doc))
    for name, op in registry.engine_ops().items():
        items.setdefault(name, Completion(name, "engine", op.signature, op.doc))
    for namespace, doc in (("engine", "Native numeric and string kernels: engine.OP(args)."),
                           ("memory", "The durable key/value store: memory.put/get/delete/keys."),
                           ("workflow", "Durable workflows: workflow.run/step/map/dag/approval."),
                           ("agent", "Named, supervised Python objects: "
                                     "agent.start/call/stop/list/status.")):
        items.setdefault(namespace, Completion(namespace, "namespace", namespace, doc))
    for keyword in registry.keywords():
        items.setdefault(keyword, Completion(keyword, "keyword"))
    return list(items.values())


_DECLARATION = re.compile(r"(?:\blet\s+|\bfn\s+|\bfor\s+|\btype\s+)([^\W\d]\w*)")


def _declared_names(source: str) -> list[str]:
    return [m.group(1) for m in _DECLARATION.finditer(source)
            if m.group(1) not in registry.keywords()]


def _code(text: str) -> tuple[list[tuple[int, str]], str]:
    """The characters of `text` outside strings and comments, with their offsets, and what
    the text ends in: 'code', 'string' or 'comment'. The expressions of an interpolation
    (`"total: #{n + 1}"`) are code."""
    out: list[tuple[int, str]] = []
    i, n = 0, len(text)
    in_string = False
    open_interpolations: list[int] = []  # brace depth inside each open `#{`
    while i < n:
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 2
            elif ch == '"':
                in_string = False
                i += 1
            elif text.startswith("#{", i):
                open_interpolations.append(0)
                in_string = False
                i += 2
            else:
                i += 1
            continue
        if ch == '"':
            in_string = True
            i += 1
            continue
        if open_interpolations and ch in "{}":
            if ch == "{":
                open_interpolations[-1] += 1
            elif open_interpolations[-1] == 0:
                open_interpolations.pop()
                in_string = True  # back in the string the `#{` opened
                i += 1
                continue
            else:
                open_interpolations[-1] -= 1
        if ch == "#" or text.startswith("//", i):
            newline = text.find("\n", i)
            if newline == -1:
                return out, "comment"
            i = newline
            continue
        out.append((i, ch))
        i += 1
    return out, "string" if in_string else "code"


def _in_string_or_comment(before: str) -> bool:
    return _code(before)[1] != "code"


# ---- hover -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HoverInfo:
    code: str  # shown as Zixir code
    doc: str
    span: Span


def hover(analysis: Analysis, line: int, column: int) -> HoverInfo | None:
    member = analysis.member_at(line, column)
    if member is not None:
        return _library_hover(member.kind, member.name, member.span)
    exported = analysis.alias_member_at(line, column)
    if exported is not None:
        path, other, definition, span = exported
        return HoverInfo(other.declaration(definition), f'From "{os.path.basename(path)}".',
                         span)
    found = analysis.definition_at(line, column)
    if found is None:
        return None
    definition, span = found
    if definition.kind in LIBRARY_KINDS:
        return _library_hover(definition.kind, definition.name, span)
    return HoverInfo(analysis.declaration(definition), _where(analysis, definition), span)


def _library_hover(kind: str, name: str, span: Span) -> HoverInfo | None:
    if kind == "builtin":
        builtin = registry.builtins().get(name)
        if builtin is not None:
            return HoverInfo(builtin.signature, builtin.doc, span)
    elif kind == "engine":
        op = registry.engine_ops().get(name)
        if op is not None:
            return HoverInfo(f"engine.{op.signature}", op.doc, span)
        return HoverInfo(f"engine.{name}", "Unknown engine op.", span)
    elif kind in ("memory", "workflow", "agent"):
        member = registry.namespace_members(kind).get(name)
        if member is not None:
            return HoverInfo(member.signature, member.doc, span)
    return None


def _where(analysis: Analysis, definition) -> str:
    if definition.kind == "import" and isinstance(definition.node, A.Import):
        return f'From "{definition.node.path}".'
    span = analysis.name_span(definition)
    scope = "Top-level" if definition.toplevel else "Local"
    what = {"let": "variable", "for": "loop variable", "comprehension": "loop variable",
            "pattern": "match binding", "rescue": "rescued error"}.get(definition.kind, definition.kind)
    return f"{scope} {what}, defined on line {span.line}." if span else ""


# ---- navigation ------------------------------------------------------------------------------

def definition(analysis: Analysis, line: int, column: int) -> tuple[str | None, Span] | None:
    """(path of another file, or None for this one; span of the defining name)."""
    exported = analysis.alias_member_at(line, column)
    if exported is not None:
        path, other, definition, _ = exported
        span = other.name_span(definition)
        return (path, span) if span is not None else None
    found = analysis.definition_at(line, column)
    if found is None or found[0].kind in LIBRARY_KINDS:
        return None
    d = found[0]
    external = analysis.external_location(d)
    if external is not None:
        return external.path, external.span
    span = analysis.name_span(d)
    if span is None and d.span is not None:
        span = Span.of(d.span)
    return (None, span) if span is not None else None


def references(analysis: Analysis, line: int, column: int,
               include_declaration: bool = True) -> list[Span]:
    found = analysis.definition_at(line, column)
    if found is None or found[0].kind in LIBRARY_KINDS:
        return []
    d = found[0]
    spans = analysis.occurrences(d)
    own = analysis.name_span(d)
    if not include_declaration and own is not None:
        spans = [s for s in spans if s != own]
    return spans


def rename_target(analysis: Analysis, line: int, column: int):
    """(definition, span of the name at the position) when it can be renamed, else None."""
    found = analysis.definition_at(line, column)
    if found is None:
        return None
    d, span = found
    if d.kind in LIBRARY_KINDS or analysis.name_span(d) is None:
        return None
    return d, span


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
    if analysis.program is None or analysis.checked is None:
        return []
    return _outline(analysis, analysis.program.body)


def _outline(analysis: Analysis, body: list) -> list[OutlineItem]:
    items: list[OutlineItem] = []
    for stmt in body:
        if isinstance(stmt, A.Import):
            if stmt.alias:
                d = next((d for d in analysis.checked.definitions
                          if d.node is stmt and d.name == stmt.alias), None)
                span = analysis.name_span(d) if d is not None else None
                if d is not None and span is not None:
                    items.append(OutlineItem(stmt.alias, "module", analysis.declaration(d),
                                             Span.of(stmt), span, []))
            continue
        d = analysis.definition_of_node(stmt)
        if d is None or d.span is None:
            continue
        selection = Span.of(d.span)
        if isinstance(stmt, A.FnDef):
            items.append(OutlineItem(stmt.name, "function", analysis.declaration(d),
                                     Span.of(stmt), selection, _outline(analysis, stmt.body.body)))
        elif isinstance(stmt, A.Let):
            children, kind = [], "variable"
            if isinstance(stmt.value, A.Lambda):
                kind = "function"
                children = _outline(analysis, stmt.value.body.body)
            items.append(OutlineItem(stmt.name, kind, analysis.declaration(d), Span.of(stmt),
                                     selection, children))
        elif isinstance(stmt, A.TypeAlias):
            items.append(OutlineItem(stmt.name, "type", analysis.declaration(d), Span.of(stmt),
                                     selection, []))
    return items


# ---- signature help --------------------------------------------------------------------------

@dataclass(frozen=True)
class SignatureInfo:
    label: str  # e.g. `engine.dot_product(xs: [Float], ys: [Float]) -> Float`
    doc: str
    parameters: list[tuple[int, int]]  # [start, end) of each parameter inside `label`
    active: int  # index of the argument the cursor is in


_CALLEE = re.compile(r"(?:(engine|memory|workflow|agent)\s*\.\s*)?([^\W\d]\w*)\s*$")


def signature_help(current: Analysis, line: int, column: int,
                   fallback: Analysis | None = None) -> SignatureInfo | None:
    lines = current.source.split("\n")
    if not 0 < line <= len(lines):
        return None
    before = "\n".join(lines[:line - 1] + [lines[line - 1][:max(column - 1, 0)]])
    call = _open_call(before)
    if call is None:
        return None
    open_at, argument = call
    callee = _CALLEE.search(before[:open_at])
    if callee is None:
        return None
    namespace, name = callee.group(1), callee.group(2)
    label, doc = _signature_of(namespace, name, current, fallback, line, column)
    if label is None:
        return None
    params = _parameter_offsets(label)
    return SignatureInfo(label, doc, params, min(argument, max(len(params) - 1, 0)))


def _open_call(text: str) -> tuple[int, int] | None:
    """Offset of the innermost unclosed `(` and the index of the argument after it."""
    chars, ends_in = _code(text)
    if ends_in == "string":
        return None
    stack: list[list[int]] = []  # [offset of the bracket, commas seen]
    for i, ch in chars:
        if ch in "([{":
            stack.append([i, 0] if ch == "(" else [-1, 0])
        elif ch in ")]}":
            if stack:
                stack.pop()
        elif ch == "," and stack:
            stack[-1][1] += 1
    for offset, commas in reversed(stack):
        if offset >= 0:
            return offset, commas
        return None  # inside a list or map literal that is inside the call: no help
    return None


def _signature_of(namespace: str | None, name: str, current: Analysis,
                  fallback: Analysis | None, line: int, column: int) -> tuple[str | None, str]:
    if namespace == "engine":
        op = registry.engine_ops().get(name)
        return (f"engine.{op.signature}", op.doc) if op else (None, "")
    if namespace in ("memory", "workflow", "agent"):
        member = registry.namespace_members(namespace).get(name)
        return (member.signature, member.doc) if member else (None, "")
    source = current if current.checked is not None else fallback
    if source is not None and source.checked is not None:
        for definition in source.checked.definitions:
            if (definition.name == name and definition.kind == "function"
                    and isinstance(definition.node, A.FnDef)):
                visible = {n for n, kind, _ in source.checked.names_in_scope(line, column)
                           if kind == "function"}
                if name in visible:
                    return source.declaration(definition), _where(source, definition)
    builtin = registry.builtins().get(name)
    if builtin is not None:
        return builtin.signature, builtin.doc
    op = registry.engine_ops().get(name)
    if op is not None:
        return op.signature, op.doc
    return None, ""


def _parameter_offsets(label: str) -> list[tuple[int, int]]:
    """The [start, end) of every parameter in `name(a: T, b) -> R`."""
    open_at = label.find("(")
    if open_at == -1:
        return []
    out, depth, start = [], 0, open_at + 1
    for i in range(open_at + 1, len(label)):
        ch = label[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}" and depth > 0:
            depth -= 1
        elif ch == ")" or (ch == "," and depth == 0):
            text = label[start:i]
            if text.strip():
                lead = len(text) - len(text.lstrip())
                out.append((start + lead, i - (len(text) - len(text.rstrip()))))
            if ch == ")":
                break
            start = i + 1
    return out
