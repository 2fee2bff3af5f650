"""Edits that must keep the program's meaning: safe rename, formatting with the editor's
options, range formatting; and signature help's offsets in UTF-16 code units."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from zixir.lang.formatter import format_source

from .conftest import apply_edits, change_document, open_document, position_of, request

pytestmark = pytest.mark.asyncio


def doc_id(path: Path) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=path.as_uri())


async def _rename(client: LanguageClient, path: Path, text: str, at: types.Position,
                  new_name: str) -> str:
    edit = await request(client.text_document_rename_async(types.RenameParams(
        text_document=doc_id(path), position=at, new_name=new_name)))
    return apply_edits(text, edit.changes[path.as_uri()])


async def _refused(client: LanguageClient, path: Path, at: types.Position,
                   new_name: str) -> str:
    with pytest.raises(JsonRpcException) as caught:
        await request(client.text_document_rename_async(types.RenameParams(
            text_document=doc_id(path), position=at, new_name=new_name)))
    return str(caught.value)


# ---- rename ------------------------------------------------------------------------------------

CAPTURE = """\
let a = 100
fn f(a) {
  let b = 2
  a + b
}
fn g(x) {
  let c = x
  c + a
}
let total = 3
let n = len([1, 2]) + total
f(1) + g(2) + n
"""


async def test_rename_refuses_a_name_that_captures_or_is_captured(client: LanguageClient,
                                                                  tmp_path: Path) -> None:
    path = tmp_path / "capture.zx"
    assert await open_document(client, path, CAPTURE) == []
    # b -> a next to the parameter a: `a + b` would become `a + a`
    message = await _refused(client, path, position_of(CAPTURE, "b = 2"), "a")
    assert "'b' to 'a'" in message and "line 4" in message
    # c -> a: the use of the top-level a on line 8 would now find the local
    message = await _refused(client, path, position_of(CAPTURE, "c = x"), "a")
    assert "line 8" in message
    # the top-level a -> c: its use in g would be captured by g's local c
    message = await _refused(client, path, position_of(CAPTURE, "a = 100", offset=0), "c")
    assert "capture" in message
    # total -> len: len is used in its scope and would be hidden
    message = await _refused(client, path, position_of(CAPTURE, "total = 3"), "len")
    assert "built-in 'len'" in message
    # keywords and non-names
    for bad in ("while", "2x", "a-b", ""):
        assert "not a valid Zixir name" in await _refused(
            client, path, position_of(CAPTURE, "total = 3"), bad)


async def test_a_safe_rename_is_done_and_keeps_the_program_valid(client: LanguageClient,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "safe.zx"
    await open_document(client, path, CAPTURE)
    renamed = await _rename(client, path, CAPTURE, position_of(CAPTURE, "b = 2"), "step")
    assert "let step = 2\n  a + step\n" in renamed
    # shadowing a built-in that is not used where the new name is visible is fine
    renamed = await _rename(client, path, CAPTURE, position_of(CAPTURE, "c = x"), "max")
    assert "let max = x\n  max + a\n" in renamed
    assert await change_document(client, path, renamed, version=2) == []


# ---- formatting ------------------------------------------------------------------------------

NESTED = "fn f(x){\n if x > 0 {\n x*2 } else {\n 0 } }\nlet y = f( 3 )\n"


async def _format(client: LanguageClient, path: Path, tab_size: int,
                  insert_spaces: bool) -> list[types.TextEdit]:
    return await request(client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=doc_id(path),
        options=types.FormattingOptions(tab_size=tab_size, insert_spaces=insert_spaces))))


async def test_formatting_follows_tab_size_and_insert_spaces(client: LanguageClient,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "indent.zx"
    await open_document(client, path, NESTED)
    canonical = format_source(NESTED)
    assert "\n  if x > 0 {\n    x * 2\n" in canonical  # what `zixir fmt` writes: 2 spaces
    assert apply_edits(NESTED, await _format(client, path, 2, True)) == canonical
    four = apply_edits(NESTED, await _format(client, path, 4, True))
    assert four == _levels(canonical, "    ")
    assert "\n        x * 2\n" in four
    tabs = apply_edits(NESTED, await _format(client, path, 4, False))
    assert tabs == _levels(canonical, "\t")
    assert "\n\t\tx * 2\n" in tabs
    # the re-indented text still formats back to the canonical layout
    assert format_source(four) == canonical and format_source(tabs) == canonical


def _levels(text: str, unit: str) -> str:
    """Each 2-space level of indentation of `text` as `unit`."""
    out = []
    for line in text.split("\n"):
        body = line.lstrip(" ")
        out.append(unit * ((len(line) - len(body)) // 2) + body)
    return "\n".join(out)


RANGED = """\
let   a=1
fn  f(x){ x*2 }

