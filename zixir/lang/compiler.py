"""Zixir syntax tree -> Python syntax tree -> CPython bytecode.

Why not a tree-walking interpreter: compiling to Python code lets CPython's own evaluation loop
run Zixir programs, so recursion, loops and arithmetic cost what they cost in Python.

How the semantics survive the translation:
- Expressions that need statements (blocks, `if` with `let`s, `match`, loops as values) are
  lowered into statement lists plus a result expression; earlier operands are spilled into
  temporaries so evaluation order stays left to right.
- Operators are Python's own, applied to value types that fail where Zixir must (see
  `values`). `+` runs Python's `+` and falls back to `support.add` on TypeError (string
  concatenation); with one operand known to be a number, only the other is tested for a string,
  in an expression (no try, nothing spilled); `*` and `%` check for strings first unless the
  operands are known numbers.
  Numbers are known from literals, from operators that can only produce numbers, and from
  local bindings that are only ever assigned numbers (`NumericLocals`, a first pass over the
  program): on those, arithmetic is plain Python with no test at all.
- Updates that rebuild a collection from itself (`xs = append(xs, x)`, `m = put(m, k, v)`,
  `s = s + x`) are emitted so the value is extended in place when nothing else holds it
  (`owned` for lists and maps, CPython's own in-place string append for strings): loops that
  build values stay linear while every value remains immutable to whoever can see it. List
  displays and comprehensions become Zixir lists through `adopt` (values), which re-types the
  fresh Python list instead of copying it.
- Block scoping: every binding gets its own Python name (`s12_x`); top-level bindings are
  globals named `u_x` so functions find them at call time, and unbound names fall through to
  the builtins namespace (built-in functions and engine ops), which is how shadowing works.
- Every generated node carries the Zixir source span of the node it came from, so a Python
  exception's instruction position (`co_positions`) leads back to the Zixir node; `spans` maps
  those positions to nodes for the error translator in `session`.
"""

from __future__ import annotations

import ast as py
import itertools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine.registry import OPS as ENGINE_OPS
from . import ast as A
from .collection import collection_paused
from .errors import ZixirSyntaxError

EFFECT, TAIL, INTO = "effect", "tail", "into"

_ARITH = {"+": py.Add, "-": py.Sub, "*": py.Mult, "/": py.Div, "%": py.Mod}
_COMPARE = {"==": py.Eq, "!=": py.NotEq, "<": py.Lt, ">": py.Gt, "<=": py.LtE, ">=": py.GtE}
COMPARISONS = frozenset(_COMPARE)
ORDERINGS = frozenset({"<", "<=", ">", ">="})  # the comparisons that can fail on types
TOPLEVEL_NAME = "_zx_toplevel"
_PROGRAM_NUMBERS = itertools.count(1)


# ---- names ---------------------------------------------------------------------------------

def mangle(name: str, prefix: str = "u") -> str:
    """A Zixir name as a Python name that cannot collide with helpers or other scopes."""
    if name.isascii():
        return f"{prefix}_{name}"
    return f"w{prefix}_{name.encode('utf-8').hex()}"


def demangle(pyname: str) -> str:
    """The Zixir name behind a Python name made by `mangle` (or a readable stand-in)."""
    if pyname == TOPLEVEL_NAME or pyname.startswith(TOPLEVEL_NAME):
        return "<top level>"
    if pyname.startswith("_l"):
        return "<lambda>"
    prefix, sep, body = pyname.partition("_")
    if not sep:
        return pyname
    if prefix.startswith("w"):
        try:
            return bytes.fromhex(body).decode("utf-8")
        except ValueError:
            return pyname
    return body


# ---- scopes ----------------------------------------------------------------------------------

class FnScope:
    """One Python function being generated: the top level or a Zixir function."""

    def __init__(self, parent: FnScope | None, toplevel: bool = False) -> None:
        self.parent = parent
        self.toplevel = toplevel
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.loop_depth = 0
        #: variables of enclosing functions this function reads: Python name -> block
        self.captures: dict[str, BlockScope] = {}


class BlockScope:
    def __init__(self, fn: FnScope, parent: BlockScope | None, *, program: bool = False,
                 comprehension: bool = False, in_loop: bool = False) -> None:
        self.fn = fn
        self.parent = parent
        self.program = program
        self.comprehension = comprehension
        # bindings made here are fresh on every iteration of an enclosing loop
        self.in_loop = in_loop or (parent is not None and parent.fn is fn and parent.in_loop)
        self.names: dict[str, str] = {}


@dataclass
class SpanInfo:
    node: A.Node
    role: str = ""  # 'callee' for the name being called
    pyname: str | None = None  # Python name of a Name node
    #: Python names holding the evaluated operands of a call (the callee) or an index
    #: (target, index); None for a constant operand
    operands: tuple[str | None, ...] = ()


@dataclass
class CompiledProgram:
    code: Any  # module code object defining the top-level function
    function_name: str
    filename: str | None
    gen_filename: str
    spans: dict[tuple[int, int, int, int], SpanInfo] = field(default_factory=dict)
    toplevel_names: list[str] = field(default_factory=list)


@dataclass
class CompilerState:
    """What outlives one compilation in a session: counters (unique names) and module exports."""

    counter: int = 0
    programs: int = 0
    #: resolves an import path (absolute) to its exported names; provided by the session
    exports_of: Callable[[str], list[str]] | None = None

    def next(self) -> int:
        self.counter += 1
        return self.counter


def span_key(node: A.Node) -> tuple[int, int, int, int]:
    """A node's span as Python code positions (0-based columns): the key of `spans`."""
    line, col = max(node.line, 1), max(node.column - 1, 0)
    end_line, end_col = node.end_line, node.end_column - 1
    if (end_line, end_col) < (line, col):
        end_line, end_col = line, col
    return (line, col, end_line, end_col)


_DISPATCH: dict[tuple[type, str, type], Callable | None] = {}


def _dispatch(compiler: type, prefix: str, node_type: type) -> Callable | None:
    """The `prefix + NodeClass` method of the compiler class (None if it has none), found once
    per pair instead of by name at every node."""
    key = (compiler, prefix, node_type)
    try:
        return _DISPATCH[key]
    except KeyError:
        method = _DISPATCH[key] = getattr(compiler, prefix + node_type.__name__, None)
        return method


#: expression contexts carry no data: one instance each serves every node (as in CPython's
#: own parser)
_LOAD, _STORE = py.Load(), py.Store()


def _const(value: Any) -> py.Constant:
    return py.Constant(value)


def _name(pyname: str) -> py.Name:
    return py.Name(pyname, _LOAD)


def _store(pyname: str) -> py.Name:
    return py.Name(pyname, _STORE)


def _assign(pyname: str, value: py.expr) -> py.Assign:
    return py.Assign([_store(pyname)], value)


def _call(fn: str, *args: py.expr) -> py.Call:
    return py.Call(_name(fn), list(args), [])


def _all(tests: list[py.expr]) -> py.expr:
    return tests[0] if len(tests) == 1 else py.BoolOp(py.And(), tests)


MAX_NESTING = 100


def _same_name(a: A.Node, b: A.Node) -> bool:
    return isinstance(a, A.Name) and isinstance(b, A.Name) and a.name == b.name


def _is_float(node: A.Node) -> bool:
    while isinstance(node, A.Unary) and node.op == "-":
        node = node.operand
    return isinstance(node, A.FloatLit)


def _depth(e: py.expr) -> int:
    """How deeply operator expressions nest in `e` (as recorded by `value_Binary`)."""
    return getattr(e, "_zx_depth", 1)


def _is_atom(e: py.expr) -> bool:
    return isinstance(e, (py.Constant, py.Name))


def _is_constant(e: py.expr) -> bool:
    return isinstance(e, py.Constant) or (isinstance(e, py.Name) and e.id in ("_zx_T", "_zx_F"))


