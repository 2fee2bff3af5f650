"""Static checks and name resolution for Zixir programs, without running them.

    check(source, filename) -> [Diagnostic]     what `zixir check` reports
    analyze(program) -> Analysis                what the language server asks questions of:
        definition_at(line, column), references(definition), symbols, type_of(definition),
        names_in_scope(line, column), diagnostics

Names resolve as the compiler resolves them (compiler.py), so the checker and the runtime
agree on what every name means:
- blocks nest; a `let` is visible after its statement to the end of its block (so
  `let x = x + 1` reads the outer `x`); the `fn`s of a block are visible in all of it;
- the variable of a `for` or a comprehension and the bindings of a match arm live inside it;
- a name no enclosing block binds is a global. Inside a function body it is looked up when the
  function runs, so any top-level `let`/`fn`/`import` name of the file will do; in top-level
  code it must be defined before. Failing that, a builtin, then a bare engine op.

Every rule reports only what it can prove: a type the checker cannot work out is `Any`, which
is compatible with everything, and a name that may mean more than one thing at run time is
not checked at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import engine
from . import ast as A
from .builtins import AGENT_MEMBERS, BUILTINS, WORKFLOW_MEMBERS
from .collection import collection_paused
from .diagnostics import Diagnostic
from .errors import ZixirError, ZixirSyntaxError
from .parser import parse

#: tests set this so that a bug in the checker fails loudly instead of yielding no diagnostics
RAISE_INTERNAL_ERRORS = False

Position = tuple[int, int]
Span = tuple[int, int, int, int]

MEMORY_ARITY = {"put": (2, 3), "get": (1, 2), "delete": (1, 1), "keys": (0, 1), "incr": (1, 2),
                "cas": (3, 3), "update": (2, 3)}


# ---- types -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Basic:
    name: str  # Int, Float, Bool, String, Nil, Any, or Never (no value: return, break)


@dataclass(frozen=True, slots=True)
class ListOf:
    element: Type


@dataclass(frozen=True, slots=True)
class MapOf:
    value: Type


@dataclass(frozen=True, slots=True)
class FnType:
    params: tuple[Type, ...]
    result: Type
    min_args: int
    max_args: int | None  # None: any number
    #: are the parameter types promises the checker may hold callers to (annotated user code)?
    typed_params: bool = field(default=True, compare=False)
    #: who reports a wrong argument count at run time, if not the caller's name (engine ops)
    arity_label: str | None = field(default=None, compare=False)


Type = Basic | ListOf | MapOf | FnType

ANY, NEVER = Basic("Any"), Basic("Never")
INT, FLOAT, BOOL, STRING, NIL = (Basic(n) for n in ("Int", "Float", "Bool", "String", "Nil"))
BASIC_TYPES = {t.name: t for t in (ANY, INT, FLOAT, BOOL, STRING, NIL)}
TASK = Basic("Task")  # what `spawn` returns (no annotation names it)
#: what `type_of` calls a value of each type, for messages worded as the runtime words them
RUNTIME_NAMES = {"Int": "int", "Float": "float", "Bool": "bool", "String": "string",
                 "Nil": "nil", "Task": "task"}


def show(t: Type) -> str:
    """A type as it is written in annotations: `(Int, Int) -> Int`, `[Float]`, `Any`."""
    if isinstance(t, Basic):
        return "Any" if t == NEVER else t.name
    if isinstance(t, ListOf):
        return f"[{show(t.element)}]"
    if isinstance(t, MapOf):
        return f"{{{show(t.value)}}}"
    parts = [show(p) for p in t.params[:t.min_args]]
    parts += [show(p) + "?" for p in t.params[t.min_args:]]
    if t.max_args is None:
        parts.append("...")
    return f"({', '.join(parts)}) -> {show(t.result)}"


def join(a: Type, b: Type) -> Type:
    """The most precise type holding values of both `a` and `b` (`Any` if nothing better)."""
    if a == b:
        return a
    if a == NEVER:
        return b
    if b == NEVER:
        return a
    if {a, b} == {INT, FLOAT}:
        return FLOAT
    if isinstance(a, ListOf) and isinstance(b, ListOf):
        return ListOf(join(a.element, b.element))
    if isinstance(a, MapOf) and isinstance(b, MapOf):
        return MapOf(join(a.value, b.value))
    return ANY


def compatible(actual: Type, expected: Type) -> bool:
    """False only when a value of type `actual` provably is not an `expected`."""
    if actual in (ANY, NEVER) or expected == ANY:
        return True
    if isinstance(expected, Basic):
        return actual == expected or (expected == FLOAT and actual == INT)
    if isinstance(expected, ListOf):
        return isinstance(actual, ListOf) and compatible(actual.element, expected.element)
    if isinstance(expected, MapOf):
        return isinstance(actual, MapOf) and compatible(actual.value, expected.value)
    if not isinstance(actual, FnType):
        return False
    wanted = len(expected.params)
    if wanted < actual.min_args or (actual.max_args is not None and wanted > actual.max_args):
        return False
    return compatible(actual.result, expected.result)


def is_callable(t: Type) -> bool:
    return isinstance(t, FnType) or t in (ANY, NEVER)


def _registry_type(text: str) -> Type:
    """A result type from a registry signature (`[Int]`, `Float`, `List | String`...)."""
    text = text.strip()
    if text in BASIC_TYPES:
        return BASIC_TYPES[text]
    if text.startswith("[") and text.endswith("]"):
        return ListOf(_registry_type(text[1:-1]))
    return {"List": ListOf(ANY), "Map": MapOf(ANY), "Never": NEVER, "Task": TASK}.get(text, ANY)


def _builtin_type(name: str) -> FnType:
    entry = BUILTINS[name]
    _, arrow, result = entry.signature.partition("->")
    count = entry.max_args if entry.max_args is not None else entry.min_args
    return FnType((ANY,) * count, _registry_type(result) if arrow else ANY, entry.min_args,
                  entry.max_args, typed_params=False)


_ENGINE_KINDS = {"list": ListOf(FLOAT), "number": FLOAT, "float": FLOAT, "int": INT,
                 "string": STRING, "bool": BOOL}


def _engine_type(name: str) -> FnType:
    op = engine.OPS[name]
    params = tuple(_ENGINE_KINDS.get(p.kind, ANY) for p in op.params)
    return FnType(params, _ENGINE_KINDS.get(op.result, ANY), op.min_args, op.max_args,
                  typed_params=False, arity_label=f"engine.{name}")


def annotation_type(texpr: A.TypeExpr | None, aliases: dict[str, A.TypeExpr],
                    expanding: frozenset[str] = frozenset()) -> Type:
    """The type an annotation denotes; unknown names and recursive aliases are `Any`."""
    if texpr is None:
        return ANY
    if isinstance(texpr, A.TypeName):
        if texpr.name in BASIC_TYPES:
            return BASIC_TYPES[texpr.name]
        target = aliases.get(texpr.name)
        if target is None or texpr.name in expanding:
            return ANY
        return annotation_type(target, aliases, expanding | {texpr.name})
    if isinstance(texpr, A.ListType):
        return ListOf(annotation_type(texpr.element, aliases, expanding))
    if isinstance(texpr, A.MapType):
        return MapOf(annotation_type(texpr.value, aliases, expanding))
    params = tuple(annotation_type(p, aliases, expanding) for p in texpr.params)
    return FnType(params, annotation_type(texpr.result, aliases, expanding), len(params),
                  len(params))


# ---- definitions and the analysis ------------------------------------------------------------


@dataclass(eq=False)
class Definition:
    """Something a name can refer to.

    `kind` is one of: let, function, parameter, for, comprehension, pattern, import, type,
    builtin, engine, unresolved. `span` is the span of the defining name (None for builtins,
    engine ops and unresolved globals); `node` is the whole defining node.
    """

    name: str
    kind: str
    node: A.Node | None = None
    span: Span | None = None
    toplevel: bool = False
    annotation: A.TypeExpr | None = None
    #: where the name can be used: from `visible_from` to `visible_until`
    visible_from: Position = (0, 0)
    visible_until: Position = (0, 0)
    assignments: list[A.Assign] = field(default_factory=list)
    imported_type: Type | None = None  # for names bound by `import` from a readable module
    #: for a pattern binding: the match subject and the steps from it to the bound part
    pattern_path: tuple[A.Node, tuple[str, ...]] | None = None


@dataclass(frozen=True, slots=True)
class Symbol:
    """A top-level function, variable or type alias of a file (document outline)."""

    name: str
    kind: str
    span: Span  # the name
    full_span: Span  # the whole definition
    type: str


class Analysis:
    """Everything the checker learned about one program. Built by `analyze`."""

    def __init__(self, program: A.Program) -> None:
        self.program = program
        self.diagnostics: list[Diagnostic] = []
        self.definitions: list[Definition] = []  # those written in the file, in source order
        self.resolution: dict[A.Node, Definition] = {}  # Name / TypeName node -> definition
        self._references: dict[Definition, list[A.Node]] = {}
        self._ambiguous: set[A.Node] = set()  # names whose run-time meaning is not fixed
        self._function_spans: list[Span] = []
        self._function_definitions: dict[A.Node, Definition] = {}  # FnDef -> its name
        self._types = _Types(self)
        #: path -> text of an imported file (the language server reads open documents instead)
        self.read_module: Callable[[str], str] = read_file

    # ---- questions the language server asks ------------------------------------------------

    def definition_of(self, node: A.Node) -> Definition | None:
        return self.resolution.get(node)

    def references(self, definition: Definition) -> list[A.Node]:
        """Every use of `definition` (reads, calls and assignments), in source order."""
        return sorted(self._references.get(definition, []), key=lambda n: (n.line, n.column))

    def definition_at(self, line: int, column: int) -> Definition | None:
        """The definition named at a position: a use of a name, or the defining name itself.
        A position just past the end of a name counts (a cursor after the last letter)."""
        pos = (line, column)
        just_after: Definition | None = None
        for span, definition in self._named_spans():
            if span[:2] <= pos < span[2:]:
                return definition
            if pos == span[2:] and just_after is None:
                just_after = definition
        return just_after

    def _named_spans(self) -> Iterator[tuple[Span, Definition]]:
        for node, definition in self.resolution.items():
            yield node.span, definition
        for definition in self.definitions:
            if definition.span is not None:
                yield definition.span, definition

    @property
    def symbols(self) -> list[Symbol]:
        """Top-level functions, variables and type aliases, in source order."""
        out = []
        for d in self.definitions:
            if d.toplevel and d.kind in ("function", "let", "type") and d.span and d.node:
                out.append(Symbol(d.name, d.kind, d.span, d.node.span, self.type_of(d)))
        return out

    def type_of(self, definition: Definition) -> str:
        """The annotated or inferred type of a definition, as it would be written."""
        if definition.kind == "type" and isinstance(definition.node, A.TypeAlias):
            return show(annotation_type(definition.node.type, self._types.aliases))
        return show(self._types.of_definition(definition))

    def type_of_expression(self, node: A.Node) -> str:
        return show(self._types.of(node))

    def names_in_scope(self, line: int, column: int) -> list[tuple[str, str, str]]:
        """(name, kind, type) of every name usable at a position: locals, top-level names,
        builtins and engine ops, each name once (the one that would be found)."""
        pos = (line, column)
        in_function = any(s[:2] <= pos < s[2:] for s in self._function_spans)
        found: dict[str, Definition] = {}

        def precedence(d: Definition) -> tuple[bool, Position]:
            # locals hide top-level names; of two, the later binding hides the earlier
            return (not d.toplevel, d.visible_from)

        for d in self.definitions:
            if d.kind == "type":
                continue
            if d.toplevel:
                visible = in_function or d.visible_from <= pos
            else:
                visible = d.visible_from <= pos <= d.visible_until
            current = found.get(d.name)
            if visible and (current is None or precedence(d) >= precedence(current)):
                found[d.name] = d
        out = [(d.name, d.kind, self.type_of(d)) for d in found.values()]
        names = set(found)
        out += [(n, "builtin", show(_builtin_type(n))) for n in BUILTINS if n not in names]
        out += [(n, "engine", show(_engine_type(n))) for n in engine.OPS
                if n not in names and n not in BUILTINS]
        return sorted(out)


# ---- resolution (first pass) -------------------------------------------------------------------


class _Function:
    """The function (or the top level) whose body is being resolved."""

    def __init__(self, node: A.Node | None) -> None:
        self.node = node
        self.loop_depth = 0
        self.returns: list[A.Return] = []


class _Scope:
    def __init__(self, parent: _Scope | None, function: _Function, end: Position, *,
                 program: bool = False, params: bool = False) -> None:
        self.parent = parent
        self.function = function
        self.end = end
        self.program = program
        self.params = params
        self.names: dict[str, Definition] = {}
        #: hoisted functions whose `fn` statement has not run yet
        self.pending: set[str] = set()
        #: names a block defines more than once, at least once by `fn`: which definition a
        #: closure sees depends on when it runs
        self.redefined: set[str] = set()

    def lookup(self, name: str, skip_program: bool) -> tuple[Definition, _Scope] | None:
        scope: _Scope | None = self
        while scope is not None and not (skip_program and scope.program):
            found = scope.names.get(name)
            if found is not None:
                return found, scope
            scope = scope.parent
        return None


def _end(node: A.Node) -> Position:
    return (node.end_line, node.end_column)


def _start(node: A.Node) -> Position:
    return (node.line, node.column)


def _name_span(node: A.Node, name: str) -> Span:
    """The span of a name token starting where `node` starts."""
    return (node.line, node.column, node.line, node.column + len(name))


class _Resolver:
    """Walks the program in the compiler's order, binding every name to its definition and
    reporting the errors that need no types: undefined names, misplaced break/continue/import,
    unknown engine ops and annotation types."""

    def __init__(self, analysis: Analysis) -> None:
        self.a = analysis
        self.program = analysis.program
        self.toplevel_fn = _Function(None)
        self.fn = self.toplevel_fn
        self.functions: dict[A.Node, _Function] = {}
        self.calls: list[A.Node] = []  # Call, EngineCall and MemoryCall nodes, for the checks
        self.lets: list[A.Let] = []
        self.global_defs: dict[str, list[Definition]] = {}
        self.prebuilt: dict[A.Node, list[Definition]] = {}
        self.shared: dict[tuple[str, str], Definition] = {}  # builtins, engine ops, unresolved
        self.opaque_imports: list[A.Import] = []  # imports whose exported names are unknown
        self.current_toplevel: A.Stmt | None = None
        self.rebound_library_names: set[Definition] = set()
        self.binaries: list[A.Binary] = []  # operators whose operand types are checked
        self._policy: tuple[Any, list[str]] | None = None  # the call policy, once needed
        self.loops: list[A.For | A.While] = []  # loops whose iterable or condition is checked

    # ---- diagnostics -----------------------------------------------------------------------

    def error(self, message: str, span: Span, severity: str = "error",
              source: str = "check") -> None:
        line, column, end_line, end_column = span
        if (end_line, end_column) <= (line, column):
            end_line, end_column = line, column + 1
        self.a.diagnostics.append(Diagnostic(severity, message, line, column, end_line,
                                             end_column, self.program.filename, source))

    # ---- definitions -----------------------------------------------------------------------

    def new_definition(self, name: str, kind: str, node: A.Node, span: Span, scope: _Scope,
                       visible_from: Position, annotation: A.TypeExpr | None = None) -> Definition:
        d = Definition(name, kind, node, span, toplevel=scope.program, annotation=annotation,
                       visible_from=visible_from, visible_until=scope.end)
        self.a.definitions.append(d)
        if kind == "function":
            self.a._function_definitions[node] = d
        return d

    def shared_definition(self, name: str, kind: str) -> Definition:
        key = (kind, name)
        d = self.shared.get(key)
        if d is None:
            d = self.shared[key] = Definition(name, kind)
        return d

    def record_use(self, node: A.Node, d: Definition, ambiguous: bool = False) -> None:
        self.a.resolution[node] = d
        self.a._references.setdefault(d, []).append(node)
        if ambiguous:
            self.a._ambiguous.add(node)

    # ---- program ---------------------------------------------------------------------------

    def run(self) -> None:
        program = self.program
        self.aliases = self.collect_aliases()
        self.a._types.aliases = {name: d.node.type for name, d in self.aliases.items()}
        scope = _Scope(None, self.toplevel_fn, _end(program), program=True)
        self.prebuild_globals(scope)
        self.hoist(program.body, scope, _start(program))
        for stmt in program.body:
            self.current_toplevel = stmt
            self.statement(stmt, scope)
        for d in self.rebound_library_names:
            self.a._ambiguous.update(self.a._references.get(d, []))
        self.a.definitions.sort(key=lambda d: d.span[:2] if d.span else (0, 0))

    def collect_aliases(self) -> dict[str, Definition]:
        """Type aliases hold for the whole file, wherever they are written."""
        aliases: dict[str, Definition] = {}
        for node in A.walk(self.program.body):
            if isinstance(node, A.TypeAlias) and node.name not in aliases:
                span = node.name_node.span
                d = Definition(node.name, "type", node, span, toplevel=True,
                               visible_from=_start(self.program),
                               visible_until=_end(self.program))
                self.a.definitions.append(d)
                aliases[node.name] = d
        return aliases

    def prebuild_globals(self, scope: _Scope) -> None:
        """Top-level names exist before their statements run, for function bodies to find."""
        for stmt in self.program.body:
            made: list[Definition] = []
            if isinstance(stmt, A.Let):
                made.append(self.new_definition(stmt.name, "let", stmt, stmt.name_node.span,
                                                scope, _end(stmt), stmt.type))
            elif isinstance(stmt, A.FnDef):
                made.append(self.new_definition(stmt.name, "function", stmt,
                                                stmt.name_node.span, scope,
                                                _start(self.program)))
            elif isinstance(stmt, A.Import):
                made.extend(self.import_definitions(stmt, scope))
            for d in made:
                self.global_defs.setdefault(d.name, []).append(d)
            self.prebuilt[stmt] = made

    def import_definitions(self, node: A.Import, scope: _Scope) -> list[Definition]:
        if node.alias is not None:
            self.module_exports(node)  # for its diagnostics: a missing or broken file
            return [self.new_definition(node.alias, "import", node, node.span, scope, _end(node))]
        exports = self.module_exports(node)
        if exports is None:
            self.opaque_imports.append(node)
            return []
        made = []
        for name, exported_type in exports.items():
            d = self.new_definition(name, "import", node, node.span, scope, _end(node))
            d.imported_type = exported_type
            made.append(d)
        return made

    def module_exports(self, node: A.Import) -> dict[str, Type] | None:
        """The `pub` names of an imported file with their types, or None if unknown."""
        filename = self.program.filename
        if not filename:
            return None
        base = os.path.dirname(os.path.abspath(filename))
        path = os.path.normpath(os.path.join(base, node.path))
        try:
            source = self.a.read_module(path)
        except FileNotFoundError:
            self.error(f"import: cannot find {path}", node.span, source="syntax")  # as `run`
            return None
        except (OSError, UnicodeDecodeError):
            return None
        try:
            module = parse(source, path)
        except ZixirSyntaxError as err:
            self.error(f"import: syntax error in {node.path} at line {err.line}, column "
                       f"{err.column}: {err.message}", node.span, source="syntax")
            return None
        aliases = {n.name: n.type for n in A.walk(module.body) if isinstance(n, A.TypeAlias)}
        reassigned = {n.name for n in A.walk(module.body) if isinstance(n, A.Assign)}
        counts: dict[str, int] = {}
        for stmt in module.body:
            if isinstance(stmt, (A.Let, A.FnDef)):
                counts[stmt.name] = counts.get(stmt.name, 0) + 1
        exports: dict[str, Type] = {}
        for stmt in module.body:
            if isinstance(stmt, (A.Let, A.FnDef)) and stmt.public:
                exported: Type = ANY
                if (isinstance(stmt, A.FnDef) and counts[stmt.name] == 1
                        and stmt.name not in reassigned):
                    params = tuple(annotation_type(p.type, aliases) for p in stmt.params)
                    exported = FnType(params, annotation_type(stmt.result_type, aliases),
                                      len(params), len(params))
                exports[stmt.name] = exported
        return exports

    def hoist(self, body: list[A.Stmt], scope: _Scope, start: Position) -> None:
        """The functions of a block are visible in all of it, so they can call each other."""
        defined: dict[str, int] = {}
        for stmt in body:
            if isinstance(stmt, A.Let):
                defined[stmt.name] = defined.get(stmt.name, 0) + 1
            if not isinstance(stmt, A.FnDef):
                continue
            defined[stmt.name] = defined.get(stmt.name, 0) + 1
            if scope.program:
                d = self.prebuilt[stmt][0]
            else:
                d = self.new_definition(stmt.name, "function", stmt, stmt.name_node.span,
                                        scope, start)
            if stmt.name not in scope.names:
                scope.names[stmt.name] = d
                scope.pending.add(stmt.name)
        if not scope.program:
            scope.redefined = {name for name, count in defined.items()
                               if count > 1 and name in scope.pending}

    # ---- statements ------------------------------------------------------------------------

    def statement(self, stmt: A.Stmt, scope: _Scope) -> None:
        if isinstance(stmt, A.Let):
            self.annotation(stmt.type)
            self.expression(stmt.value, scope)
            if scope.program and stmt in self.prebuilt:
                d = self.prebuilt[stmt][0]
            else:
                d = self.new_definition(stmt.name, "let", stmt, stmt.name_node.span, scope,
                                        _end(stmt), stmt.type)
            self.warn_parameter_shadowing(stmt, scope)
            scope.names[stmt.name] = d
            scope.pending.discard(stmt.name)
            self.lets.append(stmt)
        elif isinstance(stmt, A.Assign):
            d = self.use(stmt.name_node, scope)
            if d is not None and d.kind in ("builtin", "engine"):
                self.rebound_library_names.add(d)  # the global now holds something else
            elif d is not None and d.kind != "unresolved":
                d.assignments.append(stmt)
            self.expression(stmt.value, scope)
        elif isinstance(stmt, A.FnDef):
            self.function(stmt, stmt.params, stmt.result_type, stmt.body, scope)
            scope.names[stmt.name] = self.a._function_definitions[stmt]  # runs: binds again
            scope.pending.discard(stmt.name)
        elif isinstance(stmt, A.TypeAlias):
            self.annotation(stmt.type)
        elif isinstance(stmt, A.Import):
            self.import_statement(stmt, scope)
        elif isinstance(stmt, A.ExprStmt):
            self.expression(stmt.expr, scope)

    def warn_parameter_shadowing(self, stmt: A.Let, scope: _Scope) -> None:
        params = scope.parent
        if params is not None and params.params and stmt.name in params.names:
            self.error(f"'let {stmt.name}' shadows the parameter {stmt.name}",
                       stmt.name_node.span, "warning")

    def import_statement(self, node: A.Import, scope: _Scope) -> None:
        if not (scope.program and self.fn is self.toplevel_fn):
            self.error("'import' is only allowed at the top level of a file", node.span)
            if node.alias is not None:
                scope.names[node.alias] = self.new_definition(node.alias, "import", node,
                                                              node.span, scope, _end(node))
            return
        for d in self.prebuilt.get(node, []):
            scope.names[d.name] = d

    def annotation(self, texpr: A.TypeExpr | None) -> None:
        if texpr is None:
            return
        for node in A.walk(texpr):
            if isinstance(node, A.TypeName) and node.name not in BASIC_TYPES:
                alias = self.aliases.get(node.name)
                if alias is None:
                    self.error(f"Unknown type: {node.name}", node.span)
                else:
                    self.record_use(node, alias)

    def block(self, block: A.Block, scope: _Scope) -> None:
        inner = _Scope(scope, scope.function, _end(block))
        self.hoist(block.body, inner, _start(block))
        for stmt in block.body:
            self.statement(stmt, inner)

    def function(self, node: A.Node, params: list[A.Param], result: A.TypeExpr | None,
                 body: A.Block, scope: _Scope) -> None:
        self.a._function_spans.append(node.span)
        outer = self.fn
        self.fn = self.functions[node] = _Function(node)
        param_scope = _Scope(scope, self.fn, _end(node), params=True)
        try:
            for p in params:
                self.annotation(p.type)
                param_scope.names[p.name] = self.new_definition(
                    p.name, "parameter", p, _name_span(p, p.name), param_scope, _start(p),
                    p.type)
            self.annotation(result)
            self.block(body, param_scope)
        finally:
            self.fn = outer

    # ---- names -------------------------------------------------------------------------------

    def use(self, node: A.Name, scope: _Scope, call: bool = False) -> Definition | None:
        name = node.name
        in_function = self.fn is not self.toplevel_fn
        # inside a function, top-level names are globals read when it runs: see below
        found = scope.lookup(name, skip_program=in_function)
        if found is not None:
            d, owner = found
            ambiguous = name in owner.redefined or (
                name in owner.pending and owner.function is self.fn)
            self.record_use(node, d, ambiguous)
            return d
        if in_function and name in self.global_defs:
            candidates = self.global_defs[name]
            d = self.global_candidate(candidates)
            ambiguous = len(candidates) > 1 or name in BUILTINS or name in engine.OPS
            self.record_use(node, d, ambiguous)
            return d
        if name in BUILTINS:
            d = self.shared_definition(name, "builtin")
        elif name in engine.OPS:
            d = self.shared_definition(name, "engine")
        else:
            d = self.shared_definition(name, "unresolved")
            if not self.maybe_imported(node, in_function):
                what = "function" if call else "variable"
                self.error(f"Undefined {what}: {name}", node.span)
        self.record_use(node, d)
        return d

    def global_candidate(self, candidates: list[Definition]) -> Definition:
        """Of several top-level definitions of a name, the one current where it is used."""
        here = _start(self.current_toplevel) if self.current_toplevel else (0, 0)
        before = [d for d in candidates if d.node is not None and _start(d.node) <= here]
        return before[-1] if before else candidates[0]

    def maybe_imported(self, node: A.Name, in_function: bool) -> bool:
        """Could an import whose names are unknown have bound this name?"""
        return any(in_function or _start(imp) < _start(node) for imp in self.opaque_imports)

    # ---- expressions ---------------------------------------------------------------------------

    def expression(self, node: A.Node, scope: _Scope) -> None:
        method = getattr(self, "expr_" + type(node).__name__, None)
        if method is not None:
            method(node, scope)

    def expressions(self, nodes: list, scope: _Scope) -> None:
        for node in nodes:
            self.expression(node, scope)

    def expr_Name(self, node: A.Name, scope: _Scope) -> None:
        self.use(node, scope)

    def expr_ListLit(self, node: A.ListLit, scope: _Scope) -> None:
        self.expressions(node.items, scope)

    def expr_MapLit(self, node: A.MapLit, scope: _Scope) -> None:
        self.expressions([e.value for e in node.entries], scope)

    def expr_Unary(self, node: A.Unary, scope: _Scope) -> None:
        self.expression(node.operand, scope)

    def expr_Binary(self, node: A.Binary, scope: _Scope) -> None:
        self.expression(node.left, scope)
        self.expression(node.right, scope)
        if isinstance(node, A.Binary):
            self.binaries.append(node)

    def expr_Interpolation(self, node: A.Interpolation, scope: _Scope) -> None:
        self.expressions([p for p in node.parts if not isinstance(p, A.StrLit)], scope)

    expr_Logical = expr_Binary

    def expr_Call(self, node: A.Call, scope: _Scope) -> None:
        if isinstance(node.callee, A.Name):
            self.use(node.callee, scope, call=True)
        else:
            self.expression(node.callee, scope)
        self.expressions(node.args, scope)
        self.calls.append(node)

    def expr_Index(self, node: A.Index, scope: _Scope) -> None:
        self.expression(node.target, scope)
        self.expression(node.index, scope)

    def expr_Field(self, node: A.Field, scope: _Scope) -> None:
        self.expression(node.target, scope)

    def expr_EngineRef(self, node: A.EngineRef, scope: _Scope) -> None:
        self.known_op(node)

    def expr_EngineCall(self, node: A.EngineCall, scope: _Scope) -> None:
        self.expressions(node.args, scope)
        if self.known_op(node):
            self.calls.append(node)

    def known_op(self, node: A.EngineCall | A.EngineRef) -> bool:
        if node.op in engine.OPS:
            return True
        self.error(f"unknown engine op: {node.op}", self.op_span(node))
        return False

    def op_span(self, node: A.Node) -> Span:
        """The span of OP in `engine.OP`, found in the source (the node spans it all)."""
        op = node.op  # type: ignore[attr-defined]
        lines = self.program.source.split("\n")
        line, col = node.line, node.column - 1 + len("engine")
        seen_dot = False
        while line <= len(lines):
            text = lines[line - 1]
            while col < len(text) and text[col] in " \t\r":
                col += 1
            if col >= len(text):
                line, col = line + 1, 0
                continue
            if not seen_dot and text[col] == ".":
                seen_dot, col = True, col + 1
                continue
            if seen_dot and text.startswith(op, col):
                return (line, col + 1, line, col + 1 + len(op))
            break
        return node.span

    def expr_MemoryCall(self, node: A.MemoryCall, scope: _Scope) -> None:
        self.expressions(node.args, scope)
        self.calls.append(node)

    def expr_WorkflowCall(self, node: A.WorkflowCall, scope: _Scope) -> None:
        self.expressions(node.args, scope)
        self.calls.append(node)

    def expr_AgentCall(self, node: A.AgentCall, scope: _Scope) -> None:
        self.expressions(node.args, scope)
        self.calls.append(node)

    def expr_PythonCall(self, node: A.PythonCall, scope: _Scope) -> None:
        self.expressions(node.args, scope)
        self.expressions([k.value for k in node.kwargs], scope)
        self.python_policy(node)

    def python_policy(self, node: A.PythonCall) -> None:
        """Warn about a call the call policy refuses as configured for this file (defaults
        and zixir.toml); a warning, since `--allow` on the command line may still allow it."""
        from zixir.runtime.policy import CallPolicy

        from .errors import PolicyDenied

        if self._policy is None:
            allow: tuple[str, ...] = ()
            deny: tuple[str, ...] = ()
            filename = self.program.filename
            directory = os.path.dirname(os.path.abspath(filename)) if filename else os.getcwd()
            try:
                from zixir import project_file

                found = project_file.find(directory)
                if found is not None:
                    allow, deny = project_file.policy_rules(found)
            except ZixirError:
                pass  # a broken zixir.toml is reported when the program runs
            self._policy = (CallPolicy(allow, deny), [directory])
        policy, paths = self._policy
        try:
            policy.check(node.module, node.function, paths)
        except PolicyDenied as denied:
            self.error(f"{denied.message} (it fails when run unless allowed)", node.span,
                       severity="warning")

    def expr_Lambda(self, node: A.Lambda, scope: _Scope) -> None:
        self.function(node, node.params, node.result_type, node.body, scope)

    def expr_Block(self, node: A.Block, scope: _Scope) -> None:
        self.block(node, scope)

    def expr_If(self, node: A.If, scope: _Scope) -> None:
        self.expression(node.condition, scope)
        self.block(node.then, scope)
        if node.otherwise is not None:
            self.block(node.otherwise, scope)

    def expr_Match(self, node: A.Match, scope: _Scope) -> None:
        self.expression(node.subject, scope)
        for arm in node.arms:
            arm_scope = _Scope(scope, scope.function, _end(arm))
            self.pattern(arm.pattern, arm_scope, _end(arm.pattern), (node.subject, ()))
            if arm.guard is not None:
                self.expression(arm.guard, arm_scope)
            self.block(arm.body, arm_scope)

    def pattern(self, pattern: A.Pattern, scope: _Scope, visible_from: Position,
                path: tuple[A.Node, tuple[str, ...]]) -> None:
        subject, steps = path
        if isinstance(pattern, A.BindPattern):
            d = self.new_definition(pattern.name, "pattern", pattern,
                                    _name_span(pattern, pattern.name), scope, visible_from)
            d.pattern_path = path
            scope.names[pattern.name] = d
        elif isinstance(pattern, A.ListPattern):
            for item in pattern.items:
                self.pattern(item, scope, visible_from, (subject, (*steps, "item")))
            if pattern.rest and pattern.rest != "_" and pattern.rest_node is not None:
                rest = pattern.rest_node
                span = (rest.end_line, rest.end_column - len(pattern.rest), rest.end_line,
                        rest.end_column)
                d = self.new_definition(pattern.rest, "pattern", rest, span, scope, visible_from)
                d.pattern_path = (subject, (*steps, "rest"))
                scope.names[pattern.rest] = d
        elif isinstance(pattern, A.MapPattern):
            for _, sub in pattern.entries:
                self.pattern(sub, scope, visible_from, (subject, (*steps, "value")))
        elif isinstance(pattern, A.ComparisonPattern):
            if steps:
                self.error("A comparison pattern cannot be nested inside a list or map "
                           "pattern", pattern.span)
            self.expression(pattern.test, scope)

    def expr_Try(self, node: A.Try, scope: _Scope) -> None:
        self.block(node.body, scope)
        for clause in node.rescues:
            inner = _Scope(scope, scope.function, _end(clause))
            inner.names[clause.name] = self.new_definition(
                clause.name, "rescue", clause, clause.name_node.span, inner,
                _end(clause.name_node))
            if clause.guard is not None:
                self.expression(clause.guard, inner)
            self.block(clause.body, inner)

    def expr_For(self, node: A.For, scope: _Scope) -> None:
        self.expression(node.iterable, scope)
        self.loops.append(node)
        inner = _Scope(scope, scope.function, _end(node))
        inner.names[node.var] = self.new_definition(node.var, "for", node, node.var_node.span,
                                                    inner, _start(node.body))
        self.loop_body(node.body, inner)

    def expr_While(self, node: A.While, scope: _Scope) -> None:
        self.expression(node.condition, scope)
        self.loops.append(node)
        self.loop_body(node.body, scope)

    def loop_body(self, body: A.Block, scope: _Scope) -> None:
        self.fn.loop_depth += 1
        try:
            self.block(body, scope)
        finally:
            self.fn.loop_depth -= 1

    def expr_Comprehension(self, node: A.Comprehension, scope: _Scope) -> None:
        self.expression(node.iterable, scope)
        saved, self.fn.loop_depth = self.fn.loop_depth, 0  # no loop for `break` to leave
        inner = _Scope(scope, scope.function, _end(node))
        inner.names[node.var] = self.new_definition(node.var, "comprehension", node,
                                                    node.var_node.span, inner, _start(node))
        try:
            self.expression(node.element, inner)
            if node.condition is not None:
                self.expression(node.condition, inner)
        finally:
            self.fn.loop_depth = saved

    def expr_Return(self, node: A.Return, scope: _Scope) -> None:
        if node.value is not None:
            self.expression(node.value, scope)
        self.fn.returns.append(node)

    def expr_Break(self, node: A.Node, scope: _Scope) -> None:
        if self.fn.loop_depth <= 0:
            word = "break" if isinstance(node, A.Break) else "continue"
            # the compiler refuses it before anything runs: a syntax error for `zixir run` too
            self.error(f"'{word}' outside of a loop", node.span, source="syntax")

    expr_Continue = expr_Break


# ---- types (second pass) ---------------------------------------------------------------------


class _Types:
    """Infers expression and definition types from the resolution, lazily.

    A definition met again while its own type is being worked out stands for a provisional
    type (its signature, or its initial value's type), which is how recursion ends. Results
    that read a provisional type are not memoised, except by the definition it belongs to, so
    nothing keeps a guess once the real type is known."""

    MAX_ROUNDS = 4  # rounds of re-typing a recursive definition before giving up: Any
    #: definitions whose types may be worked out inside one another; deeper ones count as
    #: `Any` for the outer ones (sound, just less precise), so long chains cannot overflow
    MAX_NESTED_DEFINITIONS = 100

    def __init__(self, analysis: Analysis) -> None:
        self.a = analysis
        self.aliases: dict[str, A.TypeExpr] = {}
        self.functions: dict[A.Node, _Function] = {}
        self.expr_cache: dict[A.Node, Type] = {}
        self.def_cache: dict[Definition, Type] = {}
        self.provisional: dict[Definition, Type] = {}
        self.guesses_read: list[Definition] = []  # provisional types handed out, in order

    def annotated(self, texpr: A.TypeExpr | None) -> Type:
        return annotation_type(texpr, self.aliases)

    # ---- definitions -------------------------------------------------------------------------

    def of_definition(self, d: Definition) -> Type:
        cached = self.def_cache.get(d)
        if cached is not None:
            return cached
        if d in self.provisional:
            self.guesses_read.append(d)
            return self.provisional[d]
        if len(self.provisional) >= self.MAX_NESTED_DEFINITIONS:
            return ANY
        mark = len(self.guesses_read)
        self.provisional[d] = ANY
        try:
            t = self._definition_type(d)
        finally:
            del self.provisional[d]
        others = [g for g in self.guesses_read[mark:] if g is not d]
        del self.guesses_read[mark:]
        if others:
            self.guesses_read.extend(others)
        else:
            self.def_cache[d] = t
        return t

    def _definition_type(self, d: Definition) -> Type:
        if d.kind == "builtin":
            return _builtin_type(d.name)
        if d.kind == "engine":
            return _engine_type(d.name)
        if d.kind == "import":
            return d.imported_type or ANY
        if d.kind == "pattern" and d.pattern_path is not None:
            return self.pattern_type(*d.pattern_path)
        if d.kind in ("unresolved", "type", "pattern"):
            return ANY
        if d.annotation is not None:
            return self.annotated(d.annotation)
        node = d.node
        if d.kind == "function" and isinstance(node, A.FnDef):
            base: Type = self.recursive_function_type(d, node)
        elif d.kind == "let" and isinstance(node, A.Let):
            base = self.of(node.value)
        elif d.kind in ("for", "comprehension"):
            base = self.element_type(self.of(node.iterable))  # type: ignore[union-attr]
        elif d.kind == "rescue":
            base = MapOf(ANY)  # the error map
        else:
            base = ANY
        if not d.assignments:
            return base
        guess = base
        for _ in range(self.MAX_ROUNDS):
            self.provisional[d] = guess
            t = base
            for assign in d.assignments:
                t = join(t, self.assigned_type(assign))
            if t == guess:
                return t
            guess = t
        return ANY

    def recursive_function_type(self, d: Definition, node: A.FnDef) -> Type:
        """A function's type where its own calls stand for a guessed result, from "returns
        nothing" upwards until the guess holds."""
        params = tuple(self.annotated(p.type) for p in node.params)
        if node.result_type is not None:
            return FnType(params, self.annotated(node.result_type), len(params), len(params))
        guess: Type = NEVER
        for _ in range(self.MAX_ROUNDS):
            self.provisional[d] = FnType(params, guess, len(params), len(params))
            t = self.function_type(node, node.params, None, node.body)
            if t.result == guess:
                return t
            guess = t.result
        return FnType(params, ANY, len(params), len(params))

    def pattern_type(self, subject: A.Node, steps: tuple[str, ...]) -> Type:
        t = self.of(subject)
        for step in steps:
            if step == "rest":
                t = t if isinstance(t, ListOf) else ListOf(ANY)
            elif step == "item":
                t = t.element if isinstance(t, ListOf) else ANY
            else:
                t = t.value if isinstance(t, MapOf) else ANY
        return t

    def assigned_type(self, node: A.Assign) -> Type:
        if node.op == "=":
            return self.of(node.value)
        current = self.of(node.name_node)
        return self.arithmetic(node.op[0], current, self.of(node.value))

    @staticmethod
    def element_type(t: Type) -> Type:
        if isinstance(t, ListOf):
            return t.element
        if isinstance(t, MapOf):
            return STRING
        return ANY

    def function_type(self, node: A.Node, params: list[A.Param], result: A.TypeExpr | None,
                      body: A.Block) -> FnType:
        types = tuple(self.annotated(p.type) for p in params)
        if result is not None:
            returned = self.annotated(result)
        else:
            returned = NEVER
            for expr in self.result_nodes(node, body):
                returned = join(returned, self.of_result(expr))
        return FnType(types, returned, len(types), len(types))

    def result_nodes(self, function: A.Node, body: A.Block) -> list[A.Node]:
        """The nodes whose values a function can return: its tail positions and `return`s."""
        out = list(self.tails(body))
        fn = self.functions.get(function)
        if fn is not None:
            out += fn.returns
        return out

    def tails(self, node: A.Node) -> Iterator[A.Node]:
        """The nodes whose value becomes the value of `node`, looking through if/match/block."""
        if isinstance(node, A.Block):
            if not node.body:
                yield node
                return
            last = node.body[-1]
            yield from self.tails(last.expr if isinstance(last, A.ExprStmt) else last)
        elif isinstance(node, A.If):
            yield from self.tails(node.then)
            if node.otherwise is not None:
                yield from self.tails(node.otherwise)
        elif isinstance(node, A.Match):
            for arm in node.arms:
                yield from self.tails(arm.body)
        elif isinstance(node, A.Try):
            yield from self.tails(node.body)
            for clause in node.rescues:
                yield from self.tails(clause.body)
        elif not isinstance(node, (A.Return, A.Break, A.Continue)):
            yield node

    def of_result(self, node: A.Node) -> Type:
        if isinstance(node, A.Return):
            return NIL if node.value is None else self.of(node.value)
        return self.of(node)

    # ---- expressions -------------------------------------------------------------------------

    def of(self, node: A.Node) -> Type:
        cached = self.expr_cache.get(node)
        if cached is not None:
            return cached
        mark = len(self.guesses_read)
        method = getattr(self, "type_" + type(node).__name__, None)
        t = method(node) if method is not None else ANY
        if len(self.guesses_read) == mark:
            self.expr_cache[node] = t
        return t

    def type_IntLit(self, node: A.Node) -> Type:
        return INT

    def type_FloatLit(self, node: A.Node) -> Type:
        return FLOAT

    def type_StrLit(self, node: A.Node) -> Type:
        return STRING

    def type_BoolLit(self, node: A.Node) -> Type:
        return BOOL

    def type_NilLit(self, node: A.Node) -> Type:
        return NIL

    def type_Name(self, node: A.Name) -> Type:
        d = self.a.resolution.get(node)
        if d is None or node in self.a._ambiguous:
            return ANY
        return self.of_definition(d)

    def type_ListLit(self, node: A.ListLit) -> Type:
        element: Type = NEVER
        for item in node.items:
            element = join(element, self.of(item))
        return ListOf(element)

    def type_MapLit(self, node: A.MapLit) -> Type:
        value: Type = NEVER
        for entry in node.entries:
            value = join(value, self.of(entry.value))
        return MapOf(value)

    def type_Comprehension(self, node: A.Comprehension) -> Type:
        return ListOf(self.of(node.element))

    def type_Unary(self, node: A.Unary) -> Type:
        if node.op == "not":
            return BOOL
        operand = self.of(node.operand)
        return operand if operand in (INT, FLOAT) else ANY

    def type_Interpolation(self, node: A.Node) -> Type:
        return STRING

    def type_Binary(self, node: A.Binary) -> Type:
        if node.op in ("==", "!=", "<", ">", "<=", ">="):
            return BOOL
        if node.op == "..":
            return ListOf(INT)
        if node.op == "**":
            left, right = self.of(node.left), self.of(node.right)
            if NEVER in (left, right):
                return NEVER
            if left == INT and right == INT:
                exponent = node.right
                return INT if isinstance(exponent, A.IntLit) and exponent.value >= 0 else ANY
            if left in (INT, FLOAT) and right in (INT, FLOAT):
                return FLOAT
            return ANY
        return self.arithmetic(node.op, self.of(node.left), self.of(node.right))

    @staticmethod
    def arithmetic(op: str, left: Type, right: Type) -> Type:
        if op == "+" and STRING in (left, right):
            return STRING
        if NEVER in (left, right):
            return NEVER
        if left not in (INT, FLOAT) or right not in (INT, FLOAT):
            return ANY
        if op == "/" or FLOAT in (left, right):
            return FLOAT
        return INT

    def type_Logical(self, node: A.Logical) -> Type:
        left, right = self.of(node.left), self.of(node.right)
        return left if left == right else ANY

    def type_Call(self, node: A.Call) -> Type:
        callee = self.of(node.callee)
        return callee.result if isinstance(callee, FnType) else ANY

    def type_Index(self, node: A.Index) -> Type:
        target, index = self.of(node.target), self.of(node.index)
        if isinstance(target, ListOf) and index in (INT, ANY):
            return target.element
        if isinstance(target, MapOf) and index in (STRING, ANY):
            return target.value
        if target == STRING and index in (INT, ANY):
            return STRING
        return ANY

    def type_Field(self, node: A.Field) -> Type:
        target = self.of(node.target)
        if isinstance(target, MapOf) and node.name != "length":
            return target.value
        if node.name == "length" and (isinstance(target, ListOf) or target == STRING):
            return INT
        return ANY

    def type_EngineRef(self, node: A.EngineRef) -> Type:
        return _engine_type(node.op) if node.op in engine.OPS else ANY

    def type_EngineCall(self, node: A.EngineCall) -> Type:
        return _engine_type(node.op).result if node.op in engine.OPS else ANY

    def type_MemoryCall(self, node: A.MemoryCall) -> Type:
        if node.op == "cas":
            return BOOL
        return ListOf(STRING) if node.op == "keys" else ANY

    def type_WorkflowCall(self, node: A.WorkflowCall) -> Type:
        return ANY

    def type_AgentCall(self, node: A.AgentCall) -> Type:
        return {"start": STRING, "stop": BOOL, "list": ListOf(ANY)}.get(node.op, ANY)

    def type_Lambda(self, node: A.Lambda) -> Type:
        return self.function_type(node, node.params, node.result_type, node.body)

    def type_Block(self, node: A.Block) -> Type:
        if not node.body:
            return NIL
        return self.of_statement(node.body[-1])

    def of_statement(self, stmt: A.Node) -> Type:
        if isinstance(stmt, A.ExprStmt):
            return self.of(stmt.expr)
        if isinstance(stmt, A.Let):
            return self.of(stmt.value)
        if isinstance(stmt, A.FnDef):
            d = self.a._function_definitions.get(stmt)
            return self.of_definition(d) if d else ANY
        if isinstance(stmt, A.TypeAlias):
            return NIL
        if isinstance(stmt, A.Assign) and stmt.op == "=":
            return self.of(stmt.value)
        return ANY

    type_Let = of_statement
    type_FnDef = of_statement
    type_TypeAlias = of_statement
    type_Assign = of_statement

    def type_If(self, node: A.If) -> Type:
        otherwise = self.of(node.otherwise) if node.otherwise is not None else NIL
        return join(self.of(node.then), otherwise)

    def type_Match(self, node: A.Match) -> Type:
        t: Type = NEVER
        for arm in node.arms:
            t = join(t, self.of(arm.body))
        return t

    def type_Try(self, node: A.Try) -> Type:
        t = self.of(node.body)
        for clause in node.rescues:
            t = join(t, self.of(clause.body))
        return t

    def type_Return(self, node: A.Node) -> Type:
        return NEVER

    type_Break = type_Return
    type_Continue = type_Return


# ---- checks (third pass) -----------------------------------------------------------------------


def _count(low: int, high: int | None, singular: bool = False) -> str:
    """How many arguments a callee takes, as the runtime says it."""
    if high is None:
        return f"at least {low} arguments"
    if low == high:
        plural = "" if singular and low == 1 else "s"
        return f"{low} argument{plural}"
    return f"{low} to {high} arguments"


#: what the task built-ins need of their arguments: "calls" (argument index, how many arguments
#: the built-in passes that function), "task" / "tasks" (the argument index of a task / a list
#: of tasks), "numbers" (argument index, accepted types, the runtime's message)
_TASK_BUILTINS: dict[str, dict] = {
    "spawn": {"calls": ((0, 0),)},
    "await": {"task": 0,
              "numbers": ((1, (INT, FLOAT, NIL), "await: seconds must be a number of seconds"),)},
    "await_all": {"tasks": True},
    "pmap": {"calls": ((1, 1),),
             "numbers": ((2, (INT, NIL), "pmap: n must be a positive integer"),)},
}


def _known_value(t: Type) -> bool:
    """A type that tells what the value is (not Any, Never or a guess)."""
    return t not in (ANY, NEVER) and not isinstance(t, FnType)


def _value_name(t: Type) -> str:
    if isinstance(t, Basic):
        return RUNTIME_NAMES.get(t.name, t.name)
    if isinstance(t, FnType):
        return "function"
    return "list" if isinstance(t, ListOf) else "map"


def _known(t: Type) -> bool:
    """Is `t` one definite kind of value (not Any, not Never)?"""
    return t not in (ANY, NEVER)


def _number(t: Type) -> bool:
    return t in (INT, FLOAT)


def operator_error(op: str, left: Type, right: Type) -> str | None:
    """The runtime's message for `left op right` when these types always fail, else None."""
    if not (_known(left) and _known(right)):
        return None
    if op in ("-", "*", "/", "%", "**"):
        ok = _number(left) and _number(right)
    elif op == "+":
        ok = STRING in (left, right) or (_number(left) and _number(right))
    elif op in ("<", ">", "<=", ">="):
        ok = (_number(left) and _number(right)) or left == right == STRING
    elif op == "..":
        ok = left == right == INT
    else:
        return None
    if ok:
        return None
    if op == "..":
        return (f"Invalid binary operation: range needs two integers, got {_value_name(left)} "
                f".. {_value_name(right)}")
    return f"Invalid binary operation: {_value_name(left)} {op} {_value_name(right)}"


#: what some built-ins require of their arguments (position -> kind), beyond the arity the
#: registry gives: 'string' (or 'string:WORDING', worded as the built-in words it),
#: 'number', 'int', or ('function', N) for a function called with N arguments
_PATH, _TEXT = "string:a path string", "string:a string to write"
_BUILTIN_ARGUMENTS: dict[str, dict[int, Any]] = {
    **{name: {0: "string"} for name in ("upper", "lower", "trim", "split", "starts_with",
                                         "ends_with", "replace")},
    **{name: {0: "number"} for name in ("abs", "sqrt", "floor", "ceil", "exp", "log",
                                        "round")},
    **{name: {1: ("function", 1)} for name in ("map", "filter", "flat_map", "group_by",
                                               "pmap")},
    "reduce": {1: ("function", 2)},
    "attempt": {0: ("function", 0)},
    "div": {0: "int", 1: "int"},
    "rem": {0: "int", 1: "int"},
    **{name: {0: _PATH} for name in ("read_file", "read_lines", "list_dir", "exists")},
    "write_file": {0: _PATH, 1: _TEXT},
    "append_file": {0: _PATH, 1: _TEXT},
    "read_line": {0: "string:a prompt string"},
    "format": {1: "string:a format spec string"},
    **{name: {1: "int"} for name in ("take", "drop", "chunk")},
}


class _Checker:
    """The rules that need types: calls (arity, callability, argument types), annotated
    `let`s and assignments, and the results of functions with a declared result type."""

    def __init__(self, analysis: Analysis, resolver: _Resolver) -> None:
        self.a = analysis
        self.resolver = resolver
        self.types = analysis._types

    def run(self) -> None:
        # type every definition in source order first: chains of definitions then never recurse
        for d in self.a.definitions:
            self.types.of_definition(d)
        for node in self.resolver.calls:
            if isinstance(node, A.Call):
                self.call(node)
            elif isinstance(node, A.EngineCall):
                op = engine.OPS[node.op]
                self.arity(node, f"engine.{node.op}", op.min_args, op.max_args, singular=True)
            elif isinstance(node, A.MemoryCall):
                low, high = MEMORY_ARITY[node.op]
                expected = str(low) if low == high else f"{low} to {high}"
                if not low <= len(node.args) <= high:
                    self.resolver.error(f"memory.{node.op} expects {expected} arguments, got "
                                        f"{len(node.args)}", node.span)
            elif isinstance(node, A.WorkflowCall):
                member = WORKFLOW_MEMBERS[node.op]
                self.arity(node, f"workflow.{node.op}", member.min_args, member.max_args,
                           singular=True)
            elif isinstance(node, A.AgentCall):
                member = AGENT_MEMBERS[node.op]
                self.arity(node, f"agent.{node.op}", member.min_args, member.max_args,
                           singular=True)
        for let in self.resolver.lets:
            if let.type is not None:
                self.expect(let.value, self.types.of(let.value), self.types.annotated(let.type),
                            f"let {let.name}")
        for d in self.a.definitions:
            if d.annotation is not None and d.kind in ("let", "parameter"):
                for assign in d.assignments:
                    self.expect(assign.value, self.types.assigned_type(assign),
                                self.types.annotated(d.annotation), f"assignment to {d.name}")
        for node in self.resolver.functions:
            self.results(node)
        for binary in self.resolver.binaries:
            message = operator_error(binary.op, self.types.of(binary.left),
                                     self.types.of(binary.right))
            if message:
                self.resolver.error(message, binary.span)
        for loop in self.resolver.loops:
            self.loop(loop)

    def loop(self, node: A.For | A.While) -> None:
        if isinstance(node, A.For):
            t = self.types.of(node.iterable)
            if _known(t) and not isinstance(t, (ListOf, MapOf)):
                self.resolver.error(f"For loop requires a list, range or map, got "
                                    f"{_value_name(t)}", node.iterable.span)
        else:
            t = self.types.of(node.condition)
            if _known(t) and t != BOOL:
                self.resolver.error(f"While loop condition must be boolean, got "
                                    f"{_value_name(t)}", node.condition.span)

    def builtin_arguments(self, node: A.Call, name: str) -> None:
        for position, kind in _BUILTIN_ARGUMENTS.get(name, {}).items():
            if position >= len(node.args):
                continue
            arg = node.args[position]
            t = self.types.of(arg)
            if not _known(t):
                continue
            if isinstance(kind, str) and kind.startswith("string") and t != STRING:
                wording = kind.partition(":")[2] or "a string"
                self.resolver.error(f"{name}: expected {wording}, got {_value_name(t)}",
                                    arg.span)
            elif kind == "number" and not _number(t):
                self.resolver.error(f"{name}: expected a number, got {_value_name(t)}", arg.span)
            elif kind == "int" and t != INT:
                self.resolver.error(f"{name}: expected an integer, got {_value_name(t)}",
                                    arg.span)
            elif isinstance(kind, tuple):
                n = kind[1]
                if not is_callable(t):
                    self.resolver.error(f"{name}: expected a function, got {_value_name(t)}",
                                        arg.span)
                elif isinstance(t, FnType) and (n < t.min_args or (
                        t.max_args is not None and n > t.max_args)):
                    label = arg.name if isinstance(arg, A.Name) else "<lambda>"
                    self.resolver.error(
                        f"{name}: the function {label} takes "
                        f"{_count(t.min_args, t.max_args, singular=True)}, "
                        f"but {name} passes {n}", arg.span)

    def expect(self, node: A.Node, actual: Type, expected: Type, what: str) -> None:
        if not compatible(actual, expected):
            self.resolver.error(f"Type mismatch: expected {show(expected)}, got {show(actual)} "
                                f"({what})", node.span)

    def arity(self, node: A.Node, name: str, low: int, high: int | None,
              singular: bool = False) -> bool:
        got = len(node.args)  # type: ignore[attr-defined]
        if got >= low and (high is None or got <= high):
            return True
        self.resolver.error(f"{name} expects {_count(low, high, singular)}, got {got}",
                            node.span)
        return False

    def call(self, node: A.Call) -> None:
        callee = node.callee
        if callee in self.a._ambiguous:
            return
        t = self.types.of(callee)
        label = callee.name if isinstance(callee, (A.Name, A.Field)) else None
        if not is_callable(t):
            target = f" ({label})" if label else ""
            self.resolver.error(f"Not a function: {_value_name(t)}{target}", node.span)
            return
        if not isinstance(t, FnType):
            return
        if t.arity_label is not None:
            self.arity(node, t.arity_label, t.min_args, t.max_args, singular=True)
            return
        if isinstance(callee, A.Name) and not t.typed_params:
            d = self.a.definition_of(callee)
            if d is not None and d.kind == "builtin":
                if not self.arity(node, f"Function {callee.name}", t.min_args, t.max_args):
                    return
                if callee.name in _TASK_BUILTINS and d.name in _TASK_BUILTINS:
                    self.task_arguments(node, callee.name)
                else:
                    self.builtin_arguments(node, callee.name)
                return
        name = label or "<lambda>"
        if self.arity(node, f"Function {name}", t.min_args, t.max_args) and t.typed_params:
            for position, (arg, param) in enumerate(zip(node.args, t.params, strict=False), start=1):
                self.expect(arg, self.types.of(arg), param, f"argument {position} of {name}")
        d = self.a.resolution.get(callee) if isinstance(callee, A.Name) else None
        if d is not None and d.kind == "builtin" and d.name in _TASK_BUILTINS:
            self.task_arguments(node, d.name)

    def task_arguments(self, node: A.Call, name: str) -> None:
        """The arguments of spawn, await, await_all and pmap, as far as their types are known:
        the errors these calls would raise when they run, worded the same."""
        args = node.args
        for index, nargs in _TASK_BUILTINS[name].get("calls", ()):
            if index >= len(args):
                continue
            t = self.types.of(args[index])
            if isinstance(t, FnType):
                if nargs < t.min_args or (t.max_args is not None and nargs > t.max_args):
                    self.resolver.error(f"{name}: the function takes "
                                        f"{_count(t.min_args, t.max_args, True)}, but {name} "
                                        f"passes {nargs}", args[index].span)
            elif _known_value(t):
                self.resolver.error(f"{name}: expected a function, got {_value_name(t)}",
                                    args[index].span)
        spec = _TASK_BUILTINS[name]
        if "task" in spec and spec["task"] < len(args):
            t = self.types.of(args[spec["task"]])
            if _known_value(t) and t != TASK:
                self.resolver.error(f"{name}: expected a task, got {_value_name(t)}",
                                    args[spec["task"]].span)
        if "tasks" in spec and args:
            t = self.types.of(args[0])
            if isinstance(t, ListOf):
                if _known_value(t.element) and t.element != TASK:
                    self.resolver.error(f"{name}: expected a task, got "
                                        f"{_value_name(t.element)}", args[0].span)
            elif _known_value(t):
                self.resolver.error(f"{name}: expected a list of tasks, got {_value_name(t)}",
                                    args[0].span)
        for index, wanted, message in spec.get("numbers", ()):
            if index < len(args):
                t = self.types.of(args[index])
                if _known_value(t) and not any(t == w for w in wanted):
                    self.resolver.error(f"{message}, got {_value_name(t)}", args[index].span)

    def results(self, function: A.Node) -> None:
        if not isinstance(function, (A.FnDef, A.Lambda)) or function.result_type is None:
            return
        expected = self.types.annotated(function.result_type)
        name = function.name if isinstance(function, A.FnDef) else "<lambda>"
        for node in self.types.result_nodes(function, function.body):
            self.expect(node, self.types.of_result(node), expected, f"result of {name}")


# ---- entry points ------------------------------------------------------------------------------


_OPERAND_ENDS = frozenset(("int", "float", "ident", "string", "template_end"))


def comment_divisions(program: A.Program) -> list[Diagnostic]:
    """Warnings for `7 // 2`: `//` starts a comment, so right after an operand, followed by
    what reads as another operand, it silently drops the rest of the line."""
    from .lexer import tokenize_with_comments

    if "//" not in program.source:
        return []
    try:
        tokens, comments = tokenize_with_comments(program.source, program.filename)
    except ZixirError:
        return []
    out: list[Diagnostic] = []
    by_line: dict[int, list] = {}
    for t in tokens:
        by_line.setdefault(t.end_line, []).append(t)
    for comment in comments:
        if not comment.text.startswith("//") or comment.own_line:
            continue
        before = [t for t in by_line.get(comment.line, ()) if t.end_column <= comment.column]
        if not before:
            continue
        last = before[-1]
        if not (last.kind in _OPERAND_ENDS or last.is_op(")", "]") or last.is_keyword(
                "true", "false", "nil")):
            continue
        rest = comment.text[2:].strip()
        if not rest or not (rest[0].isdigit() or rest[0] in "(-" or rest[0].isalpha()
                            or rest[0] == "_"):
            continue
        try:
            parsed = parse(rest)
        except ZixirError:
            continue
        if len(parsed.body) != 1 or not isinstance(parsed.body[0], A.ExprStmt) or isinstance(
                parsed.body[0].expr, A.Name):  # `x = 1 // seconds` is a comment
            continue
        out.append(Diagnostic(
            "warning", "'//' starts a comment, so the rest of this line is ignored; for integer "
            "division use div(a, b)", comment.line, comment.column, comment.line,
            comment.column + 2, program.filename, "check"))
    return out


def read_file(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def analyze(program: A.Program, read_module: Callable[[str], str] | None = None) -> Analysis:
    """Resolve every name of `program` and run every check. Raises only on checker bugs.
    `read_module(path)` reads an imported file (default: from the disk)."""
    analysis = Analysis(program)
    if read_module is not None:
        analysis.read_module = read_module
    resolver = _Resolver(analysis)
    resolver.run()
    analysis._types.functions = resolver.functions
    _Checker(analysis, resolver).run()
    analysis.diagnostics.extend(comment_divisions(program))
    analysis.diagnostics.sort(key=lambda d: (d.line, d.column, d.end_line, d.end_column))
    return analysis


def check_program(program: A.Program) -> list[Diagnostic]:
    """The diagnostics of a parsed program. A failure of the checker itself is reported as an
    error (never as "no problems"): `zixir check` must not say ok about what it could not
    check."""
    try:
        return analyze(program).diagnostics
    except Exception as exc:
        if RAISE_INTERNAL_ERRORS:
            raise
        return [_internal_error(exc, program.filename)]


def _internal_error(exc: Exception, filename: str | None) -> Diagnostic:
    return Diagnostic("error", f"internal error in the checker ({type(exc).__name__}: {exc}); "
                      "the program was not checked", 1, 1, 1, 2, filename, "check")


def check(source: str, filename: str | None = None) -> list[Diagnostic]:
    """Syntax errors and static errors of a program's source, without running it."""
    with collection_paused():
        try:
            program = parse(source, filename)
        except ZixirError as exc:
            return [Diagnostic.from_error(exc)]
        except Exception as exc:
            if RAISE_INTERNAL_ERRORS:
                raise
            return [_internal_error(exc, filename)]
        return check_program(program)


def names_in_scope(program: A.Program, line: int, column: int) -> list[tuple[str, str, str]]:
    """(name, kind, type) of every name usable at a position, for completion."""
    return analyze(program).names_in_scope(line, column)
