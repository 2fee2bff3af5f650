"""One supervisor implementation for every level (root in the host, workers in the router).

    owner                     Supervisor thread (owns the children list)            children
    -----                     ------------------------------------------            --------
    start(specs) ---cmd--->   start each spec in order  ------ spec.start() ---->   process 1..n
                              (a spec with `activate`: once a client connects to its socket)
    replace(name) --cmd--->   terminate + start, not counted                        |
    stop() --------cmd--->    terminate in reverse order: SIGTERM, grace, SIGKILL   |
                              epoll on every child's pidfd  <------ exit ------------+
                                |  reap -> spec.on_exit(handle, status)
                                |  spec.blame(handle) names a call that caused the exit:
                                |    restarted without counting (that call's circuit
                                |    breaker counts the crash instead)
                                |  restart type says whether to restart:
                                |    permanent always, transient if abnormal, temporary never
                                |  strategy says what to restart:
                                |    one_for_one: the child; one_for_all: every child;
                                |    rest_for_one: the child and those started after it
                                |  more than `intensity` restarts within `period` seconds:
                                +--> stop every child, then on_escalate(reason)  (to the parent)

Semantics follow OTP supervisors. An exit is normal when the exit code is 0, or when the child
died of the SIGTERM its supervisor sent while shutting it down. A child that the owner kills on
purpose (a call timeout, recycling) is announced with `expect_exit` or `replace` and restarted
without counting toward the intensity. So is a child whose crash its owner can pin on one
request (`ChildSpec.blame`): a worker killed by the library it was running is that library's
fault, charged to its module's circuit breaker, so one bad module never exhausts the budget
that protects everything else. Children are started and stopped only from the
supervisor's own thread, which lives as long as they do (PR_SET_PDEATHSIG follows threads).
"""

from __future__ import annotations

import os
import queue
import selectors
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .events import NullLog
from .process import ExitStatus, ProcessHandle


