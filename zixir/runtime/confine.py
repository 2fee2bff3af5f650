"""OS confinement of Python workers (DESIGN.md section 5), applied in each worker right after
it is forked by the template (or spawned), before it serves a call.

    worker start:  confine_worker(config)
      1. setsid ............... the worker leads a session and process group of its own, so
                                every descendant a library forks is killed with it
                                (`kill_group` on restart, timeout kill and close)
      2. record the group ..... its pid is appended to <runtime dir>/groups, which the janitor
                                reads when the host dies without closing the runtime
      3. rlimits .............. address space (a fraction of RAM), file size, open files;
                                CPU time is re-armed before every call (`CpuLimit`), so a
                                spinning call dies by SIGXCPU even if the watchdog missed it
      4. Landlock ............. writes only under the working directory, the temp directory,
                                /dev/shm (array transport) and configured paths; reads stay
                                open; TCP bind/connect refused when `confine_network` is set.
                                Without Landlock in the kernel: one warning, no restriction.

    host:  Janitor(runtime dir, tag) -- pipe --> python -m zixir.runtime.janitor
           the janitor blocks on the pipe; EOF means the host closed the runtime or died
           (kill -9 included): it kills the recorded process groups (and every process still
           in their sessions, or whose environment names the runtime's directory), unlinks
           the runtime's shared memory and removes its temp dir.

A descendant that starts a session of its own leaves its worker's group: it is killed when the
runtime closes (by its environment), not when its worker is replaced. A cgroup per runtime
would contain it sooner, and cap the number of processes; this needs a writable cgroup v2
hierarchy, which is not there in general.

The call policy (policy.py) decides what a program may call; this module limits what the
call can do once it runs, for the calls the policy cannot judge (a script's own modules,
`--allow`ed libraries) and for the ways around it nobody has found yet.
"""

from __future__ import annotations

import ctypes
import math
import os
import time

# what the janitor and the runtime use to kill process groups lives in reaping.py (it must
# load without this package); re-exported here
from .reaping import (  # noqa: E402,F401
    GROUPS_FILE,
    RUNTIME_DIR_ENV,
    kill_group,
    kill_groups,
    kill_marked,
    kill_recorded,
    session_members,
)

# ---- rlimits ------------------------------------------------------------------------------


def total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def memory_limit(config: dict) -> int:
    """RLIMIT_AS in bytes: `rlimit_as` when set (0: unlimited), else `memory_fraction` of RAM."""
    explicit = config.get("rlimit_as")
    if explicit is not None:
        return max(0, int(explicit))
    fraction = float(config.get("memory_fraction") or 0)
    return int(total_memory() * fraction) if fraction > 0 else 0


def cpu_budget(config: dict, timeout: float) -> float:
    """CPU seconds one call may use: `rlimit_cpu` when set (0: unlimited), else the call's
    timeout on every core plus a margin (a threaded library may use several cores)."""
    explicit = config.get("rlimit_cpu")
    if explicit is not None:
        return max(0.0, float(explicit))
    return timeout * max(1, os.cpu_count() or 1) + 2.0


def apply_rlimits(config: dict) -> None:
    import resource

    def lower(res: int, value: int) -> None:
        soft, hard = resource.getrlimit(res)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(res, (value, hard if hard != resource.RLIM_INFINITY else value))

    memory = memory_limit(config)
    if memory > 0:
        lower(resource.RLIMIT_AS, memory)
    for key, res in (("rlimit_fsize", resource.RLIMIT_FSIZE),
                     ("rlimit_nofile", resource.RLIMIT_NOFILE)):
        value = int(config.get(key) or 0)
        if value > 0:
            lower(res, value)


class CpuLimit:
    """RLIMIT_CPU re-armed before every call so that the call has at least `budget` CPU
    seconds and at most twice that (SIGXCPU kills the worker past the soft limit).

    The re-arm costs system calls, so it is skipped while the limit set last time still leaves
    a budget's headroom: CPU time grows at most `cores` times as fast as wall time, so a cheap
    monotonic clock read proves it."""

    def __init__(self) -> None:
        self.cores = max(1, os.cpu_count() or 1)
        self.budget = 0.0
        self._safe_until = float("-inf")  # monotonic time until which no re-arm is needed

    def arm(self, budget: float) -> None:
        if budget <= 0:
            return
        now = time.monotonic()
        if budget <= self.budget and now < self._safe_until:
            return
        import resource

        used = os.times()
        soft = math.ceil(used.user + used.system + 2 * budget)
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        self.budget = budget
        self._safe_until = now + budget / self.cores  # headroom >= budget until then


