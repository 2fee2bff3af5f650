"""One document, analysed: diagnostics, syntax tree, resolved names and their types.

    source text ──parse──> Program ──zixir.lang.checker.analyze──> checker Analysis
         │                   │                                    diagnostics, definitions,
         │                   │                                    references, types, scopes
         │                   └──> members: `engine.OP` / `memory.OP` names (for hover)
         └── on a ZixirSyntaxError: that error is the one diagnostic, and there is no tree

Name resolution and types are the checker's (it resolves names exactly as the compiler does);
this module only adapts them to what an editor asks: "what is the name under the cursor", "where
is it written", "how is it declared". Positions are the language's (1-based lines and columns
in characters, end exclusive); the server converts them to the client's. Nothing here runs the
program, and nothing here raises.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from zixir.lang import ast as A
from zixir.lang import checker
from zixir.lang.diagnostics import Diagnostic
from zixir.lang.errors import ZixirError
from zixir.lang.parser import parse

log = logging.getLogger("zixir.lsp")

#: definitions that are not written in any file
LIBRARY_KINDS = frozenset({"builtin", "engine", "unresolved"})


@dataclass(frozen=True, slots=True, order=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def of(cls, node_or_tuple) -> Span:
        if isinstance(node_or_tuple, tuple):
            return cls(*node_or_tuple)
        n = node_or_tuple
        return cls(n.line, n.column, n.end_line, n.end_column)

    def contains(self, line: int, column: int) -> bool:
        """Inclusive of the end: a cursor just after a name is on it."""
        return (self.line, self.column) <= (line, column) <= (self.end_line, self.end_column)

    def size(self) -> tuple[int, int]:
        return (self.end_line - self.line, self.end_column - self.column)


@dataclass(frozen=True, slots=True)
class Member:
    """`OP` in `engine.OP(...)`, `memory.OP(...)` or `workflow.OP(...)`: kind is the
    namespace."""

    span: Span
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class ExternalLocation:
    """Where a name imported from another file is defined."""

    path: str
    span: Span


@dataclass
class Analysis:
    source: str
    path: str | None
    program: A.Program | None = None
    syntax_error: ZixirError | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    checked: checker.Analysis | None = None
    members: list[Member] = field(default_factory=list)
    #: how imported files were read (the server's open documents first, then the disk)
    read_module: Callable[[str], str] | None = None
    _by_node: dict[int, checker.Definition] = field(default_factory=dict)

    # ---- names -----------------------------------------------------------------------------

    def definition_at(self, line: int, column: int) -> tuple[checker.Definition, Span] | None:
        """The definition of the name at the position, and the span of the name there."""
        if self.checked is None:
            return None
        best: tuple[checker.Definition, Span] | None = None
        for node, definition in self.checked.resolution.items():
            span = Span.of(node)
            if span.contains(line, column) and (best is None or span.size() < best[1].size()):
                best = (definition, span)
        for definition in self.checked.definitions:
            span = self.name_span(definition)
            if span is not None and span.contains(line, column) and (
                    best is None or span.size() < best[1].size()):
                best = (definition, span)
        return best

    def definition_of_node(self, node: A.Node) -> checker.Definition | None:
        if not self._by_node and self.checked is not None:
            for d in self.checked.definitions:
                if d.node is not None and d.kind != "import":
                    self._by_node.setdefault(id(d.node), d)
        return self._by_node.get(id(node))

    def name_span(self, definition: checker.Definition) -> Span | None:
        """Where the defining name is written in this file (None: not in this file)."""
        if definition.span is None:
            return None
        span = Span.of(definition.span)
        node = definition.node
        if definition.kind == "import" and isinstance(node, A.Import):
            if node.alias is None:
                return None  # the names come from the other file
            return _last_word(self.source, span, node.alias)
        return span

    def occurrences(self, definition: checker.Definition) -> list[Span]:
        """The defining name and every use, in source order."""
        spans = [Span.of(node) for node in self.checked.references(definition)] if (
            self.checked is not None) else []
        own = self.name_span(definition)
        if own is not None:
            spans.append(own)
        return sorted(set(spans))

    def member_at(self, line: int, column: int) -> Member | None:
        for member in self.members:
            if member.span.contains(line, column):
                return member
        return None

    def external_location(self, definition: checker.Definition) -> ExternalLocation | None:
        """For a name bound by `import "file"` (no `as`): where that file defines it."""
        node = definition.node
        if definition.kind != "import" or not isinstance(node, A.Import) or node.alias:
            return None
        if not self.path:
            return None
        target = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(self.path)),
                                               node.path))
        try:
            with open(target, encoding="utf-8") as handle:
                module = parse(handle.read(), target)
        except (OSError, UnicodeDecodeError, ZixirError):
            return None
        for stmt in module.body:
            if isinstance(stmt, (A.Let, A.FnDef)) and stmt.public and stmt.name == definition.name:
                return ExternalLocation(target, Span.of(stmt.name_node))
        return None

    def alias_member_at(self, line: int, column: int) -> tuple[str, Analysis,
                                                               checker.Definition, Span] | None:
        """For `m.name` where `m` is `import "file" as m`: (the file's path, its analysis, the
        definition of its `pub name`, the span of `name` here)."""
        if self.checked is None or self.program is None or not self.path:
            return None
        lines = self.source.split("\n")
        for node in A.walk(self.program):
            if not (isinstance(node, A.Field) and isinstance(node.target, A.Name)
                    and Span.of(node).contains(line, column)):
                continue
            alias = self.checked.resolution.get(node.target)
            if alias is None or alias.kind != "import" or not isinstance(alias.node, A.Import) \
                    or alias.node.alias is None:
                continue
            span = member_span(lines, Span.of(node), node.name)
            if span is None or not span.contains(line, column):
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(self.path)),
                                                   alias.node.path))
            try:
                with open(target, encoding="utf-8") as handle:
                    other = analyze(handle.read(), target)
            except (OSError, UnicodeDecodeError):
                return None
            if other.checked is None:
                return None
            for definition in other.checked.definitions:
                if definition.name == node.name and definition.toplevel and getattr(
                        definition.node, "public", False):
                    return target, other, definition, span
            return None
        return None

    # ---- types -----------------------------------------------------------------------------

    def type_of(self, definition: checker.Definition) -> str:
        if self.checked is None:
            return "Any"
        try:
            return self.checked.type_of(definition)
        except Exception:
            log.exception("type_of failed for %s", definition.name)
            return "Any"

    def declaration(self, definition: checker.Definition) -> str:
        """One line of Zixir saying how a definition is declared, with its type."""
        node, name = definition.node, definition.name
        kind = definition.kind
        if kind == "function" and isinstance(node, A.FnDef):
            return self.signature(node, definition)
        if kind == "type" and isinstance(node, A.TypeAlias):
            return f"type {name} = {annotation_text(node.type)}"
        if kind == "import" and isinstance(node, A.Import):
            if node.alias is not None:
                return f'import "{node.path}" as {name}'
            return f"{name}: {self.type_of(definition)}"
        written = annotation_text(definition.annotation) if definition.annotation else None
        type_ = written or self.type_of(definition)
        if kind == "let" and isinstance(node, A.Let):
            return f"{'pub ' if node.public else ''}let {name}: {type_}"
        if kind == "parameter":
            return f"(parameter) {name}: {type_}"
        return f"{name}: {type_}"

    def signature(self, node: A.FnDef, definition: checker.Definition) -> str:
        params = []
        for param in node.params:
            if param.type is not None:
                params.append(f"{param.name}: {annotation_text(param.type)}")
                continue
            d = self.definition_of_node(param)
            inferred = self.type_of(d) if d is not None else "Any"
            params.append(param.name if inferred == "Any" else f"{param.name}: {inferred}")
        if node.result_type is not None:
            result = annotation_text(node.result_type)
        else:
            result = _result_of(self.type_of(definition))
        prefix = "pub " if node.public else ""
        return f"{prefix}fn {node.name}({', '.join(params)}) -> {result}"


def analyze(source: str, path: str | None = None,
            read_module: Callable[[str], str] | None = None) -> Analysis:
    """Parse, check and resolve `source` (the text of the file at `path`, if it has one).
    `read_module(path)` reads the files it imports (default: from the disk)."""
    analysis = Analysis(source, path, read_module=read_module)
    try:
        analysis.program = parse(source, path)
    except ZixirError as error:
        analysis.syntax_error = error
        analysis.diagnostics = [Diagnostic.from_error(error)]
        return analysis
    except Exception:  # a parser bug must not take the server down
        log.exception("parser failed on %s", path or "<document>")
        return analysis
    try:
        analysis.checked = checker.analyze(analysis.program, read_module)
        analysis.diagnostics = list(analysis.checked.diagnostics)
    except Exception:
        log.exception("checker failed on %s", path or "<document>")
    try:
        analysis.members = _members(analysis.program, source)
    except Exception:
        log.exception("scanning engine/memory calls failed on %s", path or "<document>")
    return analysis


def annotation_text(node: object) -> str:
    """A type annotation as written in Zixir (aliases by name)."""
    if isinstance(node, A.TypeName):
        return node.name
    if isinstance(node, A.ListType):
        return f"[{annotation_text(node.element)}]"
    if isinstance(node, A.MapType):
        return f"{{{annotation_text(node.value)}}}"
    if isinstance(node, A.FunctionType):
        params = ", ".join(annotation_text(p) for p in node.params)
        return f"({params}) -> {annotation_text(node.result)}"
    return "Any"


def _result_of(function_type: str) -> str:
    """`R` of a function type `(A, B) -> R` as the checker shows it."""
    depth = 0
    for i, ch in enumerate(function_type):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and function_type.startswith("->", i):
            return function_type[i + 2:].strip()
    return "Any"


def _members(program: A.Program, source: str) -> list[Member]:
    lines = source.split("\n")
    found = []
    for node in A.walk(program):
        if isinstance(node, (A.EngineCall, A.EngineRef)):
            kind, name = "engine", node.op
        elif isinstance(node, A.MemoryCall):
            kind, name = "memory", node.op
        elif isinstance(node, A.WorkflowCall):
            kind, name = "workflow", node.op
        elif isinstance(node, A.AgentCall):
            kind, name = "agent", node.op
        else:
            continue
        span = member_span(lines, Span.of(node), name)
        if span is not None:
            found.append(Member(span, kind, name))
    return found


def member_span(lines: list[str], within: Span, name: str) -> Span | None:
    """The span of `.name` after the namespace at the start of `within` (may cross lines)."""
    pattern = re.compile(r"\.\s*(" + re.escape(name) + r")(?!\w)")
    for line in range(within.line, min(within.end_line, len(lines)) + 1):
        text = lines[line - 1]
        start = within.column - 1 if line == within.line else 0
        m = pattern.search(text, start)
        if m:
            return Span(line, m.start(1) + 1, line, m.end(1) + 1)
    return None


def _last_word(source: str, within: Span, word: str) -> Span:
    """The span of the last `word` inside `within` (the `m` of `import "x" as m`)."""
    lines = source.split("\n")
    pattern = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)")
    for line in range(min(within.end_line, len(lines)), within.line - 1, -1):
        text = lines[line - 1]
        end = within.end_column - 1 if line == within.end_line else len(text)
        start = within.column - 1 if line == within.line else 0
        matches = list(pattern.finditer(text, start, end))
        if matches:
            m = matches[-1]
            return Span(line, m.start() + 1, line, m.end() + 1)
    return within
