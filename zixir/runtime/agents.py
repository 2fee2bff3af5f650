"""Agents, router side: the registry, the mailboxes and the supervision of agent processes.

    start(name, module, Class, args, kwargs, restart, checkpoint)
      policy check -> a process forked from the agent template (python_workers.forkserver,
      the worker template's program, started with the first agent) -> "init" sent at once
      -> "ready" -> the init reply (built from module.Class(*args, **kwargs)) -> watched by
      the supervision thread

    call(name, method, args)                 one agent's mailbox (FIFO of fibers Waiters)
      chain check: the calls this one is nested in, as "agent A" / "python m.f" (an agent's
        calls through zixir.worker carry it; a pool worker running a function called from
        an agent passes it on): agent A -> agent B -> agent A,
        agent A -> python m.f -> agent A ---------------> AgentDeadlock
      breaker admit (module, Class.method) -----------> CircuitOpen
      wait for the head of the mailbox and a running process (a restart is waited for,
        within the call's timeout) ------------------> CallTimeout / RestartLimitExceeded
        (`Agent.wake`, after every change of the agent, grants the head its turn or fails
        every waiting call once the agent is stopped or failed)
      "call" on the agent's channel; the agent notifies "began" before it runs the method
        past the timeout: the watchdog kills the agent ------------------> CallTimeout
        channel EOF after "began" (the process died mid-call) -----------> WorkerCrashed
        channel EOF before "began" (killed between calls, even if it had read the
          request): the call goes back to the head of the mailbox and waits for the
          restart
      reply: value; a snapshot (per `checkpoint`) is kept as the agent's state and handed
        to the checkpoint writer (agent_checkpoints.py), which puts it in the memory store

    supervision thread: epoll on the pidfd of every agent process
      exit -> stop requested: `stopped`
           -> restart type (permanent / transient on an abnormal exit / temporary never):
              no restart: `stopped`; more than `intensity` restarts in `period` s: `failed`;
              else `restarting`, and a restarter thread builds it again from its start
              arguments and restores its last snapshot, then `running`; calls waiting in
              its mailbox go on

State: an agent's record (status, process, mailbox) belongs to its condition; the registry's
name table to `_lock`. The template socket is used under `_fork_lock`. Agent processes are
re-parented to the router (a subreaper), confined like workers (own process group, rlimits,
Landlock) and die with it (PDEATHSIG; the janitor kills their groups after a kill -9 of the
host).
"""

from __future__ import annotations

import itertools
import json
import os
import selectors
import socket
import threading
import time
from collections import deque
from typing import Any, NoReturn

from zixir.lang import fibers
from zixir.lang.errors import (
    AgentDeadlock,
    AgentError,
    CallTimeout,
    CircuitOpen,
    PolicyDenied,
    RestartLimitExceeded,
    WorkerCrashed,
    ZixirError,
    ZixirRuntimeError,
)
from zixir.lang.fibers import Waiter, WaitTimeout
from zixir.observe import metrics, tracing

from . import protocol as p
from .agent_checkpoints import CheckpointWriter
from .channel import Channel, ChannelClosed
from .confine import kill_group
from .events import NullLog
from .modules import ModuleSettings
from .process import ProcessHandle, become_subreaper, pipe
from .stats import Stats
from .watchdog import Watchdog
from .workers import start_forkserver

_ids = itertools.count(1)

RUNNING, RESTARTING, FAILED, STOPPED = "running", "restarting", "failed", "stopped"
RESTART_TYPES = ("permanent", "transient", "temporary")
READY_TIMEOUT = 60.0
#: pause between attempts to build an agent again whose restart failed
RESTART_BACKOFF = 0.05
#: how long the supervision thread reads a dead agent's pipe for its last messages (its
#: descendants are killed first, so the end of file comes at once unless it is remote)
DRAIN_TIMEOUT = 1.0


def parse_checkpoint(value: Any) -> int:
    """`"call"` -> 1 (after every call), N -> every N calls, `"never"` -> 0."""
    if value is None or value == "call":
        return 1
    if value == "never":
        return 0
    if type(value) is int and value > 0:
        return value
    raise AgentError(f"agent.start: checkpoint must be \"call\", \"never\" or a positive "
                     f"integer, got {value!r}")


