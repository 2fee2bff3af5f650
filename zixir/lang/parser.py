"""Tokens -> syntax tree, by recursive descent.

Newlines: a token records whether a newline precedes it. Inside `( )`, `[ ]` and map literals
newlines mean nothing (`_nl` stack holds False); inside blocks a newline ends a statement unless
the line ends with an operator (the operand parser simply reads on) or the next line starts
with `else`, `|>` or `.`. Blocks opened by `:` and a newline follow the offside rule: their
statements start at the column of the first one; a line starting further left ends the block.

Every error is a `ZixirSyntaxError` at a precise position; at end of input, at the unclosed
bracket or the last token. Nesting depth is bounded so no input can exhaust the stack.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from . import ast as A
from .builtins import AGENT_MEMBERS, WORKFLOW_MEMBERS
from .collection import collection_paused
from .errors import ZixirSyntaxError
from .lexer import Token, tokenize

COMPARISON_OPS = ("==", "!=", "<", ">", "<=", ">=")
ASSIGN_OPS = ("=", "+=", "-=", "*=", "/=", "%=")
CLOSERS = (")", "]", "}", ",")
MEMORY_OPS = ("put", "get", "delete", "keys", "incr", "cas", "update")
MAX_NESTING = 400

#: binary operator -> (precedence level, loosest 0, node class, operator the node records)
_BINARY_LEVELS: dict[str, tuple[int, type, str]] = {}
for _level, (_ops, _cls) in enumerate([
        (("or", "||"), A.Logical), (("and", "&&"), A.Logical), (COMPARISON_OPS, A.Binary),
        (("..",), A.Binary), (("+", "-"), A.Binary), (("*", "/", "%"), A.Binary)]):
    for _op in _ops:
        _BINARY_LEVELS[_op] = (_level, _cls, {"||": "or", "&&": "and"}.get(_op, _op))
_OPERATOR_KINDS = ("op", "keyword")


class Parser:
    def __init__(self, source: str, filename: str | None = None) -> None:
        self.source = source
        self.filename = filename
        self.toks: list[Token] = tokenize(source, filename)
        self.i = 0
        self._nl: list[bool] = [True]  # are newlines significant here?
        self._indent: list[int] = [0]  # column of the enclosing offside block (0: none)
        self._depth = 0
        self._pattern_mode = False
        self._arrow_lambdas = True  # `x => ...` is a lambda (not inside match guards)
        self._match_pairs = self._pair_brackets()
        self._line_indent = self._first_columns()

    # ---- token helpers -------------------------------------------------------------------

    def _pair_brackets(self) -> dict[int, int]:
        pairs: dict[int, int] = {}
        stack: list[int] = []
        opening = {"(": ")", "[": "]", "{": "}"}
        for idx, tok in enumerate(self.toks):
            if tok.kind != "op":
                continue
            if tok.text in opening:
                stack.append(idx)
            elif tok.text in (")", "]", "}"):
                if stack and opening[self.toks[stack[-1]].text] == tok.text:
                    pairs[stack.pop()] = idx
        return pairs

    def _first_columns(self) -> dict[int, int]:
        first: dict[int, int] = {}
        for tok in self.toks:
            first.setdefault(tok.line, tok.column)
        return first

    def peek(self, offset: int = 0) -> Token:
        if not offset:  # `advance` never moves past the final `eof`
            return self.toks[self.i]
        idx = min(self.i + offset, len(self.toks) - 1)
        return self.toks[idx]

    def advance(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    @property
    def prev(self) -> Token:
        return self.toks[self.i - 1] if self.i > 0 else self.toks[0]

    def nl_significant(self) -> bool:
        return self._nl[-1]

    def breaks_line(self, tok: Token) -> bool:
        """Does a newline before `tok` end the current statement here?"""
        return tok.newline_before and self._nl[-1]

    def error(self, message: str, tok: Token | None = None,
              opener: Token | None = None) -> ZixirSyntaxError:
        tok = tok or self.peek()
        at_end = tok.kind == "eof"
        if at_end:
            tok = opener or (self.prev if self.i > 0 else tok)
        err = ZixirSyntaxError(message, tok.line, tok.column, filename=self.filename,
                               end_line=tok.end_line, end_column=max(tok.end_column,
                                                                     tok.column + 1))
        err.incomplete = at_end  # more input could fix it (the REPL reads another line)
        return err

    def unexpected(self, tok: Token | None = None) -> ZixirSyntaxError:
        tok = tok or self.peek()
        if tok.kind == "eof":
            return self.error("Unexpected end of input", tok)
        return self.error(f"Unexpected '{tok.describe()}'", tok)

    def expect_op(self, op: str, opener: Token | None = None, what: str | None = None) -> Token:
        tok = self.peek()
        if tok.is_op(op):
            return self.advance()
        message = f"Expected '{op}'"
        if what:
            message += f" {what}"
        if tok.kind != "eof":
            message += f", found '{tok.describe()}'"
        raise self.error(message, tok, opener)

    def expect_ident(self, after: str) -> Token:
        tok = self.peek()
        if tok.kind == "ident":
            return self.advance()
        found = f", found '{tok.describe()}'" if tok.kind != "eof" else ""
        raise self.error(f"Expected identifier after '{after}'{found}", tok)

    def node(self, cls, start: Token, *args, **kw):
        end = self.toks[self.i - 1] if self.i > 0 else self.toks[0]  # self.prev
        n = cls(*args, **kw)
        line, column = start.line, start.column
        end_line, end_column = end.end_line, end.end_column
        if end_line < line or (end_line == line and end_column < column):
            end_line, end_column = line, column
        n.line, n.column, n.end_line, n.end_column = line, column, end_line, end_column
        return n

    @staticmethod
    def span_from(n, first, last):
        n.line, n.column = first.line, first.column
        n.end_line, n.end_column = last.end_line, last.end_column
        return n

    def delimited(self, opener: Token, closer: str, item: Callable[[Token], None]) -> None:
        """`item(token)` for each comma-separated item (a trailing comma allowed) up to
        `closer`; newlines mean nothing in between."""
        self._nl.append(False)
        try:
            while not self.peek().is_op(closer):
                tok = self.peek()
                if tok.kind == "eof":
                    raise self.error(f"Expected '{closer}'", tok, opener)
                item(tok)
                if not self.peek().is_op(","):
                    break
                self.advance()
            self.expect_op(closer, opener)
        finally:
            self._nl.pop()

    def _lambda_arrow_allowed(self) -> bool:
        """`x => e` is a lambda, except directly in a match guard where `=>` starts the arm;
        inside brackets there it is a lambda again."""
        return self._arrow_lambdas or not self._nl[-1]

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise self.error("Program nested too deeply")

    # ---- program and statements ------------------------------------------------------------

    def parse_program(self) -> A.Program:
        body: list[A.Stmt] = []
        while True:
            while self.peek().is_op(";"):
                self.advance()
            tok = self.peek()
            if tok.kind == "eof":
                break
            body.append(self.statement())
            self._end_statement(top_level=True)
        first, last = self.toks[0], self.toks[-1]
        program = A.Program(body, self.source, self.filename)
        return self.span_from(program, first, last)

    def _end_statement(self, top_level: bool = False) -> None:
        tok = self.peek()
        if tok.is_op(";") or tok.kind == "eof" or tok.newline_before:
            return
        if not top_level and tok.is_op(*CLOSERS):
            return
        raise self.unexpected(tok)

    def statement(self) -> A.Stmt:
        tok = self.peek()
        if tok.is_keyword("pub"):
            self.advance()
            nxt = self.peek()
            if nxt.is_keyword("let"):
                return self.let_statement(tok, public=True)
            if nxt.is_keyword("fn") and self.peek(1).kind == "ident":
                return self.fn_definition(tok, public=True)
            raise self.error("Expected 'let' or 'fn' after 'pub'", nxt)
        if tok.is_keyword("let"):
            return self.let_statement(tok)
        if tok.is_keyword("fn") and not self.peek(1).is_op("("):
            return self.fn_definition(tok)
        if tok.is_keyword("type"):
            return self.type_alias()
        if tok.is_keyword("import"):
            return self.import_statement()
        expr = self.expression()
        nxt = self.peek()
        if nxt.is_op(*ASSIGN_OPS) and not self.breaks_line(nxt):
            if not isinstance(expr, A.Name):
                raise self.error("Invalid assignment target: only names can be assigned", nxt)
            op = self.advance().text
            value = self.expression()
            return self.node(A.Assign, tok, expr.name, expr, op, value)
        stmt = A.ExprStmt(expr)
        stmt.line, stmt.column, stmt.end_line, stmt.end_column = expr.span
        return stmt

    def let_statement(self, start: Token, public: bool = False) -> A.Let:
        self.advance()  # let
        name_tok = self.expect_ident("let")
        name = self._name_node(name_tok)
        type_ = None
        if self.peek().is_op(":"):
            self.advance()
            type_ = self.type_expr()
        self.expect_op("=")
        value = self.expression()
        return self.node(A.Let, start, name_tok.text, name, type_, value, public)

    def _name_node(self, tok: Token) -> A.Name:
        return self.span_from(A.Name(tok.text), tok, tok)

    def fn_definition(self, start: Token, public: bool = False) -> A.FnDef:
        self.advance()  # fn
        tok = self.peek()
        if tok.kind != "ident":
            found = f", found '{tok.describe()}'" if tok.kind != "eof" else ""
            raise self.error(f"Expected identifier or '(' after 'fn'{found}", tok)
        name_tok = self.advance()
        params = self.parameters()
        result = self._result_type()
        body = self.body("function body")
        return self.node(A.FnDef, start, name_tok.text, self._name_node(name_tok), params, result,
                         body, public)

    def _result_type(self) -> A.TypeExpr | None:
        if self.peek().is_op("->"):
            self.advance()
            return self.type_expr()
        return None

    def parameters(self) -> list[A.Param]:
        params: list[A.Param] = []

        def param(tok: Token) -> None:
            if tok.kind != "ident":
                raise self.error(f"Expected parameter name, found '{tok.describe()}'", tok)
            self.advance()
            if any(p.name == tok.text for p in params):
                raise self.error(f"Duplicate parameter '{tok.text}'", tok)
            type_ = None
            if self.peek().is_op(":"):
                self.advance()
                type_ = self.type_expr()
            params.append(self.node(A.Param, tok, tok.text, type_))

        self.delimited(self.expect_op("("), ")", param)
        return params

    def type_alias(self) -> A.TypeAlias:
        start = self.advance()
        name_tok = self.expect_ident("type")
        self.expect_op("=")
        type_ = self.type_expr()
        return self.node(A.TypeAlias, start, name_tok.text, self._name_node(name_tok), type_)

    def import_statement(self) -> A.Import:
        start = self.advance()
        tok = self.peek()
        if tok.kind != "string":
            raise self.error("Expected a string path after 'import'", tok)
        self.advance()
        alias = None
        if self.peek().kind == "ident" and self.peek().text == "as" and not self.breaks_line(
                self.peek()):
            self.advance()
            alias = self.expect_ident("as").text
        return self.node(A.Import, start, tok.value, alias)

    # ---- types -------------------------------------------------------------------------------

    def type_expr(self) -> A.TypeExpr:
        self._enter()
        try:
            tok = self.peek()
            if tok.kind == "ident" or tok.is_keyword("nil"):
                self.advance()
                name = "Nil" if tok.text == "nil" else tok.text
                return self.node(A.TypeName, tok, name)
            if tok.is_op("["):
                self.advance()
                element = self.type_expr()
                self.expect_op("]", tok)
                return self.node(A.ListType, tok, element)
            if tok.is_op("{"):
                self.advance()
                value = self.type_expr()
                self.expect_op("}", tok)
                return self.node(A.MapType, tok, value)
            if tok.is_op("("):
                self.advance()
                params: list[A.TypeExpr] = []
                while not self.peek().is_op(")"):
                    params.append(self.type_expr())
                    if not self.peek().is_op(","):
                        break
                    self.advance()
                self.expect_op(")", tok)
                self.expect_op("->", what="in function type")
                result = self.type_expr()
                return self.node(A.FunctionType, tok, params, result)
            found = f", found '{tok.describe()}'" if tok.kind != "eof" else ""
            raise self.error(f"Expected type{found}", tok)
        finally:
            self._depth -= 1

    # ---- blocks --------------------------------------------------------------------------------

    def _map_follows(self) -> bool:
        """At `{`: does `KEY :` follow, making it a map literal rather than a block?"""
        key, colon = self.peek(1), self.peek(2)
        return key.kind in ("string", "ident") and colon.is_op(":")

    def body(self, what: str) -> A.Block:
        """A block after `if`, `else`, `fn ...)`, `for ...`, `while ...`: `:` or `{`."""
        tok = self.peek()
        if tok.is_op(":"):
            return self.colon_block()
        if tok.is_op("{"):
            if self._map_follows():
                return self.single_statement_block()
            return self.brace_block()
        found = f", found '{tok.describe()}'" if tok.kind != "eof" else ""
        raise self.error(f"Expected ':' or '{{' before {what}{found}", tok)

    def single_statement_block(self) -> A.Block:
        start = self.peek()
        stmt = self.statement()
        return self.node(A.Block, start, [stmt])

    def colon_block(self) -> A.Block:
        colon = self.advance()
        first = self.peek()
        if first.kind == "eof" or (first.is_op(*CLOSERS) and not first.newline_before):
            raise self.error("Expected expression", first)
        if not first.newline_before:
            self._nl.append(True)
            try:
                block = self.single_statement_block()
            finally:
                self._nl.pop()
            return block
        column = first.column
        enclosing = self._line_indent.get(colon.line, 1)
        if column <= enclosing:
            raise self.error("Expected an indented block", first if first.kind != "eof"
                             else colon)
        self._nl.append(True)
        self._indent.append(column)
        body: list[A.Stmt] = []
        try:
            while True:
                body.append(self.statement())
                tok = self.peek()
                while tok.is_op(";"):
                    self.advance()
                    tok = self.peek()
                    if not tok.newline_before and tok.kind != "eof" and not tok.is_op(*CLOSERS):
                        body.append(self.statement())
                        tok = self.peek()
                if tok.kind == "eof" or tok.is_op(*CLOSERS) and not tok.newline_before:
                    break
                if not tok.newline_before:
                    raise self.unexpected(tok)
                if tok.column < column:
                    self._check_dedent(tok, enclosing)
                    break
                if tok.column > column:
                    raise self.error("Unexpected indent", tok)
                if tok.is_op(*CLOSERS):
                    break
        finally:
            self._nl.pop()
            self._indent.pop()
        return self.node(A.Block, first, body)

    def _check_dedent(self, tok: Token, enclosing: int) -> None:
        """A line that ends an indented block must line up with an enclosing level."""
        if tok.kind != "eof" and not tok.is_op(*CLOSERS) and tok.column > enclosing:
            raise self.error("Unindent does not match any outer indentation level", tok)

    def brace_block(self) -> A.Block:
        opener = self.advance()
        self._nl.append(True)
        self._indent.append(0)
        body: list[A.Stmt] = []
        try:
            while True:
                while self.peek().is_op(";"):
                    self.advance()
                tok = self.peek()
                if tok.is_op("}"):
                    break
                if tok.kind == "eof":
                    raise self.error("Expected '}'", tok, opener)
                body.append(self.statement())
                tok = self.peek()
                if not (tok.is_op(";", "}") or tok.newline_before):
                    if tok.kind == "eof":
                        raise self.error("Expected '}'", tok, opener)
                    raise self.unexpected(tok)
            self.advance()
        finally:
            self._nl.pop()
            self._indent.pop()
        return self.node(A.Block, opener, body)

    # ---- expressions -------------------------------------------------------------------------

    def expression(self) -> A.Expr:
        self._enter()
        try:
            return self.pipe()
        finally:
            self._depth -= 1

    def pipe(self) -> A.Expr:
        left = self.logical_or()
        while self.peek().is_op("|>"):
            op = self.advance()
            right = self.logical_or()
            left = self._apply_pipe(left, right, op)
        return left

    def _apply_pipe(self, value: A.Expr, target: A.Expr, op: Token) -> A.Expr:
        if isinstance(target, (A.Call, A.EngineCall, A.MemoryCall, A.WorkflowCall, A.AgentCall,
                               A.PythonCall)):
            target.args.insert(0, value)
            result = target
        else:
            result = A.Call(target, [value])
            result.end_line, result.end_column = target.end_line, target.end_column
        result.line, result.column = value.line, value.column
        return result

    def _binary(self, min_level: int) -> A.Expr:
        """Left-associative binary operators of level `min_level` or tighter, by precedence
        climbing (one loop for the six levels of `_BINARY_LEVELS` instead of a call per level
        per operand); a newline before the operator ends the expression where it ends
        statements."""
        left = self.unary()
        toks, levels = self.toks, _BINARY_LEVELS
        while True:
            tok = toks[self.i]
            entry = levels.get(tok.text) if tok.kind in _OPERATOR_KINDS else None
            if entry is None or entry[0] < min_level or (tok.newline_before and self._nl[-1]):
                return left
            level, cls, op = entry
            self.i += 1
            right = self._binary(level + 1)
            node = cls(op, left, right)
            node.line, node.column = left.line, left.column
            node.end_line, node.end_column = right.end_line, right.end_column
            left = node

    def logical_or(self) -> A.Expr:
        return self._binary(0)

    def logical_and(self) -> A.Expr:
        return self._binary(1)

    def comparison(self) -> A.Expr:
        return self._binary(2)

    def range_expr(self) -> A.Expr:
        return self._binary(3)

    def additive(self) -> A.Expr:
        return self._binary(4)

    def multiplicative(self) -> A.Expr:
        return self._binary(5)

    def power(self) -> A.Expr:
        """`a ** b`: binds tighter than unary minus on its left (`-2 ** 2` is -4) and is
        right-associative, its right operand a unary expression (`2 ** -1`)."""
        base = self.postfix()
        tok = self.peek()
        if not tok.is_op("**") or self.breaks_line(tok):
            return base
        self.advance()
        self._enter()
        try:
            exponent = self.unary()
        finally:
            self._depth -= 1
        node = A.Binary("**", base, exponent)
        node.line, node.column = base.line, base.column
        node.end_line, node.end_column = exponent.end_line, exponent.end_column
        return node

    def unary(self) -> A.Expr:
        tok = self.peek()
        if tok.is_op("-", "!") or tok.is_keyword("not"):
            self.advance()
            self._enter()
            try:
                operand = self.unary()
            finally:
                self._depth -= 1
            if tok.text == "-" and isinstance(operand, (A.IntLit, A.FloatLit)):
                folded = type(operand)(-operand.value)
                folded.line, folded.column = tok.line, tok.column
                folded.end_line, folded.end_column = operand.end_line, operand.end_column
                return folded
            op = "-" if tok.text == "-" else "not"
            node = A.Unary(op, operand)
            node.line, node.column = tok.line, tok.column
            node.end_line, node.end_column = operand.end_line, operand.end_column
            return node
        return self.power()

    def postfix(self) -> A.Expr:
        expr = self.primary()
        toks = self.toks
        while True:
            tok = toks[self.i]
            if tok.kind != "op":
                return expr
            text = tok.text
            if text == "(" and not self.breaks_line(tok):
                args = self.arguments()
                expr = self._postfix_node(A.Call(expr, args), expr)
            elif text == "[" and not self.breaks_line(tok):
                self.advance()
                self._nl.append(False)
                try:
                    index = self.expression()
                    self.expect_op("]", tok)
                finally:
                    self._nl.pop()
                expr = self._postfix_node(A.Index(expr, index), expr)
            elif text == ".":
                self.advance()
                name = self.peek()
                if name.kind not in ("ident", "keyword"):
                    found = f", found '{name.describe()}'" if name.kind != "eof" else ""
                    raise self.error(f"Expected field name after '.'{found}", name)
                self.advance()
                expr = self._postfix_node(A.Field(expr, name.text), expr)
            else:
                return expr

    def _postfix_node(self, node, target):
        node.line, node.column = target.line, target.column
        node.end_line, node.end_column = self.prev.end_line, self.prev.end_column
        return node

    def arguments(self) -> list[A.Expr]:
        args: list[A.Expr] = []
        self.delimited(self.expect_op("("), ")", lambda tok: args.append(self.expression()))
        return args

    def primary(self) -> A.Expr:
        tok = self.peek()
        kind = tok.kind
        if kind == "int":
            self.advance()
            return self.node(A.IntLit, tok, tok.value)
        if kind == "float":
            self.advance()
            return self.node(A.FloatLit, tok, tok.value)
        if kind == "string":
            self.advance()
            return self.node(A.StrLit, tok, tok.value)
        if kind == "template_start":
            return self.interpolation()
        if kind == "ident":
            return self.identifier()
        if kind == "keyword":
            word = tok.text
            if word in ("true", "false"):
                self.advance()
                return self.node(A.BoolLit, tok, word == "true")
            if word == "nil":
                self.advance()
                return self.node(A.NilLit, tok)
            handler = {
                "if": self.if_expr, "match": self.match_expr, "for": self.for_expr,
                "while": self.while_expr, "fn": self.lambda_expr, "python": self.python_call,
                "return": self.return_expr, "try": self.try_expr,
            }.get(word)
            if handler is not None and not self._pattern_mode:
                self._enter()
                try:
                    return handler()
                finally:
                    self._depth -= 1
            if word in ("break", "continue") and not self._pattern_mode:
                self.advance()
                return self.node(A.Break if word == "break" else A.Continue, tok)
            if word == "rescue":
                raise self.error("Unexpected 'rescue': it must follow the body of a 'try'", tok)
        if kind == "op":
            if tok.text == "(":
                return self.paren_or_lambda()
            if tok.text == "[":
                return self.list_or_comprehension()
            if tok.text == "{":
                return self.map_literal()
            if tok.text == "..." and self._pattern_mode:
                raise self.error("'...rest' is only allowed at the end of a list pattern", tok)
        if kind == "eof":
            raise self.error("Expected expression", tok)
        raise self.error(f"Expected expression, found '{tok.describe()}'", tok)

    def interpolation(self) -> A.Interpolation:
        """`"a#{e}b#{f}c"`: tokens template_start, e's tokens, template_middle, f's tokens,
        template_end (see the lexer). Newlines inside `#{ }` mean nothing."""
        start = self.advance()
        parts: list[A.Expr] = [self.node(A.StrLit, start, start.value)]
        while True:
            tok = self.peek()
            if tok.kind in ("template_middle", "template_end"):
                raise self.error("Expected an expression inside '#{}'", tok)
            self._nl.append(False)
            saved, self._pattern_mode = self._pattern_mode, False
            try:
                parts.append(self.expression())
            finally:
                self._nl.pop()
                self._pattern_mode = saved
            tok = self.peek()
            if tok.kind not in ("template_middle", "template_end"):
                if tok.kind == "eof":
                    raise self.error("Expected '}' to close '#{'", tok)
                raise self.error(f"Expected '}}' to close '#{{', found '{tok.describe()}'", tok)
            self.advance()
            parts.append(self.node(A.StrLit, tok, tok.value))
            if tok.kind == "template_end":
                return self.node(A.Interpolation, start, parts)

    def identifier(self) -> A.Expr:
        tok = self.advance()
        nxt = self.peek()
        if nxt.is_op("=>") and not self._pattern_mode and self._lambda_arrow_allowed():
            param = A.Param(tok.text)
            self.span_from(param, tok, tok)
            return self._lambda_body(tok, [param], None, arrow=True)
        if (tok.text == "agent" and nxt.is_op(".") and self.peek(1).text in AGENT_MEMBERS
                and self.peek(2).is_op("(") and not self.breaks_line(self.peek(2))
                and not self._pattern_mode):
            # `agent.start(...)`; any other `agent.x` is a field of a value named agent
            self.advance()
            op_tok = self.advance()
            return self.node(A.AgentCall, tok, op_tok.text, self.arguments())
        if tok.text in ("engine", "memory", "workflow") and nxt.is_op(".") and self.peek(1).kind in (
                "ident", "keyword") and not self._pattern_mode and (
                tok.text == "engine" or self._namespace_call()):
            self.advance()
            op_tok = self.advance()
            has_call = self.peek().is_op("(") and not self.breaks_line(self.peek())
            if tok.text == "engine":
                if has_call:
                    args = self.arguments()
                    return self.node(A.EngineCall, tok, op_tok.text, args)
                return self.node(A.EngineRef, tok, op_tok.text)
            if tok.text == "workflow":
                return self._workflow_call(tok, op_tok, has_call)
            if op_tok.text not in MEMORY_OPS:
                raise self.error(
                    f"Unknown memory operation '{op_tok.text}' (expected one of "
                    f"{', '.join(MEMORY_OPS)})", op_tok)
            if not has_call:
                raise self.error(f"Expected '(' after 'memory.{op_tok.text}'", self.peek())
            args = self.arguments()
            return self.node(A.MemoryCall, tok, op_tok.text, args)
        return self.node(A.Name, tok, tok.text)

    def _namespace_call(self) -> bool:
        """At `memory` or `workflow` before `.NAME`: is it a call, `NAME.X(...)`? Only calls
        are reserved for the namespace; `memory.a` reads field `a` of a variable."""
        call = self.peek(2)
        return call.is_op("(") and not self.breaks_line(call)

    def _workflow_call(self, tok, op_tok, has_call: bool) -> A.Expr:
        if op_tok.text not in WORKFLOW_MEMBERS:
            raise self.error(
                f"Unknown workflow operation '{op_tok.text}' (expected one of "
                f"{', '.join(WORKFLOW_MEMBERS)})", op_tok)
        if not has_call:
            raise self.error(f"Expected '(' after 'workflow.{op_tok.text}'", self.peek())
        return self.node(A.WorkflowCall, tok, op_tok.text, self.arguments())

    def paren_or_lambda(self) -> A.Expr:
        opener = self.peek()
        close = self._match_pairs.get(self.i)
        if (close is not None and self.toks[close + 1].is_op("=>") and not self._pattern_mode
                and self._lambda_arrow_allowed()):
            params = self.parameters()
            return self._lambda_body(opener, params, None, arrow=True)
        self.advance()
        self._nl.append(False)
        try:
            if self.peek().is_op(")"):
                raise self.error("Expected expression", self.peek())
            inner = self.expression()
            self.expect_op(")", opener)
        finally:
            self._nl.pop()
        return inner

    def lambda_expr(self) -> A.Expr:
        start = self.advance()  # fn
        if not self.peek().is_op("("):
            tok = self.peek()
            found = f", found '{tok.describe()}'" if tok.kind != "eof" else ""
            raise self.error(f"Expected '(' after 'fn'{found}", tok)
        params = self.parameters()
        result = self._result_type()
        return self._lambda_body(start, params, result, arrow=False)

    def _lambda_body(self, start: Token, params, result, arrow: bool) -> A.Lambda:
        if arrow:
            self.expect_op("=>")
            tok = self.peek()
            if tok.is_op("{") and not self._map_follows():
                body = self.brace_block()
            else:
                self._nl.append(True)
                try:
                    body = self.single_statement_block()
                finally:
                    self._nl.pop()
        else:
            body = self.body("function body")
        return self.node(A.Lambda, start, params, result, body)

    def list_or_comprehension(self) -> A.Expr:
        opener = self.advance()
        self._nl.append(False)
        items: list[A.Expr] = []
        try:
            while not self.peek().is_op("]"):
                tok = self.peek()
                if tok.kind == "eof":
                    raise self.error("Expected ']'", tok, opener)
                if tok.is_op("...") and self._pattern_mode:
                    self.advance()
                    name_tok = self.peek()
                    if name_tok.kind != "ident":
                        raise self.error("Expected a name after '...'", name_tok)
                    self.advance()
                    items.append(self.node(A.Spread, tok, name_tok.text))
                else:
                    items.append(self.expression())
                if len(items) == 1 and self.peek().is_keyword("for") and not self._pattern_mode:
                    return self._comprehension(opener, items[0])
                if not self.peek().is_op(","):
                    break
                self.advance()
            self.expect_op("]", opener)
        finally:
            self._nl.pop()
        return self.node(A.ListLit, opener, items)

    def _comprehension(self, opener: Token, element: A.Expr) -> A.Comprehension:
        self.advance()  # for
        var_tok = self.expect_ident("for")
        if not self.peek().is_keyword("in"):
            raise self.error("Expected 'in'", self.peek())
        self.advance()
        iterable = self.expression()
        condition = None
        if self.peek().is_keyword("if"):
            self.advance()
            condition = self.expression()
        self.expect_op("]", opener)
        return self.node(A.Comprehension, opener, element, var_tok.text, self._name_node(var_tok),
                         iterable, condition)

    def map_literal(self) -> A.MapLit:
        opener = self.advance()
        entries: list[A.MapEntry] = []

        def entry(key: Token) -> None:
            if key.kind not in ("string", "ident"):
                raise self.error(f"Expected map key (a string or a name), found "
                                 f"'{key.describe()}'", key)
            self.advance()
            self.expect_op(":", what="after map key")
            value = self.expression()
            entries.append(self.node(A.MapEntry, key, key.value, value))

        self.delimited(opener, "}", entry)
        return self.node(A.MapLit, opener, entries)

    def if_expr(self) -> A.If:
        start = self.advance()
        condition = self.expression()
        if self.peek().is_keyword("then"):
            self.advance()
            then = self.single_statement_block()
        else:
            then = self.body("the 'if' body")
        otherwise = None
        tok = self.peek()
        if tok.is_keyword("else") and (not tok.newline_before or not self._nl[-1]
                                       or tok.column >= self._indent[-1]):
            self.advance()
            nxt = self.peek()
            if nxt.is_keyword("if"):
                nested = self.if_expr_entered()
                otherwise = A.Block([nested])
                self.span_from(otherwise, nxt, self.prev)
            elif nxt.is_op(":") or (nxt.is_op("{") and not self._map_follows()):
                otherwise = self.body("the 'else' body")
            else:
                otherwise = self.single_statement_block()
        return self.node(A.If, start, condition, then, otherwise)

    def if_expr_entered(self) -> A.If:
        self._enter()
        try:
            return self.if_expr()
        finally:
            self._depth -= 1

    def for_expr(self) -> A.For:
        start = self.advance()
        var_tok = self.expect_ident("for")
        if not self.peek().is_keyword("in"):
            tok = self.peek()
            found = f", found '{tok.describe()}'" if tok.kind != "eof" else ""
            raise self.error(f"Expected 'in'{found}", tok)
        self.advance()
        iterable = self.expression()
        body = self.body("the 'for' body")
        return self.node(A.For, start, var_tok.text, self._name_node(var_tok), iterable, body)

    def while_expr(self) -> A.While:
        start = self.advance()
        condition = self.expression()
        body = self.body("the 'while' body")
        return self.node(A.While, start, condition, body)

    def try_expr(self) -> A.Try:
        """`try BODY rescue NAME [if GUARD] BODY ...`. The first `rescue` may start any line
        (nothing else can follow a `try` body); a later one on a new line belongs to this
        `try` only if it is not left of the enclosing indented block, as with `else`."""
        start = self.advance()
        body = self.body("the 'try' body")
        rescues: list[A.RescueClause] = []
        while True:
            tok = self.peek()
            if not tok.is_keyword("rescue"):
                if rescues:
                    break
                found = f", found '{tok.describe()}'" if tok.kind != "eof" else ""
                raise self.error(f"Expected 'rescue' after the 'try' body{found}", tok)
            if rescues and tok.newline_before and self._nl[-1] and tok.column < self._indent[-1]:
                break
            rescues.append(self.rescue_clause())
        return self.node(A.Try, start, body, rescues)

    def rescue_clause(self) -> A.RescueClause:
        start = self.advance()  # rescue
        name_tok = self.expect_ident("rescue")
        guard = None
        if self.peek().is_keyword("if"):
            self.advance()
            guard = self.expression()
        body = self.body("the 'rescue' body")
        return self.node(A.RescueClause, start, name_tok.text, self._name_node(name_tok), guard,
                         body)

    def return_expr(self) -> A.Return:
        start = self.advance()
        tok = self.peek()
        if (tok.kind == "eof" or tok.is_op(";", *CLOSERS) or self.breaks_line(tok)
                or tok.is_keyword("else")):
            return self.node(A.Return, start, None)
        return self.node(A.Return, start, self.expression())

    def python_call(self) -> A.PythonCall:
        start = self.advance()
        names = []
        for what in ("module", "function"):
            tok = self.peek()
            if tok.kind != "string":
                found = f", found '{tok.describe()}'" if tok.kind != "eof" else ""
                raise self.error(f"Expected {what} name string after 'python'{found}", tok)
            self.advance()
            if not all(part.isidentifier() for part in tok.value.split(".")):
                raise self.error(f"Invalid Python {what} name {tok.value!r}: expected a dotted "
                                 f"identifier", tok)
            names.append(tok.value)
        opener = self.expect_op("(", what="before the arguments of a python call")
        args: list[A.Expr] = []
        kwargs: list[A.KeywordArg] = []

        def argument(tok: Token) -> None:
            if tok.kind == "ident" and self.peek(1).is_op(":"):
                self.advance()
                self.advance()
                if any(k.name == tok.text for k in kwargs):
                    raise self.error(f"Duplicate keyword argument '{tok.text}'", tok)
                value = self.expression()
                kwargs.append(self.node(A.KeywordArg, tok, tok.text, value))
            else:
                if kwargs:
                    raise self.error("Positional argument after keyword argument", tok)
                args.append(self.expression())

        self.delimited(opener, ")", argument)
        return self.node(A.PythonCall, start, names[0], names[1], args, kwargs)

    # ---- match ------------------------------------------------------------------------------

    def match_expr(self) -> A.Match:
        start = self.advance()
        subject = self.expression()
        tok = self.peek()
        arms: list[A.MatchArm] = []
        if tok.is_op("{"):
            self.advance()
            self._nl.append(True)
            self._indent.append(0)
            try:
                while True:
                    while self.peek().is_op(","):
                        self.advance()
                    nxt = self.peek()
                    if nxt.is_op("}"):
                        self.advance()
                        break
                    if nxt.kind == "eof":
                        raise self.error("Expected '}'", nxt, tok)
                    arms.append(self.match_arm())
                    nxt = self.peek()
                    if nxt.kind == "eof":
                        raise self.error("Expected '}'", nxt, tok)
                    if not (nxt.is_op(",", "}") or nxt.newline_before):
                        raise self.unexpected(nxt)
            finally:
                self._nl.pop()
                self._indent.pop()
        elif tok.is_op(":"):
            colon = self.advance()
            first = self.peek()
            if not first.newline_before or first.kind == "eof":
                raise self.error("Expected match arms on the following lines", first)
            column = first.column
            if column <= self._line_indent.get(colon.line, 1):
                raise self.error("Expected an indented block", first)
            self._nl.append(True)
            self._indent.append(column)
            try:
                while True:
                    arms.append(self.match_arm())
                    nxt = self.peek()
                    while nxt.is_op(","):
                        self.advance()
                        nxt = self.peek()
                    if nxt.kind == "eof" or not nxt.newline_before or nxt.column < column:
                        if not nxt.newline_before and nxt.kind != "eof" and not nxt.is_op(
                                *CLOSERS):
                            raise self.unexpected(nxt)
                        if nxt.kind != "eof" and nxt.newline_before:
                            self._check_dedent(nxt, self._line_indent.get(colon.line, 1))
                        break
                    if nxt.column > column:
                        raise self.error("Unexpected indent", nxt)
            finally:
                self._nl.pop()
                self._indent.pop()
        else:
            found = f", found '{tok.describe()}'" if tok.kind != "eof" else ""
            raise self.error(f"Expected '{{' or ':' after match subject{found}", tok)
        if not arms:
            raise self.error("Expected at least one match arm", self.prev)
        return self.node(A.Match, start, subject, arms)

    def match_arm(self) -> A.MatchArm:
        start = self.peek()
        pattern = self.pattern()
        guard = None
        if self.peek().is_keyword("if"):
            self.advance()
            saved, self._arrow_lambdas = self._arrow_lambdas, False  # `=>` ends the guard
            try:
                guard = self.expression()
            finally:
                self._arrow_lambdas = saved
        arrow = self.peek()
        if not arrow.is_op("=>", "->"):
            found = f", found '{arrow.describe()}'" if arrow.kind != "eof" else ""
            raise self.error(f"Expected '=>'{found}", arrow)
        self.advance()
        if self.peek().is_op("{") and not self._map_follows():
            body = self.brace_block()
        elif self.peek().is_op(":") :
            body = self.colon_block()
        else:
            body = self.single_statement_block()
        return self.node(A.MatchArm, start, pattern, guard, body)

    def pattern(self) -> A.Pattern:
        saved = self._pattern_mode
        self._pattern_mode = True
        try:
            expr = self.comparison()
        finally:
            self._pattern_mode = saved
        return self._to_pattern(expr)

    def _to_pattern(self, expr: A.Expr) -> A.Pattern:
        def make(cls, *args):
            p = cls(*args)
            p.line, p.column, p.end_line, p.end_column = expr.span
            return p

        if isinstance(expr, (A.IntLit, A.FloatLit, A.StrLit, A.BoolLit, A.NilLit)):
            return make(A.LiteralPattern, expr)
        if isinstance(expr, A.Name):
            return make(A.WildcardPattern) if expr.name == "_" else make(A.BindPattern, expr.name)
        if isinstance(expr, A.ListLit):
            items: list[A.Pattern] = []
            rest = rest_node = None
            for pos, item in enumerate(expr.items):
                if isinstance(item, A.Spread):
                    if pos != len(expr.items) - 1:
                        raise ZixirSyntaxError(
                            "'...rest' is only allowed at the end of a list pattern",
                            item.line, item.column, filename=self.filename)
                    rest, rest_node = item.name, item
                else:
                    items.append(self._to_pattern(item))
            return make(A.ListPattern, items, rest, rest_node)
        if isinstance(expr, A.MapLit):
            return make(A.MapPattern, [(e.key, self._to_pattern(e.value)) for e in expr.entries])
        if isinstance(expr, A.Binary) and expr.op in COMPARISON_OPS:
            return make(A.ComparisonPattern, expr)
        raise ZixirSyntaxError("Invalid pattern", expr.line, expr.column, filename=self.filename,
                               end_line=expr.end_line, end_column=expr.end_column)


def parse(source: str, filename: str | None = None) -> A.Program:
    """Parse a whole program. Raises `ZixirSyntaxError`; never anything else."""
    if sys.getrecursionlimit() < 20_000:
        sys.setrecursionlimit(20_000)
    with collection_paused():
        parser = Parser(source, filename)
        try:
            return parser.parse_program()
        except RecursionError:  # pragma: no cover - MAX_NESTING keeps well below the limit
            raise parser.error("Program nested too deeply") from None
