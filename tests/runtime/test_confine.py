"""Workers are confined by the OS (zixir.runtime.confine): rlimits, Landlock, a process group
each, and nothing left behind after close, a worker kill, or a host killed with SIGKILL.

The worker-side helpers live in confinelib.py next to this file (the runtime's paths).
"""

from __future__ import annotations

import errno
import glob
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap

import pytest
from conftest import HERE, descendants, make_runtime, pid_alive, wait_for

from zixir.lang.errors import CallTimeout, PythonError, WorkerCrashed
from zixir.runtime import confine


def zombie_children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == parent:
                found.append(int(entry))
    return found


def gone(pids) -> bool:
    return not any(pid_alive(pid) for pid in pids)


def test_rlimits_by_default_and_configured():
    with make_runtime(workers=1) as rt:
        limits = rt.call_python("confinelib", "limits")
        ram = confine.total_memory()
        assert limits["RLIMIT_AS"][0] == int(ram * 0.5)
        assert limits["RLIMIT_FSIZE"][0] == 16 << 30
        assert limits["RLIMIT_NOFILE"][0] == 4096
        assert 0 < limits["RLIMIT_CPU"][0] < 10 * 2 * (os.cpu_count() or 1) + 60
        pid, pgid, sid = rt.call_python("confinelib", "identity")
        assert pid == pgid == sid  # a session and process group of its own
    with make_runtime(workers=1, rlimit_as=3 << 30, rlimit_fsize=1 << 20, rlimit_nofile=256,
                      rlimit_cpu=7) as rt:
        limits = rt.call_python("confinelib", "limits")
        assert limits["RLIMIT_AS"][0] == 3 << 30
        assert limits["RLIMIT_FSIZE"][0] == 1 << 20
        assert limits["RLIMIT_NOFILE"][0] == 256
        assert 14 <= limits["RLIMIT_CPU"][0] <= 17  # between one and two budgets of 7 s
    with make_runtime(workers=1, memory_fraction=0.25) as rt:
        assert rt.call_python("confinelib", "limits")["RLIMIT_AS"][0] == int(ram * 0.25)
    with make_runtime(workers=1, rlimit_as=0) as rt:  # 0: unlimited (the host's own limit)
        assert rt.call_python("confinelib", "limits")["RLIMIT_AS"][0] == \
            resource.getrlimit(resource.RLIMIT_AS)[0]


def test_a_memory_hog_gets_a_typed_error_and_the_runtime_goes_on(no_leaks):
    with make_runtime(workers=1, rlimit_as=2 << 30) as rt:
        with pytest.raises((PythonError, WorkerCrashed)) as info:
            rt.call_python("confinelib", "hog", [4096], timeout=120.0)
        if isinstance(info.value, PythonError):
            assert info.value.exc_type == "MemoryError"
        assert rt.call_python("math", "sqrt", [9.0]) == 3.0


def test_cpu_limit_is_rearmed_per_call_and_kills_a_spinning_call(no_leaks):
    with make_runtime(workers=1, call_timeout=120.0, rlimit_cpu=1) as rt:
        for _ in range(3):  # many short calls: each one gets its own second
            assert rt.call_python("confinelib", "limits")["RLIMIT_CPU"][0] >= 1
        with pytest.raises(WorkerCrashed) as info:
            rt.call_python("confinelib", "spin")
        assert info.value.signal == signal.SIGXCPU
        assert rt.call_python("math", "sqrt", [4.0]) == 2.0


@pytest.fixture
def outside():
    """A directory outside the working directory, the temp directory and the paths."""
    allowed = [os.path.realpath(d) for d in (tempfile.gettempdir(), os.getcwd())]
    bases = [b for b in ("/var/tmp", os.path.expanduser("~"), "/opt") if os.path.isdir(b)
             and not any(os.path.realpath(b).startswith(a) for a in allowed)]
    assert bases, "a writable directory outside the temp and working directories is needed"
    path = tempfile.mkdtemp(prefix="zixir-outside-", dir=bases[0])
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_writes_are_confined_to_the_allowed_paths(outside, tmp_path, no_leaks):
    assert confine.landlock_abi() > 0, "this machine's kernel has Landlock (ABI 7)"
    target = os.path.join(outside, "written")
    with make_runtime(workers=1) as rt:
        with pytest.raises(PythonError) as info:
            rt.call_python("confinelib", "write", [target])
        assert info.value.exc_type == "PermissionError"
        assert not os.path.exists(target)
        inside = str(tmp_path / "fine")  # the temp directory
        assert rt.call_python("confinelib", "write", [inside]) == inside
        assert rt.call_python("numpy", "ones", [300_000]).sum() == 300_000  # /dev/shm arena
    with make_runtime(workers=1, write_paths=(outside,)) as rt:
        assert rt.call_python("confinelib", "write", [target]) == target
    with make_runtime(workers=1, confine_writes=False) as rt:
        other = os.path.join(outside, "unconfined")
        assert rt.call_python("confinelib", "write", [other]) == other