class Agent:
    """One named agent: its start arguments, its process and its mailbox."""

    def __init__(self, name: str, module: str, cls: str, args: list, kwargs: dict,
                 restart: str, checkpoint: int, intensity: int, period: float) -> None:
        self.name, self.module, self.cls = name, module, cls
        self.args, self.kwargs = args, kwargs
        self.restart, self.checkpoint = restart, checkpoint
        self.intensity, self.period = intensity, period
        self.status = RESTARTING  # until the first start has finished
        self.handle: ProcessHandle | None = None
        self.channel: Channel | None = None
        self.restarts = 0
        self.calls = 0
        self.last_error: str | None = None
        self.snapshots = False  # the class defines snapshot()
        self.since_checkpoint = 0
        self.stopping = False
        self.killed_for: str | None = None  # why the router killed the process (a timeout)
        self.began = 0  # the id of the last call the process said it began
        self.state: Any = None  # the last snapshot (also written to the memory store)
        self.cond = threading.Lock()  # guards everything above and below
        self.mailbox: deque[Waiter] = deque()  # calls waiting for their turn, in order
        self.busy = False  # a call has its turn
        self.restart_times: deque[float] = deque()
        self.started_at = time.time()

    @property
    def what(self) -> str:
        return f"{self.module}.{self.cls}"

    def wake(self) -> None:
        """Under `cond`, after any change: give the head of the mailbox its turn if the
        agent is free, or fail every waiting call once the agent is down for good. (A call
        sent to a process that died between calls never says it began, and comes back
        to the head of the mailbox, to wait for the restart.)"""
        if self.status in (FAILED, STOPPED):
            error: ZixirRuntimeError = (
                RestartLimitExceeded(f"Agent {self.name} has failed: {self.last_error}")
                if self.status == FAILED else AgentError(f"Agent {self.name} is not running"))
            while self.mailbox:
                self.mailbox.popleft().fail(error)
            return
        if self.status == RUNNING and not self.busy and self.mailbox:
            self.busy = True
            self.mailbox.popleft().set(True)

    def info(self) -> dict:
        handle = self.handle
        return {"name": self.name, "class": self.what,
                "pid": handle.pid if handle is not None and self.status == RUNNING else None,
                "status": self.status, "restarts": self.restarts, "calls": self.calls,
                "waiting": len(self.mailbox), "last_error": self.last_error}


def _restarts(n: int) -> str:
    return f"{n} restart" if n == 1 else f"{n} restarts"


def _raise_fd_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = 1 << 16 if hard == resource.RLIM_INFINITY else min(hard, 1 << 16)
    if soft != resource.RLIM_INFINITY and soft < cap:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (cap, hard))
        except (ValueError, OSError):
            pass


class _NotDelivered(Exception):
    """The agent's process died before it began the call (killed between calls): the call
    is not lost, it waits for the restart."""


def _began(agent: Agent, note: p.Notification) -> None:
    if note.method == "began" and note.params:
        agent.began = note.params[0]


