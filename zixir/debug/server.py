"""`zixir debug`: the debug adapter on stdio.

    client stdin  --fd 0 (dup'd)--> Decoder --> DebugAdapter.handle
    client stdout <-fd 1 (dup'd)--- encode  <-- responses and events (one lock)

The protocol owns the original stdin and stdout, so before anything else runs they are moved
to private descriptors: fd 0 becomes /dev/null, and fds 1 and 2 become pipes whose bytes are
sent as `output` events. Child processes (the runtime's router and Python workers) inherit
those pipes, so their prints reach the debug console too; the program's own `print` goes to
`sys.stdout`, which sends events directly (in order with `stopped` events).
"""

from __future__ import annotations

import codecs
import os
import select
import sys
import threading
from collections.abc import Callable

from .adapter import DebugAdapter
from .framing import Decoder, FramingError, encode


class Writer:
    """Writes whole messages to the client, one at a time."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()
        self.broken = False

    def send(self, message: dict) -> None:
        data = memoryview(encode(message))
        with self._lock:
            if self.broken:
                return
            try:
                while data:
                    written = os.write(self.fd, data)
                    data = data[written:]
            except OSError:
                self.broken = True  # the client is gone; the read loop will notice too


class FdPump:
    """Forwards what is written to a pipe (fd 1 or 2 of this process) as output events."""

    def __init__(self, fd: int, category: str, emit: Callable[[str, str], None]) -> None:
        self.fd = fd
        self.category = category
        self._emit = emit
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._lock = threading.Lock()
        os.set_blocking(fd, False)
        threading.Thread(target=self._loop, name=f"zixir-debug-{category}", daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                select.select([self.fd], [], [], 0.5)
            except (OSError, ValueError):
                return
            if not self._read_available():
                return

    def _read_available(self) -> bool:
        """Forward everything readable now; False once the pipe is closed."""
        with self._lock:
            chunks = []
            open_ = True
            while True:
                try:
                    data = os.read(self.fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    open_ = False
                    break
                if not data:
                    open_ = False
                    break
                chunks.append(data)
            text = self._decoder.decode(b"".join(chunks)) if chunks else ""
            if text:
                self._emit(self.category, text)
            return open_

    def drain(self) -> None:
        self._read_available()


def main() -> int:
    dap_in, dap_out, log_fd = os.dup(0), os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.close(out_w)
    os.close(err_w)

    writer = Writer(dap_out)
    adapter = DebugAdapter(writer.send)
    pumps = [FdPump(out_r, "stdout", adapter.output), FdPump(err_r, "stderr", adapter.output)]

    def drain() -> None:
        for pump in pumps:
            pump.drain()

    adapter.drain_output = drain
    sys.stdin = open(os.devnull, encoding="utf-8")
    sys.stdout = adapter.stdout  # type: ignore[assignment]
    sys.stderr = adapter.stderr  # type: ignore[assignment]
    status = 0
    decoder = Decoder()
    try:
        while not adapter.should_exit.is_set():
            try:
                data = os.read(dap_in, 65536)
            except OSError:
                data = b""
            if not data:
                adapter.client_gone()
                break
            for message in decoder.feed(data):
                adapter.handle(message)
                if adapter.should_exit.is_set():
                    break
    except FramingError as exc:
        os.write(log_fd, f"zixir debug: error: {exc.message}\n".encode())
        adapter.client_gone()
        status = 2
    drain()
    os._exit(status)  # the program's threads may still be blocked; nothing more to run
