"""The Zixir syntax tree.

Every node carries its source span: 1-based `line`/`column` of its first character and
`end_line`/`end_column` just past its last one (columns count characters). The parser builds
these nodes; the checker, the compiler and the language server read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class Node:
    line: int = field(default=0, kw_only=True)
    column: int = field(default=0, kw_only=True)
    end_line: int = field(default=0, kw_only=True)
    end_column: int = field(default=0, kw_only=True)

    @property
    def span(self) -> tuple[int, int, int, int]:
        return (self.line, self.column, self.end_line, self.end_column)


# ---- types (annotations; only the checker reads them) --------------------------------------


@dataclass(slots=True, eq=False)
class TypeName(Node):
    name: str  # Int, Float, Bool, String, Nil, Any or an alias


@dataclass(slots=True, eq=False)
class ListType(Node):
    element: TypeExpr


@dataclass(slots=True, eq=False)
class MapType(Node):
    value: TypeExpr


@dataclass(slots=True, eq=False)
class FunctionType(Node):
    params: list[TypeExpr]
    result: TypeExpr


TypeExpr = (
    TypeName | ListType | MapType | FunctionType
)


# ---- expressions -----------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class IntLit(Node):
    value: int


@dataclass(slots=True, eq=False)
class FloatLit(Node):
    value: float


@dataclass(slots=True, eq=False)
class StrLit(Node):
    value: str


@dataclass(slots=True, eq=False)
class Interpolation(Node):
    """`"total: #{n + 1}"`: literal pieces (StrLit, spanning their source text including the
    quote, `#{` and `}` around them) alternating with the embedded expressions."""

    parts: list[Expr]


@dataclass(slots=True, eq=False)
class BoolLit(Node):
    value: bool


@dataclass(slots=True, eq=False)
class NilLit(Node):
    pass


@dataclass(slots=True, eq=False)
class Name(Node):
    name: str


@dataclass(slots=True, eq=False)
class Spread(Node):
    """`...rest` inside a list pattern."""

    name: str


@dataclass(slots=True, eq=False)
class ListLit(Node):
    items: list[Expr]


@dataclass(slots=True, eq=False)
class MapEntry(Node):
    key: str
    value: Expr


@dataclass(slots=True, eq=False)
class MapLit(Node):
    entries: list[MapEntry]


@dataclass(slots=True, eq=False)
class Unary(Node):
    op: str  # '-', 'not' ('!' is normalised to 'not')
    operand: Expr


@dataclass(slots=True, eq=False)
class Binary(Node):
    op: str  # + - * / % ** == != < > <= >= ..
    left: Expr
    right: Expr


@dataclass(slots=True, eq=False)
class Logical(Node):
    op: str  # 'and' | 'or' ('&&' and '||' are normalised)
    left: Expr
    right: Expr


@dataclass(slots=True, eq=False)
class Call(Node):
    callee: Expr
    args: list[Expr]


@dataclass(slots=True, eq=False)
class Index(Node):
    target: Expr
    index: Expr


@dataclass(slots=True, eq=False)
class Field(Node):
    target: Expr
    name: str


@dataclass(slots=True, eq=False)
class EngineRef(Node):
    """`engine.op` used as a value rather than called."""

    op: str


@dataclass(slots=True, eq=False)
class EngineCall(Node):
    op: str
    args: list[Expr]


@dataclass(slots=True, eq=False)
class MemoryCall(Node):
    op: str  # put | get | delete | keys
    args: list[Expr]


@dataclass(slots=True, eq=False)
class WorkflowCall(Node):
    op: str  # run | step | map | dag | approval
    args: list[Expr]


@dataclass(slots=True, eq=False)
class AgentCall(Node):
    op: str  # start | call | stop | list | status
    args: list[Expr]


@dataclass(slots=True, eq=False)
class KeywordArg(Node):
    name: str
    value: Expr


@dataclass(slots=True, eq=False)
class PythonCall(Node):
    module: str
    function: str
    args: list[Expr]
    kwargs: list[KeywordArg]


@dataclass(slots=True, eq=False)
class Param(Node):
    name: str
    type: TypeExpr | None = None


@dataclass(slots=True, eq=False)
class Block(Node):
    body: list[Stmt]


@dataclass(slots=True, eq=False)
class Lambda(Node):
    params: list[Param]
    result_type: TypeExpr | None
    body: Block


@dataclass(slots=True, eq=False)
class If(Node):
    condition: Expr
    then: Block
    otherwise: Block | None  # an `else if` chain is a Block holding one If


@dataclass(slots=True, eq=False)
class MatchArm(Node):
    pattern: Pattern
    guard: Expr | None
    body: Block


@dataclass(slots=True, eq=False)
class Match(Node):
    subject: Expr
    arms: list[MatchArm]


@dataclass(slots=True, eq=False)
class For(Node):
    var: str
    var_node: Name
    iterable: Expr
    body: Block


@dataclass(slots=True, eq=False)
class While(Node):
    condition: Expr
    body: Block


@dataclass(slots=True, eq=False)
class Comprehension(Node):
    element: Expr
    var: str
    var_node: Name
    iterable: Expr
    condition: Expr | None


@dataclass(slots=True, eq=False)
class RescueClause(Node):
    """`rescue NAME [if GUARD] BODY`: NAME is bound to the error map inside GUARD and BODY."""

    name: str
    name_node: Name
    guard: Expr | None
    body: Block


@dataclass(slots=True, eq=False)
class Try(Node):
    """`try BODY rescue ...`: the body's value, or the first applying clause's value."""

    body: Block
    rescues: list[RescueClause]


@dataclass(slots=True, eq=False)
class Return(Node):
    value: Expr | None


@dataclass(slots=True, eq=False)
class Break(Node):
    pass


@dataclass(slots=True, eq=False)
class Continue(Node):
    pass


Expr = (
    IntLit | FloatLit | StrLit | Interpolation | BoolLit | NilLit | Name | ListLit | MapLit | Unary | Binary |
    Logical | Call | Index | Field | EngineRef | EngineCall | MemoryCall | WorkflowCall |
    AgentCall | PythonCall | Lambda | If | Match | For | While | Comprehension | Return | Break |
    Continue | Block | Try
)


# ---- patterns ----------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class LiteralPattern(Node):
    value: Expr  # IntLit, FloatLit, StrLit, BoolLit, NilLit


@dataclass(slots=True, eq=False)
class WildcardPattern(Node):
    pass


@dataclass(slots=True, eq=False)
class BindPattern(Node):
    name: str


@dataclass(slots=True, eq=False)
class ListPattern(Node):
    items: list[Pattern]
    rest: str | None = None  # name after `...`; '_' discards; None: exact length
    rest_node: Node | None = None


@dataclass(slots=True, eq=False)
class MapPattern(Node):
    entries: list[tuple[str, Pattern]]


@dataclass(slots=True, eq=False)
class ComparisonPattern(Node):
    """A pattern written as a comparison (`x < 3`): a guard evaluated in the enclosing scope."""

    test: Expr


Pattern = (
    LiteralPattern | WildcardPattern | BindPattern | ListPattern | MapPattern |
    ComparisonPattern
)


# ---- statements --------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Let(Node):
    name: str
    name_node: Name
    type: TypeExpr | None
    value: Expr
    public: bool = False


@dataclass(slots=True, eq=False)
class Assign(Node):
    name: str
    name_node: Name
    op: str  # '=', '+=', '-=', '*=', '/=', '%='
    value: Expr


@dataclass(slots=True, eq=False)
class FnDef(Node):
    name: str
    name_node: Name
    params: list[Param]
    result_type: TypeExpr | None
    body: Block
    public: bool = False


@dataclass(slots=True, eq=False)
class TypeAlias(Node):
    name: str
    name_node: Name
    type: TypeExpr


@dataclass(slots=True, eq=False)
class Import(Node):
    path: str
    alias: str | None


@dataclass(slots=True, eq=False)
class ExprStmt(Node):
    expr: Expr


Stmt = (
    Let | Assign | FnDef | TypeAlias | Import | ExprStmt
)


@dataclass(slots=True, eq=False)
class Program(Node):
    body: list[Stmt]
    source: str = ""
    filename: str | None = None


def walk(node: object):
    """Yield `node` and every node below it, depth first, in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Node):
            yield current
            children = []
            for name in current.__slots__:
                children.append(getattr(current, name, None))
            stack.extend(reversed(children))
        elif isinstance(current, (list, tuple)):
            stack.extend(reversed(current))
