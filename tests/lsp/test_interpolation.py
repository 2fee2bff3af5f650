"""The language server inside string interpolation: names complete in `#{ }` and nowhere else
in the string, and the embedded expressions are highlighted as code."""

from __future__ import annotations

from zixir.lsp.analysis import analyze
from zixir.lsp.features import completions
from zixir.lsp.semantic import tokens as semantic_tokens


def names_at(source: str, line: int, column: int) -> set[str]:
    return {c.label for c in completions(analyze(source), line, column)}


def test_names_complete_inside_interpolation_only():
    source = 'let total_count = 3\nlet s = "n: #{total_c} and total_c"\n'
    inside = source.splitlines()[1].index("total_c}") + len("total_c") + 1
    assert "total_count" in names_at(source, 2, inside)
    outside = source.splitlines()[1].index("and total_c") + len("and total_c") + 1
    assert names_at(source, 2, outside) == set()
    assert "upper" in names_at('let s = "#{up', 1, len('let s = "#{up') + 1)


def test_interpolated_expressions_are_tokens_of_their_own():
    source = 'let n = 1\nlet s = "a #{n + 1} b"\n'
    tokens = {(t.line, t.column): t.type for t in semantic_tokens(analyze(source))}
    column = source.splitlines()[1].index("n + 1") + 1
    assert tokens[(2, column)] == "variable"
    assert tokens[(2, column + 4)] == "number"
    assert tokens[(2, 9)] == "string"
