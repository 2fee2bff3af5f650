"""Semantic tokens, inlay hints, quick fixes, folding, workspace symbols and document links,
through the real server process."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from zixir.lang.builtins import BUILTINS
from zixir.lang.lexer import KEYWORDS

from .conftest import apply_edits, open_document, position_of, request

pytestmark = pytest.mark.asyncio

PROGRAM = """\
import "geometry.zx" as geo
# Statistics over a list,
# with a native kernel.
fn mean(xs: [Float]) -> Float: engine.list_sum(xs) / len(xs)

let data = [
  1.0,
  2.5,
]
let total = mean(data) + 3
let label = "n=" + str(total)
memory.put("last", label)
"""
GEOMETRY = "pub fn area(w: Float, h: Float) -> Float: w * h\npub let unit = 1.0\nlet hidden = 2\n"


def doc_id(path: Path) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=path.as_uri())


async def _setup(client: LanguageClient, tmp_path: Path) -> Path:
    (tmp_path / "geometry.zx").write_text(GEOMETRY, encoding="utf-8")
    path = tmp_path / "main.zx"
    assert await open_document(client, path, PROGRAM) == []
    return path


def _decode(text: str, data: list[int], legend: types.SemanticTokensLegend):
    """(word, type, modifiers) of each token, from the protocol's relative encoding."""
    lines = text.split("\n")
    out, line, start = [], 0, 0
    for i in range(0, len(data), 5):
        delta_line, delta_start, length, kind, bits = data[i:i + 5]
        line += delta_line
        start = start + delta_start if delta_line == 0 else delta_start
        word = lines[line].encode("utf-16-le")[2 * start:2 * (start + length)].decode("utf-16-le")
        modifiers = {m for b, m in enumerate(legend.token_modifiers) if bits & (1 << b)}
        out.append((word, legend.token_types[kind], modifiers))
    return out


async def test_semantic_tokens_classify_every_kind_of_word(client: LanguageClient,
                                                           tmp_path: Path) -> None:
    path = await _setup(client, tmp_path)
    legend = client.server_capabilities.semantic_tokens_provider.legend
    assert client.server_capabilities.semantic_tokens_provider.range
    result = await request(client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(text_document=doc_id(path))))
    tokens = _decode(PROGRAM, list(result.data), legend)
    kinds: dict[str, set] = {}
    for word, kind, modifiers in tokens:
        kinds.setdefault(word, set()).add((kind, frozenset(modifiers)))
    assert ("keyword", frozenset()) in kinds["fn"] and ("keyword", frozenset()) in kinds["let"]
    assert ("keyword", frozenset()) in kinds["as"]
    assert ("function", frozenset({"declaration"})) in kinds["mean"]
    assert ("function", frozenset()) in kinds["mean"]  # the call
    assert ("parameter", frozenset({"declaration"})) in kinds["xs"]
    assert ("parameter", frozenset()) in kinds["xs"]
    assert ("variable", frozenset({"declaration"})) in kinds["total"]
    assert ("function", frozenset({"defaultLibrary"})) in kinds["len"]
    assert ("function", frozenset({"defaultLibrary"})) in kinds["list_sum"]
    assert kinds["engine"] == {("namespace", frozenset({"defaultLibrary"}))}
    assert kinds["memory"] == {("namespace", frozenset({"defaultLibrary"}))}
    assert ("namespace", frozenset({"declaration"})) in kinds["geo"]
    assert kinds['"n="'] == {("string", frozenset())}
    assert kinds["2.5"] == {("number", frozenset())}
    assert kinds["# Statistics over a list,"] == {("comment", frozenset())}
    assert ("operator", frozenset()) in kinds["+"] and ("operator", frozenset()) in kinds["->"]
    assert ("type", frozenset({"defaultLibrary"})) in kinds["Float"]
    # a range asks only for its lines
    ranged = await request(client.text_document_semantic_tokens_range_async(
        types.SemanticTokensRangeParams(text_document=doc_id(path), range=types.Range(
            start=position_of(PROGRAM, "let total"), end=position_of(PROGRAM, "let label")))))
    words = [w for w, _, _ in _decode(PROGRAM, list(ranged.data), legend)]
    assert words[:2] == ["let", "total"] and "label" not in words and "fn" not in words


async def test_semantic_tokens_follow_the_language_registries(client: LanguageClient,
                                                              tmp_path: Path) -> None:
    # every keyword of the lexer is a keyword token, every built-in a defaultLibrary function
    keywords = sorted(KEYWORDS - {"import", "pub", "type", "python"})
    text = "\n".join(f"# {k}\nlet k_{i} = 0\n{k}" for i, k in enumerate(keywords)) + "\n"
    path = tmp_path / "words.zx"
    await open_document(client, path, "\n".join(sorted(BUILTINS)) + "\n")
    legend = client.server_capabilities.semantic_tokens_provider.legend
    result = await request(client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(text_document=doc_id(path))))
    found = _decode("\n".join(sorted(BUILTINS)) + "\n", list(result.data), legend)
    assert {w for w, _, _ in found} == set(BUILTINS)
    assert all(kind == "function" and "defaultLibrary" in mods for _, kind, mods in found)
    path = tmp_path / "keywords.zx"
    path.write_text(text, encoding="utf-8")
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=path.as_uri(), language_id="zixir", version=1,
                                             text=text)))
    result = await request(client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(text_document=doc_id(path))))
    found = _decode(text, list(result.data), legend)
    assert {w for w, kind, _ in found if kind == "keyword"} == set(keywords)


