"""The worker template: a pre-imported process that forks new workers on request.

    router (subreaper)                template (this module)               new worker
    ------------------                ----------------------               ----------
    socket fd 3: "fork" + 2 fds  -->  fork -> intermediate -> fork ---->   waits until it is
      (request read end,              intermediate exits at once, so       re-parented to the
       response write end)            the worker is re-parented to the     router, sets
                                      router (PR_SET_CHILD_SUBREAPER)      PDEATHSIG, serves
    <-- "ready" frame on the response pipe, with the worker's pid --------------------------

The template imports the worker code once, and the preloaded libraries (numpy) once a call
has used them (the router's fork requests name them; `RuntimeConfig.preload_on_use`); a fork
then costs about a millisecond, so a crashed worker's replacement is serving almost at once.
A request that names an agent (`{"agent": {"name": ...}}`, from zixir.runtime.agents, which
runs a template of its own) makes the new process an agent (python_workers/agent.py) instead
of a worker. What is loaded is frozen (`gc.freeze`) before forking, so workers share its pages. The
router reaps workers itself (they are its children after the re-parenting) and so learns their
exit codes and signals. The template exits when the router's socket closes, and dies with the
router (PDEATHSIG).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import socket
import sys
import time


def _become_worker(in_fd: int, out_fd: int, config: dict, router_pid: int) -> None:
    from python_workers.worker import set_paths, start_worker
    from zixir.runtime.process import bind_to_parent

    deadline = time.monotonic() + 5.0
    while os.getppid() != router_pid:  # the intermediate process is exiting right now
        if time.monotonic() > deadline:
            os._exit(73)
        time.sleep(0.0002)
    bind_to_parent(router_pid)
    set_paths(list(config.get("paths", [])))  # the pool's paths as of this fork request
    if config.get("agent"):  # an agent's process (zixir.runtime.agents) rather than a worker
        from python_workers.agent import start_agent

        start_agent(in_fd, out_fd, config)
    start_worker(in_fd, out_fd, config)


def _preload(names: list[str], tried: set[str]) -> None:
    """Import `names` (once each), then freeze what is loaded: the collector of a forked
    worker never writes to those objects, so their pages stay shared with this template."""
    fresh = [name for name in names if name not in tried]
    for name in fresh:
        tried.add(name)
        try:
            importlib.import_module(name)
        except Exception as e:  # a missing optional library only makes forks slower
            os.write(2, f"zixir template: cannot preload {name}: {e!r}\n".encode())
    if fresh or not tried:
        if not tried:
            tried.add("")  # frozen once at the start
        gc.collect()
        gc.freeze()


def main() -> None:
    from zixir.runtime.process import bind_to_parent

    config = json.loads(os.environ["ZIXIR_WORKER_CONFIG"])
    router_pid = int(config["parent_pid"])
    bind_to_parent(router_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for path in reversed(list(config.get("sys_path", [])) + list(config.get("paths", []))):
        if path not in sys.path:
            sys.path.insert(0, path)
    import tempfile  # noqa: F401  (each child finds its writable paths with it)

    import python_workers.agent  # noqa: F401  (pre-import for the children)
    import python_workers.worker  # noqa: F401
    from zixir.runtime.confine import NO_LANDLOCK, landlock_abi

    if config.get("confine_writes", True) and landlock_abi() == 0:  # said once, not per fork
        os.write(2, f"zixir template: warning: {NO_LANDLOCK}\n".encode())

    tried: set[str] = set()
    _preload(config.get("preload", []), tried)
    sock = socket.socket(fileno=3)
    sock.sendall(b"R")
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 4096, 2)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        request = json.loads(msg)
        _preload(request.get("preload", []), tried)  # modules calls have used by now
        pid = os.fork()
        if pid == 0:
            try:
                if os.fork() == 0:
                    sock.close()
                    child_config = dict(config)
                    child_config["paths"] = request.get("paths", [])
                    if request.get("agent"):
                        child_config["agent"] = request["agent"]
                    _become_worker(fds[0], fds[1], child_config, router_pid)
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        os.waitpid(pid, 0)
        try:
            sock.sendall(b"F")
        except OSError:
            os._exit(0)


if __name__ == "__main__":
    main()
