"""`zixir lsp` as an editor starts it, and its end when the editor goes away.

The server is started through the installed console script with the argv vscode-languageclient
builds for `TransportKind.stdio` (`zixir lsp --stdio`, and `--clientProcessId=PID` as other
clients add). The end-of-life tests speak raw JSON-RPC through pipes they can close one by one.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, client_capabilities

from .conftest import DEADLINE

ZIXIR = str(Path(sys.executable).with_name("zixir"))
EXIT_DEADLINE = 15.0  # generous for a loaded machine; an idle one exits in well under 1 s
CPU_BUDGET = 1.0  # seconds of CPU the server may spend between losing its client and exiting



async def _session(argv: list[str], tmp_path: Path) -> int:
    client = await ClientServerConfig(server_command=argv).start()
    try:
        result = await asyncio.wait_for(client.initialize_session(types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=tmp_path.as_uri())), DEADLINE)
        assert result.server_info.name == "zixir-lsp"
        await asyncio.wait_for(client.shutdown_async(None), DEADLINE)
        client.exit(None)
        await asyncio.wait_for(client._server.wait(), DEADLINE)
        return client._server.returncode
    finally:
        if client._server.returncode is None:
            client._server.kill()
        await client.stop()


@pytest.mark.asyncio
@pytest.mark.parametrize("extra", [
    ["--stdio"],
    ["--stdio", f"--clientProcessId={os.getpid()}"],
    ["--clientProcessId", str(os.getpid()), "--stdio"],
    [],
], ids=["stdio", "stdio+pid=", "pid+stdio", "bare"])
async def test_the_argv_of_an_editor_starts_a_working_server(extra: list[str],
                                                              tmp_path: Path) -> None:
    assert await _session([ZIXIR, "lsp", *extra], tmp_path) == 0


@pytest.mark.parametrize("flag", ["--socket=5007", "--port=5007", "--pipe=/tmp/zixir.sock",
                                  "--node-ipc"])
def test_other_transports_are_refused_with_one_clear_line(flag: str) -> None:
    done = subprocess.run([ZIXIR, "lsp", flag], capture_output=True, text=True,
                          timeout=DEADLINE, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "only stdio is supported" in lines[0] and flag.split("=")[0] in lines[0]
    assert done.stdout == ""


# ---- the end of a session, through raw pipes ------------------------------------------------------

def _frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read(stream) -> dict:
    length = 0
    while True:
        line = stream.readline()
        if not line:
            raise EOFError("the server closed its output")
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        elif line == b"\r\n":
            return json.loads(stream.read(length))


def _start(*extra: str) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "zixir", "lsp", "--stdio", *extra],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    server.stdin.write(_frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                               "params": {"processId": None, "capabilities": {}}}))
    server.stdin.flush()
    while _read(server.stdout).get("id") != 1:
        pass
    server.stdin.write(_frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    server.stdin.flush()
    return server


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for_exit(server: subprocess.Popen, cpu_before: float) -> int:
    """The exit status; fails if the server is still there after EXIT_DEADLINE."""
    try:
        server.wait(EXIT_DEADLINE)
    except subprocess.TimeoutExpired:
        spent = _cpu_seconds(server.pid) - cpu_before
        server.kill()
        server.wait()
        pytest.fail(f"the server was still running {EXIT_DEADLINE}s after losing its client "
                    f"(and used {spent:.1f}s of CPU meanwhile)")
    return server.returncode


def _wait_reaped(server: subprocess.Popen) -> tuple[int, float]:
    """Wait for the server (bounded) and return its status and total CPU seconds."""
    deadline_pid, status, usage = 0, 0, None
    for _ in range(int(EXIT_DEADLINE * 20)):
        deadline_pid, status, usage = os.wait4(server.pid, os.WNOHANG)
        if deadline_pid:
            break
        time.sleep(0.05)
    if not deadline_pid:
        server.kill()
        server.wait()
        pytest.fail(f"the server was still running {EXIT_DEADLINE}s after losing its client")
    server.returncode = os.waitstatus_to_exitcode(status)
    return server.returncode, usage.ru_utime + usage.ru_stime


def test_closing_both_pipes_ends_the_server_promptly_and_quietly() -> None:
    server = _start()
    before = _cpu_seconds(server.pid)
    server.stdout.close()
    server.stdin.close()
    _, total = _wait_reaped(server)
    assert total - before < CPU_BUDGET


def test_end_of_stdin_alone_ends_the_server() -> None:
    server = _start()
    before = _cpu_seconds(server.pid)
    server.stdin.close()
    _, total = _wait_reaped(server)
    assert total - before < CPU_BUDGET
    server.stdout.close()


def test_a_closed_stdout_ends_the_server_at_its_next_message() -> None:
    """stdin stays open: only the failed write can tell the server that the client is gone."""
    server = _start()
    before = _cpu_seconds(server.pid)
    server.stdout.close()
    text = "let x = 1\nlet y = x @ 2\n"  # its diagnostics must be published: a write
    server.stdin.write(_frame({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": {"uri": "file:///tmp/zixir-closed-stdout.zx", "languageId": "zixir",
                         "version": 1, "text": text}}}))
    server.stdin.write(_frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
    server.stdin.flush()
    status, total = _wait_reaped(server)
    assert status != 0
    assert total - before < CPU_BUDGET
    server.stdin.close()


def test_exit_without_shutdown_is_status_1_and_after_shutdown_0() -> None:
    for shutdown_first, expected in ((False, 1), (True, 0)):
        server = _start()
        if shutdown_first:
            server.stdin.write(_frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
            server.stdin.flush()
            assert _read(server.stdout)["id"] == 2
        server.stdin.write(_frame({"jsonrpc": "2.0", "method": "exit"}))
        server.stdin.flush()  # stdin stays open: the exit notification alone must end it
        assert _wait_for_exit(server, 0.0) == expected
        server.stdin.close()
        server.stdout.close()


def test_the_server_ends_when_the_client_process_dies() -> None:
    editor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    server = _start(f"--clientProcessId={editor.pid}")
    try:
        editor.kill()
        editor.wait()
        assert _wait_for_exit(server, 0.0) != 0
    finally:
        if editor.poll() is None:
            editor.kill()
            editor.wait()
        server.stdin.close()
        server.stdout.close()


@pytest.mark.asyncio
async def test_a_client_pid_that_never_existed_here_is_not_a_dead_client(tmp_path: Path) -> None:
    """A client in another pid namespace (a container) sends a pid this machine does not
    have: the server must serve, not exit at once."""
    pid = next(p for p in range(4_000_000, 4_100_000) if not os.path.exists(f"/proc/{p}"))
    argv = [sys.executable, "-m", "zixir", "lsp", "--stdio", f"--clientProcessId={pid}"]
    assert await _session(argv, tmp_path) == 0
