"""DAP framing without I/O: plain bytes in, messages out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from zixir.debug.framing import MAX_HEADER_BYTES, Decoder, FramingError, encode
from zixir.lang.errors import ZixirError


def frame(body: bytes, header: bytes = b"") -> bytes:
    return header + b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_encode_counts_bytes_not_characters():
    data = encode({"seq": 1, "type": "event", "event": "output", "body": {"output": "héllo ✓"}})
    header, body = data.split(b"\r\n\r\n", 1)
    assert header == b"Content-Length: %d" % len(body)
    assert json.loads(body)["body"]["output"] == "héllo ✓"


def test_round_trip_in_one_chunk_and_byte_by_byte():
    messages = [{"seq": i, "type": "request", "command": "threads", "text": "ü" * i}
                for i in range(1, 4)]
    data = b"".join(encode(m) for m in messages)
    assert Decoder().feed(data) == messages
    decoder = Decoder()
    received = []
    for i in range(len(data)):
        received.extend(decoder.feed(data[i:i + 1]))
    assert received == messages
    assert decoder.pending == 0


def test_partial_message_waits_for_the_rest():
    data = encode({"seq": 1, "type": "request", "command": "initialize"})
    decoder = Decoder()
    assert decoder.feed(data[:-3]) == []
    assert decoder.pending > 0
    assert decoder.feed(data[-3:]) == [{"seq": 1, "type": "request", "command": "initialize"}]


def test_other_headers_and_case_are_accepted():
    body = b'{"seq": 7}'
    data = b"content-type: application/vscode-jsonrpc; charset=utf-8\r\n" \
           b"CONTENT-LENGTH:  %d \r\n\r\n" % len(body) + body
    assert Decoder().feed(data) == [{"seq": 7}]


@pytest.mark.parametrize("data, message", [
    (b"Content-Type: x\r\n\r\n{}", "without Content-Length"),
    (b"Content-Length: ten\r\n\r\n", "not a number"),
    (b"Content-Length: -4\r\n\r\n", "out of range"),
    (b"garbage line\r\n\r\n", "malformed DAP header line"),
    (frame(b"{not json"), "not JSON"),
    (frame(b"[1, 2]"), "not a JSON object"),
    (frame(b"\xff\xfe"), "not JSON"),
    (b"x" * (MAX_HEADER_BYTES + 1), "no end of the DAP header block"),
])
def test_malformed_input_is_a_typed_error(data, message):
    with pytest.raises(FramingError) as info:
        Decoder().feed(data)
    assert message in info.value.message
    assert isinstance(info.value, ZixirError)


def test_the_server_rejects_a_client_not_speaking_dap():
    proc = subprocess.run([sys.executable, "-m", "zixir", "debug"],
                          input=b"Content-Length: nope\r\n\r\n", capture_output=True, timeout=120)
    assert proc.returncode == 2
    assert b"zixir debug: error: Content-Length is not a number" in proc.stderr
    assert proc.stdout == b""


def test_the_server_exits_when_the_client_closes_its_input():
    proc = subprocess.run([sys.executable, "-m", "zixir", "debug"], input=b"",
                          capture_output=True, timeout=120)
    assert proc.returncode == 0
    assert proc.stdout == b""
