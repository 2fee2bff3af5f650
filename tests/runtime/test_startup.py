"""What the runtime does not do at start: the memory store starts on first use, the worker
template imports numpy once a call used it, the janitor runs without the zixir package until
it cleans up, and events below the log level never load structlog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import make_runtime, wait_for

from zixir.runtime.process import ProcessHandle
from zixir.runtime.supervisor import ChildSpec, Supervisor


def _maps(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def test_the_memory_store_starts_when_it_is_first_used(no_leaks):
    with make_runtime(workers=1) as rt:
        assert rt.pids()["memory"] is None
        assert rt.call_python("math", "sqrt", [4.0]) == 2.0
        assert rt.pids()["memory"] is None  # calls need no store
        rt.memory.put("k", 41)  # waits in the socket's backlog while the store starts
        assert rt.memory.incr("k") == 42
        # the store serves as soon as it is ready, a moment before the supervisor records it
        store = wait_for(lambda: rt.pids()["memory"], what="the store's pid")
        assert rt.eval('memory.get("k")') == 42
        os.kill(store, signal.SIGKILL)  # from now on it is supervised like any child
        wait_for(lambda: rt.pids()["memory"] not in (None, store), what="a new store")
        assert rt.memory.get("k") == 42


def test_prewarm_starts_the_memory_store_at_once(no_leaks):
    with make_runtime(workers=1, prewarm=True) as rt:
        assert rt.pids()["memory"] is not None


def test_a_store_that_cannot_start_is_a_typed_error_at_first_use(no_leaks, tmp_path):
    from zixir.lang.errors import ZixirRuntimeError

    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with make_runtime(workers=1, memory_path=str(blocked / "memory.db"), root_intensity=1,
                      root_period=600) as rt:
        with pytest.raises(ZixirRuntimeError):
            rt.memory.put("k", 1)


def test_the_template_imports_numpy_once_a_call_used_it(no_leaks):
    with make_runtime(workers=1) as rt:
        rt.call_python("math", "sqrt", [4.0])
        template = rt.pids()["template"]
        assert "_multiarray_umath" not in _maps(template)
        assert rt.call_python("numpy", "add", [1, 2]) == 3
        worker = rt.pids()["workers"][0]
        os.kill(worker, signal.SIGKILL)  # its replacement is the template's next fork
        wait_for(lambda: [w for w in rt.pids()["workers"] if w != worker],
                 what="a replacement worker")
        assert "_multiarray_umath" in _maps(template)
        replacement = rt.pids()["workers"][0]
        assert "_multiarray_umath" in _maps(replacement)  # inherited, not imported again
    with make_runtime(workers=1, preload_on_use=False) as rt:
        rt.call_python("math", "sqrt", [4.0])
        assert "_multiarray_umath" in _maps(rt.pids()["template"])


def test_workers_import_asyncio_only_for_async_functions_then_share_it(no_leaks):
    with make_runtime(workers=1) as rt:
        rt.call_python("faultlib", "echo", [1])
        template, worker = rt.pids()["template"], rt.pids()["workers"][0]
        assert "_asyncio" not in _maps(template) and "_asyncio" not in _maps(worker)
        assert rt.call_python("faultlib", "async_echo", [2]) == 2
        assert "_asyncio" in _maps(worker)
        os.kill(worker, signal.SIGKILL)  # its replacement is the template's next fork
        wait_for(lambda: [w for w in rt.pids()["workers"] if w != worker],
                 what="a replacement worker")
        assert "_asyncio" in _maps(template)  # imported once, before that fork
        assert rt.call_python("faultlib", "async_echo", [3]) == 3


def test_the_janitor_starts_without_site_packages_and_still_cleans_up(no_leaks):
    rt = make_runtime(workers=1)
    try:
        janitor = rt._janitor.handle.pid
        with open(f"/proc/{janitor}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        assert b"-S" in argv
        assert "site-packages" not in _maps(janitor)  # no compiled extension loaded either
        runtime_dir = rt._dir
    finally:
        rt.close()
    assert not os.path.exists(runtime_dir)
    assert ProcessHandle  # the janitor was reaped by close (no_leaks checks the rest)


def test_events_below_the_level_do_not_load_structlog():
    code = ("import sys\nfrom zixir.runtime.events import make_logger\n"
            "log = make_logger('host', 'warning')\nlog.info('process.start', pid=1)\n"
            "log.debug('x')\nassert 'structlog' not in sys.modules, 'loaded for info'\n"
            "log.warning('breaker.state', breaker='m')\n"
            "assert 'structlog' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"event": "breaker.state"' in done.stderr and "process.start" not in done.stderr


def test_a_supervisor_starts_an_activated_child_when_a_client_connects(tmp_path):
    import socket

    path = str(tmp_path / "sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    started: list[ProcessHandle] = []

    def start() -> ProcessHandle:
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        started.append(ProcessHandle(proc.pid, "sleeper"))
        return started[-1]

    sup = Supervisor("test", intensity=3, period=5.0)
    sup.start([ChildSpec("lazy", start, activate=listener.fileno(), shutdown=0.5)])
    try:
        time.sleep(0.2)
        assert started == [] and sup.handle("lazy") is None
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(path)  # accepted by nobody yet: it waits in the backlog
        wait_for(lambda: sup.handle("lazy") is not None, what="the activated child")
        assert len(started) == 1
        client.close()
    finally:
        sup.stop()
        listener.close()
    assert all(h.reap(5.0) is not None for h in started)