def test_network_confinement_is_optional(no_leaks):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        with make_runtime(workers=1) as rt:
            assert rt.call_python("confinelib", "connect", [port]) is True
        assert confine.landlock_abi() >= 4, "this machine's kernel has Landlock (ABI 7)"
        with make_runtime(workers=1, confine_network=True) as rt:
            with pytest.raises(PythonError) as info:
                rt.call_python("confinelib", "connect", [port])
            assert info.value.exc_type == "PermissionError"
    finally:
        listener.close()


def test_without_landlock_the_worker_warns_and_runs_unconfined():
    def absent(*_args):
        raise OSError(errno.ENOSYS, "Function not implemented")

    warnings = []
    assert confine.confine_files({"paths": []}, warnings.append, syscall=absent) == 0
    assert warnings == [confine.NO_LANDLOCK]
    assert confine.landlock_abi(absent) == 0
    assert confine.confine_files({"confine_writes": False}, warnings.append, absent) == 0
    assert len(warnings) == 1


def test_descendants_die_on_close(no_leaks):
    rt = make_runtime(workers=1)
    try:
        pids = rt.call_python("confinelib", "sleepers", [5])
        pids.append(rt.call_python("confinelib", "daemon"))  # in a session of its own
        assert all(pid_alive(pid) for pid in pids)
    finally:
        rt.close()
    wait_for(lambda: gone(pids), timeout=10.0, what=f"the sleepers {pids} to die")


def test_descendants_die_when_their_worker_is_killed_for_a_timeout(no_leaks, tmp_path):
    with make_runtime(workers=1) as rt:
        worker = rt.call_python("confinelib", "identity")[0]
        with pytest.raises(CallTimeout):
            rt.call_python("confinelib", "sleepers_then_spin", [5], timeout=3.0)
        wait_for(lambda: not confine.session_members(worker), timeout=10.0,
                 what="the killed worker's session to be empty")
        assert not pid_alive(worker)
        router = rt.pids()["router"]
        wait_for(lambda: not zombie_children(router), timeout=10.0,
                 what="the router to reap the orphans it inherited")
        assert rt.call_python("math", "sqrt", [4.0]) == 2.0


def test_a_bounded_fork_bomb_is_cleaned_up(no_leaks):
    rt = make_runtime(workers=1)
    try:
        pid = rt.call_python("confinelib", "identity")[0]
        assert rt.call_python("confinelib", "fork_tree", [7]) == 254
        wait_for(lambda: len(confine.session_members(pid)) >= 255, timeout=60.0,
                 what="the fork tree to grow")
    finally:
        rt.close()
    wait_for(lambda: not confine.session_members(pid), timeout=20.0,
             what="every process of the fork tree to die")


HOST = textwrap.dedent("""
    import json, sys, time
    from zixir.runtime import Runtime
    rt = Runtime(workers=2, paths=[sys.argv[1]], log_level="off")
    sleepers = rt.call_python("confinelib", "sleepers", [5])
    big = rt.call_python("numpy", "ones", [10_000_000])  # 80 MiB through shared memory
    print(json.dumps({"tag": rt.config.tag, "dir": rt._dir, "sleepers": sleepers,
                      "size": int(big.size)}), flush=True)
    time.sleep(600)
""")


def test_a_host_killed_with_sigkill_leaves_nothing_behind():
    host = subprocess.Popen([sys.executable, "-c", HOST, str(HERE)], stdout=subprocess.PIPE,
                            text=True)
    try:
        info = json.loads(host.stdout.readline())
        assert info["size"] == 10_000_000
        processes = descendants(host.pid)
        assert set(info["sleepers"]) <= processes and len(processes) >= 10
        shm = glob.glob(f"/dev/shm/zixir-{info['tag']}-*")
        assert shm and os.path.isdir(info["dir"])
        host.kill()
        host.wait(30)
        wait_for(lambda: gone(processes), timeout=15.0,
                 what=f"every process of the killed host to die: "
                      f"{[p for p in processes if pid_alive(p)]}")
        wait_for(lambda: not glob.glob(f"/dev/shm/zixir-{info['tag']}-*"), timeout=15.0,
                 what="the shared memory to be unlinked")
        wait_for(lambda: not os.path.exists(info["dir"]), timeout=15.0,
                 what="the temp directory to be removed")
    finally:
        if host.poll() is None:
            host.kill()
            host.wait(30)


def test_descendants_die_when_the_router_dies(no_leaks):
    with make_runtime(workers=1) as rt:
        pids = rt.call_python("confinelib", "sleepers", [3])
        router = rt.pids()["router"]
        os.kill(router, signal.SIGKILL)
        wait_for(lambda: gone(pids), timeout=20.0, what=f"the sleepers {pids} to die")

        def works():
            try:
                return rt.call_python("math", "sqrt", [4.0]) == 2.0
            except Exception:  # RouterCrashed while the new router starts
                return False

        wait_for(works, timeout=60.0, what="a call through the new router")
        assert rt.pids()["router"] != router
