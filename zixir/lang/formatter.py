"""Source text -> the same program in the canonical layout (`zixir fmt`).

    source ──parse──────────> Program ──┐
    source ──lex (comments)─> tokens ───┼──> _Printer ──> text
                              comments ─┘

The tree says what the program means; the tokens fill in what the tree forgets: how a number
was spelled, `!` or `not`, `&&` or `and`, which block syntax a body used, whether a call was
written as a pipe. Comments are not in the tree: each is placed by its position, before the
statement it preceded or at the end of the line it ended.

Every node prints in one line when it fits in WIDTH columns and has no block that needs lines
of its own; otherwise it breaks in the way its kind allows (one element per line for brackets,
before `|>` for pipes, after the operator for long operator chains, an indented block for a
`:` body). Parentheses are printed where precedence needs them and nowhere else.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable

from . import ast as A
from .lexer import Comment, Token, tokenize_with_comments
from .parser import parse

WIDTH = 100
STEP = 2  # spaces per indentation level
_END = (1 << 62, 0)  # a position after every other

_ESCAPES_OUT = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0", "\\": "\\\\", '"': '\\"'}

# binding power of each binary operator; a compound expression (if, match, lambda, ...) is 0
_PRECEDENCE = {"or": 2, "and": 3, "==": 4, "!=": 4, "<": 4, ">": 4, "<=": 4, ">=": 4, "..": 5,
               "+": 6, "-": 6, "*": 7, "/": 7, "%": 7, "**": 8.5}
_PIPE, _COMPARISON, _UNARY, _POSTFIX, _ATOM = 1, 4, 8, 9, 10
_COMPOUND = (A.If, A.Match, A.For, A.While, A.Lambda, A.Return, A.Try)
_CALLS = (A.Call, A.EngineCall, A.MemoryCall, A.WorkflowCall, A.AgentCall, A.PythonCall)


def format_source(source: str, filename: str | None = None) -> str:
    """The canonical layout of `source`. Raises `ZixirSyntaxError` if it does not parse."""
    program = parse(source, filename)
    tokens, comments = tokenize_with_comments(source, filename)
    return _Printer(source, tokens, comments).program(program)


def quote(text: str) -> str:
    """A string literal for `text` with the canonical escapes."""
    out = ['"']
    for i, ch in enumerate(text):
        if ch == "#" and text.startswith("#{", i):
            out.append("\\#")  # not an interpolation
        elif ch in _ESCAPES_OUT:
            out.append(_ESCAPES_OUT[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{{{ord(ch):X}}}")
    out.append('"')
    return "".join(out)


class _NotFlat(Exception):
    """The node needs more than one line whatever the width."""


def _fits(text: str, col: int) -> bool:
    lines = text.split("\n")
    return col + len(lines[0]) <= WIDTH and all(len(line) <= WIDTH for line in lines[1:])


def _after(text: str, col: int) -> int:
    """The column reached after writing `text` from column `col`."""
    newline = text.rfind("\n")
    return col + len(text) if newline < 0 else len(text) - newline - 1


def _start(node: A.Node) -> tuple[int, int]:
    return (node.line, node.column)


def _end(node: A.Node) -> tuple[int, int]:
    return (node.end_line, node.end_column)


class _Printer:
    def __init__(self, source: str, tokens: list[Token], comments: list[Comment]) -> None:
        self.lines = source.split("\n")
        self.tokens = tokens
        self.starts = [(t.line, t.column) for t in tokens]
        self.index_at = {pos: i for i, pos in enumerate(self.starts) if tokens[i].kind != "eof"}
        self.numbers = {(t.end_line, t.end_column): t for t in tokens
                        if t.kind in ("int", "float")}
        self.comments = comments
        self.taken = [False] * len(comments)
        self.flat_memo: dict[int, str | None] = {}
        self.brace_guard: set[int] = set()  # empty maps that must print as `({})`

    # ---- source facts ------------------------------------------------------------------------

    def _token_at(self, pos: tuple[int, int]) -> int | None:
        return self.index_at.get(pos)

    def _next_token(self, pos: tuple[int, int]) -> Token:
        """The first token starting at or after `pos`."""
        return self.tokens[min(bisect_left(self.starts, pos), len(self.tokens) - 1)]

    def _char_at(self, line: int, column: int) -> str:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return text[column - 1] if 0 < column <= len(text) else ""

    def _style(self, block: A.Block) -> str:
        """How the source wrote a body: brace, colon (inline), colon_multi, then, bare, arrow.

        `{KEY: ...}` as a body is a map statement; it prints as a brace block holding it."""
        i = self._token_at(_start(block))
        if i is None:
            return "brace"
        tok = self.tokens[i]
        if tok.is_op("{") and not (block.body and _start(block.body[0]) == _start(block)):
            return "brace"
        prev = self.tokens[i - 1] if i > 0 else tok
        if prev.is_op(":"):
            return "colon_multi" if tok.newline_before else "colon"
        if prev.is_keyword("then"):
            return "then"
        if prev.is_keyword("else"):
            return "bare"
        if prev.is_op("=>", "->"):
            return "arrow"
        return "brace"

    def _is_pipe(self, node: A.Node) -> bool:
        """`a |> f(b)` parses as `f(a, b)` starting where `a` starts; a written call starts at
        its callee, before its first argument."""
        return (isinstance(node, _CALLS) and bool(node.args)
                and _start(node) == _start(node.args[0]))

    def _negative_literal(self, node: A.Node) -> bool:
        if not isinstance(node, (A.IntLit, A.FloatLit)):
            return False
        tok = self.numbers.get(_end(node))
        if tok is None:
            return node.value < 0
        if isinstance(node.value, float):
            return math.copysign(1.0, node.value) != math.copysign(1.0, tok.value)
        return node.value != tok.value

    def _precedence(self, node: A.Node) -> int:
        if isinstance(node, (A.Binary, A.Logical)):
            return _PRECEDENCE[node.op]
        if isinstance(node, _COMPOUND):
            return 0
        if self._is_pipe(node):
            return _PIPE
        if isinstance(node, A.Unary) or self._negative_literal(node):
            return _UNARY
        if isinstance(node, (*_CALLS, A.Index, A.Field)):
            return _POSTFIX
        return _ATOM

    def _open_if(self, node: A.Node) -> bool:
        """Does `node`, printed on one line, end with an `if` that has no `else` (which would
        take an `else` that follows as its own)?"""
        return self._open_tail(node, "if")

    def _open_try(self, node: A.Node) -> bool:
        """Does `node`, printed on one line, end with a `try` (which would take a `rescue`
        that follows as one of its own clauses)?"""
        return self._open_tail(node, "try")

    def _open_tail(self, node: A.Node, word: str) -> bool:
        while True:
            if isinstance(node, A.ExprStmt):
                node = node.expr
                continue
            if isinstance(node, (A.Let, A.Assign)):
                node = node.value
                continue
            if isinstance(node, A.Return):
                if node.value is None:
                    return False
                node = node.value
                continue
            if isinstance(node, A.If):
                if node.otherwise is None:
                    if word == "if":
                        return True
                    block = node.then
                else:
                    block = node.otherwise
            elif isinstance(node, A.Try):
                if word == "try":
                    return True
                block = node.rescues[-1].body
            elif isinstance(node, (A.Lambda, A.For, A.While, A.FnDef)):
                block = node.body
            else:
                return False
            if not block.body or self._style(block) in ("brace", "colon_multi"):
                return False
            node = block.body[-1]

    def _guard_leading_brace(self, stmt: A.Stmt) -> None:
        """After `=>` or `else`, `{}` would open a block: an empty map there needs parens."""
        node: A.Node = stmt
        while True:
            if isinstance(node, A.ExprStmt):
                node = node.expr
            elif isinstance(node, (A.Binary, A.Logical)):
                node = node.left
            elif self._is_pipe(node):
                node = node.args[0]
            elif isinstance(node, A.Call):
                node = node.callee
            elif isinstance(node, (A.Index, A.Field)):
                node = node.target
            else:
                break
        if isinstance(node, A.MapLit) and not node.entries:
            self.brace_guard.add(id(node))

    def _prepare(self, program: A.Program) -> None:
        for node in A.walk(program):
            if isinstance(node, A.Lambda) and self._style(node.body) == "arrow":
                bodies = node.body.body
            elif isinstance(node, A.If) and node.otherwise is not None and self._style(
                    node.otherwise) == "bare":
                bodies = node.otherwise.body
            elif isinstance(node, A.MatchArm) and self._style(node.body) != "brace":
                bodies = node.body.body
            else:
                continue
            if len(bodies) == 1:
                self._guard_leading_brace(bodies[0])

    # ---- comments ------------------------------------------------------------------------------

    def _take_before(self, pos: tuple[int, int], min_column: int = 0,
                     own_line_only: bool = False) -> list[Comment]:
        found = []
        for i, comment in enumerate(self.comments):
            if (comment.line, comment.column) >= pos:
                break
            if (not self.taken[i] and comment.column >= min_column
                    and (comment.own_line or not own_line_only)):
                self.taken[i] = True
                found.append(comment)
        return found

    def _take_trailing(self, line: int, limit: tuple[int, int]) -> Comment | None:
        for i, comment in enumerate(self.comments):
            if (comment.line == line and not comment.own_line and not self.taken[i]
                    and (comment.line, comment.column) < limit):
                self.taken[i] = True
                return comment
        return None

    def _has_comment_within(self, node: A.Node) -> bool:
        return any(_start(node) < (c.line, c.column) < _end(node) for c in self.comments)

    def _blank_between(self, after_line: int, before_line: int) -> bool:
        return any(not self.lines[n - 1].strip() for n in range(after_line + 1, before_line)
                   if 0 < n <= len(self.lines))

    # ---- lines of statements -------------------------------------------------------------------

    def program(self, program: A.Program) -> str:
        self._prepare(program)
        text = self._items(program.body, 0, _END, self.statement, top=True)
        return text + "\n" if text else ""

    def _items(self, nodes: list, indent: int, end: tuple[int, int],
               render: Callable[[A.Node, int], str], top: bool = False,
               tail_column: int = 0, open_end: bool = False) -> str:
        """Statements (or match arms) one per line, with the comments around them.

        `end` is where the enclosing construct ends (its closing brace, or the next token);
        own-line comments before it, at or right of `tail_column`, stay at the end of the block.
        `open_end`: something may follow the last line (`)` after an indented lambda body), so
        comments after the last statement are left to the enclosing statement."""
        pad = " " * indent
        out: list[str] = []
        last_line: int | None = None
        previous_fn = False

        def put(first_line: int, text_lines: list[str], force_blank: bool = False) -> None:
            nonlocal last_line
            if out and (force_blank or (last_line is not None
                                        and self._blank_between(last_line, first_line))):
                out.append("")
            out.extend(text_lines)

        joinable = [False]  # did the previous statement end its line with nothing after it?
        statements = render == self.statement  # (match arms are never joined)
        for i, node in enumerate(nodes):
            # a blank line around top-level functions, except between one-line ones
            is_fn = top and isinstance(node, A.FnDef) and node.line != node.end_line
            separate = top and (is_fn or previous_fn)
            for comment in self._take_before(_start(node)):
                put(comment.line, [pad + comment.text], separate)
                separate = False
                last_line = comment.line
            text = render(node, indent)
            orphans = self._take_before(_end(node))
            is_last = i == len(nodes) - 1
            limit = end if is_last else _start(nodes[i + 1])
            trailing = None
            if not (open_end and is_last):
                trailing = self._take_trailing(node.end_line, limit)
            if trailing is not None:
                text += " " + trailing.text
            lines = [pad + c.text for c in orphans] + [pad + line if j == 0 else line
                                                        for j, line in enumerate(
                                                            text.split("\n"))]
            joined = statements and out and i > 0 and not orphans and not separate and "\n" not in text \
                and nodes[i - 1].end_line == node.line and joinable[0] \
                and len(out[-1]) + 2 + len(text) <= WIDTH
            if joined:  # `a(); b()` written on one line stays on it
                out[-1] += "; " + text
            else:
                put(node.line, lines, separate)
            joinable[0] = "\n" not in text and trailing is None
            last_line = node.end_line
            previous_fn = is_fn
        for comment in [] if open_end else self._take_before(end, tail_column, True):
            put(comment.line, [pad + comment.text])
            last_line = comment.line
        return "\n".join(out)

    def statement(self, stmt: A.Stmt, indent: int) -> str:
        return self.stmt(stmt, indent, indent, False)

    def stmt(self, s: A.Stmt, indent: int, col: int, flat: bool) -> str:
        if isinstance(s, A.ExprStmt):
            return self.expr(s.expr, indent, col, 0, flat)
        if isinstance(s, A.Let):
            head = ("pub " if s.public else "") + "let " + s.name
            if s.type is not None:
                head += ": " + self.type_expr(s.type)
            head += " = "
            return head + self.expr(s.value, indent, col + len(head), 0, flat)
        if isinstance(s, A.Assign):
            head = f"{s.name} {s.op} "
            return head + self.expr(s.value, indent, col + len(head), 0, flat)
        if isinstance(s, A.FnDef):
            head = ("pub " if s.public else "") + f"fn {s.name}({self.params(s.params)})"
            if s.result_type is not None:
                head += " -> " + self.type_expr(s.result_type)
            return head + self.body(s.body, self._style(s.body), indent, col + len(head), flat)
        if isinstance(s, A.TypeAlias):
            return f"type {s.name} = {self.type_expr(s.type)}"
        if isinstance(s, A.Import):
            return "import " + quote(s.path) + (f" as {s.alias}" if s.alias else "")
        return self.expr(s, indent, col, 0, flat)  # `else if`: the block holds the `if` itself

    def params(self, params: list[A.Param]) -> str:
        return ", ".join(p.name + (": " + self.type_expr(p.type) if p.type else "")
                         for p in params)

    def type_expr(self, t: A.TypeExpr) -> str:
        if isinstance(t, A.TypeName):
            return t.name
        if isinstance(t, A.ListType):
            return "[" + self.type_expr(t.element) + "]"
        if isinstance(t, A.MapType):
            return "{" + self.type_expr(t.value) + "}"
        return ("(" + ", ".join(self.type_expr(p) for p in t.params) + ") -> "
                + self.type_expr(t.result))

    # ---- bodies ----------------------------------------------------------------------------------

    def body(self, block: A.Block, style: str, indent: int, col: int, flat: bool) -> str:
        """A body as it follows its header: ` {...}`, `: x`, `:` and lines, ` then x`, ` x`."""
        if style == "brace":
            one_line = self._one_line_braces(block)
            if one_line is not None and (flat or col + len(one_line) <= WIDTH):
                return one_line  # `{ a; b }` written on one line stays on one line
            if flat:
                if block.body or self._has_comment_within(block):
                    raise _NotFlat
                return " {}"
            closing = (block.end_line, block.end_column - 1)
            if block.body and _start(block.body[0]) == _start(block):
                closing = _end(block)  # a `{KEY: ...}` map body has no closing brace of its own
            inner = self._items(block.body, indent + STEP, closing, self.statement)
            return " {\n" + inner + "\n" + " " * indent + "}" if inner else " {}"
        if style in ("then", "bare"):
            word = " then " if style == "then" else " "
            return word + self.stmt(block.body[0], indent, col + len(word), flat)
        if style == "colon":
            text = self._try_flat_stmt(block.body[0])
            if text is not None and (flat or col + 2 + len(text) <= WIDTH):
                return ": " + text
        if flat:
            raise _NotFlat
        return ":\n" + self._indented(block, indent + STEP)

    def _one_line_braces(self, block: A.Block) -> str | None:
        """` { a; b }` if the source wrote this brace body on one line, else None."""
        if (not block.body or block.line != block.end_line or self._has_comment_within(block)
                or _start(block.body[0]) == _start(block)):  # a `{KEY: ...}` map body
            return None
        parts = []
        for stmt in block.body:
            text = self._try_flat_stmt(stmt)
            if text is None or "\n" in text:
                return None
            parts.append(text)
        return " { " + "; ".join(parts) + " }"

    def _indented(self, block: A.Block, indent: int) -> str:
        following = self._next_token(_end(block))
        return self._items(block.body, indent, (following.line, following.column),
                           self.statement, tail_column=block.column, open_end=True)

    def _try_flat_stmt(self, s: A.Stmt) -> str | None:
        try:
            return self.stmt(s, 0, 0, True)
        except _NotFlat:
            return None

    # ---- expressions -------------------------------------------------------------------------

    def expr(self, e: A.Expr, indent: int, col: int, min_prec: int = 0,
             flat: bool = False) -> str:
        if self._precedence(e) < min_prec:
            return "(" + self.expr(e, indent, col + 1, 0, flat) + ")"
        text = self.flat(e)
        if flat:
            if text is None:
                raise _NotFlat
            return text
        if text is not None and col + len(text) <= WIDTH:
            return text
        return self._render(e, indent, col, False)

    def flat(self, e: A.Expr) -> str | None:
        key = id(e)
        if key not in self.flat_memo:
            try:
                self.flat_memo[key] = self._render(e, 0, 0, True)
            except _NotFlat:
                self.flat_memo[key] = None
        return self.flat_memo[key]

    def _render(self, e: A.Expr, indent: int, col: int, flat: bool) -> str:
        if self._is_pipe(e):
            return self._pipe(e, indent, col, flat)
        method = getattr(self, "_" + type(e).__name__)
        return method(e, indent, col, flat)

    def _snapshot(self) -> list[bool]:
        return list(self.taken)

    def _restore(self, snapshot: list[bool]) -> None:
        self.taken = snapshot

    # literals and names

    def _number(self, e, indent, col, flat) -> str:
        tok = self.numbers.get(_end(e))
        if tok is None:  # pragma: no cover - every number literal ends with its token
            return repr(e.value)
        return ("-" if self._negative_literal(e) else "") + tok.text

    _IntLit = _FloatLit = _number

    def _StrLit(self, e, indent, col, flat) -> str:
        i = self._token_at(_start(e))
        if i is not None and self.tokens[i].kind == "string":
            return self._literal(self.tokens[i], e.value)
        return quote(e.value)

    def _literal(self, span, value: str) -> str:
        """A string literal (or a piece of one) as written, escapes and raw newlines kept;
        requoted only where a raw line would end in whitespace, which no layout keeps."""
        text = self._source(span)
        lines = text.split("\n")
        if all(line == line.rstrip() for line in lines[:-1]):
            return text
        closer = '"' if text.endswith('"') and len(text) > 1 else "#{"
        return text[0] + quote(value)[1:-1] + closer

    def _source(self, span) -> str:
        """The source text from `span`'s start to its end (a token or a node)."""
        if span.line == span.end_line:
            return self.lines[span.line - 1][span.column - 1:span.end_column - 1]
        parts = [self.lines[span.line - 1][span.column - 1:]]
        parts += self.lines[span.line:span.end_line - 1]
        parts.append(self.lines[span.end_line - 1][:span.end_column - 1])
        return "\n".join(parts)

    def _Interpolation(self, e, indent, col, flat) -> str:
        """The literal pieces as written (each spans its quote or `}` to its `#{` or quote);
        the embedded expressions in canonical layout, on one line."""
        out = []
        for part in e.parts:
            if isinstance(part, A.StrLit):
                out.append(self._literal(part, part.value))
            else:
                text = self.flat(part)
                out.append(text if text is not None else self._source(part))
        return "".join(out)

    def _BoolLit(self, e, indent, col, flat) -> str:
        return "true" if e.value else "false"

    def _NilLit(self, e, indent, col, flat) -> str:
        return "nil"

    def _Name(self, e, indent, col, flat) -> str:
        return e.name

    def _Break(self, e, indent, col, flat) -> str:
        return "break"

    def _Continue(self, e, indent, col, flat) -> str:
        return "continue"

    def _EngineRef(self, e, indent, col, flat) -> str:
        return f"engine.{e.op}"

    # brackets

    def _seq(self, opener: str, items: list, closer: str, indent: int, col: int,
             flat: bool, node: A.Node | None = None) -> str:
        """Items between brackets: on one line, hugging a last item that needs lines, or one
        per line with a trailing comma. Written one per line with a trailing comma, or with
        comments among them, they stay one per line (the comments where they were)."""
        if node is not None and items and ((self._has_comment_within(node)
                                            and isinstance(node, (A.ListLit, A.MapLit))) or (
                node.line != node.end_line and self._trailing_comma(node))):
            if flat:
                raise _NotFlat
            return self._seq_lines(opener, items, closer, indent, node)
        if flat or not items:
            return opener + ", ".join(self._item(it, 0, 0, True) for it in items) + closer
        flats = [self._try(lambda it=it: self._item(it, 0, 0, True)) for it in items]
        if all(f is not None for f in flats):
            text = opener + ", ".join(flats) + closer
            if col + len(text) <= WIDTH:
                return text
            if node is not None and node.line != node.end_line:
                written = self._seq_as_written(opener, items, flats, closer, col)
                if written is not None:
                    return written
        hug_written = node is not None and node.line != node.end_line
        if all(f is not None for f in flats[:-1]) and (flats[-1] is None or hug_written):
            prefix = opener + "".join(f + ", " for f in flats[:-1])
            if col + len(prefix) <= WIDTH:
                snapshot = self._snapshot()
                text = prefix + self._item(items[-1], indent, col + len(prefix), False) + closer
                if _fits(text, col):
                    return text
                self._restore(snapshot)
        inner = indent + STEP
        lines = [opener]
        for it in items:
            lines.append(" " * inner + self._item(it, inner, inner, False) + ",")
        lines.append(" " * indent + closer)
        return "\n".join(lines)

    def _seq_as_written(self, opener: str, items: list, flats: list[str], closer: str,
                        col: int) -> str | None:
        """Items that do not fit on one line, broken where the source broke them, each line
        after the first aligned just inside the opening bracket; None if a line is too long."""
        pad = " " * (col + len(opener))
        lines = [opener + flats[0]]
        for previous, it, text in zip(items, items[1:], flats[1:], strict=False):
            if it.line > previous.end_line:
                lines[-1] += ","
                lines.append(pad + text)
            else:
                lines[-1] += ", " + text
        lines[-1] += closer
        if len(lines) == 1 or not _fits("\n".join(lines), col):
            return None
        return "\n".join(lines)

    def _trailing_comma(self, node: A.Node) -> bool:
        """Does a `,` come right before the closing bracket that ends `node`?"""
        i = self._token_at((node.end_line, node.end_column - 1))
        return i is not None and i > 0 and self.tokens[i - 1].is_op(",")

    def _seq_lines(self, opener: str, items: list, closer: str, indent: int,
                   node: A.Node) -> str:
        inner = indent + STEP
        closing = (node.end_line, node.end_column - 1)
        lines = [opener]
        for k, it in enumerate(items):
            for comment in self._take_before(_start(it)):
                lines.append(" " * inner + comment.text)
            text = " " * inner + self._item(it, inner, inner, False) + ","
            limit = _start(items[k + 1]) if k + 1 < len(items) else closing
            trailing = self._take_trailing(it.end_line, limit)
            if trailing is not None:
                text += " " + trailing.text
            lines.append(text)
        for comment in self._take_before(closing):
            lines.append(" " * inner + comment.text)
        lines.append(" " * indent + closer)
        return "\n".join(lines)

    def _try(self, make: Callable[[], str]) -> str | None:
        try:
            return make()
        except _NotFlat:
            return None

    def _item(self, it, indent: int, col: int, flat: bool) -> str:
        if isinstance(it, A.MapEntry):
            key = quote(it.key) if self._char_at(it.line, it.column) == '"' else it.key
            return key + ": " + self.expr(it.value, indent, col + len(key) + 2, 0, flat)
        if isinstance(it, A.KeywordArg):
            return it.name + ": " + self.expr(it.value, indent, col + len(it.name) + 2, 0, flat)
        return self.expr(it, indent, col, 0, flat)

    def _ListLit(self, e, indent, col, flat) -> str:
        return self._seq("[", e.items, "]", indent, col, flat, e)

    def _MapLit(self, e, indent, col, flat) -> str:
        if not e.entries and id(e) in self.brace_guard:
            return "({})"
        return self._seq("{", e.entries, "}", indent, col, flat, e)

    def _Comprehension(self, e, indent, col, flat) -> str:
        text = "[" + self.expr(e.element, indent, col + 1, _PIPE, flat) + f" for {e.var} in "
        text += self.expr(e.iterable, indent, _after(text, col), _PIPE, flat)
        if e.condition is not None:
            text += " if "
            text += self.expr(e.condition, indent, _after(text, col), _PIPE, flat)
        return text + "]"

    # operators

    def _Unary(self, e, indent, col, flat) -> str:
        if e.op == "-":
            op = "-"
        else:
            op = "!" if self._char_at(e.line, e.column) == "!" else "not "
        return op + self.expr(e.operand, indent, col + len(op), _UNARY, flat)

    def _operator_spelling(self, e) -> str:
        if isinstance(e, A.Logical):
            i = bisect_left(self.starts, _end(e.left))
            while i < len(self.tokens) and self.tokens[i].text not in (
                    "and", "or", "&&", "||"):
                i += 1
            if i < len(self.tokens) and self.tokens[i].text in ("&&", "||"):
                return "&&" if e.op == "and" else "||"
        return e.op

    def _Binary(self, e, indent, col, flat) -> str:
        prec = _PRECEDENCE[e.op]
        op = self._operator_spelling(e)
        sep = op if op == ".." else f" {op} "
        if not flat and self.flat(e) is not None and op not in ("..", "**"):
            return self._operator_chain(e, indent, col)
        # `**` is right-associative, its base a postfix expression, its exponent a unary one;
        # a comparison inside a comparison keeps its parentheses (`(a < b) == c` would read
        # as a chain without them, and comparisons do not chain)
        left_prec, right_prec = ((_POSTFIX, _UNARY) if op == "**" else
                                 (prec + 1, prec + 1) if prec == _COMPARISON else
                                 (prec, prec + 1))
        left = self.expr(e.left, indent, col, left_prec, flat)
        right = self.expr(e.right, indent, _after(left, col) + len(sep), right_prec, flat)
        return left + sep + right

    _Logical = _Binary

    def _operator_chain(self, e, indent: int, col: int) -> str:
        """A chain of one precedence too long for its line: break after each operator."""
        prec = _PRECEDENCE[e.op]
        operands, ops = [e.right], [self._operator_spelling(e)]
        left = e.left
        while (isinstance(left, (A.Binary, A.Logical)) and _PRECEDENCE[left.op] == prec
               and left.op != ".." and prec != _COMPARISON):
            operands.append(left.right)
            ops.append(self._operator_spelling(left))
            left = left.left
        operands.append(left)
        operands.reverse()
        ops.reverse()
        inner = indent + STEP
        text = self.expr(operands[0], indent, col, prec + (prec == _COMPARISON))
        for op, operand in zip(ops, operands[1:], strict=True):
            text += f" {op}\n" + " " * inner
            text += self.expr(operand, inner, inner, prec + 1)
        return text

    def _pipe(self, e, indent, col, flat) -> str:
        stages = []
        value = e
        while self._is_pipe(value):
            stages.append(value)
            value = value.args[0]
        stages.reverse()
        if flat and self._pipe_written_on_lines(stages):
            raise _NotFlat  # the source put stages on lines of their own: keep them there
        head = self.expr(value, indent, col, _PIPE, flat)
        if flat:
            return head + "".join(" |> " + self._stage(s, 0, 0, True) for s in stages)
        if self.flat(e) is None and not self._pipe_written_on_lines(stages):
            # a stage needs lines: keep the chain on its line if it fits
            snapshot = self._snapshot()
            text = head
            for stage in stages:
                text += " |> "
                text += self._stage(stage, indent, _after(text, col), False)
            if _fits(text, col):
                return text
            self._restore(snapshot)
        inner = indent + STEP
        text = head
        for stage in stages:
            text += "\n" + " " * inner + "|> " + self._stage(stage, inner, inner + 3, False)
        return text

    def _pipe_written_on_lines(self, stages: list) -> bool:
        """Does a `|>` of this chain start a line in the source?"""
        for stage in stages:
            i = bisect_left(self.starts, _end(stage.args[0]))
            while i < len(self.tokens) and not self.tokens[i].is_op("|>"):
                i += 1
            if i < len(self.tokens) and self.tokens[i].newline_before:
                return True
        return False

    def _stage(self, call, indent: int, col: int, flat: bool) -> str:
        """The right side of a `|>`: the call without its first argument."""
        if isinstance(call, A.Call) and _end(call) == _end(call.callee):
            return self.expr(call.callee, indent, col, 2, flat)  # `a |> f`
        return self._call(call, call.args[1:], indent, col, flat)

    # calls

    def _call(self, e, args: list, indent: int, col: int, flat: bool) -> str:
        if isinstance(e, A.Call):
            head = self.expr(e.callee, indent, col, _POSTFIX, flat)
        elif isinstance(e, A.EngineCall):
            head = f"engine.{e.op}"
        elif isinstance(e, A.MemoryCall):
            head = f"memory.{e.op}"
        elif isinstance(e, A.WorkflowCall):
            head = f"workflow.{e.op}"
        elif isinstance(e, A.AgentCall):
            head = f"agent.{e.op}"
        else:
            head = f"python {quote(e.module)} {quote(e.function)} "
            args = list(args) + list(e.kwargs)
        return head + self._seq("(", args, ")", indent, _after(head, col), flat,
                                e if not self._is_pipe(e) else None)

    def _Call(self, e, indent, col, flat) -> str:
        return self._call(e, e.args, indent, col, flat)

    _EngineCall = _MemoryCall = _WorkflowCall = _AgentCall = _PythonCall = _Call

    def _Index(self, e, indent, col, flat) -> str:
        target = self.expr(e.target, indent, col, _POSTFIX, flat)
        index = self.expr(e.index, indent, _after(target, col) + 1, 0, flat)
        return target + "[" + index + "]"

    def _Field(self, e, indent, col, flat) -> str:
        if isinstance(e.target, A.Name) and e.target.name in ("engine", "memory"):
            target = f"({e.target.name})"  # bare `engine.x` would mean the namespace
        else:
            target = self.expr(e.target, indent, col, _POSTFIX, flat)
        return target + "." + e.name

    # compound expressions

    def _Lambda(self, e, indent, col, flat) -> str:
        style = self._style(e.body)
        if style in ("arrow", "brace") and self._token_text(e) != "fn":
            one = len(e.params) == 1 and e.params[0].type is None
            head = (e.params[0].name if one else f"({self.params(e.params)})") + " =>"
            if style == "brace":
                return head + self.body(e.body, "brace", indent, col + len(head), flat)
            return head + " " + self.stmt(e.body.body[0], indent, col + len(head) + 1, flat)
        head = f"fn({self.params(e.params)})"
        if e.result_type is not None:
            head += " -> " + self.type_expr(e.result_type)
        return head + self.body(e.body, style, indent, col + len(head), flat)

    def _token_text(self, node: A.Node) -> str:
        i = self._token_at(_start(node))
        return self.tokens[i].text if i is not None else ""

    def _If(self, e, indent, col, flat) -> str:
        text = "if " + self.expr(e.condition, indent, col + 3, _PIPE, flat)
        then_style = self._style(e.then)
        if then_style == "bare":  # pragma: no cover - only an else body can be bare
            then_style = "colon"
        if (e.otherwise is not None and then_style in ("colon", "then")
                and self._open_if(e.then.body[-1])):
            then_style = "brace"
        then_text = self.body(e.then, then_style, indent, _after(text, col), flat)
        text += then_text
        if e.otherwise is None:
            return text
        if then_style == "brace" or "\n" not in then_text:
            text += " else"
        else:
            else_at = bisect_left(self.starts, _start(e.otherwise)) - 1
            while else_at > 0 and not self.tokens[else_at].is_keyword("else"):
                else_at -= 1
            trailing = self._take_trailing(e.then.end_line, self.starts[else_at])
            if trailing is not None:
                text += " " + trailing.text
            for comment in self._take_before(self.starts[else_at], e.then.column, True):
                text += "\n" + " " * (indent + STEP) + comment.text
            text += "\n" + " " * indent + "else"
        style = self._style(e.otherwise)
        return text + self.body(e.otherwise, style, indent, _after(text, col), flat)

    def _Try(self, e, indent, col, flat) -> str:
        blocks = [e.body] + [clause.body for clause in e.rescues]
        styles = [self._style(block) for block in blocks]
        for i, block in enumerate(blocks[:-1]):
            # an inline body ending in a `try` would take the next `rescue` as its own
            if styles[i] == "colon" and block.body and self._open_try(block.body[-1]):
                styles[i] = "brace"
        previous = self.body(e.body, styles[0], indent, _after("try", col), flat)
        text = "try" + previous
        for i, clause in enumerate(e.rescues):
            if styles[i] == "brace" or "\n" not in previous:
                text += " rescue"
            else:
                rescue_at = self.starts[self._token_at(_start(clause))]
                trailing = self._take_trailing(blocks[i].end_line, rescue_at)
                if trailing is not None:
                    text += " " + trailing.text
                for comment in self._take_before(rescue_at, blocks[i].column, True):
                    text += "\n" + " " * (indent + STEP) + comment.text
                text += "\n" + " " * indent + "rescue"
            text += " " + clause.name
            if clause.guard is not None:
                text += " if "
                text += self.expr(clause.guard, indent, _after(text, col), _PIPE, flat)
            previous = self.body(clause.body, styles[i + 1], indent, _after(text, col), flat)
            text += previous
        return text

    def _For(self, e, indent, col, flat) -> str:
        text = f"for {e.var} in " + self.expr(e.iterable, indent, col + len(e.var) + 8, _PIPE,
                                              flat)
        return text + self.body(e.body, self._style(e.body), indent, _after(text, col), flat)

    def _While(self, e, indent, col, flat) -> str:
        text = "while " + self.expr(e.condition, indent, col + 6, _PIPE, flat)
        return text + self.body(e.body, self._style(e.body), indent, _after(text, col), flat)

    def _Return(self, e, indent, col, flat) -> str:
        if e.value is None:
            return "return"
        return "return " + self.expr(e.value, indent, col + 7, 0, flat)

    def _Match(self, e, indent, col, flat) -> str:
        if flat:
            raise _NotFlat
        text = "match " + self.expr(e.subject, indent, col + 6, _PIPE)
        i = bisect_left(self.starts, _end(e.subject))
        while self.tokens[i].is_op(")"):
            i += 1
        opener = self.tokens[i]
        inner = indent + STEP
        if opener.is_op("{"):
            # arms end with a comma unless the source separated them by line breaks only
            # (an arm with a brace body never takes one, so only the others tell)
            told = [arm for arm in e.arms[:-1]
                    if not (self._style(arm.body) == "brace" or len(arm.body.body) != 1)]
            commas = not told or any(self._next_token(_end(arm)).is_op(",") for arm in told)
            arms = self._items(e.arms, inner, (e.end_line, e.end_column - 1),
                               lambda arm, ind: self._arm(arm, ind, commas))
            return text + " {\n" + arms + "\n" + " " * indent + "}"
        following = self._next_token(_end(e))
        arms = self._items(e.arms, inner, (following.line, following.column),
                           lambda arm, ind: self._arm(arm, ind, False),
                           tail_column=e.arms[0].column, open_end=True)
        return text + ":\n" + arms

    def _arm(self, arm: A.MatchArm, indent: int, comma: bool) -> str:
        text = self.pattern(arm.pattern)
        if arm.guard is not None:
            text += " if " + self.expr(arm.guard, indent, indent + len(text) + 4, _PIPE)
        arrow = self._next_token(_end(arm.guard if arm.guard is not None else arm.pattern))
        text += " ->" if arrow.is_op("->") else " =>"  # either spelling, as written
        if self._style(arm.body) == "brace" or len(arm.body.body) != 1:
            return text + self.body(arm.body, "brace", indent, indent + len(text), False)
        reserve = 1 if comma else 0  # the comma must fit on the line too
        text += " " + self.stmt(arm.body.body[0], indent, indent + len(text) + 1 + reserve, False)
        return text + ("," if comma else "")

    def pattern(self, p: A.Pattern) -> str:
        if isinstance(p, A.LiteralPattern):
            return self.expr(p.value, 0, 0, 0, True)
        if isinstance(p, A.WildcardPattern):
            return "_"
        if isinstance(p, A.BindPattern):
            return p.name
        if isinstance(p, A.ListPattern):
            items = [self.pattern(item) for item in p.items]
            if p.rest is not None:
                items.append("..." + p.rest)
            return "[" + ", ".join(items) + "]"
        if isinstance(p, A.MapPattern):
            return "{" + ", ".join(quote(k) + ": " + self.pattern(v) for k, v in p.entries) + "}"
        return self.expr(p.test, 0, 0, 0, True)