class Strategy(StrEnum):
    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class Restart(StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


@dataclass
class ChildSpec:
    name: str
    start: Callable[[], ProcessHandle]  # blocking: returns once the child is ready
    restart: Restart = Restart.PERMANENT
    shutdown: float = 2.0  # grace between SIGTERM and SIGKILL
    on_exit: Callable[[ProcessHandle, ExitStatus], None] | None = None
    # what the child was doing when it died, if the owner can blame one request for the
    # crash (None: the crash counts toward the intensity)
    blame: Callable[[ProcessHandle], str | None] | None = None
    # started on demand: not by start() but once this fd (a listening socket) is readable,
    # that is once a client connects (its connection waits in the backlog meanwhile); from
    # then on supervised like any other child
    activate: int | None = None


class SupervisorFailed(Exception):
    """The supervisor could not start its children, or has escalated."""


@dataclass
class _Child:
    spec: ChildSpec
    handle: ProcessHandle | None = None
    starts: int = 0  # every start, the first included


class Supervisor:
    def __init__(
        self,
        name: str,
        strategy: Strategy | str = Strategy.ONE_FOR_ONE,
        intensity: int = 3,
        period: float = 5.0,
        on_escalate: Callable[[str], None] | None = None,
        log: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.strategy = Strategy(strategy)
        self.intensity = intensity
        self.period = period
        self.on_escalate = on_escalate
        self.log = log or NullLog()
        self.clock = clock
        self.restarts = 0  # restarts after crashes (charged to a call or counted)
        self.charged = 0  # of which charged to the call that caused them
        self.replacements = 0  # deliberate replacements
        self.escalated: str | None = None
        self._children: list[_Child] = []
        self._restart_times: deque[float] = deque()
        self._deliberate: set[int] = set()  # pids whose exit was requested by the owner
        self._shutting_down: set[int] = set()
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._selector = selectors.DefaultSelector()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # guards the children snapshot read by other threads

    # ---- API (any thread) ---------------------------------------------------------------

    def start(self, specs: list[ChildSpec], timeout: float | None = 60.0) -> None:
        """Start the children in order; raises SupervisorFailed if one cannot start."""
        if self._thread is not None:
            raise RuntimeError("supervisor already started")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError("child names must be unique")
        self._children = [_Child(s) for s in specs]
        result: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, args=(result,), name=f"zixir-supervisor-{self.name}", daemon=True
        )
        self._thread.start()
        try:
            outcome = result.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise SupervisorFailed(f"{self.name}: children did not start in {timeout} s") from None
        if outcome is not None:
            self._thread.join(timeout=30)
            raise SupervisorFailed(f"{self.name}: {outcome}")

    def stop(self, timeout: float | None = 60.0) -> None:
        """Terminate every child in reverse start order, then end the supervisor thread."""
        if self._thread is None or not self._thread.is_alive():
            return
        self._send(("stop", threading.Event()))
        if threading.current_thread() is not self._thread:
            self._stopped.wait(timeout)  # set by the thread on every way out (stop, escalation)
            self._thread.join(timeout)

    def expect_exit(self, handle: ProcessHandle) -> None:
        """The owner is about to kill `handle` on purpose: restart it without counting."""
        self._deliberate.add(handle.pid)

    def replace(self, name: str) -> None:
        """Terminate child `name` and start a fresh one (not counted toward the intensity)."""
        handle = self.handle(name)
        if handle is not None:
            self.expect_exit(handle)
            handle.kill()

    def handle(self, name: str) -> ProcessHandle | None:
        with self._lock:
            for c in self._children:
                if c.spec.name == name:
                    return c.handle
        return None

    def which_children(self) -> list[tuple[str, int | None]]:
        with self._lock:
            return [(c.spec.name, c.handle.pid if c.handle else None) for c in self._children]

    def children_info(self) -> list[dict]:
        """Each child's name, pid (None while it restarts) and how often it was restarted
        (for any reason: crashes, replacements), in start order."""
        with self._lock:
            return [{"name": c.spec.name, "pid": c.handle.pid if c.handle else None,
                     "restarts": max(0, c.starts - 1)} for c in self._children]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self.escalated

    # ---- the supervisor thread ----------------------------------------------------------

    def _send(self, command: tuple) -> None:
        self._commands.put(command)
        with self._lock:
            if self._stopped.is_set():
                return
            try:
                os.write(self._wake_w, b"x")
            except BlockingIOError:
                pass

    def _run(self, result: queue.SimpleQueue) -> None:
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        try:
            for index in range(len(self._children)):
                child = self._children[index]
                if child.spec.activate is not None:
                    self._selector.register(child.spec.activate, selectors.EVENT_READ,
                                            ("activate", child))
                else:
                    self._start_child(child)
        except Exception as e:
            self._terminate_all()
            result.put(f"cannot start child {self._children[index].spec.name}: {e}")
            self._close()
            return
        result.put(None)
        try:
            self._loop()
        finally:
            self._close()

    def _loop(self) -> None:
        while True:
            for key, _ in self._selector.select():
                if key.data is None:
                    try:
                        os.read(self._wake_r, 4096)
                    except BlockingIOError:
                        pass
                    while True:
                        try:
                            command = self._commands.get_nowait()
                        except queue.Empty:
                            break
                        if command[0] == "stop":
                            self._terminate_all()
                            command[1].set()
                            return
                elif type(key.data) is tuple:  # a client wants a child started on demand
                    if self._activate(key) == "escalated":
                        return
                else:
                    child: _Child = key.data
                    if child.handle is not None and child.handle.pidfd == key.fd:
                        if self._child_exited(child) == "escalated":
                            return

    def _activate(self, key: selectors.SelectorKey) -> str | None:
        """Start a child on demand (its activation fd became readable); a failed start counts
        like a failed restart."""
        self._selector.unregister(key.fd)
        child: _Child = key.data[1]
        if child.handle is not None or child not in self._children:
            return None
        self.log.info("process.activate", supervisor=self.name, child=child.spec.name)
        return self._restart([child], counted=False)

    def _close(self) -> None:
        with self._lock:
            self._stopped.set()
            try:
                self._selector.close()
            finally:
                os.close(self._wake_r)
                os.close(self._wake_w)

    def _start_child(self, child: _Child) -> None:
        handle = child.spec.start()
        handle.name = handle.name or child.spec.name
        with self._lock:
            child.handle = handle
            child.starts += 1
        self._selector.register(handle.pidfd, selectors.EVENT_READ, child)
        self.log.info("process.start", supervisor=self.name, child=child.spec.name, pid=handle.pid)

    def _forget(self, child: _Child) -> None:
        handle = child.handle
        if handle is None:
            return
        try:
            self._selector.unregister(handle.pidfd)
        except (KeyError, ValueError):
            pass
        with self._lock:
            child.handle = None

    def _terminate(self, child: _Child) -> None:
        """Shut one child down: SIGTERM, wait the grace period, then SIGKILL."""
        handle = child.handle
        if handle is None:
            return
        self._forget(child)
        self._shutting_down.add(handle.pid)
        handle.signal(signal.SIGTERM)
        status = handle.reap(child.spec.shutdown)
        if status is None:
            handle.kill()
            status = handle.reap(None)
        self._shutting_down.discard(handle.pid)
        self._deliberate.discard(handle.pid)
        self._notify_exit(child, handle, status, "shutdown")

    def _terminate_all(self, children: list[_Child] | None = None) -> None:
        for child in reversed(children if children is not None else self._children):
            self._terminate(child)

    def _notify_exit(self, child: _Child, handle: ProcessHandle, status: ExitStatus,
                     decision: str) -> None:
        """Tell the owner (spec.on_exit) about an exit and what the supervisor decided:
        "restart", "replace", "escalate", "none" (not restarted) or "shutdown"."""
        handle.decision = decision
        self.log.info("process.exit", supervisor=self.name, child=child.spec.name, pid=handle.pid,
                      exitcode=status.exitcode, signal=status.signal, decision=decision)
        try:
            if child.spec.on_exit is not None:
                child.spec.on_exit(handle, status)
        except Exception as e:  # an owner's hook must not kill the supervisor
            self.log.error("supervisor.hook_failed", supervisor=self.name, error=repr(e))
        finally:
            handle.handled.set()

    def _child_exited(self, child: _Child) -> str | None:
        handle = child.handle
        assert handle is not None
        status = handle.reap(5.0) or ExitStatus(None, None)
        self._forget(child)
        if handle.pid in self._deliberate:
            self._deliberate.discard(handle.pid)
            self._notify_exit(child, handle, status, "replace")
            self.replacements += 1
            self.log.info("process.restart", supervisor=self.name, child=child.spec.name,
                          reason="replaced")
            return self._restart([child], counted=False)
        if not status.normal:
            self.log.warning("process.crash", supervisor=self.name, child=child.spec.name,
                             pid=handle.pid, status=status.describe())
        restart = child.spec.restart
        restarts = restart is Restart.PERMANENT or (restart is Restart.TRANSIENT
                                                     and not status.normal)
        culprit = self._blame(child, handle) if restarts else None
        if culprit is not None:
            self._notify_exit(child, handle, status, "restart")
            self.restarts += 1
            self.charged += 1
            self.log.warning("process.restart", supervisor=self.name, child=child.spec.name,
                             reason=status.describe(), charged_to=culprit)
            return self._restart([child], counted=False)
        if restart is Restart.TEMPORARY or (restart is Restart.TRANSIENT and status.normal):
            self._notify_exit(child, handle, status, "none")
            if restart is Restart.TEMPORARY:
                with self._lock:
                    self._children.remove(child)
            return None
        if not self._count_restart():
            self._notify_exit(child, handle, status, "escalate")
            return self._escalate(
                f"more than {self.intensity} restarts in {self.period:g} s "
                f"(last: {child.spec.name} {status.describe()})"
            )
        self._notify_exit(child, handle, status, "restart")
        index = self._children.index(child)
        if self.strategy is Strategy.ONE_FOR_ONE:
            group = [child]
        elif self.strategy is Strategy.ONE_FOR_ALL:
            group = list(self._children)
        else:
            group = self._children[index:]
        others = [c for c in group if c is not child]
        self._terminate_all(others)
        for c in others:
            if c.spec.restart is Restart.TEMPORARY:
                with self._lock:
                    self._children.remove(c)
        group = [c for c in group if c in self._children]
        self.restarts += 1
        return self._restart(group, counted=True, reason=status.describe())

    def _blame(self, child: _Child, handle: ProcessHandle) -> str | None:
        if child.spec.blame is None:
            return None
        try:
            return child.spec.blame(handle)
        except Exception as e:  # an owner's hook must not kill the supervisor
            self.log.error("supervisor.hook_failed", supervisor=self.name, error=repr(e))
            return None

    def _count_restart(self) -> bool:
        """Record one restart; False when it exceeds the intensity (time to escalate)."""
        now = self.clock()
        self._restart_times.append(now)
        while self._restart_times and self._restart_times[0] < now - self.period:
            self._restart_times.popleft()
        return len(self._restart_times) <= self.intensity

    def _restart(self, group: list[_Child], counted: bool, reason: str = "") -> str | None:
        for c in group:
            while True:
                try:
                    self._start_child(c)
                    break
                except Exception as e:
                    self.log.warning("process.start_failed", supervisor=self.name,
                                     child=c.spec.name, error=repr(e))
                    if not self._count_restart():
                        return self._escalate(f"child {c.spec.name} cannot start: {e}")
            if counted:
                self.log.warning("process.restart", supervisor=self.name, child=c.spec.name,
                                 pid=c.handle.pid if c.handle else None, reason=reason)
        return None

    def _escalate(self, reason: str) -> str:
        self.escalated = reason
        self.log.error("supervisor.escalate", supervisor=self.name, reason=reason)
        self._terminate_all()
        if self.on_escalate is not None:
            try:
                self.on_escalate(reason)
            except Exception as e:
                self.log.error("supervisor.hook_failed", supervisor=self.name, error=repr(e))
        return "escalated"
