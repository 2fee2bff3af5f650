"""Python workers as Ray actors: `--cluster`, `Runtime(cluster=...)`, `[runtime] cluster`.

    host (Runtime)          probe(address): Ray importable? something listening there?
                            (ClusterUnavailable at once, never a hang)
    router (WorkerPool)
      WorkerSupervision --- RayCluster.connect(): ray.init(address), a TCP listener on the
        |                   interface that routes to the cluster (ephemeral port)
        | worker-i start:   a fresh secret token; WorkerActor.options(num_cpus).remote()
        |                   .serve(host, port, token, worker config) ---------------+
        |                                                                          v
        |   accept thread  <--- TCP connect, "token\\n" ---  Ray worker process (any node):
        |   token matches: the socket is worker-i's link      the ordinary worker loop
        |                                                     (python_workers.worker.Worker)
        |   WorkerLink(sock, sock) <=== msgpack frames ===>   over the socket
        |   RayHandle(actor, ref): "exits" when the link closes (the actor or its node
        |                          died) or serve()'s ref ends, seen through an eventfd the
        |                          supervisor polls like a pidfd; kill = ray.kill(actor)

Agents (agents.py) take the same path: a named actor per agent ("zixir-TAG-agent-NAME", no
CPU reserved) runs the agent loop over its link; the router's agent supervision restarts it.

Everything else is the local pool's: policy, breakers, rate and concurrency limits, timeouts,
retries, the supervisor's restart intensity. A link that ends is a crash (WorkerCrashed) of
the calls it carried, as with a local worker; a call past its timeout kills the actor, whose
replacement is a new actor. What does not cross hosts: shared memory (large values go inline
in the frames), direct calls from host threads (every call is routed), `zixir.worker` calls
back into the router, and the confinement that would break Ray itself (see `confine_actor`).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from zixir.lang.errors import ClusterUnavailable

from .process import ExitStatus, ProcessHandle, _readable

#: seconds the host waits for a TCP answer from the cluster's address at start
PROBE_TIMEOUT = 5.0
#: seconds an actor has to be scheduled, start and connect back
CONNECT_TIMEOUT = 45.0
#: tries of ray.init when the connection itself fails (ConnectionError)
CONNECT_ATTEMPTS = 3
#: arrays are never put in shared memory for a Ray worker (it may be on another host)
INLINE = 1 << 62
#: the secret a worker actor sends first on its connection (hex digits and a newline)
TOKEN_BYTES = 33
RAY_CURRENT_CLUSTER = "/tmp/ray/ray_current_cluster"  # written by `ray start --head`
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.\-]+):(\d{1,5})$")


def parse_address(text: Any) -> str:
    """The address as given, checked: `auto`, `ray://HOST:PORT` or `HOST:PORT` (a cluster's
    GCS address). Anything else is a ClusterUnavailable naming it."""
    if not isinstance(text, str):
        raise ClusterUnavailable(f"a cluster address must be a string, not {text!r}",
                                 address=repr(text))
    address = text.strip()
    if address == "auto":
        return address
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    match = _HOST_PORT.match(rest)
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise ClusterUnavailable(
            f"malformed cluster address {text!r}: use auto, ray://HOST:PORT (Ray client, "
            "port 10001 by default) or HOST:PORT (the cluster's GCS address)", address=text)
    return address


def host_port(address: str) -> tuple[str, int]:
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port)


def resolve_auto() -> str:
    """What `ray.init(address="auto")` will connect to: $RAY_ADDRESS, else the cluster
    started on this machine by `ray start --head`."""
    explicit = os.environ.get("RAY_ADDRESS", "").strip()
    if explicit and explicit != "auto":
        return parse_address(explicit)
    try:
        with open(RAY_CURRENT_CLUSTER, encoding="utf-8") as f:
            found = f.read().strip()
    except OSError:
        found = ""
    if not found:
        raise ClusterUnavailable(
            "--cluster auto found no Ray cluster: RAY_ADDRESS is not set and no cluster was "
            f"started on this machine with `ray start --head` ({RAY_CURRENT_CLUSTER})",
            address="auto")
    return parse_address(found)


def probe(address: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Fail fast, in the host, when the cluster cannot be used: Ray missing, or nothing
    listening at the address (the router's ray.init would otherwise retry for a long time)."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ClusterUnavailable(
            f"--cluster {address} needs Ray in this environment: pip install 'zixir[ray]'",
            address=address)
    target = resolve_auto() if address == "auto" else address
    host, port = host_port(target)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as e:
        shown = address if target == address else f"{address} ({target})"
        raise ClusterUnavailable(
            f"cannot reach the Ray cluster at {shown}: {e.strerror or e}", address=address) \
            from None


def _local_ip_towards(host: str) -> str:
    """The address of this machine's interface that routes to `host` (no packet is sent)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((host, 9))
            return s.getsockname()[0]
    except OSError:
        return socket.gethostbyname(socket.gethostname())


