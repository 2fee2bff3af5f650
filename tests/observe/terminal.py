"""Run a command with its stderr (and optionally stdin/stdout) on a pseudo-terminal, the way a
user at a terminal meets it, and collect what the terminal received."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

ZIXIR = [sys.executable, "-m", "zixir"]


def run_on_terminal(args: list[str], env: dict, *, stdin: bytes | None = None,
                    timeout: float = 120.0, stdout_too: bool = False) -> tuple[int, str, str]:
    """(exit status, stdout (a pipe; "" with `stdout_too`, when stdout is the terminal as
    well), what the terminal on stderr received)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.PIPE if stdin is not None
                            else subprocess.DEVNULL,
                            stdout=slave if stdout_too else subprocess.PIPE, stderr=slave,
                            env={**env, "TERM": "xterm-256color", "COLUMNS": "120"})
    os.close(slave)
    if stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    received = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every process holding the terminal has closed it
                    break
                if not data:
                    break
                received += data
            elif proc.poll() is not None:
                break
        status = proc.wait(max(1.0, deadline - time.monotonic()))
        out = proc.stdout.read().decode() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        os.close(master)
    return status, out, received.decode(errors="replace")
