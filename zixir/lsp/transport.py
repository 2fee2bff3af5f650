"""Stdio for the server, and the rule that it never outlives its client.

    client ──stdin──> pygls reader ──> handlers ──> ProtocolWriter ──> private dup of fd 1 ──> client

The server stops, within a second, however the client goes away:
  shutdown + exit   the exit handler ends the process (0 after shutdown, 1 without);
  stdin closes      pygls's read loop ends and `main` ends the process;
  stdout closes     the first write fails: ProtocolWriter ends the process at once. (Left to
                    pygls, a failed send is answered by sending an error, which fails in turn,
                    forever);
  client dies       ClientWatch, given the client's process id (`--clientProcessId` or the
                    `processId` of initialize), sees it gone and ends the process.

`end_process` uses `os._exit`: the thread that reads stdin may be blocked in a read that no
one will ever answer, and a normal interpreter exit would wait for it.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import BinaryIO

log = logging.getLogger("zixir.lsp")

WATCH_INTERVAL = 0.5  # seconds between two looks at the client's process


def end_process(code: int) -> None:
    """Flush what can be flushed, then leave without waiting for blocked threads."""
    try:
        logging.shutdown()
    except Exception:  # stderr may be gone too
        pass
    os._exit(code)


class ProtocolWriter:
    """pygls's writer interface over the protocol's file; a write that fails ends the server."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        try:
            with self._lock:
                self._stream.write(data)
                self._stream.flush()
        except (OSError, ValueError):  # BrokenPipeError, or a closed file
            log.warning("the client closed the connection; stopping")
            end_process(1)

    def flush(self) -> None:  # every write is flushed already
        pass

    def close(self) -> None:
        try:
            self._stream.close()
        except OSError:
            pass


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class ClientWatch:
    """Ends the server when the client's process is gone (a daemon thread polling it)."""

    def __init__(self) -> None:
        self._pids: set[int] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, pid: int | None) -> None:
        if not pid or pid == os.getpid() or not process_alive(pid):
            return  # not there from the start: another pid namespace (a container), not a death
        with self._lock:
            self._pids.add(pid)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="zixir-lsp-client-watch",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        stop = threading.Event()
        while not stop.wait(WATCH_INTERVAL):
            with self._lock:
                pids = list(self._pids)
            for pid in pids:
                if not process_alive(pid):
                    log.warning("the client process %d is gone; stopping", pid)
                    end_process(1)
