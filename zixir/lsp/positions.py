"""Between the language's positions and the protocol's.

The lexer counts lines at `\\n` and columns in characters, from 1. The protocol counts both from
0, and columns in code units of the negotiated encoding: UTF-16 unless the client offers
another. A column past the end of its line is clamped to the line's end.
"""

from __future__ import annotations

from lsprotocol import types as lsp

from .analysis import Span


def _units(text: str, encoding: str) -> int:
    if encoding == lsp.PositionEncodingKind.Utf32:
        return len(text)
    if encoding == lsp.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class PositionMap:
    def __init__(self, source: str, encoding: str | None = None) -> None:
        self.lines = source.split("\n")
        self.encoding = encoding or lsp.PositionEncodingKind.Utf16

    def units(self, text: str) -> int:
        """The length of `text` in the negotiated encoding's code units."""
        return _units(text, self.encoding)

    def _line(self, index: int) -> str:
        if 0 <= index < len(self.lines):
            return self.lines[index]
        return ""

    def to_lsp(self, line: int, column: int) -> lsp.Position:
        """1-based line and character column -> protocol position."""
        index = max(line - 1, 0)
        text = self._line(index)
        chars = min(max(column - 1, 0), len(text))
        return lsp.Position(line=index, character=_units(text[:chars], self.encoding))

    def range(self, span: Span) -> lsp.Range:
        return lsp.Range(start=self.to_lsp(span.line, span.column),
                         end=self.to_lsp(span.end_line, span.end_column))

    def from_lsp(self, position: lsp.Position) -> tuple[int, int]:
        """Protocol position -> 1-based line and character column."""
        text = self._line(position.line)
        if self.encoding == lsp.PositionEncodingKind.Utf32:
            chars = min(position.character, len(text))
        else:
            chars, units = 0, 0
            while chars < len(text) and units < position.character:
                units += _units(text[chars], self.encoding)
                chars += 1
        return position.line + 1, chars + 1
