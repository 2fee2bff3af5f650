"""Worker processes: spawning and supervision (router side).

    WorkerSupervision.start()
      worker supervisor (one_for_one; intensity `RuntimeConfig.worker_restart_intensity`)
        template (fork server) --- socket: "fork" + the two pipe ends of a new worker --+
        worker-0 .. worker-N-1                                                          |
          start: two pipes; ask the template to fork (or spawn `python -m               |
                 python_workers`) <-------------------------------------------------------+
                 WorkerLink over our ends (link.py: a reader thread delivers its replies);
                 wait for its "ready" notification (its pid)
                 -> on_started(worker)                 (the pool files it as idle)
          exit:  blame(slot, handle) -> "module.function" the worker was running, or None:
                 a crash caused by a call is restarted without counting toward the
                 intensity (that call's breaker counts it)
                 on_exited(slot, handle)                (the pool forgets it)

The supervisor thread starts and stops every process; the pool owns which worker is idle or
busy. A `Worker` is the record both share: its link is shared by every call in flight on it;
its load (`exclusive`, `shared`, `threaded`, `inflight`) is written and read under the pool's
lock, where `blame` reads it too.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from typing import Any

from zixir.lang.fibers import WaitTimeout

from . import protocol as p
from .channel import ChannelClosed
from .cluster import INLINE
from .config import RuntimeConfig
from .confine import kill_group
from .events import NullLog
from .link import WorkerLink
from .process import ProcessHandle, become_subreaper, pipe, python_argv, spawn
from .shm import ShmArena
from .supervisor import ChildSpec, Restart, Strategy, Supervisor

READY_TIMEOUT = 60.0


def start_forkserver(env: dict, name: str, what: str) -> tuple[socket.socket, ProcessHandle]:
    """Start a template process (python_workers/forkserver.py) and wait for its "ready" byte:
    the socket to send it fork requests, and its handle."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        handle = spawn(python_argv("python_workers.forkserver"), {3: theirs.fileno()}, env,
                       name)
    finally:
        theirs.close()
    ours.settimeout(READY_TIMEOUT)
    try:
        if ours.recv(1) != b"R":
            raise RuntimeError(f"the {what} did not start")
    except BaseException:
        ours.close()
        handle.kill()
        handle.reap(5.0)
        raise
    return ours, handle


class Worker:
    """One live worker as the pool sees it."""

    __slots__ = ("slot", "handle", "link", "arena", "calls", "dead", "paths_version",
                 "exclusive", "shared", "threaded", "inflight", "draining", "crash_charged")

    def __init__(self, slot: int, handle: ProcessHandle, link: WorkerLink, arena: ShmArena,
                 paths_version: int) -> None:
        self.slot, self.handle, self.link, self.arena = slot, handle, link, arena
        self.calls = 0
        self.dead = False
        self.paths_version = paths_version  # the pool's paths this worker already has
        # "module.function" of the one-at-a-time call it runs (None: none); kept after a
        # crash, so the supervisor charges the crash to that call
        self.exclusive: str | None = None
        self.shared = 0  # async and threaded calls in flight
        self.threaded: dict[str, int] = {}  # module -> threaded calls in flight
        self.inflight: dict[int, Any] = {}  # call key -> the pool's Call (its .what)
        self.draining = False  # to be recycled once its calls are done: takes no new ones
        self.crash_charged = False  # its death was counted by one call's breaker already

    @property
    def busy_with(self) -> str | None:
        """The call a crash of this worker is blamed on (its one call, or one in flight)."""
        if self.exclusive is not None:
            return self.exclusive
        call = next(iter(self.inflight.values()), None)
        return call.what if call is not None else None

    @property
    def idle(self) -> bool:
        return self.exclusive is None and not self.shared

    def close(self) -> None:
        self.link.close("the worker is gone")
        self.arena.close()


