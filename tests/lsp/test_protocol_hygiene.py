"""The server's promises about its own failures: stdout carries only the protocol, and an
exception inside a handler is logged and answered, never fatal.

Each test starts the real server through a small launcher that first sabotages it (code that
prints to fd 1 through Python and through the OS, or a feature that raises), then calls
`zixir.lsp.server.main()` exactly as `zixir lsp` does.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from .conftest import DEADLINE, accept_registrations, open_document, position_of, request

pytestmark = pytest.mark.asyncio

NOISY = textwrap.dedent("""
    import os
    from zixir.lsp import server

    real_analyze = server.analyze

    def noisy_analyze(*args, **kwargs):
        print("noise from print")
        os.write(1, b"noise written to fd 1\\n")
        return real_analyze(*args, **kwargs)

    server.analyze = noisy_analyze
    server.main()
""")

FAULTY = textwrap.dedent("""
    from zixir.lsp import features, server

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in a feature")

    features.hover = broken
    features.completions = broken
    server.main()
""")


async def _start(client: LanguageClient, tmp_path: Path) -> None:
    accept_registrations(client)
    await asyncio.wait_for(client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=tmp_path.as_uri())),
        DEADLINE)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-c", NOISY]))
async def noisy(lsp_client: LanguageClient, tmp_path: Path):
    await _start(lsp_client, tmp_path)
    yield
    await asyncio.wait_for(lsp_client.shutdown_session(), DEADLINE)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-c", FAULTY]))
async def faulty(lsp_client: LanguageClient, tmp_path: Path):
    await _start(lsp_client, tmp_path)
    yield
    await asyncio.wait_for(lsp_client.shutdown_session(), DEADLINE)


async def test_prints_during_analysis_do_not_reach_the_protocol(noisy: LanguageClient,
                                                               tmp_path: Path) -> None:
    text = "let x = 1\nlet y = x @ 2\n"
    for version in (1, 2, 3):
        path = tmp_path / f"doc{version}.zx"
        (diag,) = await open_document(noisy, path, text, version=version)
        assert "Unexpected character '@'" in diag.message
    assert noisy.error is None  # a malformed frame would have been reported here


async def test_a_failing_handler_answers_and_the_server_lives_on(faulty: LanguageClient,
                                                                 tmp_path: Path) -> None:
    text = "fn double(x) -> Int: x * 2\ndouble(4)\n"
    path = tmp_path / "doc.zx"
    assert await open_document(faulty, path, text) == []
    doc = types.TextDocumentIdentifier(uri=path.as_uri())
    at = position_of(text, "double(4)", offset=1)
    assert await request(faulty.text_document_hover_async(
        types.HoverParams(text_document=doc, position=at))) is None
    completion = await request(faulty.text_document_completion_async(
        types.CompletionParams(text_document=doc, position=at)))
    assert list(completion.items) == []
    # features that were not sabotaged still work in the same process
    location = await request(faulty.text_document_definition_async(
        types.DefinitionParams(text_document=doc, position=at)))
    location = location[0] if isinstance(location, list) else location
    assert location.range.start == position_of(text, "double")
    assert faulty.error is None