async def test_inlay_hints_show_known_inferred_types_only(client: LanguageClient,
                                                          tmp_path: Path) -> None:
    text = ("fn double(x: Int) -> Int: x * 2\nlet total = 1 + 2.5\nlet n: Int = 3\n"
            "let d = double(4)\nlet unknown = python \"json\" \"loads\" (\"1\")\n")
    path = tmp_path / "hints.zx"
    await open_document(client, path, text)
    found = await request(client.text_document_inlay_hint_async(types.InlayHintParams(
        text_document=doc_id(path), range=types.Range(
            start=types.Position(line=0, character=0), end=types.Position(line=5, character=0)))))
    shown = {(h.position.line, h.position.character): h.label for h in found}
    assert shown == {(1, len("let total")): ": Float", (3, len("let d")): ": Int"}
    assert all(h.kind == types.InlayHintKind.Type for h in found)


async def test_quick_fixes_for_an_undefined_name(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "geometry.zx").write_text(GEOMETRY, encoding="utf-8")
    text = "let total = 3\nprintln(totl)\nlet a = area(2.0, 3.0)\n"
    path = tmp_path / "fixme.zx"
    diagnostics = await open_document(client, path, text)
    by_name = {d.message.split(": ")[-1]: d for d in diagnostics}
    assert set(by_name) == {"totl", "area"}

    async def fixes_for(diagnostic: types.Diagnostic) -> list[types.CodeAction]:
        return await request(client.text_document_code_action_async(types.CodeActionParams(
            text_document=doc_id(path), range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic]))))

    (fix,) = [a for a in await fixes_for(by_name["totl"]) if "total" in a.title]
    assert fix.kind == types.CodeActionKind.QuickFix and fix.is_preferred
    assert list(fix.diagnostics) == [by_name["totl"]]
    assert apply_edits(text, fix.edit.changes[path.as_uri()]) == text.replace("totl", "total")

    (fix,) = [a for a in await fixes_for(by_name["area"]) if "Import" in a.title]
    assert '"geometry.zx"' in fix.title and list(fix.diagnostics) == [by_name["area"]]
    fixed = apply_edits(text, fix.edit.changes[path.as_uri()])
    assert fixed == 'import "geometry.zx"\n' + text
    diagnostics = await open_document(client, tmp_path / "fixed.zx", fixed)
    assert [d.message for d in diagnostics] == ["Undefined variable: totl"]


async def test_folding_ranges(client: LanguageClient, tmp_path: Path) -> None:
    text = ('import "a.zx"\nimport "b.zx"\n# one\n# two\nfn f(x) {\n  let xs = [\n    1,\n'
            '    2,\n  ]\n  x\n}\n')
    for name in ("a.zx", "b.zx"):
        (tmp_path / name).write_text("pub let z = 1\n", encoding="utf-8")
    path = tmp_path / "folds.zx"
    await open_document(client, path, text)
    found = await request(client.text_document_folding_range_async(types.FoldingRangeParams(
        text_document=doc_id(path))))
    got = sorted((f.start_line, f.end_line, f.kind) for f in found)
    assert got == [(0, 1, types.FoldingRangeKind.Imports), (2, 3, types.FoldingRangeKind.Comment),
                   (4, 9, types.FoldingRangeKind.Region), (5, 7, types.FoldingRangeKind.Region)]


async def test_workspace_symbols_with_a_query(client: LanguageClient, tmp_path: Path) -> None:
    await _setup(client, tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.zx").write_text("fn mean_of(a) { a }\n", encoding="utf-8")
    found = await request(client.workspace_symbol_async(types.WorkspaceSymbolParams(query="")))
    assert {s.name for s in found} >= {"mean", "data", "total", "label", "area", "unit",
                                       "hidden", "mean_of"}
    found = await request(client.workspace_symbol_async(types.WorkspaceSymbolParams(query="mn")))
    assert {s.name for s in found} == {"mean", "mean_of"}
    (more,) = [s for s in found if s.name == "mean_of"]
    assert more.location.uri == (tmp_path / "sub" / "more.zx").as_uri()
    assert more.location.range.start == types.Position(line=0, character=3)
    assert more.kind == types.SymbolKind.Function


async def test_document_links_on_import_paths(client: LanguageClient, tmp_path: Path) -> None:
    path = await _setup(client, tmp_path)
    found = await request(client.text_document_document_link_async(types.DocumentLinkParams(
        text_document=doc_id(path))))
    (link,) = found
    assert link.target == (tmp_path / "geometry.zx").as_uri()
    assert link.range.start == position_of(PROGRAM, '"geometry.zx"')
    assert link.range.end == position_of(PROGRAM, '"geometry.zx"', offset=len('"geometry.zx"'))
