"""The command line the extension starts the server with.

vscode-languageclient starts `<zixir> lsp` with `--stdio` and `--clientProcessId=<pid>`
appended (`TransportKind.stdio`); a server that rejected them would never start in VS Code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from zixir.cli import build_parser, cmd_lsp

DEADLINE = 60.0


def test_lsp_accepts_the_flags_the_language_client_appends() -> None:
    args = build_parser().parse_args(["lsp", "--stdio", "--clientProcessId=4242"])
    assert args.handler is cmd_lsp
    assert args.stdio is True


def _frame(message: dict) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read_message(stream) -> dict:
    length = None
    while True:
        line = stream.readline()
        assert line, "the server closed stdout before answering"
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    assert length is not None
    return json.loads(stream.read(length))


def test_server_started_like_vscode_starts_it_answers_initialize(tmp_path) -> None:
    command = [sys.executable, "-m", "zixir", "lsp", "--stdio", f"--clientProcessId={os.getpid()}"]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        proc.stdin.write(_frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "processId": os.getpid(), "rootUri": tmp_path.as_uri(), "capabilities": {}}}))
        proc.stdin.flush()
        reply = _read_message(proc.stdout)
        assert reply["id"] == 1
        capabilities = reply["result"]["capabilities"]
        assert capabilities["hoverProvider"] and capabilities["completionProvider"]
        proc.stdin.write(_frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
        proc.stdin.write(_frame({"jsonrpc": "2.0", "method": "exit"}))
        proc.stdin.flush()
        assert proc.wait(timeout=DEADLINE) == 0, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
