"""Debug Adapter Protocol framing, without I/O.

Every message is a JSON object preceded by a header block:

    Content-Length: 119\r\n
    \r\n
    {"seq": 1, "type": "request", "command": "initialize", ...}

`encode` turns a message into those bytes; a `Decoder` is fed bytes as they arrive (in chunks
of any size) and returns the complete messages. Reading and writing the pipes is the server's
business (`server`), so this module is tested with plain bytes.
"""

from __future__ import annotations

import json
from typing import Any

from ..lang.errors import ZixirError

#: a header block longer than this is not a DAP header (a client speaking something else)
MAX_HEADER_BYTES = 8192
#: a body longer than this is refused rather than buffered
MAX_BODY_BYTES = 256 * 1024 * 1024


class FramingError(ZixirError):
    """The bytes on the debug adapter's input are not Debug Adapter Protocol messages."""


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class Decoder:
    """Accumulates input bytes; `feed` returns every message completed by them."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._length: int | None = None  # body length once the header block was read

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buffer += data
        messages: list[dict[str, Any]] = []
        while True:
            if self._length is None:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buffer) > MAX_HEADER_BYTES:
                        raise FramingError("no end of the DAP header block (\\r\\n\\r\\n) in "
                                           f"{len(self._buffer)} bytes")
                    return messages
                header = bytes(self._buffer[:end])
                del self._buffer[:end + 4]
                self._length = _content_length(header)
            if len(self._buffer) < self._length:
                return messages
            body = bytes(self._buffer[:self._length])
            del self._buffer[:self._length]
            self._length = None
            messages.append(_parse_body(body))

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buffer)


def _content_length(header: bytes) -> int:
    length: int | None = None
    for raw in header.split(b"\r\n"):
        name, sep, value = raw.partition(b":")
        if not sep:
            raise FramingError(f"malformed DAP header line: {raw[:80]!r}")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise FramingError(f"Content-Length is not a number: {value.strip()[:40]!r}")\
                    from None
    if length is None:
        raise FramingError("DAP header without Content-Length")
    if not 0 <= length <= MAX_BODY_BYTES:
        raise FramingError(f"Content-Length out of range: {length}")
    return length


def _parse_body(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FramingError(f"DAP message body is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FramingError(f"DAP message is not a JSON object: {type(message).__name__}")
    return message