class WorkerSupervision:
    def __init__(self, config: RuntimeConfig, env: dict[str, str], *,
                 paths: Callable[[], tuple[list[str], int]],
                 on_started: Callable[[Worker], None],
                 on_exited: Callable[[int, ProcessHandle], None],
                 on_note: Callable[[Worker, p.Notification], None] | None = None,
                 blame: Callable[[int, ProcessHandle], str | None],
                 on_escalate: Callable[[str], None], log: Any = None) -> None:
        self.config = config
        self.env = env
        self.log = log or NullLog()
        self._paths = paths
        self._on_started, self._on_exited, self._blame = on_started, on_exited, blame
        self._on_escalate = on_escalate
        self._on_note = on_note
        self._template: socket.socket | None = None  # owned by the supervisor thread
        self.supervisor: Supervisor | None = None
        # preload modules a call used: the template imports them before its next fork
        self._preload = set(config.preload) if config.preload_on_use else set()
        self._used: set[str] = set()  # grows only (read without a lock by the supervisor)
        self.cluster: Any = None  # a RayCluster when the workers are Ray actors

    def used(self, module: str) -> None:
        """A call to `module`: if it is a preload module, the template should have it."""
        if self._preload:
            top = module.partition(".")[0]
            if top in self._preload and top not in self._used:
                self._used = self._used | {top}

    def wanted(self, module: str) -> None:
        """Workers will need `module` (asyncio, once a function is known to be async): the
        template imports it before its next fork, so that workers share it."""
        if module not in self._used:
            self._used = self._used | {module}

    def start(self) -> None:
        cfg = self.config
        specs = []
        if cfg.cluster is not None:  # workers are Ray actors (cluster.py): no template
            from .cluster import RayCluster

            cluster = RayCluster(cfg, self.log)
            cluster.connect()
            try:
                cluster.check_capacity(cfg.workers)
                cluster.prestart(cfg.workers, self._ray_worker_config(self._paths()[0]))
            except BaseException:
                cluster.close()
                raise
            self.cluster = cluster
        else:
            become_subreaper()  # workers forked by the template become our children
            specs.append(ChildSpec("template", self._start_template, Restart.PERMANENT,
                                   cfg.shutdown_grace, self._template_exited))
        sup = Supervisor("workers", Strategy.ONE_FOR_ONE, cfg.worker_restart_intensity,
                         cfg.restart_period, on_escalate=self._on_escalate, log=self.log)
        specs += [
            ChildSpec(f"worker-{i}", (lambda i=i: self._start_worker(i)), Restart.PERMANENT,
                      cfg.shutdown_grace, (lambda h, s, i=i: self._on_exited(i, h)),
                      blame=(lambda h, i=i: self._blame(i, h)))
            for i in range(cfg.workers)
        ]
        if self.cluster is None:
            sup.start(specs)
        else:
            from zixir.lang.errors import ClusterUnavailable

            from .cluster import CONNECT_TIMEOUT
            from .supervisor import SupervisorFailed

            try:
                sup.start(specs, timeout=CONNECT_TIMEOUT + 15.0)
            except SupervisorFailed as e:
                self.cluster.close()
                self.cluster = None
                raise ClusterUnavailable(
                    f"the Python workers did not start on the Ray cluster at {cfg.cluster}: "
                    f"{e}", address=cfg.cluster) from None
        self.supervisor = sup

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
        if self._template is not None:
            self._template.close()
            self._template = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def kill(self, worker: Worker) -> None:
        """Kill a worker on purpose (timeout, recycling): replaced without counting."""
        if self.supervisor is not None:
            self.supervisor.expect_exit(worker.handle)
        worker.handle.kill()
        if not worker.handle.remote:
            kill_group(worker.handle.pid)

    # ---- children (run in the supervisor thread) -----------------------------------------

    def _start_template(self) -> ProcessHandle:
        self._template, handle = start_forkserver(self.env, "template", "worker template")
        return handle

    def _template_exited(self, handle: ProcessHandle, status: Any) -> None:
        if self._template is not None:
            self._template.close()
            self._template = None

    def _fork_from_template(self, req_r: int, resp_w: int, paths: list[str]) -> bool:
        sock = self._template
        if sock is None:
            return False
        try:
            request = {"paths": paths, "preload": sorted(self._used)}
            socket.send_fds(sock, [json.dumps(request).encode()], [req_r, resp_w])
            return sock.recv(1) == b"F"
        except OSError:
            return False

    def _start_ray_worker(self, slot: int) -> Any:
        """A worker actor on the Ray cluster, linked over its TCP connection."""
        from .cluster import RayHandle

        name = f"worker-{slot}"
        config = self._ray_worker_config(self._paths()[0])
        actor, ref, rfd, wfd = self.cluster.start_worker(name, config)
        # it may have been launched before the paths changed: its first call sends them
        return self._attach(slot, rfd, wfd, -1, None,
                            lambda pid: RayHandle(actor, ref, pid, name),
                            lambda: self.cluster.kill(actor))

    def _ray_worker_config(self, paths: list[str]) -> dict:
        from .cluster import INLINE

        config = json.loads(self.env["ZIXIR_WORKER_CONFIG"])
        config.update(paths=paths, shm_threshold=INLINE, parent_pid=None)
        return config

    def _start_worker(self, slot: int) -> ProcessHandle:
        if self.cluster is not None:
            return self._start_ray_worker(slot)
        paths, paths_version = self._paths()
        req_r, req_w = pipe()
        resp_r, resp_w = pipe()
        handle: ProcessHandle | None = None
        try:
            if not self._fork_from_template(req_r, resp_w, paths):
                env = dict(self.env)
                cfg = json.loads(env["ZIXIR_WORKER_CONFIG"])
                cfg["paths"] = paths
                env["ZIXIR_WORKER_CONFIG"] = json.dumps(cfg)
                handle = spawn(python_argv("python_workers"), {3: req_r, 4: resp_w}, env,
                               f"worker-{slot}")
        except BaseException:
            for fd in (req_w, resp_r):
                os.close(fd)
            raise
        finally:
            os.close(req_r)
            os.close(resp_w)
        return self._attach(slot, resp_r, req_w, paths_version, handle,
                            lambda pid: ProcessHandle(pid, f"worker-{slot}"), None)

    def _attach(self, slot: int, resp_r: int, req_w: int, paths_version: int,
                handle: Any, make_handle: Callable[[int], Any],
                abandon: Callable[[], None] | None) -> Any:
        """Link to a started worker and wait for its "ready" (its pid): the pool files it."""
        cfg = self.config
        arena = ShmArena(cfg.tag, cfg.shm_threshold if cfg.cluster is None else INLINE)
        record: list[Worker] = []
        on_note = self._on_note

        def noted(note: p.Notification) -> None:
            if record and on_note is not None:
                on_note(record[0], note)

        def closed() -> None:  # a Ray worker's link ended: it is gone (cluster.py)
            if record and record[0].handle.remote:
                record[0].handle.link_closed()

        channel = WorkerLink(resp_r, req_w, p.Codec(cfg.max_frame, arena), on_notification=noted,
                             on_closed=closed if cfg.cluster is not None else None,
                             name=f"zixir-worker-{slot}")
        try:
            try:
                ready = int(channel.wait_notification("ready", READY_TIMEOUT)[0])
            except ChannelClosed:
                raise RuntimeError("the worker exited before it was ready") from None
            except (TimeoutError, WaitTimeout, IndexError, TypeError, ValueError):
                raise RuntimeError("the worker did not report ready in time") from None
            if handle is None:
                handle = make_handle(ready)
            elif handle.pid != ready:
                raise RuntimeError(f"worker announced pid {ready}, expected {handle.pid}")
        except BaseException:
            channel.close("the worker failed to start")
            arena.close()
            if handle is not None:
                handle.kill()
                handle.reap(5.0)
            elif abandon is not None:
                abandon()
            raise
        worker = Worker(slot, handle, channel, arena, paths_version)
        record.append(worker)
        if handle.remote and channel.closed is not None:  # closed before it was filed
            handle.link_closed()
        self._on_started(worker)
        return handle
