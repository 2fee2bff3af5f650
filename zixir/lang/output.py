"""Program output bookkeeping.

`zixir run` prints the program's value after its output; if the output did not end with a
newline, the value must start on a new line. The process running the program (the CLI in
tests, the router normally) wraps its stdout in a `LineTrackingStream` to know."""

from __future__ import annotations

from typing import Any


class LineTrackingStream:
    """Wraps a text stream and remembers whether the last text written ended a line."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.at_line_start = True

    def write(self, text: str) -> int:
        if text:
            self.at_line_start = text.endswith("\n")
        return self._stream.write(text)

    @property
    def wrapped(self) -> Any:
        return self._stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
