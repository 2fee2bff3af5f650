"""The language server knows the `agent` namespace: completion, hover, signature help and
arity diagnostics, through the real server process."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from zixir.lang.builtins import AGENT_MEMBERS

from .conftest import change_document, open_document, position_of, request
from .test_server import complete, doc_id, hover_text

pytestmark = pytest.mark.asyncio

PROGRAM = """\
let name = agent.start("c", "counters", "Counter", [1], {restart: "transient"})
let n = agent.call(name, "add", [2])
println(agent.status(name))
"""


async def test_completion_offers_agent_members(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "complete.zx"
    text = "agent.s"
    await open_document(client, path, text)
    items = await complete(client, path, types.Position(line=0, character=len(text)))
    assert set(items) == {"start", "call", "stop", "list", "status"}
    assert items["start"].detail == AGENT_MEMBERS["start"].signature
    assert AGENT_MEMBERS["call"].doc in items["call"].documentation.value


async def test_hover_and_signature_help_on_agent_calls(client: LanguageClient,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "hover.zx"
    await open_document(client, path, PROGRAM)
    text = await hover_text(client, path, position_of(PROGRAM, "agent.call", offset=7))
    assert AGENT_MEMBERS["call"].signature in text and AGENT_MEMBERS["call"].doc in text
    typing = PROGRAM + 'agent.call("c", '
    await change_document(client, path, typing, version=2)
    result = await request(client.text_document_signature_help_async(types.SignatureHelpParams(
        text_document=doc_id(path), position=position_of(typing, 'agent.call("c", ',
                                                          occurrence=1, offset=16))))
    (signature,) = result.signatures
    assert signature.label == AGENT_MEMBERS["call"].signature
    assert result.active_parameter == 1


async def test_agent_arity_is_a_diagnostic(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "arity.zx"
    text = 'agent.call("c")\nagent.list(1)\n'
    diagnostics = await open_document(client, path, text)
    messages = sorted(d.message for d in diagnostics)
    assert any("agent.call expects 2 to 3 arguments, got 1" in m for m in messages), messages
    assert any("agent.list expects no arguments, got 1" in m
               or "agent.list expects 0 arguments, got 1" in m for m in messages), messages
