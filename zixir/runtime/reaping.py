"""Killing what a runtime leaves behind: recorded process groups, marked processes, shared
memory, the temp directory.

    runtime (host, router)                     janitor (janitor.py)
    kill_recorded(dir): the groups workers      cleanup(dir, tag) once the host closed the
      recorded, with their sessions              runtime or died: kill_recorded, kill_marked
    kill_group(pid): one worker's group          (every process whose environment names the
    sweep(tag, dead_only): /dev/shm files         runtime's dir), sweep(tag), remove the dir

Only the standard library, and no relative imports: the janitor loads this file by itself,
without the zixir package (`python -S`, a few milliseconds instead of the package's imports).
"""

from __future__ import annotations

import os
import signal
import time

GROUPS_FILE = "groups"
RUNTIME_DIR_ENV = "ZIXIR_RUNTIME_DIR"
SHM_DIR = "/dev/shm"


def cleanup(runtime_dir: str, tag: str) -> None:
    """Everything of the runtime `tag` whose directory is `runtime_dir`: processes first
    (they may still create files), then shared memory and the directory."""
    import shutil

    kill_recorded(runtime_dir)
    kill_marked(runtime_dir)
    sweep(tag)
    shutil.rmtree(runtime_dir, ignore_errors=True)


def kill_recorded(runtime_dir: str) -> None:
    """Kill the groups every worker of the runtime recorded, and forget them."""
    path = os.path.join(runtime_dir, GROUPS_FILE)
    try:
        with open(path) as f:
            groups = {int(line) for line in f if line.strip().isdigit()}
        os.truncate(path, 0)
    except OSError:
        return
    kill_groups(groups)


def kill_marked(runtime_dir: str) -> None:
    """SIGKILL every process whose environment names `runtime_dir` (every process of the
    runtime, and what they started, has it): this finds even a descendant that left its
    worker's session. Used once the runtime is closed or its host is dead."""
    marker = f"{RUNTIME_DIR_ENV}={runtime_dir}\0".encode()
    me = os.getpid()
    for _ in range(20):
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if marker in f.read() + b"\0":
                        found.append(int(entry))
            except OSError:
                continue
        live = [pid for pid in found if _alive(pid)]
        if not live:
            return
        for pid in live:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:][:1] != b"Z"


def kill_group(pgid: int) -> None:
    kill_groups({pgid})


def kill_groups(pgids: set[int]) -> None:
    """SIGKILL every process in the groups `pgids` and in the sessions of the same ids (a
    descendant that made a group of its own is still in its worker's session), until none is
    left (a fork may be in progress); then reap those that became our children (orphans come
    to the router, a subreaper), so they do not stay zombies."""
    pgids = {pgid for pgid in pgids if pgid > 1}
    for attempt in range(100):
        for pgid in pgids:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        members = session_members(pgids)
        if not members:
            break
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(min(0.05, 0.001 * attempt))  # SIGKILLed processes take a moment to die
    for pid in _session_scan(pgids, zombies=True):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not ours: its parent (or init) reaps it
            pass


def session_members(sids: int | set[int]) -> list[int]:
    """Live processes whose session id is in `sids` (zombies are dead already)."""
    return _session_scan({sids} if isinstance(sids, int) else sids, zombies=False)


def _session_scan(sids: set[int], zombies: bool) -> list[int]:
    """Processes of sessions `sids`: the live ones, or the zombies that are our children."""
    found: list[int] = []
    if not sids:
        return found
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    me = os.getpid()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        state, ppid, _pgrp, session = stat[stat.rindex(b")") + 2:].split()[:4]
        if int(session) not in sids or int(entry) == me:
            continue
        if zombies:
            if state == b"Z" and int(ppid) == me:
                found.append(int(entry))
        elif state != b"Z":
            found.append(int(entry))
    return found


def sweep(tag: str, dead_only: bool = False) -> int:
    """Remove files left by runtime `tag`: all of them, or those whose process is gone."""
    count = 0
    prefix = f"zixir-{tag}-"
    try:
        names = [name for name in os.listdir(SHM_DIR) if name.startswith(prefix)]
    except OSError:
        return 0
    for name in names:
        if dead_only:
            try:
                pid = int(name.split("-")[2])
                os.kill(pid, 0)
                continue  # its process still runs: the file may be in use
            except ProcessLookupError:
                pass
            except (ValueError, IndexError, PermissionError):
                continue
        try:
            os.unlink(os.path.join(SHM_DIR, name))
            count += 1
        except OSError:
            pass
    return count