def _messages_to_stderr() -> None:
    """Ray's driver prints the cluster's error messages ("a worker died ...") to stdout; in
    the router that is the program's output, so they go to stderr instead."""
    try:
        from ray._private import worker as ray_worker

        original = ray_worker.print_to_stdstream
        if getattr(original, "zixir", False):
            return

        def to_stderr(data: dict, *args: Any, **kwargs: Any) -> None:
            original({**data, "is_err": True}, *args, **kwargs)

        to_stderr.zixir = True  # type: ignore[attr-defined]
        ray_worker.print_to_stdstream = to_stderr
    except (ImportError, AttributeError):  # another Ray version: its messages stay on stdout
        pass


# ---- the Ray side ---------------------------------------------------------------------------


def confine_actor(config: dict) -> None:
    """The worker's confinement, as far as a Ray worker process can take it: per-call CPU
    time (re-armed by the worker loop), largest file and open files. Not applied: its own
    process group (Ray owns the process tree), an address-space limit (Ray maps large
    regions) and Landlock (Ray writes its logs, spill files and sockets)."""
    from .confine import apply_rlimits

    apply_rlimits({**config, "rlimit_as": 0, "memory_fraction": 0})


class _RouterGone(Exception):
    pass


class WorkerActor:
    """One Python worker in a Ray actor process (created with `ray.remote` at connect)."""

    def node(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def serve(self, host: str, port: int, token: str, config: dict) -> None:
        """Connect back to the router and serve its calls until it closes the link (then the
        actor ends, as a local worker ends when its router is gone)."""
        from python_workers.worker import Worker

        self._serve(Worker, host, port, token, config)

    def serve_agent(self, host: str, port: int, token: str, config: dict) -> None:
        """The same for an agent: the agent loop (python_workers.agent) over the link."""
        from python_workers.agent import AgentServer

        self._serve(AgentServer, host, port, token, config)

    def _serve(self, server: type, host: str, port: int, token: str, config: dict) -> None:
        import sys

        from python_workers.worker import set_paths

        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(token.encode()[:TOKEN_BYTES - 1] + b"\n")
        for path in config.get("sys_path", []):  # the host's, after the node's own
            if path not in sys.path and os.path.isdir(path):
                sys.path.append(path)
        set_paths(list(config.get("paths", [])))  # the script's directories first
        confine_actor(config)

        class ActorServer(server):  # type: ignore[valid-type,misc]
            def router_gone(self) -> None:  # an intended end of the actor, not a crash
                raise _RouterGone

        fd = sock.detach()
        try:
            ActorServer(fd, fd, config).serve()
        except _RouterGone:
            pass
        import ray

        ray.actor.exit_actor()


@dataclass(frozen=True, slots=True)
class ActorExit(ExitStatus):
    reason: str = ""

    def describe(self) -> str:
        return self.reason or super().describe()


class RayHandle:
    """A worker actor as the supervisor sees a process: `pidfd` (an eventfd) turns readable
    once the actor is known to be gone (serve()'s object ref ended, or the worker's link
    closed: a dead node's actors are known by their links long before Ray declares them
    dead), `kill` is ray.kill. `pid` is the actor process's pid on its node, for display:
    nothing here signals it."""

    remote = True

    def __init__(self, actor: Any, ref: Any, pid: int, name: str) -> None:
        self.actor, self.ref = actor, ref
        self.pid = pid
        self.name = name
        self.status: ExitStatus | None = None
        self.decision: str | None = None
        self.handled = threading.Event()
        self.pidfd: int = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._exit: ExitStatus | None = None
        self._ended = False  # serve()'s ref has resolved: nothing left to kill
        self._lock = threading.Lock()
        threading.Thread(target=self._watch, name=f"zixir-ray-{name}", daemon=True).start()

    def __repr__(self) -> str:
        return f"<RayHandle {self.name} pid={self.pid} status={self.status}>"

    def _ended_with(self, status: ExitStatus) -> None:
        with self._lock:
            if self._exit is not None:
                return
            self._exit = status
        try:
            os.eventfd_write(self.pidfd, 1)
        except (OSError, TypeError):
            pass

    def _watch(self) -> None:
        import ray

        try:
            ray.get(self.ref)
            status = ActorExit(0, None, "ended")
        except Exception as e:  # the actor died: killed, crashed, or its node is gone
            status = ActorExit(None, None, f"died on the Ray cluster ({type(e).__name__})")
        self._ended = True
        self._ended_with(status)

    def link_closed(self) -> None:
        """The worker's link ended: the worker is gone for the router (the actor is killed
        in case it still runs)."""
        self._ended_with(ActorExit(None, None, "lost its link to the router (its Ray actor "
                                               "or node died)"))
        self.kill()

    @property
    def alive(self) -> bool:
        return not self.exited(0)

    def exited(self, timeout: float | None = 0) -> bool:
        return self.status is not None or _readable(self.pidfd, timeout)

    def signal(self, sig: int) -> None:
        self.kill()  # an actor has no signals: SIGTERM at shutdown ends it too

    def kill(self) -> None:
        if not self._ended:
            RayCluster.kill(self.actor)

    def reap(self, timeout: float | None = 0) -> ExitStatus | None:
        if self.status is None and not _readable(self.pidfd, timeout):
            return None
        with self._lock:
            if self.status is None:
                self.status = self._exit
            return self.status

    __del__ = ProcessHandle.__del__  # closes `pidfd` once, as a process handle does


class RayCluster:
    """The router's connection to a Ray cluster, and the listener its worker actors call."""

    def __init__(self, config: Any, log: Any) -> None:
        self.config = config
        self.log = log
        self.address = config.cluster
        self._listener: socket.socket | None = None
        self._pending: dict[str, list] = {}  # token -> [Event, socket or None]
        self._lock = threading.Lock()
        self._actor_class: Any = None
        self._prestarted: list = []
        self.host = ""
        self.port = 0

    def connect(self) -> None:
        """ray.init and the listener; ClusterUnavailable when either fails."""
        import logging

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        # the router's own SIGTERM handling stops its workers; Ray's handler would only
        # print a stack dump on the way
        os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
        try:
            import ray
        except ImportError:
            raise ClusterUnavailable(
                f"--cluster {self.address} needs Ray: pip install 'zixir[ray]'",
                address=self.address) from None
        target = resolve_auto() if self.address == "auto" else self.address
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                ray.init(address=self.address, logging_level=logging.ERROR,
                         log_to_driver=False, ignore_reinit_error=True)
                break
            except ConnectionError as e:
                # the Ray client's server starts a process per client, which can fail to
                # start (its gRPC poller dies): a new connection gets a new one
                ray.shutdown()
                if attempt + 1 == CONNECT_ATTEMPTS:
                    raise self._unavailable(e) from None
                self.log.warning("cluster.retry", address=self.address, error=str(e)[:200])
                time.sleep(1.0)
            except Exception as e:
                raise self._unavailable(e) from None
        _messages_to_stderr()
        self._actor_class = ray.remote(WorkerActor)
        self.host = _local_ip_towards(host_port(target)[0])
        listener = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET,
                                 socket.SOCK_STREAM)
        listener.bind((self.host, 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, name="zixir-ray-listener", daemon=True).start()
        self.log.info("cluster.connected", address=self.address, listen=f"{self.host}:"
                      f"{self.port}")

    def _unavailable(self, e: BaseException) -> ClusterUnavailable:
        return ClusterUnavailable(f"cannot connect to the Ray cluster at {self.address}: "
                                  f"{type(e).__name__}: {e}", address=self.address)

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        try:
            import ray

            ray.shutdown()
        except Exception:
            pass

    def _accept(self) -> None:
        while True:
            listener = self._listener
            if listener is None:
                return
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._greet, args=(conn,), daemon=True).start()

    def _greet(self, conn: socket.socket) -> None:
        """Read the token (exactly its length: the worker's "ready" frame follows at once); a
        connection without a pending token is closed."""
        conn.settimeout(10.0)
        token = b""
        try:
            while len(token) < TOKEN_BYTES:
                chunk = conn.recv(TOKEN_BYTES - len(token))
                if not chunk:
                    break
                token += chunk
        except OSError:
            token = b""
        with self._lock:
            entry = self._pending.get(token[:-1].decode(errors="replace"))
            if entry is not None and entry[1] is None and token.endswith(b"\n"):
                conn.settimeout(None)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                entry[1] = conn
                entry[0].set()
                return
        conn.close()

    @staticmethod
    def kill(actor: Any) -> None:
        import ray

        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # gone already
            pass

    def check_capacity(self, workers: int) -> None:
        """Workers that can never be scheduled are an error now, not a wait at every start."""
        import ray

        need = workers * self.config.cluster_cpus
        have = ray.cluster_resources().get("CPU", 0.0)
        if need > have:
            raise ClusterUnavailable(
                f"the Ray cluster at {self.address} has {have:g} CPUs, but {workers} workers "
                f"of {self.config.cluster_cpus:g} CPUs each (cluster_cpus) need {need:g}: "
                "lower workers or cluster_cpus", address=self.address)

    def launch(self, worker_config: dict, agent: str | None = None
               ) -> tuple[str, list, Any, Any]:
        """Create a worker actor (or, with `agent`, the named actor of that agent); it
        connects back with its token (`start_worker` waits for it)."""
        import secrets  # here: hashlib and OpenSSL stay out of every router without Ray

        token = secrets.token_hex(TOKEN_BYTES // 2)
        entry: list = [threading.Event(), None, time.monotonic() + CONNECT_TIMEOUT]
        with self._lock:
            self._pending[token] = entry
        try:
            actor, ref = self._create(token, worker_config, agent)
        except BaseException:
            with self._lock:
                self._pending.pop(token, None)
            raise
        return token, entry, actor, ref

    def _create(self, token: str, worker_config: dict, agent: str | None) -> tuple[Any, Any]:
        if agent is None:
            actor = self._actor_class.options(
                num_cpus=self.config.cluster_cpus, max_restarts=0,
                scheduling_strategy="SPREAD").remote()
            ref = actor.serve.remote(self.host, self.port, token, worker_config)
        else:
            actor = self._named_actor(f"zixir-{self.config.tag}-agent-{agent}")
            ref = actor.serve_agent.remote(self.host, self.port, token, worker_config)
        return actor, ref

    def _named_actor(self, name: str) -> Any:
        """An agent's actor, named after the runtime and the agent. It is restarted by the
        router's agent supervision (max_restarts 0 here), which rebuilds it and restores its
        snapshot: the name of the incarnation it replaces may not be released yet, and that
        actor is gone for the router, so it is killed and the name taken again."""
        import ray

        taken = (ValueError, getattr(ray.exceptions, "ActorAlreadyExistsError", ValueError))
        deadline = time.monotonic() + 10.0
        while True:
            try:
                return self._actor_class.options(
                    name=name, num_cpus=0, max_restarts=0,
                    scheduling_strategy="SPREAD").remote()
            except taken:
                if time.monotonic() > deadline:
                    raise
                try:
                    ray.kill(ray.get_actor(name), no_restart=True)
                except Exception:  # released meanwhile
                    pass
                time.sleep(0.1)

    def prestart(self, count: int, worker_config: dict) -> None:
        """Launch the first workers together (Ray starts them in parallel); `start_worker`
        takes them in turn."""
        self._prestarted = [self.launch(worker_config) for _ in range(count)]

    def start_worker(self, name: str, worker_config: dict, agent: str | None = None
                     ) -> tuple[Any, Any, int, int]:
        """A connected worker (or agent) actor: (actor, ref, rfd, wfd)."""
        import ray

        if agent is None and self._prestarted:
            launched = self._prestarted.pop(0)
        else:
            launched = self.launch(worker_config, agent)
        token, entry, actor, ref = launched
        try:
            while not entry[0].wait(0.05):
                done, _ = ray.wait([ref], timeout=0)
                if done or time.monotonic() > entry[2]:
                    self.kill(actor)
                    reason = f"did not connect back within {CONNECT_TIMEOUT:g} s"
                    if done:
                        try:
                            ray.get(ref)
                            reason = "ended before it connected"
                        except Exception as e:
                            reason = f"failed: {type(e).__name__}: {e}"
                    raise RuntimeError(f"the Ray worker actor {name} {reason}")
        finally:
            with self._lock:
                self._pending.pop(token, None)
        sock: socket.socket = entry[1]
        rfd = sock.detach()
        return actor, ref, rfd, os.dup(rfd)