def static_type(node: A.Node, memo: dict[int, str | None] | None = None,
                names: Callable[[A.Name], str | None] | None = None) -> str | None:
    """'num', 'str' or 'bool' when the compiler can prove it, else None.

    A value is 'num' when no evaluation of it can give anything else: literals, `- * / %` and
    unary `-` (which raise unless they produce a number), `+` of two numbers, and the names
    `names` says hold only numbers. `memo` (by node id) keeps long operator chains linear: each
    node is typed once."""
    if memo is None:
        memo = {}
    key = id(node)
    if key in memo:
        return memo[key]
    result = _static_type(node, memo, names)
    memo[key] = result
    return result


def _static_type(node: A.Node, memo: dict[int, str | None],
                 names: Callable[[A.Name], str | None] | None) -> str | None:
    if isinstance(node, (A.IntLit, A.FloatLit)):
        return "num"
    if isinstance(node, (A.StrLit, A.Interpolation)):
        return "str"
    if isinstance(node, A.BoolLit):
        return "bool"
    if isinstance(node, A.Name):
        return names(node) if names is not None else None
    if isinstance(node, A.Binary):
        if node.op in COMPARISONS:
            return "bool"
        if node.op in ("-", "*", "/", "%", "**"):
            return "num"
        if node.op != "+":
            return None
        left, right = static_type(node.left, memo, names), static_type(node.right, memo, names)
        if "str" in (left, right):
            return "str"
        if left == right == "num":
            return "num"
        return None
    if isinstance(node, A.Unary):
        return "bool" if node.op == "not" else "num"
    if isinstance(node, A.Logical):
        if static_type(node.left, memo, names) == static_type(node.right, memo, names) == "bool":
            return "bool"
    if isinstance(node, A.Block):
        last = node.body[-1] if node.body else None
        return static_type(last.expr, memo, names) if isinstance(last, A.ExprStmt) else None
    if isinstance(node, A.If) and node.otherwise is not None:
        then = static_type(node.then, memo, names)
        return then if then == static_type(node.otherwise, memo, names) else None
    if isinstance(node, A.Match) and node.arms:
        kinds = {static_type(arm.body, memo, names) for arm in node.arms}
        return kinds.pop() if len(kinds) == 1 else None
    return None


def fill_locations(root: py.AST) -> None:
    """`ast.fix_missing_locations` without its recursion and generic child iterator: a node
    with no position takes its parent's. Most generated nodes already carry a span (`at`), so
    the common case is four attribute reads; for a 5,000-line program this is several times
    faster than the standard function."""
    stack: list[tuple[py.AST, int, int, int, int]] = [(root, 1, 0, 1, 0)]
    pop, push = stack.pop, stack.append
    ast_type = py.AST
    while stack:
        node, lineno, col, end_lineno, end_col = pop()
        if node._attributes:
            if hasattr(node, "lineno"):
                lineno = node.lineno
            else:
                node.lineno = lineno
            value = getattr(node, "end_lineno", None)
            if value is None:
                node.end_lineno = end_lineno
            else:
                end_lineno = value
            if hasattr(node, "col_offset"):
                col = node.col_offset
            else:
                node.col_offset = col
            value = getattr(node, "end_col_offset", None)
            if value is None:
                node.end_col_offset = end_col
            else:
                end_col = value
        # children pushed last-first, so they are visited in the standard function's order
        # (it matters for a node object placed at two spots: the first visit positions it)
        for name in reversed(node._fields):
            child = getattr(node, name, None)
            if type(child) is list:
                for item in reversed(child):
                    if isinstance(item, ast_type):
                        push((item, lineno, col, end_lineno, end_col))
            elif isinstance(child, ast_type):
                push((child, lineno, col, end_lineno, end_col))


class NumericLocals:
    """Which local bindings only ever hold numbers, found by a first compilation pass.

    Bindings are named by their declaring node (a `let`, or a `for` over an `a..b` range), so
    the answer carries over to the second pass, whose generated names differ. Only bindings
    local to a function or block qualify: top-level names are globals that other programs of
    the session may assign. A binding is numeric when every value assigned to it anywhere in
    the program is, assuming the same of the others (a greatest fixed point)."""

    RANGE = object()  # the loop variable of a `for` over `a..b`: always an integer

    def __init__(self) -> None:
        self.assigned: dict[int, list[Any]] = {}  # declaring node id -> values assigned
        self.reads: dict[int, int] = {}  # Name node id -> declaring node id
        self.numeric: set[int] = set()

    def solve(self) -> set[int]:
        """The greatest fixed point, by a worklist: a binding is looked at again only when a
        binding its values read stops being numeric (`static_type` only gains "num" as the
        set grows, so a binding once dropped never comes back, and the order does not change
        the answer). Linear in the program for chains of `let`s, where repeating whole rounds
        was quadratic."""
        numeric = set(self.assigned)
        readers: dict[int, set[int]] = {}  # binding -> bindings whose values read it
        reads = self.reads
        judged = [0]  # the binding whose values are being typed

        def names(node: A.Name) -> str | None:
            decl = reads.get(id(node))
            if decl in numeric:
                readers.setdefault(decl, set()).add(judged[0])
                return "num"
            return None

        pending = list(numeric)
        while pending:
            decl = pending.pop()
            if decl not in numeric:
                continue
            judged[0] = decl
            if any(v is not self.RANGE and static_type(v, {}, names) != "num"
                   for v in self.assigned[decl]):
                numeric.discard(decl)
                pending.extend(readers.pop(decl, ()))
        self.numeric = numeric
        return numeric


def _has_local_bindings(program: A.Program) -> bool:
    """Whether the program binds anything the numeric analysis could use (a `let` below the
    top level, or a `for` over a range); when not, the first pass is skipped."""
    stack: list[Any] = [s for s in program.body if not isinstance(s, A.Let)]
    stack += [s.value for s in program.body if isinstance(s, A.Let)]
    while stack:
        node = stack.pop()
        t = type(node)
        if t in _LEAVES or not isinstance(node, A.Node):
            continue
        if t is A.Let:
            return True
        if t is A.For and isinstance(node.iterable, A.Binary) and node.iterable.op == "..":
            return True
        for name in t.__slots__:
            child = getattr(node, name, None)
            if isinstance(child, list):
                stack.extend(child)
            elif isinstance(child, A.Node):
                stack.append(child)
    return False


_LEAVES = (A.IntLit, A.FloatLit, A.StrLit, A.BoolLit, A.NilLit, A.Name, A.TypeName)


