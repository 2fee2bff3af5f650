"""End to end: the real server process, a real LSP client, real documents on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from zixir.engine import OPS
from zixir.lang.builtins import BUILTINS
from zixir.lang.lexer import KEYWORDS

from .conftest import (
    change_document,
    diagnostics_after,
    open_document,
    position_of,
    range_of,
    request,
)

pytestmark = pytest.mark.asyncio

PROGRAM = """\
type Scores = [Float]

fn mean(xs: Scores) -> Float: engine.list_sum(xs) / len(xs)

fn report(name: String, xs) {
  let avg = mean(xs)
  let label = name + ": " + str(avg)
  println(label)
  label
}

fn other() {
  let label = 3 * 2.5
  label
}

let data = [1.0, 2.0, 4.5]
let total = 1 + 2.5
memory.put("last", report("run", data))
"""


def doc_id(path: Path) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=path.as_uri())


# ---- diagnostics ---------------------------------------------------------------------------------

async def test_syntax_error_on_open_has_the_exact_range(client: LanguageClient,
                                                        tmp_path: Path) -> None:
    text = "let ok = 1\nlet bad = ok @ 2\n"
    diagnostics = await open_document(client, tmp_path / "bad.zx", text)
    assert len(diagnostics) == 1
    (diag,) = diagnostics
    assert "Unexpected character '@'" in diag.message
    assert diag.severity == types.DiagnosticSeverity.Error
    assert diag.range == range_of(text, "@")


async def test_ranges_are_in_utf16_code_units(client: LanguageClient, tmp_path: Path) -> None:
    # the emoji is one character for the lexer but two UTF-16 code units for the client
    text = 'let face = "😀😀"; let x = face $ 1\n'
    (diag,) = await open_document(client, tmp_path / "emoji.zx", text)
    assert "Unexpected character '$'" in diag.message
    assert diag.range == range_of(text, "$")
    assert diag.range.start.character == text.index("$") + 2


async def test_unclosed_bracket_is_reported_at_the_bracket(client: LanguageClient,
                                                           tmp_path: Path) -> None:
    text = "let total = 0\nlet xs = sum(map([1, 2],\n  x => x * 2)"
    (diag,) = await open_document(client, tmp_path / "open.zx", text)
    assert "Expected ')'" in diag.message
    assert diag.range == range_of(text, "(", occurrence=1)


async def test_diagnostics_follow_changes_and_saves(client: LanguageClient,
                                                    tmp_path: Path) -> None:
    path = tmp_path / "edit.zx"
    broken = 'let s = "never closed\n'
    (diag,) = await open_document(client, path, broken)
    assert "Unterminated string" in diag.message
    assert diag.range.start == position_of(broken, '"')

    fixed = 'let s = "closed"\ns\n'
    assert await change_document(client, path, fixed, version=2) == []

    broken_again = "let s = \n"
    (diag,) = await change_document(client, path, broken_again, version=3)
    assert "Expected expression" in diag.message

    path.write_text(broken_again, encoding="utf-8")
    saved = await diagnostics_after(client, path.as_uri(), None, lambda: client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=doc_id(path))))
    assert [d.message for d in saved] == [diag.message]


async def test_checker_diagnostics_have_exact_ranges(client: LanguageClient,
                                                     tmp_path: Path) -> None:
    text = 'let x = 1\nprint(missing)\nlet s: Int = "text"\nlen(x, x)\n'
    diagnostics = await open_document(client, tmp_path / "check.zx", text)
    by_message = {d.message.split(":")[0]: d for d in diagnostics}
    assert by_message["Undefined variable"].range == range_of(text, "missing")
    assert "missing" in by_message["Undefined variable"].message
    assert by_message["Type mismatch"].range == range_of(text, '"text"')
    arity = next(d for d in diagnostics if "expects 1 arguments, got 2" in d.message)
    assert arity.range == range_of(text, "len(x, x)")
    assert all(d.severity == types.DiagnosticSeverity.Error for d in diagnostics)
    assert len(diagnostics) == 3


async def test_a_valid_program_has_no_diagnostics(client: LanguageClient, tmp_path: Path) -> None:
    assert await open_document(client, tmp_path / "ok.zx", PROGRAM) == []


# ---- completion ----------------------------------------------------------------------------------

async def complete(client: LanguageClient, path: Path, position: types.Position):
    result = await request(client.text_document_completion_async(types.CompletionParams(
        text_document=doc_id(path), position=position)))
    items = result.items if isinstance(result, types.CompletionList) else result
    return {item.label: item for item in items}


async def test_completion_offers_engine_ops_with_signatures(client: LanguageClient,
                                                            tmp_path: Path) -> None:
    path = tmp_path / "eng.zx"
    text = "let xs = [1.0]\nengine.\n"
    await open_document(client, path, text)  # `engine.` alone does not parse: completion still works
    items = await complete(client, path, position_of(text, "engine.", offset=len("engine.")))
    assert set(items) == set(OPS)
    assert items["dot_product"].detail == OPS["dot_product"].signature
    assert OPS["dot_product"].doc in items["dot_product"].documentation.value


async def test_completion_offers_memory_members(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "mem.zx"
    text = "memory.g"
    await open_document(client, path, text)
    items = await complete(client, path, types.Position(line=0, character=len(text)))
    assert set(items) == {"put", "get", "delete", "keys", "incr", "cas", "update"}
    assert "memory.get(" in items["get"].detail


async def test_completion_offers_keywords_builtins_and_names_in_scope(client: LanguageClient,
                                                                     tmp_path: Path) -> None:
    path = tmp_path / "scope.zx"
    await open_document(client, path, PROGRAM)
    # inside `report`, after `let label = ...`: its own locals, parameters, top-level names
    inside = position_of(PROGRAM, "  println(label)")
    items = await complete(client, path, inside)
    for name in ("avg", "label", "name", "xs", "mean", "report", "other", "data", "total"):
        assert name in items, name
    assert items["mean"].kind == types.CompletionItemKind.Function
    assert items["xs"].kind == types.CompletionItemKind.Variable
    assert set(KEYWORDS) <= set(items)
    assert set(BUILTINS) <= set(items)
    assert items["len"].detail == BUILTINS["len"].signature
    assert "list_sum" in items  # engine ops are callable as bare names
    # `avg` is local to report(): not visible at the top level
    top = await complete(client, path, position_of(PROGRAM, 'memory.put("last"'))
    assert "avg" not in top and "data" in top and "total" in top


async def test_completion_on_a_broken_document_uses_the_last_good_names(
        client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "typing.zx"
    await open_document(client, path, PROGRAM)
    broken = PROGRAM + "let next = (to"
    await change_document(client, path, broken, version=2)
    items = await complete(client, path, position_of(broken, "(to", offset=3))
    assert {"total", "data", "report", "next"} <= set(items)


# ---- hover ---------------------------------------------------------------------------------------

async def hover_text(client: LanguageClient, path: Path, position: types.Position) -> str | None:
    result = await request(client.text_document_hover_async(types.HoverParams(
        text_document=doc_id(path), position=position)))
    return None if result is None else result.contents.value


async def test_hover_shows_builtin_and_engine_signatures_with_docs(client: LanguageClient,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "hover.zx"
    await open_document(client, path, PROGRAM)
    text = await hover_text(client, path, position_of(PROGRAM, "len(xs)", offset=1))
    assert BUILTINS["len"].signature in text and BUILTINS["len"].doc in text
    text = await hover_text(client, path, position_of(PROGRAM, "list_sum", offset=2))
    assert f"engine.{OPS['list_sum'].signature}" in text and OPS["list_sum"].doc in text
    text = await hover_text(client, path, position_of(PROGRAM, "memory.put", offset=8))
    assert "memory.put(" in text


async def test_hover_shows_types_of_user_definitions(client: LanguageClient,
                                                     tmp_path: Path) -> None:
    path = tmp_path / "types.zx"
    await open_document(client, path, PROGRAM)
    # annotated function, at a call site
    text = await hover_text(client, path, position_of(PROGRAM, "mean(xs)\n", offset=1))
    assert "fn mean(xs: Scores) -> Float" in text
    # result type inferred from the body
    text = await hover_text(client, path, position_of(PROGRAM, "fn report", offset=4))
    assert "fn report(name: String, xs) -> String" in text
    # variables: inferred from their values
    assert "let total: Float" in await hover_text(client, path,
                                                  position_of(PROGRAM, "let total", offset=5))
    assert "let data: [Float]" in await hover_text(client, path,
                                                   position_of(PROGRAM, "let data", offset=5))
    assert "let avg: Float" in await hover_text(client, path,
                                                position_of(PROGRAM, "str(avg)", offset=5))
    # a parameter with an annotation
    assert "(parameter) name: String" in await hover_text(
        client, path, position_of(PROGRAM, "name + ", offset=1))
    # nothing to say about a number
    assert await hover_text(client, path, position_of(PROGRAM, "2.5")) is None


# ---- navigation ----------------------------------------------------------------------------------

async def test_go_to_definition(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "nav.zx"
    await open_document(client, path, PROGRAM)
    result = await request(client.text_document_definition_async(types.DefinitionParams(
        text_document=doc_id(path), position=position_of(PROGRAM, "report(\"run\"", offset=2))))
    location = result[0] if isinstance(result, list) else result
    assert location.uri == path.as_uri()
    assert location.range == range_of(PROGRAM, "report", occurrence=1)
    # the `label` of other() is its own, not report()'s
    result = await request(client.text_document_definition_async(types.DefinitionParams(
        text_document=doc_id(path), position=position_of(PROGRAM, "  label\n}", occurrence=2,
                                                         offset=3))))
    location = result[0] if isinstance(result, list) else result
    assert location.range == range_of(PROGRAM, "label", occurrence=4)


async def test_go_to_definition_in_an_imported_file(client: LanguageClient,
                                                    tmp_path: Path) -> None:
    lib = tmp_path / "lib.zx"
    lib.write_text("pub fn double(x) -> Int: x * 2\nlet hidden = 1\n", encoding="utf-8")
    text = 'import "lib.zx"\ndouble(21)\n'
    path = tmp_path / "main.zx"
    await open_document(client, path, text)
    result = await request(client.text_document_definition_async(types.DefinitionParams(
        text_document=doc_id(path), position=position_of(text, "double(21)", offset=1))))
    location = result[0] if isinstance(result, list) else result
    assert location.uri == lib.as_uri()
    assert location.range == range_of(lib.read_text(), "double")


async def test_find_references(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "refs.zx"
    await open_document(client, path, PROGRAM)
    result = await request(client.text_document_references_async(types.ReferenceParams(
        text_document=doc_id(path), position=position_of(PROGRAM, "fn mean", offset=4),
        context=types.ReferenceContext(include_declaration=True))))
    assert sorted((r.range.start.line, r.range.start.character) for r in result) == sorted(
        [(position_of(PROGRAM, "mean", occurrence=1).line,
          position_of(PROGRAM, "mean", occurrence=1).character),
         (position_of(PROGRAM, "mean", occurrence=2).line,
          position_of(PROGRAM, "mean", occurrence=2).character)])
    assert all(r.uri == path.as_uri() for r in result)


async def test_document_symbols(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "outline.zx"
    await open_document(client, path, PROGRAM)
    result = await request(client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=doc_id(path))))
    names = [(s.name, s.kind) for s in result]
    assert names == [("Scores", types.SymbolKind.TypeParameter),
                     ("mean", types.SymbolKind.Function),
                     ("report", types.SymbolKind.Function),
                     ("other", types.SymbolKind.Function),
                     ("data", types.SymbolKind.Variable),
                     ("total", types.SymbolKind.Variable)]
    report = result[2]
    assert [c.name for c in report.children] == ["avg", "label"]
    assert report.selection_range == range_of(PROGRAM, "report")


# ---- rename --------------------------------------------------------------------------------------

async def test_rename_a_local_variable(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "rename.zx"
    await open_document(client, path, PROGRAM)
    at = position_of(PROGRAM, "println(label)", offset=9)
    prepared = await request(client.text_document_prepare_rename_async(
        types.PrepareRenameParams(text_document=doc_id(path), position=at)))
    assert prepared.placeholder == "label"
    edit = await request(client.text_document_rename_async(types.RenameParams(
        text_document=doc_id(path), position=at, new_name="message")))
    edits = edit.changes[path.as_uri()]
    # report()'s label: its definition and its two uses; other()'s label is untouched
    assert sorted((e.range.start.line, e.range.start.character) for e in edits) == sorted(
        (r.start.line, r.start.character)
        for r in (range_of(PROGRAM, "label", 1), range_of(PROGRAM, "label", 2),
                  range_of(PROGRAM, "label", 3)))
    assert all(e.new_text == "message" for e in edits)
    renamed = _apply(PROGRAM, edits)
    assert "let message = name" in renamed and "println(message)" in renamed
    assert "let label = 3 * 2.5\n  label\n" in renamed
    assert await change_document(client, path, renamed, version=2) == []


async def test_rename_refuses_keywords_and_builtins(client: LanguageClient,
                                                   tmp_path: Path) -> None:
    path = tmp_path / "refuse.zx"
    await open_document(client, path, PROGRAM)
    at = position_of(PROGRAM, "let total", offset=5)
    with pytest.raises(JsonRpcException):
        await request(client.text_document_rename_async(types.RenameParams(
            text_document=doc_id(path), position=at, new_name="while")))
    with pytest.raises(JsonRpcException):
        await request(client.text_document_rename_async(types.RenameParams(
            text_document=doc_id(path), position=at, new_name="2x")))
    # a built-in is not a name of this file
    prepared = await request(client.text_document_prepare_rename_async(types.PrepareRenameParams(
        text_document=doc_id(path), position=position_of(PROGRAM, "len(xs)", offset=1))))
    assert prepared is None


def _apply(text: str, edits: list[types.TextEdit]) -> str:
    lines = text.split("\n")
    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character),
                    reverse=True):
        assert e.range.start.line == e.range.end.line
        line = lines[e.range.start.line]
        lines[e.range.start.line] = (line[:e.range.start.character] + e.new_text
                                     + line[e.range.end.character:])
    return "\n".join(lines)


# ---- robustness ----------------------------------------------------------------------------------

BROKEN = [
    "",
    "(((((((((((((((((((",
    "let = = = ",
    "fn (",
    '"unterminated',
    "match x {",
    "if x:\n  \n    y\n z",
    "[" * 5000,
    "let x = 1\n" + "x." * 200,
    "\x00\x01\x02 \ud7ff \ufeff",
    "engine.\nmemory.\nimport\npython",
    "fn f(a: [{(Int) ->}]) -> : 1",
]


async def test_broken_documents_never_crash_the_server(client: LanguageClient,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "fuzz.zx"
    await open_document(client, path, "let ok = 1\n")
    for version, text in enumerate(BROKEN, start=2):
        await change_document(client, path, text, version)
        for line in range(0, text.count("\n") + 2):
            for character in (0, 1, 5, 10_000):
                position = types.Position(line=line, character=character)
                await complete(client, path, position)
                await hover_text(client, path, position)
                await request(client.text_document_definition_async(types.DefinitionParams(
                    text_document=doc_id(path), position=position)))
                await request(client.text_document_document_symbol_async(
                    types.DocumentSymbolParams(text_document=doc_id(path))))
    # still serving, and still right
    diagnostics = await change_document(client, path, PROGRAM, version=len(BROKEN) + 2)
    assert diagnostics == []
    assert "fn mean" in await hover_text(client, path, position_of(PROGRAM, "fn mean", offset=4))
    assert client.error is None


# ---- imports and unsaved documents ---------------------------------------------------------------

async def test_completion_and_hover_through_an_import_alias(client: LanguageClient,
                                                            tmp_path: Path) -> None:
    (tmp_path / "geometry.zx").write_text(
        "pub fn area(w: Float, h: Float) -> Float: w * h\npub let unit = 1.0\nlet private = 0\n",
        encoding="utf-8")
    text = 'import "geometry.zx" as geo\ngeo.\n'
    path = tmp_path / "shapes.zx"
    await open_document(client, path, text)
    items = await complete(client, path, position_of(text, "geo.\n", offset=4))
    assert set(items) == {"area", "unit"}
    assert items["area"].kind == types.CompletionItemKind.Function
    text = 'import "geometry.zx" as geo\ngeo.area(2.0, 3.0)\n'
    assert await change_document(client, path, text, version=2) == []
    hover = await hover_text(client, path, position_of(text, "geo.", offset=1))
    assert 'import "geometry.zx" as geo' in hover
    hover = await hover_text(client, path, position_of(text, "area(", offset=1))
    assert "pub fn area(w: Float, h: Float) -> Float" in hover
    result = await request(client.text_document_definition_async(types.DefinitionParams(
        text_document=doc_id(path), position=position_of(text, "area(", offset=2))))
    location = result[0] if isinstance(result, list) else result
    assert location.uri == (tmp_path / "geometry.zx").as_uri()
    assert location.range.start == types.Position(line=0, character=7)


async def test_an_unsaved_document_is_served_too(client: LanguageClient) -> None:
    uri = "untitled:Untitled-1"
    text = "let n = 41\nn + missing\n"
    diagnostics = await diagnostics_after(client, uri, 1, lambda: client.text_document_did_open(
        types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=uri, language_id="zixir", version=1, text=text))))
    assert [d.range for d in diagnostics] == [range_of(text, "missing")]
    result = await request(client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=position_of(text, "n + missing"))))
    assert "let n: Int" in result.contents.value


# ---- signature help ------------------------------------------------------------------------------

async def test_signature_help_for_engine_ops_builtins_and_user_functions(
        client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "sig.zx"
    await open_document(client, path, PROGRAM)
    typing = PROGRAM + "engine.dot_product(data, "
    await change_document(client, path, typing, version=2)

    async def help_at(position: types.Position) -> types.SignatureHelp | None:
        return await request(client.text_document_signature_help_async(types.SignatureHelpParams(
            text_document=doc_id(path), position=position)))

    result = await help_at(position_of(typing, "data, ", occurrence=1, offset=6))
    (signature,) = result.signatures
    assert signature.label == f"engine.{OPS['dot_product'].signature}"
    assert result.active_parameter == 1
    start, end = signature.parameters[1].label
    assert signature.label[start:end] == "ys: [Float]"

    result = await help_at(position_of(typing, "len(xs)", offset=4))
    assert result.signatures[0].label == BUILTINS["len"].signature
    assert result.active_parameter == 0

    result = await help_at(position_of(typing, 'report("run", ', offset=len('report("run", ')))
    assert result.signatures[0].label.startswith("fn report(name: String, xs")
    assert result.active_parameter == 1
    # outside any call: nothing
    assert await help_at(position_of(typing, "let total")) is None


async def test_task_builtins_in_completion_hover_and_signature_help(
        client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "tasks.zx"
    text = "let t = spawn(() => 1)\nlet v = await(t, 2)\nlet r = pmap([1, 2], x => x, 8)\n"
    await open_document(client, path, text)
    items = await complete(client, path, position_of(text, "let r"))
    for name in ("spawn", "await", "await_all", "pmap"):
        assert items[name].detail == BUILTINS[name].signature
    hover = await hover_text(client, path, position_of(text, "spawn", offset=1))
    assert BUILTINS["spawn"].signature in hover and "concurrently" in hover
    result = await request(client.text_document_signature_help_async(types.SignatureHelpParams(
        text_document=doc_id(path), position=position_of(text, "8)", offset=0))))
    (signature,) = result.signatures
    assert signature.label == "pmap(xs, f, n?) -> List"
    assert result.active_parameter == 2
    result = await request(client.text_document_signature_help_async(types.SignatureHelpParams(
        text_document=doc_id(path), position=position_of(text, "2)", offset=0))))
    assert result.signatures[0].label == BUILTINS["await"].signature
    assert result.active_parameter == 1
