"""OS processes: spawning, death notification and reaping (Linux).

    parent thread                               child
    -------------                               -----
    spawn(argv, fds={3: r, 4: w}, env) ------>  bind_to_parent(expected_ppid):
      posix_spawn; only the listed fds            PR_SET_PDEATHSIG(SIGKILL), then checks
      are inherited (ours are close-on-exec,      the parent is still the one that spawned
      and inherited ones are closed)              it, so a parent's death is never missed
    ProcessHandle(pid)
      pidfd: readable when the child exits (poll it, no polling loops)
      reap(timeout) -> ExitStatus: waitid on the pidfd, exactly once, by whichever thread
                                   asks first (the supervisor or a caller that saw EOF)

PR_SET_PDEATHSIG fires when the *thread* that created the child exits, so children are always
spawned from a thread that lives as long as they do (a supervisor's own thread).
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import sys
import threading
from dataclasses import dataclass

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = None


def _prctl(option: int, arg: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def bind_to_parent(expected_ppid: int | None) -> None:
    """In a child: die with SIGKILL when the parent dies; exit now if it already has."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if expected_ppid is not None and os.getppid() != expected_ppid:
        os._exit(70)


def become_subreaper() -> None:
    """Orphaned descendants (workers forked by the template) are re-parented to this process."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


@dataclass(frozen=True, slots=True)
class ExitStatus:
    exitcode: int | None  # set when the process exited
    signal: int | None  # set when a signal killed it

    @property
    def normal(self) -> bool:
        return self.exitcode == 0

    def describe(self) -> str:
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = str(self.signal)
            return f"was killed by signal {name}"
        if self.exitcode is None:
            return "exited (status unknown)"
        return f"exited with code {self.exitcode}"


UNKNOWN_EXIT = ExitStatus(None, None)


class ProcessHandle:
    """One child process. Thread-safe; `reap` happens once and its status is kept."""

    remote = False  # a worker on another host (cluster.RayHandle): never signalled by pid

    def __init__(self, pid: int, name: str = "") -> None:
        self.pid = pid
        self.name = name
        self.pidfd: int = os.pidfd_open(pid)
        self.status: ExitStatus | None = None
        self.decision: str | None = None  # what the supervisor did about the exit
        self.handled = threading.Event()  # set once the supervisor has decided
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ProcessHandle {self.name} pid={self.pid} status={self.status}>"

    @property
    def alive(self) -> bool:
        return not self.exited(0)

    def exited(self, timeout: float | None = 0) -> bool:
        """True once the process has exited (it may not be reaped yet)."""
        if self.status is not None:
            return True
        return _readable(self.pidfd, timeout)

    def signal(self, sig: int) -> None:
        with self._lock:
            if self.status is not None:
                return
            try:
                signal.pidfd_send_signal(self.pidfd, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def reap(self, timeout: float | None = 0) -> ExitStatus | None:
        """Wait up to `timeout` seconds (None: forever) for the exit; returns the status."""
        if self.status is None and not _readable(self.pidfd, timeout):
            return None
        with self._lock:
            if self.status is not None:
                return self.status
            try:
                info = os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED)
            except ChildProcessError:  # not our child, or reaped by someone else
                self.status = UNKNOWN_EXIT
            else:
                if info is None:
                    return None
                if info.si_code == os.CLD_EXITED:
                    self.status = ExitStatus(info.si_status, None)
                else:
                    self.status = ExitStatus(None, info.si_status)
            return self.status

    def __del__(self) -> None:
        # The pidfd lives as long as the handle: any thread holding the handle may poll it.
        fd, self.pidfd = self.pidfd, -1
        if fd is not None and fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def _readable(fd: int, timeout: float | None) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    ms = None if timeout is None else max(0, int(timeout * 1000))
    while True:
        try:
            return bool(poller.poll(ms))
        except InterruptedError:  # pragma: no cover - PEP 475 retries already
            continue


def spawn(argv: list[str], fds: dict[int, int], env: dict[str, str], name: str = "") -> ProcessHandle:
    """Start `argv` with exactly the file descriptors `fds` (child fd -> our fd) plus 0, 1, 2."""
    import fcntl

    # Copy every source fd above the target range first, so dup2 never clobbers a source
    # and never degenerates into dup2(fd, fd), which would keep close-on-exec set.
    copies = {theirs: fcntl.fcntl(ours, fcntl.F_DUPFD_CLOEXEC, 64) for theirs, ours in fds.items()}
    try:
        # fds this process inherited without close-on-exec (from whatever started it) are
        # closed in the child too: it sees 0, 1, 2 and `fds`, nothing else
        actions: list[tuple] = [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()
                                if fd > 2 and fd not in copies]
        actions += [(os.POSIX_SPAWN_DUP2, copy, theirs) for theirs, copy in copies.items()]
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    finally:
        for copy in copies.values():
            os.close(copy)
    return ProcessHandle(pid, name)


def _inheritable_fds() -> list[int]:
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.get_inheritable(int(name)):
                found.append(int(name))
        except (OSError, ValueError):  # listdir's own descriptor, closed by now
            pass
    return found


def close_quietly(*fds: int) -> None:
    """Close file descriptors that may already be closed or invalid (-1 is skipped)."""
    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def python_argv(module: str) -> list[str]:
    # -P: the current directory must not shadow the installed zixir (a source checkout
    # without the compiled engine, say); the host's sys.path is passed on explicitly
    return [sys.executable, "-P", "-m", module]


def pipe(size: int = 1 << 20) -> tuple[int, int]:
    """A close-on-exec pipe with a large kernel buffer (fewer context switches for big frames)."""
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        import fcntl

        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, size)
    except OSError:
        pass
    return r, w


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