class Compiler:
    def __init__(self, state: CompilerState, filename: str | None = None) -> None:
        self.state = state
        self.filename = filename
        self.spans: dict[tuple[int, int, int, int], SpanInfo] = {}
        self.fn: FnScope = FnScope(None, toplevel=True)
        self.block: BlockScope = BlockScope(self.fn, None, program=True)
        self.toplevel_names: list[str] = []
        self._toplevel_seen: set[str] = set()  # the same names, for a constant-time test
        #: inside comprehensions statements cost a slow loop: prefer inline checks there
        self.inline_only = False
        self.types: dict[int, str | None] = {}  # static_type memo
        #: first pass: where numeric-local facts are collected (None in the second pass)
        self.analysis: NumericLocals | None = None
        self.numeric: set[int] = set()  # declaring node ids of bindings holding only numbers
        self._synthetic: list[A.Node] = []
        self._numeric_subject = False  # the match being compiled has a numeric subject
        self.decl_of: dict[str, int] = {}  # Python name of a local binding -> declaring node id
        self.hoisted: dict[int, str] = {}  # id(FnDef) -> the Python name reserved for it
        #: per block being compiled: function definitions moved to its start (None in loops,
        #: where a function may capture a `let` of the iteration that does not exist yet)
        self._lifted: list[list[py.stmt] | None] = []

    # ---- entry ---------------------------------------------------------------------------

    def compile_program(self, program: A.Program) -> CompiledProgram:
        if _has_local_bindings(program):
            counter, programs = self.state.counter, self.state.programs
            first = Compiler(self.state, self.filename)
            first.analysis = NumericLocals()
            first.generate(program)
            self.numeric = first.analysis.solve()
            self.state.counter, self.state.programs = counter, programs
        module, fname, gen_filename = self.generate(program)
        try:
            with warnings.catch_warnings():  # CPython's hints are about Python, not Zixir
                warnings.simplefilter("ignore")
                code = compile(module, gen_filename, "exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            raise ZixirSyntaxError(f"Program too complex to compile: {exc}", 1, 1,
                                   filename=self.filename) from None
        return CompiledProgram(code, fname, self.filename, gen_filename, self.spans,
                               self.toplevel_names)

    def generate(self, program: A.Program) -> tuple[py.Module, str, str]:
        self.state.programs += 1
        fname = f"{TOPLEVEL_NAME}{self.state.programs}"
        # unique in the process: the error translator finds a program by this name, and
        # sessions (each counting its own programs) share one table
        gen_filename = f"<zixir {self.filename or 'input'} #{next(_PROGRAM_NUMBERS)}>"
        self._hoist(program.body, self.block)
        body = self.block_body(program.body, TAIL, None)
        decls: list[py.stmt] = []
        if self.fn.globals:
            decls.append(py.Global(sorted(self.fn.globals)))
        fdef = self._function_def(fname, [], decls + body, program)
        module = py.Module([fdef], [])
        if self.analysis is None:  # the first pass's code is never compiled
            fill_locations(module)
        return module, fname, gen_filename

    # ---- positions and errors --------------------------------------------------------------

    def at(self, pynode, node: A.Node, role: str = "", pyname: str | None = None):
        """Give `pynode` the span of `node` and remember it for error translation."""
        if self.analysis is not None:  # the first pass's code is never compiled
            return pynode
        key = span_key(node)
        pynode.lineno, pynode.col_offset, pynode.end_lineno, pynode.end_col_offset = key
        spans = self.spans
        if role or key not in spans:
            spans[key] = SpanInfo(node, role, pyname)
        return pynode

    def error(self, message: str, node: A.Node) -> ZixirSyntaxError:
        return ZixirSyntaxError(message, node.line, node.column, filename=self.filename,
                                end_line=node.end_line, end_column=node.end_column)

    # ---- scopes ----------------------------------------------------------------------------

    def temp(self) -> str:
        return f"_t{self.state.next()}"

    def declare(self, name: str, block: BlockScope | None = None,
                decl: A.Node | None = None) -> str:
        """A fresh Python name for a binding; `decl` (a `let`, or a `for` over a range) makes
        it a candidate numeric local."""
        block = block or self.block
        fn = block.fn
        if block.program:
            pyname = mangle(name)
            if name not in self._toplevel_seen:
                self._toplevel_seen.add(name)
                self.toplevel_names.append(name)
        else:
            pyname = mangle(name, f"s{self.state.next()}")
            if decl is not None:
                self.decl_of[pyname] = id(decl)
                if self.analysis is not None:
                    self.analysis.assigned.setdefault(id(decl), [])
        block.names[name] = pyname
        if fn.toplevel and not block.comprehension:
            fn.globals.add(pyname)
        return pyname

    def stype(self, node: A.Node) -> str | None:
        """`static_type` knowing this program's numeric locals."""
        return static_type(node, self.types, self._name_type)

    def _name_type(self, node: A.Name) -> str | None:
        pyname, _ = self.resolve(node.name)
        return "num" if self.decl_of.get(pyname, -1) in self.numeric else None

    def _assigned(self, pyname: str, value: Any) -> None:
        """First pass: `value` (a node, or `NumericLocals.RANGE`) is assigned to `pyname`."""
        decl = self.decl_of.get(pyname)
        if self.analysis is not None and decl is not None:
            self.analysis.assigned[decl].append(value)

    def resolve(self, name: str) -> tuple[str, FnScope | None]:
        block: BlockScope | None = self.block
        while block is not None:
            pyname = block.names.get(name)
            if pyname is not None:
                fn: FnScope | None = self.fn
                while fn is not None and fn is not block.fn:
                    fn.captures.setdefault(pyname, block)
                    fn = fn.parent
                return pyname, block.fn
            block = block.parent
        return mangle(name), None

    def _hoist(self, body: list[A.Stmt], block: BlockScope) -> None:
        """Functions of a block are visible throughout it, so they can call each other."""
        for stmt in body:
            if isinstance(stmt, A.FnDef):
                self.hoisted[id(stmt)] = self.declare(stmt.name, block)

    def _enter_block(self, **kw) -> BlockScope:
        self.block = BlockScope(self.fn, self.block, **kw)
        return self.block

    def _leave_block(self, previous: BlockScope) -> None:
        self.block = previous

    # ---- generic dispatch -------------------------------------------------------------------

    def value(self, node: A.Node) -> tuple[list[py.stmt], py.expr]:
        method = _dispatch(type(self), "value_", type(node))
        if method is not None:
            return method(self, node)
        t = self.temp()
        stmts = self.emit(node, INTO, t)
        return stmts, _name(t)

    def emit(self, node: A.Node, mode: str, target: str | None) -> list[py.stmt]:
        method = _dispatch(type(self), "emit_", type(node))
        if method is not None:
            return method(self, node, mode, target)
        stmts, e = self.value(node)
        return stmts + self.finish(e, mode, target)

    def finish(self, e: py.expr, mode: str, target: str | None) -> list[py.stmt]:
        if mode == EFFECT:
            return [] if _is_atom(e) and not (isinstance(e, py.Name) and e.id.startswith(
                ("u_", "wu_"))) else [py.Expr(e)]
        if mode == TAIL:
            return [py.Return(e)]
        return [_assign(target, e)]

    def seq(self, parts: list[tuple[list[py.stmt], py.expr]]) -> tuple[list[py.stmt],
                                                                         list[py.expr]]:
        """Concatenate operand code, spilling earlier results before later statements."""
        last = -1
        for i, (stmts, _) in enumerate(parts):
            if stmts:
                last = i
        out: list[py.stmt] = []
        exprs: list[py.expr] = []
        for i, (stmts, e) in enumerate(parts):
            out.extend(stmts)
            if i < last and not _is_constant(e):
                t = self.temp()
                out.append(_assign(t, e))
                e = _name(t)
            exprs.append(e)
        return out, exprs

    def atom(self, stmts: list[py.stmt], e: py.expr) -> py.expr:
        """`e` as something that can be evaluated twice without effects."""
        if _is_atom(e):
            return e
        t = self.temp()
        stmts.append(_assign(t, e))
        return _name(t)

    # ---- blocks and statements ---------------------------------------------------------------

    def block_body(self, body: list[A.Stmt], mode: str, target: str | None) -> list[py.stmt]:
        if not body:
            return self.finish(_const(None), mode, target)
        self._lifted.append(None if self.block.in_loop else [])
        try:
            out: list[py.stmt] = []
            for stmt in body[:-1]:
                out.extend(self.emit(stmt, EFFECT, None))
            out.extend(self.emit(body[-1], mode, target))
            return (self._lifted[-1] or []) + out
        finally:
            self._lifted.pop()

    def emit_Block(self, node: A.Block, mode: str, target: str | None) -> list[py.stmt]:
        previous = self.block
        block = self._enter_block()
        try:
            self._hoist(node.body, block)
            return self.block_body(node.body, mode, target)
        finally:
            self._leave_block(previous)

    def value_Block(self, node: A.Block):
        previous = self.block
        block = self._enter_block()
        try:
            self._hoist(node.body, block)
            if not node.body:
                return [], _const(None)
            self._lifted.append(None if block.in_loop else [])
            out: list[py.stmt] = []
            for stmt in node.body[:-1]:
                out.extend(self.emit(stmt, EFFECT, None))
            last = node.body[-1]
            if isinstance(last, A.ExprStmt):
                stmts, e = self.value(last.expr)
                return (self._lifted[-1] or []) + out + stmts, e
            t = self.temp()
            out.extend(self.emit(last, INTO, t))
            return (self._lifted[-1] or []) + out, _name(t)
        finally:
            if node.body:
                self._lifted.pop()
            self._leave_block(previous)

    def emit_ExprStmt(self, node: A.ExprStmt, mode: str, target: str | None):
        return self.emit(node.expr, mode, target)

    def value_ExprStmt(self, node: A.ExprStmt):
        return self.value(node.expr)

    def emit_Let(self, node: A.Let, mode: str, target: str | None):
        stmts, e = self.value(node.value)
        pyname = self.declare(node.name, decl=node)
        self._assigned(pyname, node.value)
        stmts.append(self.at(_assign(pyname, e), node))
        if mode == EFFECT:
            return stmts
        return stmts + self.finish(_name(pyname), mode, target)

    def emit_Assign(self, node: A.Assign, mode: str, target: str | None):
        pyname, owner = self.resolve(node.name)
        stmts: list[py.stmt] = []
        if owner is None:
            # must already exist: loading it raises "Undefined variable" if it does not
            stmts.append(py.Expr(self.at(_name(pyname), node.name_node, pyname=pyname)))
        value_node: A.Node = node.value
        if node.op != "=":
            value_node = A.Binary(node.op[0], node.name_node, node.value)
            value_node.line, value_node.column, value_node.end_line, value_node.end_column = \
                node.span
            self._synthetic.append(value_node)  # `types` is keyed by id: keep the id taken
        if owner is None or (owner.toplevel and owner is not self.fn):
            self.fn.globals.add(pyname)
        elif owner is not self.fn:
            self.fn.nonlocals.add(pyname)
        self._assigned(pyname, value_node)
        update = self._update_in_place(node, value_node, pyname)
        if update is not None:
            stmts.extend(update)
        else:
            vstmts, e = self.value(value_node)
            stmts.extend(vstmts)
            stmts.append(self.at(_assign(pyname, e), node))
        if mode == EFFECT:
            return stmts
        return stmts + self.finish(_name(pyname), mode, target)

    def _update_in_place(self, node: A.Assign, value: A.Node, pyname: str) -> list[py.stmt] | None:
        """`x = append(x, e)`, `x = put(x, k, v)` and `x = x + e` (`x += e`) as updates that
        CPython or `owned` can do in place when nothing else holds the value (see `owned`);
        None for every other assignment."""
        if isinstance(value, A.Call) and isinstance(value.callee, A.Name) and value.args \
                and isinstance(value.args[0], A.Name) and value.args[0].name == node.name \
                and (value.callee.name, len(value.args)) in (("append", 2), ("put", 3)):
            callee = self.value_Name(value.callee, role="callee")
            stmts, exprs = self.seq([callee] + [self.value(a) for a in value.args])
            again: py.expr = _name(pyname)
            if isinstance(exprs[1], py.Name) and exprs[1].id != pyname:
                # the collection was spilled into a temporary: drop the temporary's reference
                # once its value is on the stack, so the count still says "one holder"
                again = py.BoolOp(py.Or(), [py.NamedExpr(_store(exprs[1].id), _const(None)),
                                            again])
            helper = "_zx_append_owned" if value.callee.name == "append" else "_zx_put_owned"
            call = self.at(_call(helper, *exprs, again), value)
            return stmts + [self.at(_assign(pyname, call), node)]
        if isinstance(value, A.Binary) and value.op == "+" and isinstance(value.left, A.Name) \
                and value.left.name == node.name and "num" not in (self.stype(value.left),
                                                                   self.stype(value.right)):
            return self._concat_in_place(node, value, pyname)
        return None

    def _concat_in_place(self, node: A.Assign, value: A.Binary, pyname: str) -> list[py.stmt]:
        """`s = s + e`: when both are strings, the old string is taken out of `s` while it is
        extended, so CPython's in-place string append (which needs the only reference to be the
        local being assigned) applies to globals and captured variables too. Nothing between
        the two stores can run other code or switch threads: only a string `+` runs there."""
        _, left = self.value(value.left)
        old = self.temp()
        stmts = [_assign(old, left)]
        rstmts, piece = self.value(value.right)
        stmts.extend(rstmts)
        if not _is_constant(piece):
            t = self.temp()
            stmts.append(_assign(t, piece))
            piece = _name(t)
        tests = [py.Compare(_call("_zx_type", _name(old)), [py.Is()], [_name("_zx_str")])]
        if self.stype(value.right) != "str":
            tests.append(py.Compare(_call("_zx_type", piece), [py.Is()], [_name("_zx_str")]))
        tests.append(py.Compare(_name(old), [py.Is()], [_name(pyname)]))
        both_str = py.BoolOp(py.And(), tests)
        grow = self.at(_assign(old, self.at(py.BinOp(_name(old), py.Add(), piece), value)), node)
        # CPython appends in place only when the store right after `+` is a plain STORE_FAST
        # of the same local; from 3.13 a store followed by a load (the `finally` below, on the
        # same line) is fused into one instruction, so a constant store comes in between
        spacer = _assign(piece.id if isinstance(piece, py.Name) else self.temp(), _const(None))
        # `finally`: should the append fail (out of memory), the variable keeps its old string
        extend = [_assign(pyname, _const(None)),
                  py.Try([grow, spacer], [], [], [self.at(_assign(pyname, _name(old)), node)])]
        gstmts, general = self._add(_name(old), piece, self.stype(value.left),
                                    self.stype(value.right), value)
        otherwise = gstmts + [self.at(_assign(pyname, general), node)]
        return stmts + [py.If(both_str, extend, otherwise), _assign(old, _const(None))]

    def emit_FnDef(self, node: A.FnDef, mode: str, target: str | None):
        pyname = self.hoisted.get(id(node))
        if pyname is None:
            pyname = self.declare(node.name)
        else:
            self.block.names[node.name] = pyname  # a `let` in between may have rebound it
        fdef = self.function(pyname, node.params, node.body, node)
        if self._lifted and self._lifted[-1] is not None:
            # defined when its block starts, so code above the `fn` line can call it; it was
            # compiled here, in order, so its names resolve as written
            self._lifted[-1].extend(fdef)
            fdef = []
        if mode == EFFECT:
            return fdef
        return fdef + self.finish(_name(pyname), mode, target)

    def emit_TypeAlias(self, node: A.TypeAlias, mode: str, target: str | None):
        return self.finish(_const(None), mode, target)

    def emit_Import(self, node: A.Import, mode: str, target: str | None):
        if not (self.block.program and self.fn.toplevel):
            raise self.error("'import' is only allowed at the top level of a file", node)
        base = os.path.dirname(os.path.abspath(self.filename)) if self.filename else os.getcwd()
        path = os.path.normpath(os.path.join(base, node.path))
        if self.state.exports_of is None:
            raise self.error("'import' is not available here", node)
        exports = self.state.exports_of(path, node)
        t = self.temp()
        stmts: list[py.stmt] = [self.at(_assign(t, self.at(_call("_zx_import", _const(path)),
                                                           node)), node)]
        if node.alias is not None:
            pyname = self.declare(node.alias)
            stmts.append(_assign(pyname, _name(t)))
            result = _name(pyname)
        else:
            for name in exports:
                pyname = self.declare(name)
                stmts.append(_assign(pyname, py.Subscript(_name(t), _const(name), _LOAD)))
            result = _name(t)
        if mode == EFFECT:
            return stmts
        return stmts + self.finish(result, mode, target)

    # ---- functions ---------------------------------------------------------------------------

    def _function_def(self, pyname: str, params: list[str], body: list[py.stmt], node: A.Node):
        args = py.arguments(posonlyargs=[], args=[py.arg(p) for p in params], vararg=None,
                            kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
        fdef = py.FunctionDef(pyname, args, body or [py.Return(_const(None))], [], None, None)
        return self.at(fdef, node)

    def function(self, pyname: str, params: list[A.Param], body: A.Block,
                 node: A.Node) -> list[py.stmt]:
        """Statements binding `pyname` to the compiled function.

        A function created inside a loop gets its own copy of the loop's variables it reads
        (each iteration's binding is a fresh one, as in JavaScript or Rust): it is built by a
        small factory taking those variables as parameters. Variables it assigns stay shared.
        """
        outer_fn, outer_block = self.fn, self.block
        self.fn = FnScope(outer_fn)
        self.block = BlockScope(self.fn, outer_block)
        try:
            pyparams = [self.declare(p.name) for p in params]
            stmts = self.emit(body, TAIL, None)
            decls: list[py.stmt] = []
            if self.fn.globals:
                decls.append(py.Global(sorted(self.fn.globals)))
            if self.fn.nonlocals:
                decls.append(py.Nonlocal(sorted(self.fn.nonlocals)))
            fdef = self._function_def(pyname, pyparams, decls + stmts, node)
            per_iteration = sorted(
                name for name, block in self.fn.captures.items()
                if block.fn is outer_fn and block.in_loop and name != pyname
                and name not in self.fn.nonlocals and name not in self.fn.globals)
        finally:
            self.fn, self.block = outer_fn, outer_block
        if not per_iteration:
            return [fdef]
        factory = f"_mk{self.state.next()}"
        maker = self._function_def(factory, per_iteration, [fdef, py.Return(_name(pyname))],
                                   node)
        call = py.Call(_name(factory), [_name(v) for v in per_iteration], [])
        return [maker, self.at(_assign(pyname, call), node)]

    def value_Lambda(self, node: A.Lambda):
        pyname = f"_l{self.state.next()}"
        return self.function(pyname, node.params, node.body, node), _name(pyname)

    def emit_Return(self, node: A.Return, mode: str, target: str | None):
        if node.value is None:
            return [self.at(py.Return(_const(None)), node)]
        return self.emit(node.value, TAIL, None)

    def value_Return(self, node: A.Return):
        return self.emit_Return(node, TAIL, None), _const(None)

    def _loop_jump(self, node: A.Node, stmt_cls, word: str):
        if self.fn.loop_depth <= 0:
            raise self.error(f"'{word}' outside of a loop", node)
        return [self.at(stmt_cls(), node)]

    def emit_Break(self, node: A.Break, mode: str, target: str | None):
        return self._loop_jump(node, py.Break, "break")

    def emit_Continue(self, node: A.Continue, mode: str, target: str | None):
        return self._loop_jump(node, py.Continue, "continue")

    def value_Break(self, node: A.Break):
        return self.emit_Break(node, EFFECT, None), _const(None)

    def value_Continue(self, node: A.Continue):
        return self.emit_Continue(node, EFFECT, None), _const(None)

    # ---- literals and names -----------------------------------------------------------------

    def value_IntLit(self, node: A.IntLit):
        return [], self.at(_const(node.value), node)

    value_FloatLit = value_IntLit
    value_StrLit = value_IntLit

    def value_Interpolation(self, node: A.Interpolation):
        """An f-string whose holes are the embedded expressions converted as `str()` does."""
        exprs = [part for part in node.parts if not isinstance(part, A.StrLit)]
        stmts, values = self.seq([self.value(e) for e in exprs])
        pieces: list[py.expr] = []
        it = iter(values)
        for part in node.parts:
            if isinstance(part, A.StrLit):
                if part.value:
                    pieces.append(_const(part.value))
            else:
                text = self.at(_call("_zx_text", next(it)), part)
                pieces.append(py.FormattedValue(text, -1, None))
        return stmts, self.at(py.JoinedStr(pieces), node)

    def value_BoolLit(self, node: A.BoolLit):
        return [], self.at(_name("_zx_T" if node.value else "_zx_F"), node)

    def value_NilLit(self, node: A.NilLit):
        return [], self.at(_const(None), node)

    def value_Name(self, node: A.Name, role: str = ""):
        pyname, _ = self.resolve(node.name)
        if self.analysis is not None and pyname in self.decl_of:
            self.analysis.reads[id(node)] = self.decl_of[pyname]
        return [], self.at(_name(pyname), node, role, pyname)

    def value_ListLit(self, node: A.ListLit):
        stmts, items = self.seq([self.value(item) for item in node.items])
        return stmts, self.at(_call("_zx_adopt", py.List(items, _LOAD)), node)

    def value_MapLit(self, node: A.MapLit):
        stmts, values = self.seq([self.value(entry.value) for entry in node.entries])
        keys = [_const(entry.key) for entry in node.entries]
        return stmts, self.at(py.Dict(keys, values), node)

    # ---- operators -------------------------------------------------------------------------

    def value_Unary(self, node: A.Unary):
        if node.op == "not":
            stmts, test = self.cond(node.operand)
            return stmts, py.IfExp(test, _name("_zx_F"), _name("_zx_T"))
        stmts, e = self.value(node.operand)
        return stmts, self.at(py.UnaryOp(py.USub(), e), node)

    def value_Binary(self, node: A.Binary):
        stmts, e = self._binary(node)
        e._zx_depth = 1 + max(_depth(x) for x in (e.left, e.right)) if isinstance(
            e, py.BinOp) else 1 + _depth(e.body) if isinstance(e, py.IfExp) else 1
        return stmts, e

    def _binary(self, node: A.Binary):
        op = node.op
        stmts, (left, right) = self.seq([self.value(node.left), self.value(node.right)])
        if _depth(left) > MAX_NESTING and not self.inline_only:
            # CPython 3.12+ compiles with a fixed C recursion limit: a long operator chain
            # is cut into statements so no expression nests deeper than MAX_NESTING
            left = self.atom(stmts, left)
        lt, rt = self.stype(node.left), self.stype(node.right)
        if op in COMPARISONS:
            test = self._compare(node, left, right, lt, rt)
            return stmts, py.IfExp(test, _name("_zx_T"), _name("_zx_F"))
        if op == "..":
            return stmts, self.at(_call("_zx_range", left, right), node)
        if op == "**":
            return stmts, self.at(_call("_zx_pow", left, right), node)
        binop = self.at(py.BinOp(left, _ARITH[op](), right), node)
        if op == "+":
            astmts, e = self._add(left, right, lt, rt, node)
            return stmts + astmts, e
        if op == "*" and (_same_name(node.left, node.right) or _is_float(node.left)
                          or _is_float(node.right)):
            # Python's `*` only repeats a string by an integer: `s * s` and `s * 1.5` raise
            # on their own, and the error is translated like any failed operator
            return stmts, self._plain_binop(binop, node, lt, rt)
        if op in ("*", "%") and not (lt == rt == "num") and not (op == "%" and lt == "num"):
            checker = "_zx_check_mul" if op == "*" else "_zx_check_mod"
            if not (_is_atom(left) and _is_atom(right)):
                left, right = self.atom(stmts, left), self.atom(stmts, right)
                binop = self.at(py.BinOp(left, _ARITH[op](), right), node)
            return stmts, self._guarded(binop, left, right, checker, node, lt != "num",
                                        op == "*" and rt != "num")
        return stmts, self._plain_binop(binop, node, lt, rt)

    def _compare(self, node: A.Binary, left: py.expr, right: py.expr, lt: str | None,
                 rt: str | None) -> py.expr:
        """Python's comparison; an ordering that can fail on a type names its operands."""
        if node.op in ORDERINGS and not (lt == rt and lt in ("num", "str")):
            (left, right), operands = self._binary_operands(left, right)
            return self._with_operands(py.Compare(left, [_COMPARE[node.op]()], [right]), node,
                                       operands)
        return self.at(py.Compare(left, [_COMPARE[node.op]()], [right]), node)

    def _binary_operands(self, left: py.expr, right: py.expr):
        """`_named_operands` for an operator's two operands, keeping the nesting depth of an
        operand that gets a name (long chains are cut by depth)."""
        (named_left, named_right), operands = self._named_operands([left, right])
        for named, e in ((named_left, left), (named_right, right)):
            if named is not e:
                named._zx_depth = _depth(e) + 1
        return (named_left, named_right), operands

    def _plain_binop(self, binop: py.BinOp, node: A.Binary, lt: str | None, rt: str | None):
        """Python's operator as it is; when it can fail on a type (an operand not known to be a
        number), its operands are named so the error is explained from their values."""
        if lt == rt == "num":
            return binop
        (left, right), operands = self._binary_operands(binop.left, binop.right)
        return self._with_operands(py.BinOp(left, binop.op, right), node, operands)

    def _add(self, left: py.expr, right: py.expr, lt: str | None, rt: str | None,
             node: A.Node) -> tuple[list[py.stmt], py.expr]:
        """Zixir `+` of two evaluated operands: Python's `+`, or concatenation with a string."""
        binop = self.at(py.BinOp(left, py.Add(), right), node)
        if (lt == rt == "num") or (lt == rt == "str"):
            return [], binop
        if "str" in (lt, rt) and (not self.inline_only or _is_atom(left) and _is_atom(right)):
            # string + string is Python's; anything else is converted by the helper
            stmts: list[py.stmt] = []
            left, right = self.atom(stmts, left), self.atom(stmts, right)
            binop = self.at(py.BinOp(left, py.Add(), right), node)
            other = right if lt == "str" else left
            test = py.Compare(_call("_zx_type", other), [py.Is()], [_name("_zx_str")])
            return stmts, py.IfExp(test, binop, self.at(_call("_zx_add", left, right), node))
        if "str" in (lt, rt):
            return [], self.at(_call("_zx_add", left, right), node)
        if (lt == "num" and isinstance(left, py.Constant)) or rt == "num":
            return [], self._add_to_number(left, right, lt == "num", node)
        if self.inline_only and _is_atom(left) and _is_atom(right):
            return [], self._guarded(binop, left, right, "_zx_add", node, lt != "num",
                                     rt != "num")
        stmts: list[py.stmt] = []
        left, right = self.atom(stmts, left), self.atom(stmts, right)
        t = self.temp()
        fast = self.at(_assign(t, self.at(py.BinOp(left, py.Add(), right), node)), node)
        slow = self.at(_assign(t, self.at(_call("_zx_add", left, right), node)), node)
        handler = py.ExceptHandler(_name("_zx_TypeError"), None, [slow])
        stmts.append(self.at(py.Try([fast], [handler], [], []), node))
        return stmts, _name(t)

    def _add_to_number(self, left: py.expr, right: py.expr, left_is_number: bool,
                       node: A.Node) -> py.expr:
        """`+` with one operand known to be a number: one type test on the other, as an
        expression (no statements, so nothing before it needs spilling), evaluated left to
        right. The caller ensures that when the left operand is the number it is a constant.

            (_t := OTHER) + NUMBER if type(_t) is not str else add(_t, NUMBER)
            NUMBER + (_t := OTHER) ...   (the test names _t first: `test` runs before the body)
        """
        other = right if left_is_number else left
        if _is_atom(other):
            first = other
        else:
            t = self.temp()
            first, other = py.NamedExpr(_store(t), other), _name(t)
        test = py.Compare(_call("_zx_type", first), [py.IsNot()], [_name("_zx_str")])
        pair = (left, other) if left_is_number else (other, right)
        binop = self._with_operands(py.BinOp(pair[0], py.Add(), pair[1]), node, tuple(
            e.id if isinstance(e, py.Name) else None for e in pair))
        return py.IfExp(test, binop, self.at(_call("_zx_add", *pair), node))

    def _guarded(self, binop: py.expr, left: py.expr, right: py.expr, fallback: str,
                 node: A.Node, test_left: bool, test_right: bool) -> py.expr:
        """`binop` unless a tested operand is a string, in which case `fallback(left, right)`;
        operands known to be numbers are not tested."""
        def not_str(e: py.expr) -> py.expr:
            return py.Compare(_call("_zx_type", e), [py.IsNot()], [_name("_zx_str")])

        same = isinstance(left, py.Name) and isinstance(right, py.Name) and left.id == right.id
        tests = ([not_str(left)] if test_left else []) + (
            [not_str(right)] if test_right and not (same and test_left) else [])
        test = tests[0] if len(tests) == 1 else py.BoolOp(py.And(), tests)
        binop = self._with_operands(binop, node, tuple(
            e.id if isinstance(e, py.Name) else None for e in (left, right)))
        return py.IfExp(test, binop, self.at(_call(fallback, left, right), node))

    def value_Logical(self, node: A.Logical):
        if self.stype(node) == "bool":
            stmts, test = self.cond(node)
            return stmts, py.IfExp(test, _name("_zx_T"), _name("_zx_F"))
        lstmts, left = self.value(node.left)
        rstmts, right = self.value(node.right)
        t = self.temp()
        if not rstmts:
            truthy = self._truthy_test(py.NamedExpr(_store(t), left), _name(t))
            take_left = truthy if node.op == "or" else py.UnaryOp(py.Not(), truthy)
            return lstmts, py.IfExp(take_left, _name(t), right)
        truthy = self._truthy_test(_name(t))
        take_left = truthy if node.op == "or" else py.UnaryOp(py.Not(), truthy)
        stmts = lstmts + [_assign(t, left),
                          py.If(py.UnaryOp(py.Not(), take_left), rstmts + [_assign(t, right)],
                                [])]
        return stmts, _name(t)

    def _truthy_test(self, e: py.expr, again: py.expr | None = None) -> py.expr:
        """`e is not false and e is not nil`; `again` re-reads `e` if `e` has effects."""
        return py.BoolOp(py.And(), [
            py.Compare(e, [py.IsNot()], [_name("_zx_F")]),
            py.Compare(again or e, [py.IsNot()], [_const(None)]),
        ])

    def cond(self, node: A.Node) -> tuple[list[py.stmt], py.expr]:
        """Code computing a Python bool: the Zixir truthiness of `node`."""
        if isinstance(node, A.Binary) and node.op in COMPARISONS:
            stmts, (left, right) = self.seq([self.value(node.left), self.value(node.right)])
            return stmts, self._compare(node, left, right, self.stype(node.left),
                                        self.stype(node.right))
        if isinstance(node, A.Unary) and node.op == "not":
            stmts, test = self.cond(node.operand)
            return stmts, py.UnaryOp(py.Not(), test)
        if isinstance(node, A.BoolLit):
            return [], _const(node.value)
        if isinstance(node, A.Logical):
            lstmts, left = self.cond(node.left)
            rstmts, right = self.cond(node.right)
            pyop = py.And() if node.op == "and" else py.Or()
            if not rstmts:
                return lstmts, py.BoolOp(pyop, [left, right])
            t = self.temp()
            run_right = left if node.op == "and" else py.UnaryOp(py.Not(), left)
            stmts = lstmts + [_assign(t, left),
                              py.If(run_right, rstmts + [_assign(t, right)], [])]
            return stmts, _name(t)
        stmts, e = self.value(node)
        if isinstance(e, py.Constant):
            return stmts, _const(e.value is not None and e.value is not False)
        if _is_atom(e):
            return stmts, self._truthy_test(e)
        t = self.temp()
        return stmts, self._truthy_test(py.NamedExpr(_store(t), e), _name(t))

    # ---- postfix -------------------------------------------------------------------------------

    def _named_operands(self, exprs: list[py.expr]) -> tuple[list[py.expr], tuple[str | None, ...]]:
        """Operands as expressions that also leave their value in a Python name (a variable
        or a temporary bound on the way), so that an error can be explained from the values
        instead of from CPython's message text; constants need no name."""
        out: list[py.expr] = []
        names: list[str | None] = []
        for e in exprs:
            if isinstance(e, py.Name):
                names.append(e.id)
            elif _is_constant(e):
                names.append(None)
            else:
                t = self.temp()
                e = py.NamedExpr(_store(t), e)
                names.append(t)
            out.append(e)
        return out, tuple(names)

    def _with_operands(self, pynode, node: A.Node, operands: tuple[str | None, ...]):
        pynode = self.at(pynode, node)
        info = self.spans.get(span_key(node))
        if info is not None and info.node is node:
            info.operands = operands
        return pynode

    def value_Call(self, node: A.Call):
        if isinstance(node.callee, A.Name):
            callee = self.value_Name(node.callee, role="callee")
        else:
            callee = self.value(node.callee)
        stmts, exprs = self.seq([callee] + [self.value(a) for a in node.args])
        (fn,), operands = self._named_operands(exprs[:1])
        return stmts, self._with_operands(py.Call(fn, exprs[1:], []), node, operands)

    def value_Index(self, node: A.Index):
        stmts, exprs = self.seq([self.value(node.target), self.value(node.index)])
        (target, index), operands = self._named_operands(exprs)
        return stmts, self._with_operands(py.Subscript(target, index, _LOAD), node, operands)

    def value_Field(self, node: A.Field):
        stmts, target = self.value(node.target)
        return stmts, self.at(_call("_zx_field", target, _const(node.name)), node)

    def value_EngineCall(self, node: A.EngineCall):
        """`engine.OP(args)`: a call of the engine's native front end itself when OP is known
        (its result made a Zixir value by the registry's result kind: a list adopted, a bool
        mapped), else the general helper, which reports the unknown op."""
        stmts, args = self.seq([self.value(a) for a in node.args])
        op = ENGINE_OPS.get(node.op)
        if op is None:
            return stmts, self.at(_call("_zx_engine", _const(node.op), *args), node)
        call = self.at(_call("_zx_engine_run", _const(node.op), *args), node)
        if op.result == "list":
            call = self.at(_call("_zx_adopt", call), node)
        elif op.result == "bool":
            call = self.at(_call("_zx_engine_bool", call), node)
        return stmts, call

    def value_EngineRef(self, node: A.EngineRef):
        return [], self.at(_call("_zx_engine_fn", _const(node.op)), node)

    def value_MemoryCall(self, node: A.MemoryCall):
        stmts, args = self.seq([self.value(a) for a in node.args])
        return stmts, self.at(_call(f"_zx_memory_{node.op}", *args), node)

    def value_WorkflowCall(self, node: A.WorkflowCall):
        stmts, args = self.seq([self.value(a) for a in node.args])
        return stmts, self.at(_call(f"_zx_workflow_{node.op}", *args), node)

    def value_AgentCall(self, node: A.AgentCall):
        stmts, args = self.seq([self.value(a) for a in node.args])
        return stmts, self.at(_call(f"_zx_agent_{node.op}", *args), node)

    def value_PythonCall(self, node: A.PythonCall):
        parts = [self.value(a) for a in node.args] + [self.value(k.value) for k in node.kwargs]
        stmts, exprs = self.seq(parts)
        n = len(node.args)
        args = py.List(exprs[:n], _LOAD)
        kwargs = py.Dict([_const(k.name) for k in node.kwargs], exprs[n:])
        call = _call("_zx_python", _const(node.module), _const(node.function), args, kwargs)
        return stmts, self.at(call, node)

    # ---- control flow ---------------------------------------------------------------------------

    def emit_If(self, node: A.If, mode: str, target: str | None):
        stmts, test = self.cond(node.condition)
        then = self.emit(node.then, mode, target) or [py.Pass()]
        if node.otherwise is not None:
            otherwise = self.emit(node.otherwise, mode, target)
        else:
            otherwise = self.finish(_const(None), mode, target)
        return stmts + [self.at(py.If(test, then, otherwise), node)]

    def value_If(self, node: A.If):
        stmts, test = self.cond(node.condition)
        tstmts, then = self.value(node.then)
        if node.otherwise is not None:
            ostmts, otherwise = self.value(node.otherwise)
        else:
            ostmts, otherwise = [], _const(None)
        if not tstmts and not ostmts:
            return stmts, self.at(py.IfExp(test, then, otherwise), node)
        t = self.temp()
        stmt = py.If(test, tstmts + [_assign(t, then)], ostmts + [_assign(t, otherwise)])
        return stmts + [self.at(stmt, node)], _name(t)

    def _while_test(self, node: A.Node) -> tuple[list[py.stmt], py.expr]:
        if self.stype(node) == "bool":
            return self.cond(node)
        stmts, e = self.value(node)
        return stmts, self.at(_call("_zx_while_cond", e), node)

    def emit_While(self, node: A.While, mode: str, target: str | None):
        result = None if mode == EFFECT else self.temp()
        out: list[py.stmt] = [_assign(result, _const(None))] if result else []
        stmts, test = self._while_test(node.condition)
        self.fn.loop_depth += 1
        previous = self.block
        self._enter_block(in_loop=True)
        try:
            body = self.emit(node.body, INTO if result else EFFECT, result) or [py.Pass()]
        finally:
            self.fn.loop_depth -= 1
            self._leave_block(previous)
        if stmts:
            exit_ = py.If(py.UnaryOp(py.Not(), test), [py.Break()], [])
            loop = py.While(_const(True), stmts + [exit_] + body, [])
        else:
            loop = py.While(test, body, [])
        out.append(self.at(loop, node))
        if result:
            out.extend(self.finish(_name(result), mode, target))
        return out

    def emit_For(self, node: A.For, mode: str, target: str | None):
        result = None if mode == EFFECT else self.temp()
        out: list[py.stmt] = [_assign(result, _const(None))] if result else []
        stmts, iterable = self.value(node.iterable)
        out.extend(stmts)
        previous = self.block
        self._enter_block(in_loop=True)
        self.fn.loop_depth += 1
        try:
            ranged = isinstance(node.iterable, A.Binary) and node.iterable.op == ".."
            var = self.declare(node.var, decl=node if ranged else None)
            self._assigned(var, NumericLocals.RANGE)
            body = self.emit(node.body, INTO if result else EFFECT, result) or [py.Pass()]
        finally:
            self.fn.loop_depth -= 1
            self._leave_block(previous)
        it = self.at(_call("_zx_iter", iterable), node.iterable)
        out.append(self.at(py.For(_store(var), it, body, []), node))
        if result:
            out.extend(self.finish(_name(result), mode, target))
        return out

    def value_Comprehension(self, node: A.Comprehension):
        stmts, iterable = self.value(node.iterable)
        if not _is_atom(iterable):  # Python allows no `:=` in a comprehension's iterable
            iterable = self.atom(stmts, iterable)
        it = self.at(_call("_zx_iter", iterable), node.iterable)
        previous = self.block
        saved_depth = self.fn.loop_depth
        self.fn.loop_depth = 0  # `break` inside a comprehension has no loop to leave
        self._enter_block(comprehension=True, in_loop=True)
        try:
            var = self.declare(node.var)
            saved_inline, self.inline_only = self.inline_only, True
            try:
                estmts, element = self.value(node.element)
                if node.condition is not None:
                    cstmts, test = self.cond(node.condition)
                else:
                    cstmts, test = [], None
            finally:
                self.inline_only = saved_inline
            if not estmts and not cstmts:
                gen = py.comprehension(_store(var), it, [test] if test is not None else [], 0)
                comp = self.at(py.ListComp(element, [gen]), node)
                return stmts, self.at(_call("_zx_adopt", comp), node)
        finally:
            self.fn.loop_depth = saved_depth
            self._leave_block(previous)
        # element or condition need statements: an explicit loop appending to the result
        result = self.temp()
        append = py.Expr(py.Call(py.Attribute(_name(result), "append", _LOAD),
                                 [element], []))
        body = estmts + [append]
        if test is not None:
            body = cstmts + [py.If(test, body, [])]
        loop = self.at(py.For(_store(var), it, body, []), node)
        return stmts + [_assign(result, _call("_zx_List", py.List([], _LOAD))), loop], \
            _name(result)

    # ---- try / rescue ------------------------------------------------------------------------

    def emit_Try(self, node: A.Try, mode: str, target: str | None):
        """`try` as Python's `try`/`except`: free while nothing fails (CPython's exception
        table), and `break`/`continue`/`return` pass through it as they do in Python.

            try:
                BODY                                   (in the mode of the whole `try`)
            except _zx_Rescuable as exc:
                err = _zx_caught(exc)                  (positioned, with its call chain)
                emap = _zx_error_map(err)
                e1 = emap; if GUARD1: RESCUE1 else: e2 = emap; ... else: raise err
        """
        body = self.emit(node.body, mode, target) or [py.Pass()]
        exc, err, emap = self.temp(), self.temp(), self.temp()
        chain: list[py.stmt] = [self.at(py.Raise(_name(err), None), node)]
        for clause in reversed(node.rescues):
            previous = self.block
            self._enter_block()
            try:
                bind = self.at(_assign(self.declare(clause.name), _name(emap)), clause.name_node)
                handler = self.emit(clause.body, mode, target) or [py.Pass()]
                if clause.guard is not None:
                    gstmts, gtest = self.cond(clause.guard)
                    chain = [bind] + gstmts + [self.at(py.If(gtest, handler, chain), clause)]
                else:
                    chain = [bind] + handler
            finally:
                self._leave_block(previous)
        handler_body = [
            self.at(_assign(err, _call("_zx_caught", _name(exc))), node),
            _assign(emap, _call("_zx_error_map", _name(err))),
        ] + chain
        except_ = py.ExceptHandler(_name("_zx_Rescuable"), exc, handler_body)
        return [self.at(py.Try(body, [except_], [], []), node)]

    # ---- match ---------------------------------------------------------------------------------

    def emit_Match(self, node: A.Match, mode: str, target: str | None):
        stmts, subject = self.value(node.subject)
        self._numeric_subject = self.stype(node.subject) == "num"
        subj = self.temp()
        stmts.append(_assign(subj, subject))
        failure: list[py.stmt] = [self.at(py.Raise(_call("_zx_no_match", _name(subj)), None),
                                          node)]
        chain = failure
        # build from the last arm outward: each arm's `else` is the rest of the chain
        for arm in reversed(node.arms):
            previous = self.block
            self._enter_block()
            try:
                tstmts, test = self.pattern_test(arm.pattern, _name(subj))
                if arm.guard is not None:
                    gstmts, gtest = self.cond(arm.guard)
                    if gstmts:
                        holder = self.temp()
                        tstmts = tstmts + [_assign(holder, test),
                                           py.If(_name(holder), gstmts + [
                                               _assign(holder, gtest)], [])]
                        test = _name(holder)
                    else:
                        test = py.BoolOp(py.And(), [test, gtest])
                body = self.emit(arm.body, mode, target) or [py.Pass()]
            finally:
                self._leave_block(previous)
            branch = self.at(py.If(test, body, chain), arm)
            chain = tstmts + [branch]
        return stmts + chain

    def pattern_test(self, pattern: A.Pattern, subject: py.expr) -> tuple[list[py.stmt],
                                                                            py.expr]:
        """A Python bool expression testing `subject` against `pattern`, binding its names
        with assignment expressions as it goes."""
        if isinstance(pattern, A.WildcardPattern):
            return [], _const(True)
        if isinstance(pattern, A.BindPattern):
            pyname = self.declare(pattern.name)
            bind = py.NamedExpr(_store(pyname), subject)
            return [], py.Compare(bind, [py.Is()], [_name(pyname)])
        if isinstance(pattern, A.LiteralPattern):
            lit = pattern.value
            if isinstance(lit, A.BoolLit):
                return [], py.Compare(subject, [py.Is()], [_name("_zx_T" if lit.value
                                                                  else "_zx_F")])
            if isinstance(lit, A.NilLit):
                return [], py.Compare(subject, [py.Is()], [_const(None)])
            if isinstance(lit, A.StrLit):
                return [], py.BoolOp(py.And(), [
                    py.Compare(_call("_zx_type", subject), [py.Is()], [_name("_zx_str")]),
                    py.Compare(subject, [py.Eq()], [_const(lit.value)])])
            equal = py.Compare(subject, [py.Eq()], [_const(lit.value)])
            if self._numeric_subject and isinstance(subject, py.Name):
                return [], equal
            return [], py.BoolOp(py.And(), [_call("_zx_is_number", subject), equal])
        if isinstance(pattern, A.ComparisonPattern):
            return self.cond(pattern.test)
        if isinstance(pattern, A.ListPattern):
            n = len(pattern.items)
            length = _call("_zx_len", subject)
            tests: list[py.expr] = [_call("_zx_is_list", subject),
                                    py.Compare(length, [py.GtE() if pattern.rest else py.Eq()],
                                               [_const(n)])]
            for i, item in enumerate(pattern.items):
                element = py.Subscript(subject, _const(i), _LOAD)
                istmts, itest = self._sub_pattern(item, element)
                tests.append(itest)
            if pattern.rest and pattern.rest != "_":
                pyname = self.declare(pattern.rest)
                bind = py.NamedExpr(_store(pyname), _call("_zx_rest", subject, _const(n)))
                tests.append(py.Compare(bind, [py.Is()], [_name(pyname)]))
            return [], _all(tests)
        if isinstance(pattern, A.MapPattern):
            tests = [py.Compare(_call("_zx_type", subject), [py.Is()], [_name("_zx_dict")])]
            for key, sub in pattern.entries:
                tests.append(py.Compare(_const(key), [py.In()], [subject]))
                element = py.Subscript(subject, _const(key), _LOAD)
                _, stest = self._sub_pattern(sub, element)
                tests.append(stest)
            return [], _all(tests)
        raise self.error("Invalid pattern", pattern)

    def _sub_pattern(self, pattern: A.Pattern, element: py.expr):
        if isinstance(pattern, (A.ListPattern, A.MapPattern)):
            # name the element once so the nested tests do not index repeatedly
            t = self.temp()
            named = py.NamedExpr(_store(t), element)
            stmts, test = self.pattern_test(pattern, _name(t))
            first = py.Compare(named, [py.Is()], [_name(t)])
            return stmts, py.BoolOp(py.And(), [first, test])
        if isinstance(pattern, A.ComparisonPattern):
            raise self.error("A comparison pattern cannot be nested inside a list or map pattern",
                             pattern)
        return self.pattern_test(pattern, element)


def compile_program(program: A.Program, state: CompilerState,
                    filename: str | None = None) -> CompiledProgram:
    with collection_paused():
        return Compiler(state, filename).compile_program(program)
