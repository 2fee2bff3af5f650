"""Worker-side helpers for the confinement tests (imported by workers from the test's
directory, which the tests put on the runtime's paths, so the policy allows them)."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import time


def limits() -> dict:
    return {name: list(resource.getrlimit(getattr(resource, name)))
            for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE")}


def identity() -> list[int]:
    return [os.getpid(), os.getpgid(0), os.getsid(0)]


def write(path: str, text: str = "x") -> str:
    with open(path, "w") as f:
        f.write(text)
    return path


def connect(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=10):
        return True


def sleepers(n: int, seconds: int = 300) -> list[int]:
    """`n` processes started the way library code starts them."""
    return [subprocess.Popen(["sleep", str(seconds)]).pid for _ in range(n)]


def sleepers_then_spin(n: int) -> None:
    sleepers(n)
    while True:
        pass


def hog(megabytes: int) -> int:
    """Grow by 64 MiB blocks, touching every page (each one really is memory)."""
    blocks = []
    for _ in range(megabytes // 64):
        block = bytearray(64 << 20)
        block[::4096] = b"x" * (len(block) // 4096)
        blocks.append(block)
    return len(blocks)


def spin() -> None:
    while True:
        pass


def fork_tree(depth: int, seconds: int = 300) -> int:
    """A bounded fork bomb: every process forks two more down to `depth` levels, then
    sleeps; returns how many processes it makes (2 + 4 + ... + 2**depth)."""
    _grow(depth, seconds, top=True)
    return 2 ** (depth + 1) - 2


def _grow(depth: int, seconds: int, top: bool = False) -> None:
    if depth > 0:
        for _ in range(2):
            if os.fork() == 0:
                try:
                    _grow(depth - 1, seconds)
                finally:
                    os._exit(0)
    if not top:
        time.sleep(seconds)


def daemon(seconds: int = 300) -> int:
    """A sleeper that leaves the worker's session (the classic double fork and setsid)."""
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.close(w)
            time.sleep(seconds)
            os._exit(0)
        os.write(w, str(pid).encode())
        os._exit(0)
    os.close(w)
    pid = int(os.read(r, 32))
    os.close(r)
    return pid
