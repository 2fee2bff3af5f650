"""The lexer's one-step paths (ASCII names, operators, blank runs, comments, plain string text)
give exactly the tokens, positions and comments of the character-by-character ones they
stand in for: non-ASCII names, a `\\ufeff` or form feed, longest operators, `#` in strings,
braces inside an interpolation, comments at the end of input."""

from __future__ import annotations

import pytest

from zixir.lang.errors import ZixirSyntaxError
from zixir.lang.lexer import tokenize, tokenize_with_comments


def shape(source: str) -> list[tuple]:
    return [(t.kind, t.text, t.line, t.column, t.end_column, t.newline_before)
            for t in tokenize(source)]


def test_names_with_non_ascii_letters_and_digits():
    assert shape("x² = éa_1 + abcé") == [
        ("ident", "x²", 1, 1, 3, True), ("op", "=", 1, 4, 5, False),
        ("ident", "éa_1", 1, 6, 10, False), ("op", "+", 1, 11, 12, False),
        ("ident", "abcé", 1, 13, 17, False), ("eof", "", 1, 17, 17, False)]


def test_blanks_and_longest_operators():
    assert shape("\ufeffa\f..b...c|>d") == [
        ("ident", "a", 1, 2, 3, True), ("op", "..", 1, 4, 6, False),
        ("ident", "b", 1, 6, 7, False), ("op", "...", 1, 7, 10, False),
        ("ident", "c", 1, 10, 11, False), ("op", "|>", 1, 11, 13, False),
        ("ident", "d", 1, 13, 14, False), ("eof", "", 1, 14, 14, False)]


def test_comments_to_the_end_of_the_line_and_of_the_input():
    tokens, comments = tokenize_with_comments("a//b\n\tc # end")
    assert [(t.text, t.line, t.column) for t in tokens] == [("a", 1, 1), ("c", 2, 2),
                                                           ("", 2, 9)]
    assert [(c.text, c.line, c.column, c.own_line) for c in comments] == [
        ("//b", 1, 2, False), ("# end", 2, 4, False)]


def test_string_text_around_hashes_escapes_and_nested_braces():
    assert shape('x = "p#q #{ {a: 1}.a } \\#{r}"  // c') == [
        ("ident", "x", 1, 1, 2, True), ("op", "=", 1, 3, 4, False),
        ("template_start", "p#q ", 1, 5, 12, False), ("op", "{", 1, 13, 14, False),
        ("ident", "a", 1, 14, 15, False), ("op", ":", 1, 15, 16, False),
        ("int", "1", 1, 17, 18, False), ("op", "}", 1, 18, 19, False),
        ("op", ".", 1, 19, 20, False), ("ident", "a", 1, 20, 21, False),
        ("template_end", " #{r}", 1, 22, 30, False), ("eof", "", 1, 36, 36, False)]
    assert [(t.text, t.line, t.column) for t in tokenize('"a\nbc" d')] == [
        ("a\nbc", 1, 1), ("d", 2, 5), ("", 2, 6)]


@pytest.mark.parametrize("source, line, column, message", [
    ("ab $", 1, 4, "Unexpected character '$'"),
    ("a & b", 1, 3, "did you mean '&&'"),
    ('x = "abc', 1, 5, "Unterminated string"),
    ('"#{ a ', 1, 2, "Unterminated string interpolation"),
])
def test_errors_keep_their_positions(source, line, column, message):
    with pytest.raises(ZixirSyntaxError) as caught:
        tokenize(source)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert message in str(caught.value)
