"""A misbehaving Python library, called from workers by the fault-injection tests."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time


def noop():
    return None


def echo(value):
    return value


def whoami():
    return os.getpid()


def gate(path, marker=None):
    """Block until `path` exists (30 s at most), announcing this worker's pid in `marker`."""
    if marker:
        with open(marker + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(marker + ".tmp", marker)
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError("gate never opened")
        time.sleep(0.002)
    return "opened"


def kill_self():
    os.kill(os.getpid(), signal.SIGKILL)


def segfault():
    ctypes.string_at(0)


def hard_exit(code):
    os._exit(code)


def spin():
    while True:
        pass


def raise_memory_error():
    raise MemoryError("the library ran out of memory")


def allocate(nbytes):
    block = bytearray(nbytes)
    return len(block)


def unencodable():
    return {"ok": [1, 2], "bad": 1j}  # a complex number has no Zixir form


def big_result(nbytes):
    return "x" * nbytes


def malformed_frame():
    from python_workers import worker

    os.write(worker.CURRENT.out_fd, b"\x00\x00\x00\x07garbage")
    return "unreachable for the router"


def noisy(text):
    print(f"{text}-out", flush=False)
    print(f"{text}-err", file=sys.stderr)
    return text


def maybe_crash(i, crash):
    if crash:
        os.kill(os.getpid(), signal.SIGKILL)
    return i


def flaky(path, failures):
    """Crash the worker on the first `failures` attempts (counted in `path`), then succeed."""
    attempts = int(open(path).read()) + 1 if os.path.exists(path) else 1
    with open(path, "w") as f:
        f.write(str(attempts))
    if attempts <= failures:
        os.kill(os.getpid(), signal.SIGKILL)
    return attempts


def probe(entries_dir, gate_path):
    """Record that this call reached a worker, then wait at the gate."""
    open(os.path.join(entries_dir, str(time.monotonic_ns())), "w").close()
    return gate(gate_path)


def cpu_work(n):
    """Pure-Python CPU work; returns (pid, start, end) so tests can see the overlap."""
    start = time.monotonic()
    total = 0
    for i in range(n):
        total += i * i % 7
    return [os.getpid(), start, time.monotonic(), total]


def spin_with_child():
    """Fork a child that keeps the worker's pipes open (and dies with the worker), then spin."""
    from zixir.runtime.process import bind_to_parent

    parent = os.getpid()
    if os.fork() == 0:
        bind_to_parent(parent)
        time.sleep(30)
        os._exit(0)
    spin()


def open_fds():
    """This worker's open file descriptors, each with what it points to, and its channel."""
    from python_workers import worker

    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the descriptor listdir itself used, closed by now
            pass
    return {"fds": found, "channel": [worker.CURRENT.in_fd, worker.CURRENT.out_fd]}


def close_channel_and_live():
    """Close the response pipe and keep running: a worker that is half dead."""
    from python_workers import worker

    os.close(worker.CURRENT.out_fd)
    time.sleep(3600)


def deep(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


async def async_echo(value):
    """An `async def` function (it runs on the worker's event loop)."""
    return value
