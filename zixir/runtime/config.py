"""Runtime configuration: one frozen record, passed as JSON to every child process.

    Runtime(**options) -> RuntimeConfig -> to_json() --env ZIXIR_RUNTIME_CONFIG--> router,
                                                                                  store, workers
Every default is the one DESIGN.md section 4 names.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field

from .modules import ModulePolicies
from .modules import normalize as normalize_modules
from .policy import CallPolicy


def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class RuntimeConfig:
    workers: int = field(default_factory=_default_workers)
    call_timeout: float = 30.0
    # supervision
    # worker supervisor; None: 3 per child (the template and each worker), so the budget
    # scales with the pool. A crash caused by a call is charged to that call's module
    # breaker instead, so one bad module never spends it.
    restart_intensity: int | None = None
    restart_period: float = 5.0
    root_intensity: int = 3
    root_period: float = 5.0
    shutdown_grace: float = 1.0
    # circuit breakers (per module, or per module.function when breaker_per_function)
    breaker_fail_max: int = 5
    breaker_reset_timeout: float = 30.0
    breaker_per_function: bool = False
    breaker_counts_python_errors: bool = False
    # retries for idempotent calls (opt-in: per call, or by module / module.function here)
    idempotent: tuple[str, ...] = ()
    retry_attempts: int = 3
    retry_backoff: float = 0.05  # first wait; doubles, with jitter
    retry_backoff_max: float = 2.0
    # backpressure and recycling
    max_queue: int = 1024
    recycle_calls: int = 0  # 0: off
    recycle_rss: int = 0  # bytes; 0: off
    # OS confinement of every worker (confine.py); rlimits: 0 is unlimited
    rlimit_as: int | None = None  # bytes of address space; None: memory_fraction of RAM
    memory_fraction: float = 0.5
    rlimit_cpu: float | None = None  # CPU seconds per call; None: the timeout on every core + 2
    rlimit_fsize: int = 16 << 30  # largest file a worker may write
    rlimit_nofile: int = 4096
    confine_writes: bool = True  # Landlock: writes only under cwd, temp dir, paths, write_paths
    write_paths: tuple[str, ...] = ()
    # directories the program's file built-ins may use besides the working directory and the
    # script's own (zixir.toml `[policy] files`)
    file_paths: tuple[str, ...] = ()
    confine_network: bool = False  # Landlock (ABI >= 4): no TCP bind/connect
    # protocol
    max_frame: int = 64 * 1024 * 1024
    shm_threshold: int = 1024 * 1024
    # call policy
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    allow_all: bool = False
    # per-module call settings (modules.py): {"llm": {"rate": ..., ...}, "llm.complete": {...}}
    modules: dict = field(default_factory=dict)
    # workers
    preload: tuple[str, ...] = ("numpy",)
    # the worker template imports `preload` once a call used the module (an idle runtime
    # stays small; replacements forked after that serve at once); False: at its start
    preload_on_use: bool = True
    # seconds a caller waiting for a reply, and a worker waiting for the next request, poll
    # before they block: an idle virtual CPU takes tens of microseconds to wake up (0: off)
    spin: float = 100e-6
    prewarm: bool = False
    # host threads call workers over the workers' own pipes when the router's decisions
    # allow it (direct.py): no router hop; False: every call goes through the router
    direct: bool = True
    # run the Python workers as actors on a Ray cluster (cluster.py): "auto", "ray://HOST:PORT"
    # or a cluster's GCS address "HOST:PORT"; None: worker processes on this machine
    cluster: str | None = None
    cluster_cpus: float = 1.0  # CPUs each worker actor reserves on the cluster
    paths: tuple[str, ...] = ()  # extra sys.path entries for workers (e.g. the script's dir)
    sys_path: tuple[str, ...] = field(default_factory=lambda: tuple(sys.path))
    # memory store: a SQLite file, or a postgresql:// URL (memory_postgres.py); None keeps it
    # in a temporary directory removed at close
    memory_path: str | None = None
    # observability
    log_level: str = "warning"
    log_file: str | None = None
    # "auto": readable lines on a terminal, JSON lines otherwise (and always in log_file);
    # "console" or "json" to choose
    log_format: str = "auto"
    # progress bars of fan-outs over 100+ items, drawn by the host on its stderr; None: when
    # stderr is a terminal
    progress: bool | None = None
    # Prometheus metrics served over HTTP by the host (None: not served; 0: any free port)
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # the interpreter class the router runs ("module:attribute")
    session_factory: str = "zixir.lang.session:Session"
    # identifies this runtime's shared-memory files and sockets
    tag: str = field(default_factory=lambda: os.urandom(6).hex())

    def __post_init__(self) -> None:
        for name in ("idempotent", "allow", "deny", "preload", "paths", "sys_path", "write_paths",
                     "file_paths"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.call_timeout <= 0:
            raise ValueError("call_timeout must be positive")
        if not 0 <= self.memory_fraction <= 1:
            raise ValueError("memory_fraction must be between 0 and 1")
        if self.log_format not in ("auto", "console", "json"):
            raise ValueError("log_format must be auto, console or json")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ValueError("metrics_port must be a TCP port (0: any free port)")
        if self.cluster is not None:
            from .cluster import parse_address

            object.__setattr__(self, "cluster", parse_address(self.cluster))
            # workers on other hosts: no pipes to lend to host threads (direct.py)
            object.__setattr__(self, "direct", False)
        if self.cluster_cpus < 0:
            raise ValueError("cluster_cpus must be at least 0")
        self.policy()  # validates the rules
        object.__setattr__(self, "modules", normalize_modules(self.modules))

    @property
    def worker_restart_intensity(self) -> int:
        if self.restart_intensity is not None:
            return self.restart_intensity
        return 3 * (self.workers + 1)

    def policy(self) -> CallPolicy:
        return CallPolicy(self.allow, self.deny, self.allow_all)

    def module_policies(self) -> ModulePolicies:
        return ModulePolicies(self.modules)

    def replace(self, **changes) -> RuntimeConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RuntimeConfig:
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_options(cls, **options) -> RuntimeConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"unknown runtime option(s): {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in options.items() if v is not None})
