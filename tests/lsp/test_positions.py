"""Language positions (1-based, characters) <-> protocol positions (0-based, code units)."""

from __future__ import annotations

import pytest
from lsprotocol.types import Position, PositionEncodingKind

from zixir.lsp.analysis import Span
from zixir.lsp.positions import PositionMap

TEXT = 'let a = "é😀x"\r\nlet b = 1\n'


@pytest.mark.parametrize(("encoding", "column_of_x"), [
    (PositionEncodingKind.Utf16, 12),  # é is one unit, 😀 two
    (PositionEncodingKind.Utf32, 11),
    (PositionEncodingKind.Utf8, 15),   # é two bytes, 😀 four
])
def test_columns_count_code_units_of_the_encoding(encoding: str, column_of_x: int) -> None:
    positions = PositionMap(TEXT, encoding)
    x = TEXT.index("x") + 1  # 1-based character column
    assert positions.to_lsp(1, x) == Position(line=0, character=column_of_x)
    assert positions.from_lsp(Position(line=0, character=column_of_x)) == (1, x)


def test_ranges_and_second_line() -> None:
    positions = PositionMap(TEXT)
    lsp_range = positions.range(Span(2, 5, 2, 6))
    assert (lsp_range.start, lsp_range.end) == (Position(line=1, character=4),
                                                Position(line=1, character=5))


def test_out_of_range_positions_are_clamped() -> None:
    positions = PositionMap(TEXT)
    assert positions.to_lsp(1, 500) == Position(line=0, character=len("let a = \"é😀x\"\r") + 1)
    assert positions.to_lsp(99, 3) == Position(line=98, character=0)
    assert positions.from_lsp(Position(line=0, character=10_000)) == (1, len(TEXT.split("\n")[0])
                                                                      + 1)
    assert positions.from_lsp(Position(line=50, character=2)) == (51, 1)
