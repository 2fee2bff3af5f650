"""What the debugger derives from compiled Zixir code and values, without a client."""

from __future__ import annotations

import textwrap

from zixir.debug.frames import zixir_name
from zixir.debug.lines import BreakpointLines
from zixir.debug.variables import children, describe, preview
from zixir.lang.values import FALSE, TRUE, ZList, ZRange


def lines_of(tmp_path, source: str) -> list[int] | str:
    path = tmp_path / "prog.zx"
    path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return BreakpointLines().lines(str(path))


def test_lines_with_code_are_statement_lines(tmp_path):
    assert lines_of(tmp_path, """
        # a comment
        let xs = [
          1,
          2,
        ]
        fn f(a) {

          let b = a +
            1
          b
        }
        type Num = Int
        f(xs[0])
    """) == [2, 8, 10, 13]


def test_lines_inside_lambdas_and_blocks(tmp_path):
    assert lines_of(tmp_path, """
        let g = fn(x) {
          let y = x * 2
          y
        }
        let r = if g(1) > 1 {
          "big"
        } else {
          "small"
        }
        r
    """) == [1, 2, 3, 5, 6, 8, 10]


def test_a_file_with_a_syntax_error_has_no_lines(tmp_path):
    message = lines_of(tmp_path, "let x = (1 +\n")
    assert isinstance(message, str) and message.startswith("line ")


def test_verify_moves_forward_or_gives_a_reason(tmp_path):
    path = tmp_path / "prog.zx"
    path.write_text("let a = 1\n\n\nlet b = 2\n", encoding="utf-8")
    lines = BreakpointLines()
    assert lines.verify(str(path), 1) == (1, None)
    assert lines.verify(str(path), 2) == (4, None)
    assert lines.verify(str(path), 5) == (None, "no Zixir code at or after line 5")
    assert lines.verify(str(tmp_path / "gone.zx"), 1)[1].startswith("cannot read")
    # edits are seen: the cache is keyed by modification time
    import os
    path.write_text("\n\n\n\n\nlet a = 1\n", encoding="utf-8")
    os.utime(path, (1, 1))
    assert lines.verify(str(path), 1) == (6, None)


def test_zixir_names_and_temporaries():
    assert zixir_name("u_total") == "total"
    assert zixir_name("s12_x") == "x"
    assert zixir_name("s3_snake_case") == "snake_case"
    assert zixir_name("wu_" + "é".encode().hex()) == "é"
    for temporary in ("_t12", "_l3", "_mk4", "_zx_add", "__builtins__", "x"):
        assert zixir_name(temporary) is None


def test_values_in_literal_syntax():
    value = {"a": ZList([1, 2.5, "s\n", None, TRUE, FALSE]), "r": ZRange(0, 3)}
    assert preview(value) == '{"a": [1, 2.5, "s\\n", nil, true, false], "r": [0, 1, 2]}'
    assert describe(value) == {"value": preview(value), "type": "map", "namedVariables": 2}
    assert describe(ZList([1]))["indexedVariables"] == 1
    assert describe(3) == {"value": "3", "type": "int"}


def test_long_values_are_cut():
    text = preview(ZList(range(100_000)), limit=50)
    assert text.startswith("[0, 1, 2") and text.endswith("...") and len(text) <= 53
    deep = ZList()
    node = deep
    for _ in range(200):
        child = ZList()
        node.append(child)
        node = child
    assert "[...]" in preview(deep, limit=10_000)


def test_children_of_containers_are_paged():
    assert children(ZList(["a", "b", "c"]), 1, 1) == [("[1]", "[1]", "b")]
    assert children(ZRange(10, 20), 2, 2) == [("[2]", "[2]", 12), ("[3]", "[3]", 13)]
    assert children({"k": 1, "q\"": 2}) == [('"k"', '["k"]', 1), ('"q\\""', '["q\\""]', 2)]
