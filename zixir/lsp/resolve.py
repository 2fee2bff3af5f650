"""Name resolution over a parsed program: which definition each name refers to.

The rules mirror the compiler's (`zixir.lang.compiler`):

    block scope      `let` binds from the end of its statement to the end of the block; a later
                     `let` of the same name shadows it; `fn` and `type` are visible in their
                     whole block (hoisted), so functions can call each other in any order
    function scope   parameters, then the body; a name not bound in any enclosing block falls
                     through to the top level, looked up when the function runs, so it may
                     refer to a top-level binding made later in the file
    loop/arm scope   `for` and comprehension variables, `match` arm bindings: only inside
    unbound          a built-in function or engine op when one has that name, else undefined

The result (`Resolution`) lists every definition (`Symbol`) with the places that read or
assign it (`Reference`), the bare uses of built-ins, engine ops and memory members
(`Occurrence`), and the scopes with their spans, so a position can be mapped to what is
visible there. Positions are the AST's: 1-based lines and columns in characters, end
exclusive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from zixir.lang import ast as A

PRIMITIVE_TYPES = frozenset({"Int", "Float", "Bool", "String", "Nil", "Any"})


@dataclass(frozen=True, slots=True, order=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def of(cls, node: A.Node) -> Span:
        return cls(node.line, node.column, node.end_line, node.end_column)

    @property
    def start(self) -> tuple[int, int]:
        return (self.line, self.column)

    @property
    def end(self) -> tuple[int, int]:
        return (self.end_line, self.end_column)

    def contains(self, line: int, column: int, *, inclusive_end: bool = True) -> bool:
        pos = (line, column)
        if inclusive_end:
            return self.start <= pos <= self.end
        return self.start <= pos < self.end


@dataclass(eq=False)
class Symbol:
    """A definition: `kind` is variable, function, parameter, type, module or import."""

    name: str
    kind: str
    span: Span  # the name where it is defined
    node: A.Node  # the defining node (Let, FnDef, Param, TypeAlias, Import, pattern, For, ...)
    scope: Scope
    visible_from: tuple[int, int]
    references: list[Reference] = field(default_factory=list)
    public: bool = False
    #: the symbol's file when it comes from another file (`import`), else None
    path: str | None = None

    @property
    def toplevel(self) -> bool:
        return self.scope.parent is None


@dataclass(eq=False)
class Reference:
    span: Span
    symbol: Symbol
    write: bool = False


@dataclass(frozen=True, slots=True)
class Occurrence:
    """A use of something that is not a user definition: kind is builtin, engine or memory."""

    span: Span
    kind: str
    name: str


@dataclass(eq=False)
class Scope:
    span: Span
    parent: Scope | None
    function: bool = False  # the scope of a function's parameters and body
    symbols: list[Symbol] = field(default_factory=list)
    children: list[Scope] = field(default_factory=list)
    names: dict[str, Symbol] = field(default_factory=dict)  # during the walk: bound so far

    def in_function(self) -> bool:
        scope: Scope | None = self
        while scope is not None:
            if scope.function:
                return True
            scope = scope.parent
        return False


@dataclass
class Resolution:
    root: Scope
    symbols: list[Symbol]
    references: list[Reference]
    occurrences: list[Occurrence]
    #: names used but bound nowhere (no definition, built-in or engine op): (span, name)
    unresolved: list[tuple[Span, str]]

    def symbol_at(self, line: int, column: int) -> tuple[Symbol, Span] | None:
        """The symbol whose definition or reference covers the position (end inclusive)."""
        best: tuple[Symbol, Span] | None = None
        for symbol in self.symbols:
            if symbol.path is None and symbol.span.contains(line, column):
                best = _narrower(best, (symbol, symbol.span))
        for ref in self.references:
            if ref.span.contains(line, column):
                best = _narrower(best, (ref.symbol, ref.span))
        return best

    def occurrence_at(self, line: int, column: int) -> Occurrence | None:
        for occ in self.occurrences:
            if occ.span.contains(line, column):
                return occ
        return None

    def visible_at(self, line: int, column: int) -> dict[str, Symbol]:
        """Every name bound at the position, innermost binding first."""
        chain: list[Scope] = []
        scope: Scope | None = _innermost(self.root, line, column)
        while scope is not None:
            chain.append(scope)
            scope = scope.parent
        pos = (line, column)
        visible: dict[str, Symbol] = {}
        in_function = any(s.function for s in chain)
        for scope in chain:
            for symbol in sorted(scope.symbols, key=lambda s: s.visible_from, reverse=True):
                late_global = in_function and scope.parent is None
                if symbol.visible_from <= pos or late_global:
                    visible.setdefault(symbol.name, symbol)
        return visible


def _narrower(best, candidate):
    if best is None:
        return candidate
    b, c = best[1], candidate[1]
    if (c.end_line - c.line, c.end_column - c.column) < (b.end_line - b.line,
                                                          b.end_column - b.column):
        return candidate
    return best


def _innermost(scope: Scope, line: int, column: int) -> Scope:
    for child in scope.children:
        if child.span.contains(line, column):
            return _innermost(child, line, column)
    return scope


class Resolver:
    def __init__(self, program: A.Program, *, builtins: frozenset[str] = frozenset(),
                 engine_ops: frozenset[str] = frozenset(), imports=None) -> None:
        self.program = program
        self.source = program.source or ""
        self.lines = self.source.split("\n")
        self.builtins = builtins
        self.engine_ops = engine_ops
        #: callable(path_text) -> list[Symbol-like (name, kind, span, node, path)] of pub names
        self.imports = imports
        big = Span(1, 1, max(program.end_line, len(self.lines)) + 1, 1)
        self.root = Scope(big, None)
        self.scope = self.root
        self.symbols: list[Symbol] = []
        self.references: list[Reference] = []
        self.occurrences: list[Occurrence] = []
        self.unresolved: list[tuple[Span, str]] = []
        self._late: list[tuple[Span, str, bool, Scope]] = []  # deferred top-level lookups

    # ---- entry -----------------------------------------------------------------------------

    def run(self) -> Resolution:
        self.statements(self.program.body)
        for span, name, write, _scope in self._late:
            symbol = self._toplevel_binding(name, span)
            if symbol is not None:
                self._reference(span, symbol, write)
            else:
                self._unbound(span, name)
        self.references.sort(key=lambda r: r.span)
        return Resolution(self.root, self.symbols, self.references, self.occurrences,
                          self.unresolved)

    # ---- scopes and bindings ---------------------------------------------------------------

    def push(self, span: Span, *, function: bool = False) -> Scope:
        scope = Scope(span, self.scope, function=function)
        self.scope.children.append(scope)
        self.scope = scope
        return scope

    def pop(self, scope: Scope) -> None:
        assert scope.parent is not None
        self.scope = scope.parent

    def declare(self, name: str, kind: str, span: Span, node: A.Node,
                visible_from: tuple[int, int], public: bool = False) -> Symbol:
        symbol = Symbol(name, kind, span, node, self.scope, visible_from, public=public)
        self.scope.symbols.append(symbol)
        self.scope.names[name] = symbol
        self.symbols.append(symbol)
        return symbol

    def lookup(self, name: str) -> Symbol | None:
        scope: Scope | None = self.scope
        while scope is not None:
            symbol = scope.names.get(name)
            if symbol is not None:
                return symbol
            scope = scope.parent
        return None

    def use(self, name: str, span: Span, write: bool = False) -> None:
        symbol = self.lookup(name)
        if symbol is not None:
            self._reference(span, symbol, write)
        elif self.scope.in_function() or write:
            self._late.append((span, name, write, self.scope))
        else:
            self._unbound(span, name)

    def _reference(self, span: Span, symbol: Symbol, write: bool) -> None:
        ref = Reference(span, symbol, write)
        symbol.references.append(ref)
        self.references.append(ref)

    def _unbound(self, span: Span, name: str) -> None:
        if name in self.builtins:
            self.occurrences.append(Occurrence(span, "builtin", name))
        elif name in self.engine_ops:
            self.occurrences.append(Occurrence(span, "engine", name))
        else:
            self.unresolved.append((span, name))

    def _toplevel_binding(self, name: str, span: Span) -> Symbol | None:
        candidates = [s for s in self.root.symbols if s.name == name]
        if not candidates:
            return None
        before = [s for s in candidates if s.visible_from <= span.start]
        return before[-1] if before else candidates[0]

    # ---- statements ------------------------------------------------------------------------

    def statements(self, body: list) -> None:
        for stmt in body:  # hoisting: functions and type aliases are visible in the whole block
            if isinstance(stmt, A.FnDef):
                self.declare(stmt.name, "function", self.name_span(stmt.name_node, stmt.name),
                             stmt, self.scope.span.start, public=stmt.public)
            elif isinstance(stmt, A.TypeAlias):
                self.declare(stmt.name, "type", self.name_span(stmt.name_node, stmt.name), stmt,
                             self.scope.span.start)
        for stmt in body:
            self.statement(stmt)

    def statement(self, stmt: A.Node) -> None:
        if isinstance(stmt, A.Let):
            self.type_expr(stmt.type)
            self.expr(stmt.value)
            self.declare(stmt.name, "variable", self.name_span(stmt.name_node, stmt.name), stmt,
                         (stmt.end_line, stmt.end_column), public=stmt.public)
        elif isinstance(stmt, A.FnDef):
            self.function(stmt, stmt.params, stmt.result_type, stmt.body)
        elif isinstance(stmt, A.TypeAlias):
            self.type_expr(stmt.type)
        elif isinstance(stmt, A.Assign):
            self.expr(stmt.value)
            self.use(stmt.name, self.name_span(stmt.name_node, stmt.name), write=True)
        elif isinstance(stmt, A.Import):
            self.import_(stmt)
        elif isinstance(stmt, A.ExprStmt):
            self.expr(stmt.expr)
        else:
            self.expr(stmt)

    def import_(self, stmt: A.Import) -> None:
        after = (stmt.end_line, stmt.end_column)
        if stmt.alias:
            span = self.find_name(stmt.alias, Span.of(stmt), last=True)
            self.declare(stmt.alias, "module", span, stmt, after)
            return
        if self.imports is None:
            return
        for name, kind, span, node, path in self.imports(stmt.path) or ():
            symbol = self.declare(name, kind, span, node, after, public=True)
            symbol.kind = "import"
            symbol.path = path

    def function(self, node: A.Node, params: list, result: A.Node | None,
                 body: A.Block) -> None:
        scope = self.push(Span(node.line, node.column, node.end_line, node.end_column),
                          function=True)
        for param in params:
            self.type_expr(param.type)
            self.declare(param.name, "parameter", self.name_span(param, param.name), param,
                         (param.line, param.column))
        self.type_expr(result)
        self.block_contents(body)
        self.pop(scope)

    def block_contents(self, block: A.Node | None) -> None:
        if isinstance(block, A.Block):
            self.statements(block.body)
        elif block is not None:
            self.expr(block)

    def scoped_block(self, block: A.Node | None) -> None:
        if block is None:
            return
        scope = self.push(Span.of(block))
        self.block_contents(block)
        self.pop(scope)

    # ---- expressions -----------------------------------------------------------------------

    def expr(self, node: object) -> None:
        if node is None:
            return
        if isinstance(node, list):
            for item in node:
                self.expr(item)
            return
        if not isinstance(node, A.Node):
            return
        method = getattr(self, "expr_" + type(node).__name__, None)
        if method is not None:
            method(node)
            return
        for name in getattr(node, "__slots__", ()):  # any other node: its children in order
            child = getattr(node, name, None)
            if isinstance(child, (A.Node, list)):
                self.expr(child)

    def expr_Name(self, node: A.Name) -> None:
        self.use(node.name, Span.of(node))

    def expr_Spread(self, node: A.Spread) -> None:
        self.use(node.name, self.tail_span(node, node.name))

    def expr_Block(self, node: A.Block) -> None:
        self.scoped_block(node)

    def expr_Lambda(self, node: A.Lambda) -> None:
        self.function(node, node.params, node.result_type, node.body)

    def expr_If(self, node: A.If) -> None:
        self.expr(node.condition)
        self.scoped_block(node.then)
        self.scoped_block(node.otherwise)

    def expr_While(self, node: A.While) -> None:
        self.expr(node.condition)
        self.scoped_block(node.body)

    def expr_For(self, node: A.For) -> None:
        self.expr(node.iterable)
        scope = self.push(Span.of(node))
        self.declare(node.var, "variable", self.name_span(node.var_node, node.var), node,
                     (node.line, node.column))
        self.scoped_block(node.body)
        self.pop(scope)

    def expr_Comprehension(self, node: A.Comprehension) -> None:
        self.expr(node.iterable)
        scope = self.push(Span.of(node))
        self.declare(node.var, "variable", self.name_span(node.var_node, node.var), node,
                     (node.line, node.column))
        self.expr(node.condition)
        self.expr(node.element)
        self.pop(scope)

    def expr_Match(self, node: A.Match) -> None:
        self.expr(node.subject)
        for arm in node.arms:
            scope = self.push(Span.of(arm))
            self.pattern(arm.pattern, (arm.line, arm.column))
            self.expr(arm.guard)
            self.block_contents(arm.body)
            self.pop(scope)

    def expr_EngineCall(self, node: A.EngineCall) -> None:
        self.occurrences.append(Occurrence(self.member_span(node, node.op), "engine", node.op))
        self.expr(node.args)

    def expr_EngineRef(self, node: A.EngineRef) -> None:
        self.occurrences.append(Occurrence(self.member_span(node, node.op), "engine", node.op))

    def expr_MemoryCall(self, node: A.MemoryCall) -> None:
        self.occurrences.append(Occurrence(self.member_span(node, node.op), "memory", node.op))
        self.expr(node.args)

    def expr_PythonCall(self, node: A.PythonCall) -> None:
        self.expr(node.args)
        for kwarg in node.kwargs:
            self.expr(kwarg.value)

    def expr_MapLit(self, node: A.MapLit) -> None:
        for entry in node.entries:
            self.expr(entry.value)

    def expr_Field(self, node: A.Field) -> None:
        self.expr(node.target)

    # ---- patterns and types ----------------------------------------------------------------

    def pattern(self, pat: object, visible_from: tuple[int, int]) -> None:
        if isinstance(pat, A.BindPattern):
            self.declare(pat.name, "variable", self.name_span(pat, pat.name), pat, visible_from)
        elif isinstance(pat, A.ListPattern):
            for item in pat.items:
                self.pattern(item, visible_from)
            if pat.rest and pat.rest != "_":
                where = pat.rest_node or pat
                self.declare(pat.rest, "variable", self.tail_span(where, pat.rest), where,
                             visible_from)
        elif isinstance(pat, A.MapPattern):
            for _key, sub in pat.entries:
                self.pattern(sub, visible_from)
        elif isinstance(pat, A.ComparisonPattern):
            self.expr(pat.test)

    def type_expr(self, node: object) -> None:
        if node is None:
            return
        if isinstance(node, A.TypeName):
            if node.name not in PRIMITIVE_TYPES:
                symbol = self.lookup(node.name)
                if symbol is not None and symbol.kind == "type":
                    self._reference(Span.of(node), symbol, False)
            return
        for name in getattr(node, "__slots__", ()):
            child = getattr(node, name, None)
            if isinstance(child, list):
                for item in child:
                    self.type_expr(item)
            elif isinstance(child, A.Node):
                self.type_expr(child)

    # ---- where names are in the source -----------------------------------------------------

    def name_span(self, node: A.Node | None, name: str) -> Span:
        """The span of `name` written at the start of `node`."""
        if node is None:
            return Span(1, 1, 1, 1)
        return Span(node.line, node.column, node.line, node.column + len(name))

    def tail_span(self, node: A.Node, name: str) -> Span:
        """The span of `name` written at the end of `node` (`...rest`)."""
        return Span(node.end_line, max(node.end_column - len(name), 1), node.end_line,
                    node.end_column)

    def member_span(self, node: A.Node, member: str) -> Span:
        """The span of the member after `engine.` / `memory.` in a call that starts at node."""
        return self.find_name(member, Span.of(node), last=False, after_dot=True)

    def find_name(self, name: str, within: Span, *, last: bool, after_dot: bool = False) -> Span:
        text = self._text(within)
        prefix = r"\.\s*" if after_dot else ""
        pattern = re.compile(prefix + r"(?<![\w])(" + re.escape(name) + r")(?!\w)")
        matches = list(pattern.finditer(text))
        if not matches:
            return Span(within.line, within.column, within.line, within.column + len(name))
        m = matches[-1] if last else matches[0]
        offset = m.start(1)
        line, column = within.line, within.column
        before = text[:offset]
        newlines = before.count("\n")
        if newlines:
            line += newlines
            column = len(before) - before.rfind("\n")
        else:
            column += offset
        return Span(line, column, line, column + len(name))

    def _text(self, span: Span) -> str:
        if not (1 <= span.line <= len(self.lines)):
            return ""
        if span.line == span.end_line:
            return self.lines[span.line - 1][span.column - 1:span.end_column - 1]
        parts = [self.lines[span.line - 1][span.column - 1:]]
        parts.extend(self.lines[span.line:span.end_line - 1])
        if span.end_line <= len(self.lines):
            parts.append(self.lines[span.end_line - 1][:span.end_column - 1])
        return "\n".join(parts)


def resolve(program: A.Program, *, builtins=frozenset(), engine_ops=frozenset(),
            imports=None) -> Resolution:
    return Resolver(program, builtins=frozenset(builtins), engine_ops=frozenset(engine_ops),
                    imports=imports).run()