class Agents:
    """The dynamic supervisor of agents and their registry (one per router)."""

    def __init__(self, config: Any, pool: Any, memory: Any, log: Any = None,
                 stats: Stats | None = None) -> None:
        self.config = config
        self.pool = pool  # its failure policy (call policy, breakers) and its worker env
        self.memory = memory
        self.log = log or NullLog()
        self.stats = stats or Stats()
        self.intensity = config.restart_intensity if config.restart_intensity is not None else 3
        self.period = config.restart_period
        self._lock = threading.Lock()
        self._agents: dict[str, Agent] = {}
        self._fork_lock = threading.Lock()
        self._template: socket.socket | None = None
        self._template_handle: ProcessHandle | None = None
        self._thread: threading.Thread | None = None
        self._commands: deque[tuple] = deque()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._ready = threading.Event()
        self._start_error: str | None = None
        self._closed = False
        self.checkpoints = CheckpointWriter(memory, self.log)
        self._watchdog = Watchdog(self._expired, config.call_timeout, self.log)

    # ---- the supervision thread ----------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._ready.is_set():
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="zixir-agents",
                                                daemon=True)
                self._thread.start()
        self._ready.wait(READY_TIMEOUT)

    def _run(self) -> None:
        """Spawns the template (processes it spawns die with this thread: it lives as long as
        the router) and waits for agent processes to exit."""
        become_subreaper()
        _raise_fd_limit()  # three descriptors per agent (two pipes and a pidfd)
        selector = selectors.DefaultSelector()
        selector.register(self._wake_r, selectors.EVENT_READ, None)
        try:
            if self.config.cluster is None:  # on Ray, agents are actors (cluster.py)
                self._spawn_template()
        except Exception as e:
            self._start_error = f"the agent template did not start: {e}"
        self._ready.set()
        while not self._closed:
            for key, _ in selector.select(1.0):
                if key.data is None:
                    try:
                        os.read(self._wake_r, 4096)
                    except BlockingIOError:
                        pass
                    continue
                agent, handle = key.data
                selector.unregister(key.fd)
                self._exited(agent, handle)
            while self._commands:
                command = self._commands.popleft()
                if command[0] == "watch":
                    _, agent, handle = command
                    try:
                        selector.register(handle.pidfd, selectors.EVENT_READ, (agent, handle))
                    except (ValueError, KeyError, OSError):
                        self._exited(agent, handle)
                elif command[0] == "template":
                    try:
                        self._spawn_template()
                    except Exception as e:
                        self.log.error("agent.template_failed", error=repr(e))
                    command[1].set()
        selector.close()

    def _send(self, command: tuple) -> None:
        self._commands.append(command)
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _spawn_template(self) -> None:
        ours, handle = start_forkserver(self.pool._make_env(), "agent-template",
                                        "agent template")
        ours.settimeout(None)
        old, self._template = self._template, ours
        self._template_handle = handle
        if old is not None:
            old.close()

    def _fork(self, name: str, req_r: int, resp_w: int) -> None:
        """Ask the template for a process (under `_fork_lock`); one respawn if it is gone."""
        paths = list(self.pool.paths)
        request = json.dumps({"paths": paths, "agent": {"name": name}}).encode()
        for attempt in range(2):
            sock = self._template
            if sock is not None:
                try:
                    socket.send_fds(sock, [request], [req_r, resp_w])
                    if sock.recv(1) == b"F":
                        return
                except OSError:
                    pass
            if attempt == 0:
                done = threading.Event()
                self._send(("template", done))
                done.wait(READY_TIMEOUT)
        raise ZixirRuntimeError("the agent template is not available")

    # ---- processes -------------------------------------------------------------------------

    def _launch(self, agent: Agent, state: Any) -> dict:
        """Fork, wait for ready, build the object; the agent's new handle and channel are set
        and watched. Raises the typed error of a failed start (the process is gone)."""
        self._ensure_thread()
        if self._start_error:
            raise ZixirRuntimeError(self._start_error)
        if self.config.cluster is not None:
            resp_r, req_w, make_handle = self._launch_on_ray(agent)
        else:
            resp_r, req_w = self._fork_agent(agent)
            make_handle = lambda pid: ProcessHandle(pid, f"agent-{agent.name}")  # noqa: E731
        cfg = self.config
        channel = Channel(resp_r, req_w, p.Codec(cfg.max_frame), spin=cfg.spin)
        handle: ProcessHandle | None = None
        try:
            try:  # sent at once: the process reads it as soon as it serves (no round trip)
                init = channel.send("init", [agent.module, agent.cls, agent.args,
                                             agent.kwargs, state])
            except (p.UnencodableValue, p.FrameTooLarge) as e:
                raise AgentError(f"agent.start: cannot pass the arguments of {agent.what}: "
                                 f"{e}") from None
            except ChannelClosed:
                pass  # the wait for "ready" reports it
            try:
                pid = int(channel.wait_notification("ready", READY_TIMEOUT)[0])
            except (ChannelClosed, TimeoutError, IndexError, TypeError, ValueError):
                raise ZixirRuntimeError(f"the process of agent {agent.name} did not start") \
                    from None
            handle = make_handle(pid)
            try:
                reply = channel.wait(init, cfg.call_timeout)
            except ChannelClosed:
                status = handle.reap(2.0)
                raise WorkerCrashed(
                    f"the process of agent {agent.name} "
                    f"{status.describe() if status else 'died'} while building "
                    f"{agent.what}", exitcode=status.exitcode if status else None,
                    signal=status.signal if status else None) from None
            except TimeoutError:
                raise CallTimeout(f"building agent {agent.name} ({agent.what}) took more than "
                                  f"{cfg.call_timeout:g} s") from None
            if reply.error is not None:
                raise p.error_from_wire(reply.error, context=f"{agent.what}(...)")
        except BaseException:
            channel.close("the agent failed to start")
            if handle is not None:
                self._kill(handle)
                handle.reap(5.0)
            raise
        info = reply.result or {}
        channel.on_notification = lambda note: _began(agent, note)
        with agent.cond:
            agent.handle, agent.channel = handle, channel
            agent.snapshots = bool(info.get("snapshots"))
            if not agent.stopping:  # before it is watched: an exit from now on is a restart
                agent.status = RUNNING
                agent.since_checkpoint = 0
                agent.wake()
        self._publish()
        self._send(("watch", agent, handle))
        return info

    def _fork_agent(self, agent: Agent) -> tuple[int, int]:
        """A process forked from the agent template: our ends of its pipes."""
        req_r, req_w = pipe(1 << 16)
        resp_r, resp_w = pipe(1 << 16)
        try:
            with self._fork_lock:
                self._fork(agent.name, req_r, resp_w)
        except BaseException:
            os.close(req_w)
            os.close(resp_r)
            raise
        finally:
            os.close(req_r)
            os.close(resp_w)
        return resp_r, req_w

    def _launch_on_ray(self, agent: Agent) -> tuple[int, int, Any]:
        """The agent's named actor on the Ray cluster, connected back over TCP: our ends of
        the link and how to make its handle (cluster.RayHandle) from its pid."""
        from .cluster import RayHandle

        try:
            self.pool.start()  # connects to the cluster
            config = self.pool._workers._ray_worker_config(list(self.pool.paths))
            config["agent"] = {"name": agent.name}
            actor, ref, rfd, wfd = self.pool._workers.cluster.start_worker(
                f"agent-{agent.name}", config, agent=agent.name)
        except ZixirError:
            raise
        except Exception as e:  # Ray's own errors, and an actor that never connected
            raise ZixirRuntimeError(f"the actor of agent {agent.name} did not start: "
                                    f"{type(e).__name__}: {e}") from None
        return rfd, wfd, lambda pid: RayHandle(actor, ref, pid, f"agent-{agent.name}")

    def _exited(self, agent: Agent, handle: ProcessHandle) -> None:
        """In the supervision thread: an agent process is gone; decide what happens."""
        status = handle.reap(2.0)
        if not handle.remote:
            kill_group(handle.pid)  # what the agent's code forked dies with it
        describe = status.describe() if status else "exited"
        restart = False
        with agent.cond:
            channel = agent.channel if agent.handle is handle else None
        if channel is not None and status is not None and not handle.remote:
            # what the process wrote before it died is filed first: a call it said it began
            # fails as a crash, not as one never delivered
            channel.drain(DRAIN_TIMEOUT)
        with agent.cond:
            if agent.handle is not handle:
                handle.handled.set()
                return
            channel = agent.channel
            agent.channel = None
            if channel is not None:
                channel.interrupt(f"agent {agent.name} {describe}", "eof")
            normal = status is not None and status.normal and agent.killed_for is None
            reason = agent.killed_for or describe
            agent.killed_for = None
            if agent.stopping:
                agent.status = STOPPED
            elif not (agent.restart == "permanent"
                      or (agent.restart == "transient" and not normal)):
                agent.status = STOPPED
                if not normal:
                    agent.last_error = f"the process {reason}"
            else:
                if not normal:
                    agent.last_error = f"the process {reason}"
                if self._count_restart(agent):
                    agent.status = RESTARTING
                    agent.restarts += 1
                    restart = True
                else:
                    agent.status = FAILED
                    agent.last_error = (f"more than {_restarts(agent.intensity)} in "
                                        f"{agent.period:g} s (last: the process {reason})")
            agent.wake()
            final = agent.status
        handle.handled.set()
        self._publish()
        if restart:
            metrics.agent_restarted(agent.what)
        if final == FAILED:
            self.stats.count("agents.failed")
            self.log.error("agent.failed", name=agent.name, pid=handle.pid, status=describe,
                           reason=agent.last_error)
        elif final == STOPPED:
            self.log.info("agent.exit", name=agent.name, pid=handle.pid, status=describe)
        else:
            self.stats.count("agents.restarts")
            self.log.warning("agent.crash", name=agent.name, pid=handle.pid, status=describe,
                             reason=f"the process {reason}")
        if restart:
            threading.Thread(target=self._restart, args=(agent,),
                             name=f"zixir-agent-restart-{agent.name}", daemon=True).start()

    @staticmethod
    def _count_restart(agent: Agent) -> bool:
        now = time.monotonic()
        agent.restart_times.append(now)
        while agent.restart_times and agent.restart_times[0] < now - agent.period:
            agent.restart_times.popleft()
        return len(agent.restart_times) <= agent.intensity

    def _restart(self, agent: Agent) -> None:
        """Build the agent again from its start arguments and its last snapshot."""
        while True:
            if agent.stopping or self._closed:
                return
            try:
                info = self._launch(agent, agent.state if agent.checkpoint else None)
            except ZixirError as e:
                with agent.cond:
                    agent.last_error = f"restart failed: {e.message}"
                    if agent.stopping:
                        agent.status = STOPPED
                    elif not self._count_restart(agent):
                        agent.status = FAILED
                        agent.last_error = (f"more than {_restarts(agent.intensity)} in "
                                            f"{agent.period:g} s (last: {e.message})")
                    else:
                        agent.restarts += 1  # the next attempt is one more restart
                    agent.wake()
                    final = agent.status
                self._publish()
                self.log.warning("agent.restart_failed", name=agent.name, error=e.message)
                if final == FAILED:
                    self.stats.count("agents.failed")
                    self.log.error("agent.failed", name=agent.name, reason=agent.last_error)
                if final != RESTARTING:
                    return
                metrics.agent_restarted(agent.what)
                time.sleep(RESTART_BACKOFF)
                continue
            with agent.cond:
                handle = agent.handle if agent.stopping else None
            if handle is not None:  # stopped while it was being rebuilt
                self._kill(handle)
            self.log.warning("agent.restart", name=agent.name,
                             pid=agent.handle.pid if agent.handle else None,
                             restored=bool(info.get("restored")))
            return

    @staticmethod
    def _kill(handle: ProcessHandle) -> None:
        handle.kill()
        if not handle.remote:
            kill_group(handle.pid)

    # ---- the API ---------------------------------------------------------------------------

    def start(self, name: str, module: str, cls: str, args: list | None = None,
              kwargs: dict | None = None, restart: str = "permanent",
              checkpoint: Any = "call") -> str:
        if not isinstance(name, str) or not name:
            raise AgentError(f"agent.start: the name must be a non-empty string, got {name!r}")
        if not isinstance(module, str) or not isinstance(cls, str):
            raise AgentError("agent.start: the module and the class must be strings")
        if restart not in RESTART_TYPES:
            raise AgentError(f"agent.start: restart must be one of {', '.join(RESTART_TYPES)}, "
                             f"got {restart!r}")
        every = parse_checkpoint(checkpoint)
        if args is not None and not isinstance(args, list):
            raise AgentError("agent.start: args must be a list")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise AgentError("agent.start: kwargs must be a map")
        self._check_policy(module, cls)
        agent = Agent(name, module, cls, list(args or []), dict(kwargs or {}), restart, every,
                      self.intensity, self.period)
        with self._lock:
            if self._closed:
                raise ZixirRuntimeError("the runtime is closing")
            old = self._agents.get(name)
            if old is not None and old.status in (RUNNING, RESTARTING):
                raise AgentError(f"Agent {name} already exists")
            self._agents[name] = agent
        started = time.perf_counter()
        try:
            info = self._launch(agent, None)
        except BaseException:
            with self._lock:
                if self._agents.get(name) is agent:
                    if old is not None:
                        self._agents[name] = old
                    else:
                        del self._agents[name]
            self._publish()
            raise
        with agent.cond:
            handle = agent.handle if agent.stopping else None
        if handle is not None:  # stopped while it was being built
            self._kill(handle)
        del info
        self.stats.count("agents.started")
        self.stats.observe("agent_start", time.perf_counter() - started)
        self.log.info("agent.start", name=name, cls=agent.what,
                      pid=agent.handle.pid if agent.handle else None, restart=restart)
        return name

    def _check_policy(self, module: str, cls: str) -> None:
        try:
            self.pool.policy.check(module, cls, self.pool.paths)
        except PolicyDenied as e:
            self.stats.count("refused.policy")
            self.log.warning("call.refused", module=module, function=cls, reason="policy",
                             message=e.message)
            raise

    def _get(self, name: str) -> Agent:
        with self._lock:
            agent = self._agents.get(name) if isinstance(name, str) else None
        if agent is None:
            raise AgentError(f"Agent {name} is not running")
        return agent

    def call(self, name: str, method: str, args: list | None = None,
             kwargs: dict | None = None, *, timeout: float | None = None,
             chain: tuple[str, ...] = ()) -> Any:
        if f"agent {name}" in chain:
            cycle = " -> ".join([*chain, f"agent {name}"])
            self.stats.count("agents.deadlocks")
            raise AgentDeadlock(f"agent call cycle {cycle}: agent {name} is already waiting "
                                "in this chain of calls, so the call would deadlock")
        agent = self._get(name)
        if not isinstance(method, str) or not method.isidentifier() or method.startswith("_"):
            raise PolicyDenied(f"agent.call: {method!r} is not a public method name")
        if args is not None and not isinstance(args, list):
            raise AgentError("agent.call: args must be a list")
        # [modules.M], [modules."M.Class"] and [modules."M.Class.method"] of zixir.toml
        settings = self.pool.modules.settings_for(agent.what, method)
        timeout = float(timeout) if timeout else (settings.timeout or self.config.call_timeout)
        if tracing.ENABLED:
            with tracing.span(f"agent {agent.what}.{method}",
                              {"zixir.agent": name, "zixir.agent.class": agent.what,
                               "zixir.method": method}, kind="client") as span:
                return self._observed(agent, method, args, kwargs, timeout, chain, settings,
                                      span)
        return self._observed(agent, method, args, kwargs, timeout, chain, settings, None)

    def _observed(self, agent: Agent, method: str, args: list | None, kwargs: dict | None,
                  timeout: float, chain: tuple[str, ...], settings: ModuleSettings,
                  span: Any) -> Any:
        """One agent call, recorded in the metrics (and its span, when tracing)."""
        started = time.perf_counter()
        try:
            result = self._deliver(agent, method, args, kwargs, timeout, chain, settings)
        except ZixirError as e:
            metrics.agent_call_finished(agent.what, method, time.perf_counter() - started, e)
            if span is not None:
                span.set("zixir.outcome", metrics.outcome_of(e))
                span.set("zixir.error", type(e).__name__)
            raise
        metrics.agent_call_finished(agent.what, method, time.perf_counter() - started)
        if span is not None:
            span.set("zixir.outcome", metrics.OK)
            handle = agent.handle
            span.set("zixir.agent.pid", handle.pid if handle is not None else None)
        return result

    def _deliver(self, agent: Agent, method: str, args: list | None, kwargs: dict | None,
                 timeout: float, chain: tuple[str, ...], settings: ModuleSettings) -> Any:
        """The module's breaker and wait_timeout around one call (its `retries`, `rate`,
        `concurrency` and `threads` are for functions: an agent runs one call at a time)."""
        name = agent.name
        what = f"agent {name} ({agent.cls}.{method})"
        breakers = self.pool.breakers
        try:
            ticket = breakers.admit(agent.module, f"{agent.cls}.{method}", settings.breaker)
        except CircuitOpen:
            self.stats.count("refused.circuit_open")
            raise
        started = time.perf_counter()
        wait = settings.wait_timeout or timeout  # for the turn (and a restart), not running
        deadline = time.monotonic() + wait
        front = False
        while True:
            try:
                self._enter(agent, deadline, wait, what, front)
            except BaseException:
                breakers.release(ticket)
                raise
            try:
                result = self._call_running(agent, method, list(args or []),
                                            dict(kwargs or {}), timeout,
                                            (*chain, f"agent {name}"), what)
            except _NotDelivered:  # died before it began this call: wait for the restart
                self._leave(agent)
                front = True
                continue
            except BaseException as e:
                self._leave(agent)
                breakers.record(ticket, e)
                self.stats.count("agents.calls.error")
                raise
            break
        self._leave(agent)
        breakers.record(ticket, None)
        self.stats.observe_ok("agent_call", time.perf_counter() - started)
        return result

    def _enter(self, agent: Agent, deadline: float, timeout: float, what: str,
               front: bool = False) -> None:
        """Wait (a fibers Waiter) for this call's turn in the mailbox and a running process
        (`front`: it had its turn already, but the process died before it began the call).
        Raises what the agent's end gives every waiting call, or CallTimeout."""
        with agent.cond:
            if (not agent.mailbox and not agent.busy and agent.status == RUNNING
                    and not front):
                agent.busy = True  # free: no need to wait
                return
        waiter = Waiter()
        with agent.cond:
            if front:
                agent.mailbox.appendleft(waiter)
            else:
                agent.mailbox.append(waiter)
            agent.wake()
        try:
            waiter.wait(max(0.0, deadline - time.monotonic()))
            return
        except WaitTimeout:
            with agent.cond:
                granted = waiter.done  # the turn came just as the wait ended
                if not granted:
                    agent.mailbox.remove(waiter)
                restarting = agent.status != RUNNING
        except BaseException:  # failed by the agent's end, or interrupted while waiting
            with agent.cond:
                queued = waiter in agent.mailbox
                if queued:
                    agent.mailbox.remove(waiter)
            if not queued and waiter.done:
                try:
                    waiter.wait(0)
                except BaseException:  # noqa: BLE001 - it was failed, not granted
                    pass
                else:
                    self._leave(agent)  # it was granted its turn: give it back
            raise
        if granted:
            try:
                waiter.wait(0)
            except ZixirError:
                raise
            self._leave(agent)  # give the turn to the next call
        raise CallTimeout(f"{what} waited {timeout:g} s for its turn (the agent was "
                          f"{'restarting' if restarting else 'busy'})")

    @staticmethod
    def _leave(agent: Agent) -> None:
        with agent.cond:
            agent.busy = False
            agent.wake()

    def _call_running(self, agent: Agent, method: str, args: list, kwargs: dict,
                      timeout: float, chain: tuple[str, ...], what: str) -> Any:
        handle, channel = agent.handle, agent.channel
        assert handle is not None and channel is not None
        snapshot = bool(agent.checkpoint and agent.snapshots
                        and (agent.since_checkpoint + 1) % agent.checkpoint == 0)
        options = {"chain": list(chain), "snapshot": snapshot, "timeout": timeout}
        call_id = next(_ids)
        request_id = -1
        # the watchdog enforces the timeout, so the wait itself can poll briefly (`spin`)
        self._watchdog.watch(call_id, time.monotonic() + timeout,
                             (agent, handle, channel, method, timeout, what))
        try:
            request_id = channel.send("call", [method, args, kwargs, options])
            # in a task, the reply is awaited on a helper thread so the thread's other
            # tasks (other agents' calls of a pmap) go on meanwhile
            reply = fibers.blocking(channel.wait, request_id)
        except ChannelClosed:
            if not self._watchdog.unwatch(call_id):
                self._timed_out(handle, what, timeout)
            status = handle.reap(2.0)
            if status is None:  # closed its channel but runs on: no use to anyone
                self._kill(handle)
                status = handle.reap(5.0)
            delivered = agent.began == request_id
            handle.handled.wait(10.0)
            if not delivered and not agent.stopping:
                raise _NotDelivered() from None
            if agent.stopping:
                raise AgentError(f"Agent {agent.name} was stopped during {what}") from None
            self.stats.count("agents.crashes")
            describe = status.describe() if status else "exited"
            raise WorkerCrashed(f"the process of {what} (pid {handle.pid}) {describe}",
                                exitcode=status.exitcode if status else None,
                                signal=status.signal if status else None) from None
        except (p.UnencodableValue, p.FrameTooLarge) as e:
            self._watchdog.unwatch(call_id)
            raise ZixirRuntimeError(f"cannot pass the arguments of {what}: {e}") from None
        except BaseException:
            if self._watchdog.unwatch(call_id):  # interrupted: the process's state is unknown
                self._kill(handle)
            raise
        if not self._watchdog.unwatch(call_id):  # the deadline won the race with the reply
            self._timed_out(handle, what, timeout)
        if reply.error is not None:
            error = p.error_from_wire(reply.error, context=what)
            with agent.cond:
                agent.calls += 1
                agent.last_error = error.message
            raise error
        out = reply.result or {}
        with agent.cond:
            agent.calls += 1
            agent.since_checkpoint += 1
        if "snapshot" in out:
            agent.state = out["snapshot"]
            self.checkpoints.put(agent.name, agent.state)
            self.stats.count("agents.checkpoints")
        return out.get("value")

    def _expired(self, watched: tuple) -> None:
        """The watchdog claimed a call past its deadline: kill the agent (it is restarted,
        counted like a crash); the caller's wait ends and it raises CallTimeout."""
        agent, handle, channel, method, timeout, what = watched
        with agent.cond:
            agent.killed_for = f"was killed: {method} ran past {timeout:g} s"
        self.stats.count("timeouts")
        self.log.warning("call.timeout", call=what, timeout=timeout, pid=handle.pid)
        self._kill(handle)
        channel.interrupt(f"{what} timed out", "closed")

    @staticmethod
    def _timed_out(handle: ProcessHandle, what: str, timeout: float) -> NoReturn:
        handle.handled.wait(10.0)  # the supervision thread has decided about the restart
        raise CallTimeout(f"{what} did not return within {timeout:g} s; the agent was "
                          "killed and is being restarted")

    def stop(self, name: str) -> bool:
        """Stop the agent (its in-flight call fails, waiting calls get "not running");
        True if it was running."""
        agent = self._get(name)
        with agent.cond:
            was = agent.status in (RUNNING, RESTARTING)
            agent.stopping = True
            handle = agent.handle
            if agent.status in (RUNNING, RESTARTING):
                agent.status = STOPPED
            agent.wake()
        self._publish()
        if was and handle is not None:
            self._kill(handle)
            handle.handled.wait(10.0)
        self.checkpoints.delete(name)
        self.log.info("agent.stop", name=name, was_running=was)
        return was

    def status(self, name: str) -> dict:
        return self._get(name).info()

    def _publish(self) -> None:
        """After a change of status: the agents gauge of the metrics, by status."""
        with self._lock:
            agents = list(self._agents.values())
        counts = dict.fromkeys((RUNNING, RESTARTING, FAILED, STOPPED), 0)
        for a in agents:
            counts[a.status] = counts.get(a.status, 0) + 1
        metrics.set_agents(counts)

    def list(self) -> list[dict]:
        with self._lock:
            agents = list(self._agents.values())
        return [a.info() for a in agents]

    def pids(self) -> list[int]:
        with self._lock:
            agents = list(self._agents.values())
        return [a.handle.pid for a in agents
                if a.handle is not None and a.status == RUNNING]

    def snapshot(self) -> dict:
        with self._lock:
            agents = list(self._agents.values())
        counts = {RUNNING: 0, RESTARTING: 0, FAILED: 0, STOPPED: 0}
        for a in agents:
            counts[a.status] = counts.get(a.status, 0) + 1
        return {"count": len(agents), **counts,
                "restarts": sum(a.restarts for a in agents),
                "calls": sum(a.calls for a in agents),
                "template_pid": self._template_handle.pid if self._template_handle else None}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            agents = list(self._agents.values())
        for agent in agents:
            with agent.cond:
                agent.stopping = True
                handle = agent.handle
                agent.wake()
            if handle is not None:
                self._kill(handle)
        for agent in agents:
            if agent.handle is not None:
                agent.handle.reap(2.0)
        if self._template is not None:
            self._template.close()
        if self._template_handle is not None:
            self._template_handle.kill()
            self._template_handle.reap(2.0)
        self._watchdog.close()
        self.checkpoints.close()
        self._send(("close",))
