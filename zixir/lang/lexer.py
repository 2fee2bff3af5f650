"""Source text -> tokens.

The lexer knows nothing about statements: it records, for every token, whether a newline came
before it (`newline_before`) and the column of the first token on its line, and leaves the
newline and offside rules to the parser, which knows whether it is inside brackets or a block.
Every character is either part of a token, whitespace, or a comment; anything else is a
`ZixirSyntaxError` at its position.

String interpolation is lexed as a run of tokens, so the embedded expressions are ordinary
tokens at their true positions:

    "total: #{n + 1} items"
    template_start("total: ")  ident(n) op(+) int(1)  template_end(" items")

Between two expressions the literal text is a `template_middle`. A `{` inside an expression
opens a nested brace (tracked per open interpolation), so only the `}` that balances `#{`
resumes the string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ZixirSyntaxError

KEYWORDS = frozenset(
    "let fn if then else match for in while break continue return true false nil and or not "
    "type import pub python try rescue".split()
)

# longest first, so that `...` wins over `..` over `.`
OPERATORS = sorted(
    """... .. . |> || && == != <= >= => -> += -= *= /= %= ** + - * / % < > = ! ( ) [ ] { } , : ;"""
    .split(),
    key=len,
    reverse=True,
)
_OPERATOR_STARTS = frozenset(op[0] for op in OPERATORS)
# The common tokens, matched in one step each (the character-by-character paths below handle
# the rest: numbers, strings, non-ASCII names, braces inside an interpolation, errors).
# `\w` is exactly `_is_ident_part` (`_` or `str.isalnum`); alternatives are tried in order,
# so the longest operator wins as in `_token`.
_ASCII_NAME = re.compile(r"[A-Za-z_]\w*")
_OPERATOR = re.compile("|".join(re.escape(op) for op in OPERATORS))
_BLANKS = re.compile(r"[ \t\r\f\ufeff]+")
_PLAIN_STRING_TEXT = re.compile(r'[^"#\\\n]+')

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "#": "#"}

#: token kinds that are (pieces of) string literals
STRING_KINDS = frozenset(("string", "template_start", "template_middle", "template_end"))


@dataclass(slots=True)
class Token:
    kind: str  # 'int' 'float' 'string' 'template_*' 'ident' 'keyword' 'op' 'eof'
    text: str  # source text (for 'string': the decoded value; for 'op'/'keyword': the lexeme)
    value: object
    line: int
    column: int
    end_line: int
    end_column: int
    newline_before: bool = False

    def is_op(self, *ops: str) -> bool:
        return self.kind == "op" and self.text in ops

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "keyword" and self.text in words

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of input"
        if self.kind in ("template_middle", "template_end"):
            return "}"  # the brace closing an interpolation, where these tokens start
        if self.kind in STRING_KINDS:
            return "string"
        return self.text


@dataclass(frozen=True, slots=True)
class Comment:
    """A `#` or `//` comment: its text from the marker to the end of the line, and where it
    starts. `own_line` says whether only whitespace precedes it on its line."""

    text: str
    line: int
    column: int
    own_line: bool


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _is_ident_start(ch: str) -> bool:
    return ch == "_" or ch.isalpha()


def _is_ident_part(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


class Lexer:
    def __init__(self, source: str, filename: str | None = None,
                 comments: list[Comment] | None = None) -> None:
        self.src = source
        self.filename = filename
        self.pos = 0
        self.line = 1
        self.col = 1
        self.comments = comments  # when a list, every comment skipped is appended to it
        #: one entry per open `#{`: (brace depth inside it, line, column of the `#{`)
        self._interpolations: list[list[int]] = []

    def error(self, message: str, line: int, column: int) -> ZixirSyntaxError:
        return ZixirSyntaxError(message, line, column, filename=self.filename,
                                end_line=line, end_column=column + 1)

    def _advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self.src[self.pos] == "\n":
                self.line += 1
                self.col = 1
            else:
                self.col += 1
            self.pos += 1

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        append = out.append
        src = self.src
        n = len(src)
        newline = True  # start of input counts as a fresh line
        name_match, operator_match, blanks_match = (
            _ASCII_NAME.match, _OPERATOR.match, _BLANKS.match)
        keywords, operator_starts = KEYWORDS, _OPERATOR_STARTS
        # position kept in locals here, written back to self around the other paths
        pos, line, col = self.pos, self.line, self.col
        while True:
            # whitespace and comments (none of these steps crosses a newline but the first)
            while pos < n:
                ch = src[pos]
                if ch == "\n":
                    newline = True
                    pos += 1
                    line += 1
                    col = 1
                elif ch in " \t\r\f\ufeff":
                    end = blanks_match(src, pos).end()
                    col += end - pos
                    pos = end
                elif ch == "#" or src.startswith("//", pos):
                    end = src.find("\n", pos)
                    if end == -1:
                        end = n
                    if self.comments is not None:
                        self.comments.append(Comment(src[pos:end].rstrip(), line, col,
                                                     own_line=newline))
                    col += end - pos
                    pos = end
                else:
                    break
            if pos >= n:
                self.pos, self.line, self.col = pos, line, col
                if self._interpolations:
                    _, at_line, at_column = self._interpolations[-1]
                    err = self.error("Unterminated string interpolation: expected '}'", at_line,
                                     at_column)
                    err.incomplete = True
                    raise err
                append(Token("eof", "", None, line, col, line, col, newline_before=newline))
                return out
            m = name_match(src, pos)
            if m is not None:
                text = m.group()
                end = m.end()
                end_col = col + end - pos
                append(Token("keyword" if text in keywords else "ident", text, text, line, col,
                             line, end_col, newline))
                pos, col = end, end_col
            elif (ch := src[pos]) in operator_starts and not (
                    self._interpolations and ch in "{}") and (
                    m := operator_match(src, pos)) is not None:
                text = m.group()
                end = m.end()
                end_col = col + end - pos
                append(Token("op", text, text, line, col, line, end_col, newline))
                pos, col = end, end_col
            else:
                self.pos, self.line, self.col = pos, line, col
                tok = self._token()
                tok.newline_before = newline
                append(tok)
                pos, line, col = self.pos, self.line, self.col
            newline = False

    def _token(self) -> Token:
        src = self.src
        ch = src[self.pos]
        line, col, start = self.line, self.col, self.pos
        if _is_digit(ch):
            return self._number()
        if ch == '"':
            return self._string()
        if self._interpolations and ch in "{}":
            depth = self._interpolations[-1]
            if ch == "}" and depth[0] == 0:
                self._interpolations.pop()
                self._advance()
                return self._string_body(line, col, "template_middle", "template_end")
            depth[0] += 1 if ch == "{" else -1
        if _is_ident_start(ch):
            end = self.pos + 1
            while end < len(src) and _is_ident_part(src[end]):
                end += 1
            text = src[start:end]
            self.pos = end
            self.col += end - start
            kind = "keyword" if text in KEYWORDS else "ident"
            return Token(kind, text, text, line, col, self.line, self.col)
        if ch in _OPERATOR_STARTS:
            for op in OPERATORS:
                if src.startswith(op, self.pos):
                    self.pos += len(op)
                    self.col += len(op)
                    return Token("op", op, op, line, col, self.line, self.col)
        if ch == "&" or ch == "|":
            raise self.error(f"Unexpected character '{ch}' (did you mean '{ch * 2}'?)", line, col)
        shown = ch if ch.isprintable() else repr(ch)[1:-1]
        raise self.error(f"Unexpected character '{shown}'", line, col)

    def _number(self) -> Token:
        src, start, line, col = self.src, self.pos, self.line, self.col
        n = len(src)

        def digits(i: int, ok) -> int:
            # digits with single underscores between them
            begin = i
            while i < n and (ok(src[i]) or (src[i] == "_" and i > begin and i + 1 < n
                                             and ok(src[i + 1]))):
                i += 1
            return i

        is_float = False
        if src[start] == "0" and start + 1 < n and src[start + 1] in "xXoObB":
            base = {"x": 16, "o": 8, "b": 2}[src[start + 1].lower()]
            valid = {16: "0123456789abcdefABCDEF", 8: "01234567", 2: "01"}[base]
            end = digits(start + 2, lambda c: c in valid)
            if end == start + 2:
                raise self.error("Invalid number literal: missing digits", line, col)
            value: int | float = int(src[start + 2:end].replace("_", ""), base)
        else:
            end = digits(start, _is_digit)
            if end + 1 < n and src[end] == "." and _is_digit(src[end + 1]):
                is_float = True
                end = digits(end + 1, _is_digit)
            if end < n and src[end] in "eE":
                j = end + 1
                if j < n and src[j] in "+-":
                    j += 1
                if j < n and _is_digit(src[j]):
                    is_float = True
                    end = digits(j, _is_digit)
                else:
                    raise self.error("Invalid number literal: exponent needs digits", line, col)
            text = src[start:end].replace("_", "")
            value = float(text) if is_float else int(text)
        if end < n and (_is_ident_part(src[end])):
            raise self.error(f"Invalid number literal '{src[start:end + 1]}'", line, col)
        self.pos = end
        self.col += end - start
        return Token("float" if is_float else "int", src[start:end], value, line, col,
                     self.line, self.col)

    def _string(self) -> Token:
        line, col = self.line, self.col
        self._advance()  # opening quote
        return self._string_body(line, col, "template_start", "string")

    def _string_body(self, line: int, col: int, open_kind: str, close_kind: str) -> Token:
        """The literal text from here up to the closing quote (a `close_kind` token) or up to
        and including a `#{` (an `open_kind` token, the interpolation then being open)."""
        src, n = self.src, len(self.src)
        parts: list[str] = []
        while True:
            if self.pos >= n:
                if open_kind == "template_start" and self._interpolations:
                    # `"v: #{x"`: the quote meant to close the string opened a string inside
                    # the interpolation; the missing `}` is what to point at
                    _, at_line, at_column = self._interpolations[-1]
                    err = self.error("Unterminated string interpolation: expected '}' (the "
                                     f"'\"' at line {line}, column {col} starts a string inside "
                                     "it)", at_line, at_column)
                else:
                    err = self.error("Unterminated string", line, col)
                err.incomplete = True
                raise err
            ch = src[self.pos]
            if ch == '"':
                self._advance()
                kind = close_kind
                break
            if ch == "#" and src.startswith("#{", self.pos):
                self._interpolations.append([0, self.line, self.col])
                self._advance(2)
                kind = open_kind
                break
            if ch == "\\":
                esc_line, esc_col = self.line, self.col
                if self.pos + 1 >= n:
                    raise self.error("Unterminated string", line, col)
                nxt = src[self.pos + 1]
                if nxt in ESCAPES:
                    parts.append(ESCAPES[nxt])
                    self._advance(2)
                elif nxt == "u":
                    self._advance(2)
                    parts.append(self._unicode_escape(esc_line, esc_col))
                else:
                    shown = nxt if nxt.isprintable() else repr(nxt)[1:-1]
                    raise self.error(f"Invalid escape sequence '\\{shown}'", esc_line, esc_col)
                continue
            if ch == "\n":
                parts.append(ch)
                self._advance()
                continue
            plain = _PLAIN_STRING_TEXT.match(src, self.pos)
            if plain is None:  # a `#` that does not open an interpolation
                parts.append(ch)
                self._advance()
                continue
            parts.append(plain.group())
            self.col += plain.end() - self.pos
            self.pos = plain.end()
        value = "".join(parts)
        return Token(kind, value, value, line, col, self.line, self.col)

    def _unicode_escape(self, line: int, col: int) -> str:
        src = self.src
        if self.pos >= len(src) or src[self.pos] != "{":
            raise self.error("Invalid unicode escape: expected '\\u{HEX}'", line, col)
        close = src.find("}", self.pos)
        body = src[self.pos + 1:close] if close != -1 else ""
        if close == -1 or not body or len(body) > 6 or any(
                c not in "0123456789abcdefABCDEF" for c in body):
            raise self.error("Invalid unicode escape: expected '\\u{HEX}'", line, col)
        code = int(body, 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise self.error(f"Invalid unicode code point U+{code:X}", line, col)
        self._advance(close + 1 - self.pos)
        return chr(code)


def tokenize(source: str, filename: str | None = None) -> list[Token]:
    return Lexer(source, filename).tokens()


def tokenize_with_comments(source: str,
                           filename: str | None = None) -> tuple[list[Token], list[Comment]]:
    """The tokens, as `tokenize` gives them, and the comments the lexer skipped, in order."""
    comments: list[Comment] = []
    return Lexer(source, filename, comments).tokens(), comments