let  untouched   =   [1,2,3]
"""


async def test_range_formatting_changes_only_the_statements_in_range(client: LanguageClient,
                                                                     tmp_path: Path) -> None:
    path = tmp_path / "range.zx"
    await open_document(client, path, RANGED)
    selection = types.Range(start=position_of(RANGED, "x*2"), end=position_of(RANGED, " }"))
    edits = await request(client.text_document_range_formatting_async(
        types.DocumentRangeFormattingParams(
            text_document=doc_id(path), range=selection,
            options=types.FormattingOptions(tab_size=2, insert_spaces=True))))
    result = apply_edits(RANGED, edits)
    assert result == "let   a=1\nfn f(x) { x * 2 }\n\nlet  untouched   =   [1,2,3]\n"
    # a range over everything formats everything; a broken file is left alone
    everything = types.Range(start=types.Position(line=0, character=0),
                             end=types.Position(line=4, character=0))
    edits = await request(client.text_document_range_formatting_async(
        types.DocumentRangeFormattingParams(
            text_document=doc_id(path), range=everything,
            options=types.FormattingOptions(tab_size=2, insert_spaces=True))))
    assert apply_edits(RANGED, edits) == format_source(RANGED)
    broken = RANGED + "let z = (1 +\n"
    await change_document(client, path, broken, version=2)
    assert not await request(client.text_document_range_formatting_async(
        types.DocumentRangeFormattingParams(
            text_document=doc_id(path), range=everything,
            options=types.FormattingOptions(tab_size=2, insert_spaces=True))))


# ---- signature help --------------------------------------------------------------------------

async def test_signature_help_parameter_offsets_are_utf16(client: LanguageClient,
                                                          tmp_path: Path) -> None:
    # 𝑥 (U+1D465) is a letter outside the BMP: one character, two UTF-16 code units
    valid = "fn area(𝑥𝑥: Float, 𝑦: Float) -> Float: 𝑥𝑥 * 𝑦\n"
    text = valid + "area(1.0, "
    path = tmp_path / "wide.zx"
    await open_document(client, path, valid)
    await change_document(client, path, text, version=2)
    result = await request(client.text_document_signature_help_async(types.SignatureHelpParams(
        text_document=doc_id(path), position=position_of(text, "area(1.0, ", offset=10))))
    (signature,) = result.signatures
    assert result.active_parameter == 1
    utf16 = signature.label.encode("utf-16-le")
    labels = []
    for parameter in signature.parameters:
        start, end = parameter.label
        labels.append(utf16[2 * start:2 * end].decode("utf-16-le"))
    assert labels == ["𝑥𝑥: Float", "𝑦: Float"]


async def test_renaming_a_pub_name_renames_it_in_the_files_importing_it(
        client: LanguageClient, tmp_path: Path) -> None:
    lib = tmp_path / "lib.zx"
    texts = {
        "lib.zx": "pub fn helper(x) -> Int: x + 1\nhelper(2)\n",
        "plain.zx": 'import "lib.zx"\nlet r = helper(1)\nr\n',
        "aliased.zx": 'import "lib.zx" as m\nm.helper(3)\n',
        "clash.zx": 'import "lib.zx"\nlet aid = 1\nhelper(aid)\n',
        "unrelated.zx": "fn helper(y) { y }\nhelper(4)\n",
    }
    for name, text in texts.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    await open_document(client, lib, texts["lib.zx"])
    at = position_of(texts["lib.zx"], "helper")
    edit = await request(client.text_document_rename_async(types.RenameParams(
        text_document=doc_id(lib), position=at, new_name="assist")))
    renamed = {Path(uri).name: apply_edits(texts[Path(uri).name], edits)
               for uri, edits in ((u.removeprefix("file://"), e)
                                  for u, e in edit.changes.items())}
    assert renamed == {name: text.replace("helper", "assist") for name, text in texts.items()
                       if name != "unrelated.zx"}
    # a name that an importer already uses would capture its use there
    message = await _refused(client, lib, at, "aid")
    assert "clash.zx" in message and "capture" in message
