"""Helpers for the runtime tests: deadlines instead of sleeps, and a leak check on processes."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # fakesession and faultlib are imported by the router/workers
    sys.path.insert(0, str(HERE))


def wait_for(predicate, timeout: float = 10.0, what: str = "condition", interval: float = 0.005):
    """Poll `predicate` until it is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def sleeping(pid: int) -> bool:
    """Is a thread of process `pid` in the kernel's nanosleep (running `time.sleep`)? Tells
    that a call has begun in an agent or worker: idle ones wait on a pipe or a futex."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/wchan") as f:
                if "nanosleep" in f.read():
                    return True
        except OSError:
            pass
    return False


def descendants(root: int | None = None) -> set[int]:
    """Live (non-zombie) descendant pids of `root` (default: this process)."""
    root = root or os.getpid()
    parent: dict[int, int] = {}
    state: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()
        state[int(entry)] = rest[0]
        parent[int(entry)] = int(rest[1])
    found: set[int] = set()
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, ppid in parent.items():
            if ppid == pid and child not in found:
                found.add(child)
                frontier.append(child)
    return {pid for pid in found if state.get(pid) != "Z"}


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.fixture
def no_leaks():
    """Fails the test if a child process it started is still alive shortly after it ends."""
    before = descendants()
    yield
    wait_for(lambda: not (descendants() - before), timeout=5.0,
             what=f"child processes to exit: {descendants() - before}")


def make_runtime(**options):
    from zixir.runtime import Runtime

    options.setdefault("workers", 2)
    options.setdefault("call_timeout", 10.0)
    options.setdefault("paths", (str(HERE),))
    options.setdefault("log_level", "off")
    return Runtime(**options)