# ---- process groups -------------------------------------------------------------------------


def own_group(runtime_dir: str | None) -> None:
    """Lead a new session (and process group), and record it for the janitor."""
    try:
        os.setsid()
    except PermissionError:  # already a group leader (spawned directly by a group leader)
        pass
    if runtime_dir:
        try:
            fd = os.open(os.path.join(runtime_dir, GROUPS_FILE),
                         os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
        finally:
            os.close(fd)


# ---- Landlock -------------------------------------------------------------------------------

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_WRITE_FILE, _REMOVE_DIR, _REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
_MAKE_ALL = sum(1 << bit for bit in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
_REFER, _TRUNCATE = 1 << 13, 1 << 14
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _syscall(number: int, *args) -> int:
    """A raw system call; raises OSError with the errno on failure."""
    result = _c().syscall(ctypes.c_long(number), *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def landlock_abi(syscall=_syscall) -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is absent or disabled."""
    try:
        return syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except OSError:
        return 0


def writable_paths(config: dict) -> list[str]:
    import tempfile

    paths = [os.getcwd(), tempfile.gettempdir(), "/dev/shm"]
    paths += list(config.get("paths") or ()) + list(config.get("write_paths") or ())
    # a service started in / would otherwise open the whole filesystem to writes
    return [p for p in dict.fromkeys(paths)
            if p and os.path.exists(p) and os.path.realpath(p) != "/"]


def restrict_writes(paths: list[str], network: bool = False, syscall=_syscall) -> int:
    """Landlock: from now on this process (and what it forks) writes files only beneath
    `paths` (and /dev/null); with `network`, no TCP bind or connect. Returns the ABI used,
    0 when the kernel has no Landlock (nothing is restricted then)."""
    abi = landlock_abi(syscall)
    if abi <= 0:
        return 0
    fs = _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE_ALL
    if abi >= 2:
        fs |= _REFER
    if abi >= 3:
        fs |= _TRUNCATE
    net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if network and abi >= 4 else 0
    attr = _RulesetAttr(fs, net, 0)
    size = ctypes.sizeof(ctypes.c_uint64) * (1 if abi < 4 else 2 if abi < 6 else 3)
    ruleset = syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                      ctypes.c_uint32(0))
    try:
        file_rights = _WRITE_FILE | (_TRUNCATE if abi >= 3 else 0)
        for path, rights in [(p, fs) for p in paths] + [("/dev/null", file_rights)]:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not os.path.isdir(path):
                    rights &= file_rights
                rule = _PathBeneath(rights, fd)
                syscall(_SYS_ADD_RULE, ruleset, ctypes.c_uint32(_RULE_PATH_BENEATH),
                        ctypes.byref(rule), ctypes.c_uint32(0))
            finally:
                os.close(fd)
        if _c().prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return abi


# ---- a worker's start -----------------------------------------------------------------------


def confine_worker(config: dict, warn=None) -> None:
    """Everything above, in a fresh worker process (`config` is the worker's config)."""
    own_group(os.environ.get(RUNTIME_DIR_ENV))
    apply_rlimits(config)
    confine_files(config, warn)


def confine_files(config: dict, warn=None, syscall=_syscall) -> int:
    """Landlock as configured; without it in the kernel, `warn` says so (once per process)."""
    if not config.get("confine_writes", True):
        return 0
    abi = restrict_writes(writable_paths(config), bool(config.get("confine_network")), syscall)
    if abi == 0 and warn is not None:
        warn(NO_LANDLOCK)
    return abi


NO_LANDLOCK = ("Landlock is not available in this kernel: filesystem writes of Python workers "
               "are not confined")


def confine_settings(config) -> dict:
    """The part of a RuntimeConfig a worker needs to confine itself (worker config keys)."""
    return {
        "rlimit_as": config.rlimit_as, "memory_fraction": config.memory_fraction,
        "rlimit_cpu": config.rlimit_cpu, "rlimit_fsize": config.rlimit_fsize,
        "rlimit_nofile": config.rlimit_nofile, "confine_writes": config.confine_writes,
        "write_paths": list(config.write_paths), "confine_network": config.confine_network,
        "call_timeout": config.call_timeout,
    }
